"""Trace context: W3C `traceparent` values, Kafka headers, outbox rows, the runner's batch span, logs."""
import asyncio
import json
import logging
import os
import subprocess
import sys

import pytest
import structlog
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

from shared import outbox, tracing
from shared.events.envelope import Envelope
from shared.kafka.dead_letter import DeadLetter
from shared.kafka.producer import EventProducer
from shared.kafka.tracing import batch_span, record_contexts, trace_headers
from shared.logging import configure_logging
from shared.settings import ServiceSettings

TRACE_A, TRACE_B = 0x0AF7651916CD43DD8448EB211C80319C, 0x4BF92F3577B34DA6A3CE929D0E0E4736
tracer = trace.get_tracer("tests")


def traceparent(trace_id: int, span_id: int, flags: str = "01") -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags}"


def record(headers: list[tuple[str, bytes]] | None = None, topic: str = "t.intake.dispute.v1",
           offset: int = 0) -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"k",
                          value=b"{}", checksum=None, serialized_key_size=1, serialized_value_size=2,
                          headers=headers or [])


def with_parent(trace_id: int, span_id: int, **kwargs) -> ConsumerRecord:
    return record([("profile", b"x"), ("traceparent", traceparent(trace_id, span_id).encode())], **kwargs)


# --- traceparent values ----------------------------------------------------------------------

def test_a_traceparent_round_trips_as_a_remote_context():
    context = SpanContext(TRACE_A, 0x00F067AA0BA902B7, is_remote=False, trace_flags=TraceFlags(1))
    value = tracing.format_traceparent(context)
    assert value == "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
    parsed = tracing.parse_traceparent(value.encode())
    assert (parsed.trace_id, parsed.span_id, parsed.trace_flags.sampled, parsed.is_remote) == (
        TRACE_A, 0x00F067AA0BA902B7, True, True)


@pytest.mark.parametrize("value", [
    None, b"", "garbage", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # no trace
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # no parent
    "ff-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01",  # forbidden version
    "00-0AF7651916CD43DD8448EB211C80319C-00F067AA0BA902B7-01",  # upper case
    "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01-more",  # version 00 has four fields
    "00-0af7651916cd43dd8448eb211c80319-00f067aa0ba902b7-01",  # short trace id
    b"\xff\xfe",
])
def test_invalid_traceparents_are_ignored(value):
    assert tracing.parse_traceparent(value) is None


def test_a_later_version_with_more_fields_is_read():
    parsed = tracing.parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00-future")
    assert parsed.trace_id == TRACE_A and not parsed.trace_flags.sampled


def test_the_current_traceparent_is_the_current_spans(spans):
    assert tracing.current_traceparent() is None
    with tracer.start_as_current_span("request") as span:
        assert tracing.current_traceparent() == tracing.format_traceparent(span.get_span_context())
        with tracer.start_as_current_span("inner") as inner:
            assert tracing.current_traceparent() == tracing.format_traceparent(inner.get_span_context())
    assert tracing.current_traceparent() is None


# --- set-up -----------------------------------------------------------------------------------

