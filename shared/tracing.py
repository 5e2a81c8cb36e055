"""OpenTelemetry tracing: one tracer provider per process, installed when a service starts.

With tracing on (the default) spans are made, so the W3C trace context travels in Kafka headers
and trace ids reach the logs; spans leave the process only through a configured exporter: OTLP
over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, or
one JSON line per span on stderr with `trace_exporter=console`. Nothing is set up at import.
"""
import os
import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared.settings import ServiceSettings

if TYPE_CHECKING:  # the exporters themselves are imported when chosen
    from opentelemetry.sdk.trace.export import SpanExporter

TRACEPARENT = "traceparent"
# W3C Trace Context: version-traceid-parentid-flags, lower-case hex; later versions may append fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# The last context formatted: the rows of one request or batch share it, so each is formatted once.
_last: tuple[SpanContext | None, str | None] = (None, None)
# The provider configure installed without an exporter, which samples nothing; None if it installed none.
_silent: object | None = None


def enabled(settings: ServiceSettings) -> bool:
    """Whether this process makes spans: the `tracing` setting, unless OTEL_SDK_DISABLED=true."""
    return settings.tracing and os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def installed() -> bool:
    """True once a real tracer provider is the process's global one (ours, or a test's)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def configure(settings: ServiceSettings) -> None:
    """Install the process's tracer provider with the configured exporter, once: a provider that
    an earlier start in this process (or a test) installed is kept as it is."""
    global _silent
    if not enabled(settings) or installed():
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = _exporter(settings.trace_exporter)
    # Without an exporter no span leaves the process, so none is recorded: the sampler drops them all,
    # and each span is then a bare context (ids made, nothing kept), which still carries the trace
    # into Kafka headers and the logs. Recording spans nobody reads cost about 250 µs of CPU per HTTP
    # request (bench.claims.profile). With an exporter the SDK's sampler applies (OTEL_TRACES_SAMPLER).
    provider = TracerProvider(resource=Resource.create({
        "service.name": settings.service_name, "deployment.environment.name": settings.environment}),
        sampler=ALWAYS_OFF if exporter is None else None)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    else:
        _silent = provider
    trace.set_tracer_provider(provider)


def unrecorded() -> bool:
    """True when spans made now are bare contexts: the process's provider is the one configure installed
    without an exporter."""
    return _silent is not None and trace.get_tracer_provider() is _silent


def recording() -> bool:
    """True when spans made now are recorded: an installed provider other than configure's without an
    exporter, such as ours with an exporter, or a test's."""
    return installed() and not unrecorded()


@contextmanager
def unrecorded_request(traceparent: bytes | None) -> Iterator[None]:
    """The context of an HTTP request whose spans nobody records (tracing on, no exporter): the caller's
    trace continued, or a new one, under a span id of its own, as FastAPI's server span would carry it
    unsampled. FastAPI builds that span's attributes whether or not it is recorded: a quarter of
    claim-next's CPU in the API (bench.claims.profile), for a span that goes nowhere."""
    parent = parse_traceparent(traceparent)
    span = NonRecordingSpan(SpanContext(parent.trace_id if parent else random.getrandbits(128),
                                        random.getrandbits(64), is_remote=False))
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        otel_context.detach(token)


def exporter_name(setting: str) -> str:
    """The exporter a `trace_exporter` setting means: `auto` follows the OTEL_* environment."""
    if setting != "auto":
        return setting
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen in ("otlp", "console", "none"):
        return chosen
    return "otlp" if any(os.environ.get(name) for name in _OTLP_ENDPOINTS) else "none"


def _exporter(setting: str) -> "SpanExporter | None":
    name = exporter_name(setting)
    if name == "otlp":
        # Reads the endpoint, headers and timeout from the standard OTEL_EXPORTER_OTLP_* variables;
        # connects only when the first batch of spans is exported.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter
        return ConsoleSpanExporter(out=sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n")
    return None


def flush(timeout_s: float = 5.0) -> None:
    """Export the spans still buffered (a stop by SIGTERM skips the provider's exit hook)."""
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush(int(timeout_s * 1000))


def format_traceparent(context: SpanContext) -> str:
    """The W3C `traceparent` value of a span context."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def current_traceparent() -> str | None:
    """The `traceparent` of the current span, or None outside any span."""
    global _last
    context = trace.get_current_span().get_span_context()
    if context is _last[0]:
        return _last[1]
    value = format_traceparent(context) if context.is_valid else None
    _last = (context, value)
    return value


def parse_traceparent(value: str | bytes | None) -> SpanContext | None:
    """The remote span context a `traceparent` value names; None when it is absent or invalid."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                          trace_flags=TraceFlags(int(flags, 16) & TraceFlags.SAMPLED))
    return context if context.is_valid else None
