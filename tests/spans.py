"""Spans in memory for tests: the OTel SDK's in-memory exporter on the process's tracer provider,
only while a test records (other tests' spans are not kept)."""
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.tracing import installed


class _Gate(SimpleSpanProcessor):
    """Exports finished spans only while recording."""

    recording = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            super().on_end(span)


_gate: _Gate | None = None


def installed_gate() -> _Gate:
    """The gate on the process's tracer provider; the tests' provider is installed first if none is.

    tests/conftest.py installs it before any test: a service started in the test process keeps the
    provider it finds (configure in shared/tracing.py), and one of its own, without an exporter, samples
    nothing, so a later test would record no span."""
    global _gate
    if _gate is None:
        if not installed():
            trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": "tests"})))
        _gate = _Gate(InMemorySpanExporter())
        trace.get_tracer_provider().add_span_processor(_gate)
    return _gate


@contextmanager
def recording_spans() -> Iterator[InMemorySpanExporter]:
    """The exporter holding every span that ends within the block."""
    gate = installed_gate()
    exporter = gate.span_exporter
    exporter.clear()
    gate.recording = True
    try:
        yield exporter
    finally:
        gate.recording = False
        exporter.clear()