def test_exporters_follow_the_setting_then_the_standard_environment(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.exporter_name("auto") == "none", "nowhere unless configured"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.exporter_name("auto") == "otlp"
    assert tracing.exporter_name("none") == "none"
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing.exporter_name("auto") == "console"
    assert tracing._exporter("otlp") is not None, "made without connecting anywhere"


def test_tracing_is_on_by_default_and_off_by_setting_or_standard_variable(monkeypatch):
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    assert tracing.enabled(ServiceSettings()) and not tracing.enabled(ServiceSettings(tracing=False))
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.enabled(ServiceSettings())


def test_a_provider_already_installed_is_kept(spans):
    installed = trace.get_tracer_provider()
    tracing.configure(ServiceSettings(service_name="intake"))
    assert trace.get_tracer_provider() is installed


# --- producing ------------------------------------------------------------------------------

class RecordingProducer:
    """Stands in for EventProducer.send_many: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list | None]] = []

    async def send_many(self, topic, records):
        self.sent += [(topic, value, headers) for _key, value, headers in records]
        return []


async def test_outbox_rows_carry_the_context_they_were_made_in_onto_their_records(spans):
    outside = outbox.OutboxRow("t.case", b"k", b"outside")
    with tracer.start_as_current_span("batch") as span:
        inside = outbox.OutboxRow("t.case", b"k", b"inside")
        relayed = outbox.OutboxRow("t.case", b"k", b"relayed", traceparent(TRACE_B, 7))
    assert outside.traceparent is None
    assert inside.traceparent == tracing.format_traceparent(span.get_span_context())
    producer = RecordingProducer()
    await outbox.send(producer, [outside, inside, relayed])
    headers = {value: h for _topic, value, h in producer.sent}
    assert headers == {b"outside": None, b"inside": [("traceparent", inside.traceparent.encode())],
                       b"relayed": [("traceparent", traceparent(TRACE_B, 7).encode())]}


class FakeKafkaProducer:
    """Stands in for AIOKafkaProducer's send and batches: records each record's headers, acknowledges at once."""

    def __init__(self) -> None:
        self.headers: list = []

    async def send(self, topic, value, key=None, headers=None):
        self.headers.append(headers)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def partitions_for(self, topic):
        return {0}

    def create_batch(self):
        return FakeBatch(self.headers)

    async def send_batch(self, batch, topic, *, partition):
        done = asyncio.get_running_loop().create_future()
        done.set_result(RecordMetadata(topic, partition, TopicPartition(topic, partition), 0, -1, 0, 0))
        return done


class FakeBatch:
    """Stands in for aiokafka's BatchBuilder: every record fits."""

    def __init__(self, headers: list) -> None:
        self.headers = headers

    def append(self, *, key, value, timestamp, headers):
        self.headers.append(headers)
        return True

    def close(self) -> None:
        pass


async def test_published_envelopes_carry_the_current_context_unless_given_headers(spans):
    producer = EventProducer(bootstrap_servers="127.0.0.1:9", client_id="unit")
    fake = producer._producer = FakeKafkaProducer()
    event = Envelope(type="dispute.opened", producer="intake", key="990101001")
    await producer.publish_many("t", [event])
    with tracer.start_as_current_span("request") as span:
        await producer.publish_many("t", [event, event])
        await producer.publish("t", event)
        await producer.publish("t", event, headers=[("profile", b"x")])
    current = trace_headers(tracing.format_traceparent(span.get_span_context()))
    assert fake.headers == [None, current, current, current, [("profile", b"x")]]


# --- consuming ------------------------------------------------------------------------------

def test_a_batch_of_one_trace_continues_it_and_links_each_context(spans):
    records = [with_parent(TRACE_A, 1, offset=0), record(offset=1), with_parent(TRACE_A, 2, offset=2),
               with_parent(TRACE_A, 1, offset=3), record([("traceparent", b"nonsense")], offset=4)]
    with batch_span("t.mediation-disputes", records):
        emitted = outbox.OutboxRow("t.mediation.case.v1", b"k", b"case.created")
    [span] = spans.get_finished_spans()
    assert span.kind is SpanKind.CONSUMER and span.name == "process t.intake.dispute.v1"
    assert span.context.trace_id == TRACE_A and span.parent.span_id == 1, "a child of the first record's span"
    assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [(TRACE_A, 1), (TRACE_A, 2)]
    assert dict(span.attributes) == {
        "messaging.system": "kafka", "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.consumer.group.name": "t.mediation-disputes", "messaging.batch.message_count": 5,
        "messaging.destination.name": "t.intake.dispute.v1"}
    assert emitted.traceparent == tracing.format_traceparent(span.context), "emitted events carry the trace on"


def test_a_batch_of_several_traces_starts_its_own_and_links_them(spans):
    records = [with_parent(TRACE_A, 1), with_parent(TRACE_B, 2, topic="t.mediation.case.v1")]
    with tracer.start_as_current_span("unrelated"):
        with batch_span("t.assessment-facts", records):
            pass
    span = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER)
    assert span.parent is None and span.context.trace_id not in (TRACE_A, TRACE_B)
    assert {link.context.trace_id for link in span.links} == {TRACE_A, TRACE_B}
    assert span.name == "process t.assessment-facts" and "messaging.destination.name" not in span.attributes


def test_a_batch_without_context_is_a_new_trace(spans):
    with batch_span("c", [record(), record([("traceparent", b"00-zz")])]):
        pass
    [span] = spans.get_finished_spans()
    assert span.parent is None and not span.links and span.context.is_valid


def test_a_failed_batch_is_marked_without_the_errors_message(spans):
    with pytest.raises(ValueError), batch_span("c", [with_parent(TRACE_A, 1)]):
        raise ValueError("caller 王小明 13812345678")
    [span] = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR and span.attributes["error.type"] == "ValueError"
    assert "13812345678" not in span.to_json() and not span.events


