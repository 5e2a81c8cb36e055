"""Trace context in Kafka record headers, and the consumer runner's span per batch.

A record carries the W3C `traceparent` of the span that produced it. A batch is processed in one
CONSUMER span that links every distinct context of its records; when they all belong to one
trace, the span is also the child of the first of them, so one HTTP request to intake reads as
one trace through mediation to assessment. The events a handler emits carry the batch span on.
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import cast

from aiokafka.structs import ConsumerRecord
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from shared.tracing import TRACEPARENT, current_traceparent, installed, parse_traceparent

Headers = list[tuple[str, bytes]]

# The SDK keeps 128 links per span by default; a batch of many traces links the first ones.
MAX_LINKS = 128
_tracer = trace.get_tracer("fengqiao.kafka")


def trace_headers(traceparent: str | None) -> Headers | None:
    """Record headers that carry a `traceparent`; None when there is none."""
    return [(TRACEPARENT, traceparent.encode())] if traceparent else None


def current_headers() -> Headers | None:
    """Record headers that carry the current span's context (None outside any span)."""
    return trace_headers(current_traceparent())


def record_traceparent(record: ConsumerRecord) -> bytes | None:
    """The raw `traceparent` header of a record, if it has one."""
    for key, value in record.headers or ():
        if key == TRACEPARENT:
            return cast(bytes, value)
    return None


def record_contexts(records: Sequence[ConsumerRecord]) -> list[SpanContext]:
    """The distinct valid span contexts the records carry, in the order first seen."""
    seen: dict[bytes, SpanContext | None] = {}
    for record in records:
        raw = record_traceparent(record)
        if raw is not None and raw not in seen:
            seen[raw] = parse_traceparent(raw)
    distinct = {(c.trace_id, c.span_id): c for c in seen.values() if c is not None}
    return list(distinct.values())


@contextmanager
def batch_span(consumer: str, records: Sequence[ConsumerRecord]) -> Iterator[None]:
    """The current span while a batch is applied, dead-lettered and committed."""
    if not installed():
        yield
        return
    contexts = record_contexts(records)
    one_trace = len({c.trace_id for c in contexts}) == 1
    parent = trace.set_span_in_context(NonRecordingSpan(contexts[0])) if one_trace else otel_context.Context()
    topics = sorted({r.topic for r in records})
    attributes: dict[str, AttributeValue] = {"messaging.system": "kafka", "messaging.operation.type": "process",
                  "messaging.operation.name": "process", "messaging.consumer.group.name": consumer,
                  "messaging.batch.message_count": len(records)}
    if len(topics) == 1:
        attributes["messaging.destination.name"] = topics[0]
    name = f"process {topics[0] if len(topics) == 1 else consumer}"
    with _tracer.start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER,
                                       links=[Link(c) for c in contexts[:MAX_LINKS]], attributes=attributes,
                                       record_exception=False, set_status_on_exception=False) as span:
        try:
            yield
        except Exception as exc:
            # The type only: an exception's message can quote an event's personal data.
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
