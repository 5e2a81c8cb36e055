"""The event envelope and the topic registry."""
from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.events import TOPICS, Envelope, EnvelopeError, dead_letter_topic, topic
from shared.events.envelope import envelope_bytes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=10)


@given(key=st.text(min_size=1), data=st.dictionaries(st.text(), json_values, max_size=5))
def test_envelope_survives_the_wire_format(key, data):
    sent = Envelope(type="dispute.opened", producer="intake", key=key, data=data)
    assert Envelope.from_bytes(sent.to_bytes()) == sent


def test_envelope_fields_follow_the_design():
    envelope = Envelope(type="case.claimed", producer="mediation", key="110105001")
    wire = envelope.model_dump(mode="json")
    assert set(wire) == {"event_id", "type", "schema_version", "occurred_at", "producer", "key", "data"}
    assert UUID(wire["event_id"]).version == 4
    assert envelope.occurred_at.tzinfo is not None and envelope.schema_version == 1


@pytest.mark.parametrize("raw, field", [
    (b'{"type": "x", "producer": "p"}', "key"),
    (b'{"type": "", "producer": "p", "key": "k"}', "type"),
    (b'{"type": "x", "producer": "p", "key": "k", "occurred_at": "2024-05-01T10:00:00"}', "occurred_at"),
    (b'{"type": "x", "producer": "p", "key": "k", "surprise": 1}', "surprise"),
    (b"not json at all", "<root>"),
])
def test_invalid_envelopes_name_the_failing_field(raw, field):
    with pytest.raises(EnvelopeError, match=field):
        Envelope.from_bytes(raw)


@given(key=st.text(min_size=1), data=st.dictionaries(st.text(), json_values, max_size=5),
       at=st.datetimes(timezones=st.just(UTC)), event_id=st.uuids())
def test_the_envelope_writer_writes_what_the_model_reads(key, data, at, event_id):
    raw = envelope_bytes(event_id=event_id, type="case.claimed", occurred_at=at, producer="mediation", key=key,
                         data=data)
    assert Envelope.from_bytes(raw) == Envelope(event_id=event_id, type="case.claimed", occurred_at=at,
                                                producer="mediation", key=key, data=data)


def test_the_envelope_writer_keeps_the_field_names_and_refuses_a_naive_time():
    raw = envelope_bytes(event_id="6f1c1a2e-7a43-4f0c-9a57-0d6c2b1f1105", type="x", producer="p", key="k",
                         occurred_at=datetime(2024, 5, 1, 10, tzinfo=UTC), data={}, schema_version=2)
    assert list(Envelope.from_bytes(raw).model_dump()) == ["event_id", "type", "schema_version", "occurred_at",
                                                          "producer", "key", "data"]
    assert Envelope.from_bytes(raw).schema_version == 2
    with pytest.raises(EnvelopeError, match="occurred_at"):
        Envelope.from_bytes(envelope_bytes(event_id=UUID(int=1), type="x", producer="p", key="k",
                                           occurred_at=datetime(2024, 5, 1, 10), data={}))


def test_empty_value_is_rejected():
    with pytest.raises(EnvelopeError, match="empty"):
        Envelope.from_bytes(None)


def test_occurred_at_keeps_its_instant():
    at = datetime(2024, 5, 31, 15, 30, tzinfo=UTC)  # 23:30 in Beijing on the last day of May
    envelope = Envelope(type="x", producer="p", key="k", occurred_at=at)
    assert Envelope.from_bytes(envelope.to_bytes()).occurred_at == at


def test_registry_topics_are_versioned_and_have_dead_letter_names():
    assert TOPICS, "the registry lists the system's topics"
    for name, spec in TOPICS.items():
        assert name.endswith(".v1") and spec.partitions >= 1 and spec.event_types
        assert dead_letter_topic(name) == name + ".dlq"
    assert topic("intake.dispute.v1").event_types == ("dispute.opened", "dispute.updated")
    with pytest.raises(KeyError, match="register"):
        topic("nope.v1")


def test_production_topics_need_two_in_sync_replicas_and_local_ones_one():
    from shared.kafka.admin import topic_configs
    assert topic_configs(3) == {"min.insync.replicas": "2"} and topic_configs(5) == {"min.insync.replicas": "2"}
    assert topic_configs(1) == {}, "a single local broker cannot have two in-sync replicas"


def test_a_dead_letter_names_the_fields_that_failed_without_quoting_the_data():
    from pydantic import ValidationError

    from shared.events.community import ActivityData
    from shared.kafka.dead_letter import describe
    try:
        ActivityData.model_validate({"type": "visit", "occurred_at": "2024-05-03T10:00:00+08:00",
                                     "station_code": "990101001", "household_key": "王小明家" * 20, "x": "李四"})
    except ValidationError as exc:
        text = describe(exc)
    assert "household_key" in text and "x:" in text, text
    assert "王小明" not in text and "李四" not in text, "the input stays out of logs and headers"
    assert describe(ValueError("plain")) == "plain" and describe(KeyError()) == "KeyError"