def test_record_contexts_are_distinct_and_valid():
    records = [with_parent(TRACE_A, 1), with_parent(TRACE_A, 1), record([("traceparent", b"x")]), record()]
    assert [(c.trace_id, c.span_id, c.is_remote) for c in record_contexts(records)] == [(TRACE_A, 1, True)]


def test_dead_letters_keep_the_records_trace_context():
    original = with_parent(TRACE_A, 1)
    headers = DeadLetter(original, ValueError("bad"), attempts=3).headers("c")
    assert headers[:2] == list(original.headers)


# --- logs -----------------------------------------------------------------------------------

def test_log_lines_within_a_span_carry_its_trace_and_span_ids_unmasked(capsys):
    configure_logging("unit", "INFO")
    # Hex ids can hold a run of digits that looks like a mobile number: the ids are added after masking.
    context = SpanContext(int("abc13812345678cd0123456789abcdef", 16), int("a13912345678b0c1", 16), is_remote=False)
    with trace.use_span(NonRecordingSpan(context)):
        structlog.get_logger("t").info("consumer.batch_committed", records=3, note="13812345678")
        logging.getLogger("aiokafka").warning("rebalancing")
    structlog.get_logger("t").info("outside")
    own, foreign, outside = (json.loads(line) for line in capsys.readouterr().out.strip().splitlines()[-3:])
    for line in (own, foreign):
        assert (line["trace_id"], line["span_id"]) == ("abc13812345678cd0123456789abcdef", "a13912345678b0c1")
    assert own["note"] == "***", "masking stays"
    assert "trace_id" not in outside and "span_id" not in outside


_PROBE = """
import sys
from opentelemetry import trace
from shared import tracing
from shared.settings import ServiceSettings
tracing.configure(ServiceSettings(service_name="intake", trace_exporter=sys.argv[1]))
with trace.get_tracer("probe").start_as_current_span("request") as span:
    print(span.is_recording(), tracing.current_traceparent() is not None)
"""


@pytest.mark.parametrize(("exporter", "recorded"), [("none", False), ("console", True)])
def test_spans_are_recorded_only_when_an_exporter_takes_them_and_the_context_travels_either_way(exporter, recorded):
    # A process installs its provider once, so each case gets a process of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    found = subprocess.run([sys.executable, "-c", _PROBE, exporter], capture_output=True, text=True, env=env,
                           check=True, timeout=60)
    assert found.stdout.split()[:2] == [str(recorded), "True"], found.stderr


_REQUEST_PROBE = """
import asyncio, sys
import httpx
from fastapi import FastAPI
from shared import tracing
from shared.http import instrument, telemetry
from shared.settings import ServiceSettings
settings = ServiceSettings(service_name="intake", trace_exporter=sys.argv[1])
app = FastAPI(telemetry=telemetry(settings))
tracing.configure(settings)  # as a service's lifespan does, after the app is made
instrument(app, "intake")

@app.get("/v1/here")
async def here():
    return {"traceparent": tracing.current_traceparent()}

async def main():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for headers in ({"traceparent": sys.argv[2]}, {}, {}):
            print("traceparent:", (await client.get("/v1/here", headers=headers)).json()["traceparent"])
asyncio.run(main())
"""


def _traceparents(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith("traceparent:")]


@pytest.mark.parametrize("exporter", ["none", "console"])
def test_a_request_continues_its_callers_trace_whether_or_not_its_spans_are_recorded(exporter):
    # Recorded: FastAPI's server span. Unrecorded (no exporter): the light context of shared/http.py.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    caller = traceparent(TRACE_A, 0x00F067AA0BA902B7)
    found = subprocess.run([sys.executable, "-c", _REQUEST_PROBE, exporter, caller], capture_output=True, text=True,
                           env=env, check=True, timeout=60)
    continued, first, second = (tracing.parse_traceparent(value) for value in _traceparents(found.stdout))
    assert continued.trace_id == TRACE_A and continued.span_id != 0x00F067AA0BA902B7, "the caller's trace, a span of its own"
    assert first.trace_id not in (TRACE_A, second.trace_id), "without a caller, each request starts a trace"


def test_no_trace_context_is_made_when_tracing_is_off():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")} | {"OTEL_SDK_DISABLED": "true"}
    found = subprocess.run([sys.executable, "-c", _REQUEST_PROBE, "none", traceparent(TRACE_A, 7)],
                           capture_output=True, text=True, env=env, check=True, timeout=60)
    assert _traceparents(found.stdout) == ["None", "None", "None"], found.stderr
