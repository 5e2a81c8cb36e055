"""A poison message of each kind on every topic a Fengqiao consumer reads, mixed with good events.

Kinds: not JSON; JSON but not an envelope (on dispatch.raw.v1: not a dispatch record); an envelope whose
data fails validation (on dispatch.raw.v1: a record whose fields do). Topics and their consumers:
dispatch.raw.v1 (intake consume), intake.dispute.v1 (mediation consume), intake.incident.v1,
mediation.case.v1 and community.activity.v1 (assessment consume), each its own OS process, on the
session's Kafka and PostgreSQL.

Envelope topics: each `.dlq` topic holds exactly the three poison messages of its topic (same bytes, key
and headers, then the runner's error headers), and every good event took effect. dispatch.raw.v1 is not
dead-lettered: intake rejects what it cannot read (docs/contracts.md), so the raw poison is kept in
`rejected_records` and published on dispatch.rejected.v1, and dispatch.raw.v1.dlq stays empty.
"""
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from shared.events.community import ACTIVITY_TOPIC, ActivityData
from shared.events.envelope import Envelope
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC, RAW_TOPIC, REJECTED_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.events.topics import TOPICS, dead_letter_topic
from tests.faults.pipeline import (
    STATIONS,
    Pipeline,
    Services,
    all_lags,
    dispute_record,
    fetch,
    lagging,
    listed,
    pipeline,
    read_records,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(240)]

KEY = STATIONS[0]  # the poison shares its partition with good events of this station
ORIGIN = [("origin", b"fengqiao-fault-test")]  # a header of the sender's, which a dead letter must keep
GOOD_RECORDS = 40  # every fourth a call for help (an incident, no dispute), the others disputes
GOOD_ACTIVITIES = 6
# What each envelope topic's poison is made of, and the event type its third poison claims to be.
ENVELOPE_TOPICS = {DISPUTE_TOPIC: "dispute.opened", INCIDENT_TOPIC: "incident.accepted",
                   CASE_TOPIC: "case.created", ACTIVITY_TOPIC: "visit.recorded"}
SETTLE_S = 60.0


@pytest.fixture
async def session_pipeline(infrastructure, unique):
    # Three attempts for an event its handler rejects (the dead letter's x-attempts), whatever the default.
    async with pipeline(infrastructure.kafka_bootstrap_servers, infrastructure.postgres_url, unique,
                        consumer_max_attempts=3) as p:
        yield p


# The parties of the dispute whose event is broken: personal data, which must not reach a log line.
PARTY = {"caller_name": "欧阳明月", "caller_phone": "13912345678", "address_text": "示例市北城区望湖街道湖光路99号",
         "description": "欧阳明月称楼上空调外机滴水，与邻居争执"}


def broken_dispute() -> dict:
    """A dispute.opened's data as intake writes it, but without its station code (say, a producer of an
    older schema): the handler's validation fails on the whole object."""
    return {"source": "FAULT-CAD", "incident_number": "110-POISON-BROKEN", "revision": 1,
            "received_at": datetime.now(UTC).isoformat(), "closed_at": None, "grid_code": None, "officer_id": None,
            "jurisdiction_method": "record", "kind": "dispute", "dispute_type": "neighbour", "risk_flags": [],
            "confidence": 0.9, "rules_version": "classification.v1", "category_code": "dispute",
            "disposition": None, "address_key": None, "caller_phone_hmac": None, **PARTY}


def envelope_poison(name: str) -> list[tuple[bytes, str, str]]:
    """(value, the error type its dead letter names, attempts) of the three poison messages of a topic."""
    data = broken_dispute() if name == DISPUTE_TOPIC else {"poison": f"data no {ENVELOPE_TOPICS[name]} event has"}
    bad_data = Envelope(type=ENVELOPE_TOPICS[name], producer="fault-test", key=KEY, data=data)
    return [(f"poison on {name}: not JSON {{".encode(), "EnvelopeError", "1"),
            (json.dumps({"poison": "JSON, but not an envelope", "topic": name}).encode(), "EnvelopeError", "1"),
            (bad_data.to_bytes(), "ValidationError", "3")]


RAW_POISON = [b"poison on dispatch.raw.v1: not JSON {",
              json.dumps({"poison": "JSON, but not a dispatch record"}).encode(),
              json.dumps({"source": "FAULT-CAD", "incident_number": "110-POISON-RAW", "revision": 0,
                          "received_at": "not a time", "longitude": 116.4}).encode()]


def good_records() -> list[dict]:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    records = [dispute_record(f"110-POISON-{i:04d}", i, base) for i in range(GOOD_RECORDS)]
    for record in records[3::4]:
        record.update(category_code="help", description="老人走失，家属请求帮助寻找", disposition="已找到")
    return records


def good_activities() -> list[Envelope]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    activities = [ActivityData(activity_id=uuid.uuid4(), type="visit", occurred_at=at, station_code=KEY,
                               household_key=f"HH-{i:03d}") if i % 2 else
                  ActivityData(activity_id=uuid.uuid4(), type="patrol", occurred_at=at, station_code=KEY,
                               participants=10 + i) for i in range(GOOD_ACTIVITIES)]
    return [Envelope(type=a.event_type, producer="community-app", key=KEY, data=a.model_dump(mode="json"))
            for a in activities]


async def eventually(what: str, probe: Callable[[], Awaitable[str | None]], services: Services,
                     within_s: float = SETTLE_S) -> None:
    """Poll `probe` (None when done, else what is still wrong) until done; fail naming what is wrong."""
    deadline = time.monotonic() + within_s
    while True:
        services.check_alive()
        problem = await probe()
        if problem is None:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within_s:.0f} s: {problem}")
        await asyncio.sleep(0.5)


def differs(what: str, found: set, wanted: set) -> str | None:
    if found == wanted:
        return None
    return f"{what}: missing {listed(map(str, wanted - found))}; unexpected {listed(map(str, found - wanted))}"


async def test_poison_on_every_consumed_topic_goes_to_its_dead_letter_topic_and_the_good_events_take_effect(
        session_pipeline: Pipeline, tmp_path):
    p = session_pipeline
    records, activities = good_records(), good_activities()
    numbers = {r["incident_number"] for r in records}
    disputes = {r["incident_number"] for r in records if r["category_code"] == "dispute"}
    sent: dict[str, list[tuple[RecordMetadata, bytes, str, str]]] = {name: [] for name in ENVELOPE_TOPICS}
    raw_poison: list[RecordMetadata] = []
    producer = AIOKafkaProducer(bootstrap_servers=p.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()

    async def send(name: str, value: bytes, key: str, headers=None) -> RecordMetadata:
        return await producer.send_and_wait(p.topic(name), value, key=key.encode(), headers=headers)

    async def poison(name: str, which: slice) -> None:
        for value, error, attempts in envelope_poison(name)[which]:
            sent[name].append((await send(name, value, KEY, ORIGIN), value, error, attempts))

    try:
        async with Services(tmp_path / "logs") as services:
            # Poison first on every envelope topic, so each consumer's first batch mixes it with good events.
            for name in ENVELOPE_TOPICS:
                await poison(name, slice(0, 2))

            # dispatch.raw.v1: good records with the three raw poison messages among them.
            for index, record in enumerate(records):
                await send(RAW_TOPIC, json.dumps(record, ensure_ascii=False).encode(), record["station_code"])
                if index % 13 == 6:
                    raw_poison.append(await send(RAW_TOPIC, RAW_POISON[len(raw_poison)], KEY, ORIGIN))
            assert len(raw_poison) == len(RAW_POISON)
            services.start("intake", "consume", p.env["intake"])

            async def intake_done() -> str | None:
                held = {r[0] for r in await fetch(p.databases["intake"], "SELECT incident_number FROM dispatch_records")}
                rejected = await fetch(p.databases["intake"], "SELECT count(*) FROM rejected_records")
                outbox = await fetch(p.databases["intake"], "SELECT count(*) FROM outbox")
                return differs("intake's dispatch_records", held, numbers) or (
                    f"{rejected[0][0]} rejected records, {outbox[0][0]} events in the outbox"
                    if (rejected[0][0], outbox[0][0]) != (len(RAW_POISON), 0) else None)
            await eventually("dispatch.raw.v1 -> intake consume", intake_done, services)

            # The last poison after intake's good events; then mediation.
            await poison(DISPUTE_TOPIC, slice(2, 3))
            await poison(INCIDENT_TOPIC, slice(2, 3))
            services.start("mediation", "consume", p.env["mediation"])

            async def mediation_done() -> str | None:
                held = {r[0] for r in await fetch(p.databases["mediation"], "SELECT incident_number FROM cases")}
                outbox = await fetch(p.databases["mediation"], "SELECT count(*) FROM outbox")
                return differs("mediation's cases", held, disputes) or (
                    f"{outbox[0][0]} case events in the outbox" if outbox[0][0] else None)
            await eventually("intake.dispute.v1 -> mediation consume", mediation_done, services)

            # The last poison after mediation's good events; community activities around their poison.
            await poison(CASE_TOPIC, slice(2, 3))
            for index, activity in enumerate(activities):
                await send(ACTIVITY_TOPIC, activity.to_bytes(), KEY)
                if index == GOOD_ACTIVITIES // 2:
                    await poison(ACTIVITY_TOPIC, slice(2, 3))
            services.start("assessment", "consume", p.env["assessment"])

            async def assessment_done() -> str | None:
                db = p.databases["assessment"]
                incidents = {r[0] for r in await fetch(db, "SELECT incident_number FROM incidents")}
                cases = {r[0] for r in await fetch(db, "SELECT incident_number FROM cases")}
                recorded = {r[0] for r in await fetch(db, "SELECT activity_id FROM community_activities")}
                return (differs("assessment's incidents", incidents, numbers)
                        or differs("assessment's cases", cases, disputes)
                        or differs("assessment's community activities", recorded,
                                   {uuid.UUID(a.data["activity_id"]) for a in activities}))
            await eventually("intake.incident.v1, mediation.case.v1, community.activity.v1 -> assessment consume",
                             assessment_done, services)

            async def no_lag() -> str | None:
                stuck = lagging(await all_lags(p, p.groups))
                return "; ".join(stuck) or None
            await eventually("every consumer group committed to the end of every partition", no_lag, services)
            services.check_alive()  # no poison stopped a consumer
            await check_dead_letters(p, sent, raw_poison)
            logs = services.logs(tail_chars=10**9)
        # The broken dispute's parties stay out of every log line (docs/design.md, "Non-negotiables"), also when
        # its validation error is logged: not one run of five characters of any of their values.
        leaks = {value[i:i + 5]: field for field, value in PARTY.items() for i in range(len(value) - 4)
                 if value[i:i + 5] in logs}
        lines = [line[:600] for line in logs.splitlines() if any(fragment in line for fragment in leaks)]
        assert not leaks, f"personal data of a poison event ({sorted(set(leaks.values()))}) in " \
                          f"{len(lines)} log line(s):\n" + "\n".join(lines[:5])
    finally:
        await producer.stop()


async def check_dead_letters(p: Pipeline, sent: dict[str, list[tuple[RecordMetadata, bytes, str, str]]],
                             raw_poison: list[RecordMetadata]) -> None:
    groups = {DISPUTE_TOPIC: p.groups["mediation consumer"][0]} | {
        name: p.groups["assessment consumer"][0] for name in (INCIDENT_TOPIC, CASE_TOPIC, ACTIVITY_TOPIC)}
    for name, poison in sent.items():
        topic = p.topic(name)
        letters = await read_records(p.kafka_bootstrap, dead_letter_topic(topic), 1)
        assert sorted(r.value for r in letters) == sorted(v for _, v, _, _ in poison), (
            f"{dead_letter_topic(topic)} holds {[r.value[:80] for r in letters]}, "
            f"not exactly the poison {[v[:80] for _, v, _, _ in poison]}")
        by_value = {r.value: r for r in letters}
        for meta, value, error_type, attempts in poison:
            letter = by_value[value]
            where = f"the dead letter of {topic}[{meta.partition}]@{meta.offset}"
            assert letter.key == KEY.encode(), f"{where}: key {letter.key!r}"
            headers = list(letter.headers)
            assert headers[:len(ORIGIN)] == ORIGIN, f"{where}: the original headers are not kept first: {headers}"
            added = {k: v.decode() for k, v in headers[len(ORIGIN):]}
            assert added.get("x-error"), f"{where}: no x-error header: {added}"
            wanted = {"x-error-type": error_type, "x-original-topic": topic,
                      "x-original-partition": str(meta.partition), "x-original-offset": str(meta.offset),
                      "x-attempts": attempts, "x-consumer": groups[name]}
            assert {k: added.get(k) for k in wanted} == wanted, f"{where}: headers {added}"

    # dispatch.raw.v1 is never dead-lettered: its poison is rejected input, kept and published.
    assert not await read_records(p.kafka_bootstrap, dead_letter_topic(p.topic(RAW_TOPIC)), 1), \
        "intake dead-lettered raw records; it should reject them to dispatch.rejected.v1"
    positions = {f"{p.topic(RAW_TOPIC)}/{m.partition}/{m.offset}": value for m, value in zip(raw_poison, RAW_POISON)}
    rejected = [Envelope.from_bytes(r.value) for r in
                await read_records(p.kafka_bootstrap, p.topic(REJECTED_TOPIC), TOPICS[REJECTED_TOPIC].partitions)]
    kept = await fetch(p.databases["intake"], "SELECT id, position, raw, channel FROM rejected_records")
    assert {r["position"]: r["raw"].encode() for r in kept} == positions and {r["channel"] for r in kept} == {"kafka"}, \
        f"intake's rejected_records: {[tuple(r) for r in kept]}"
    # The event names the kept row instead of carrying the raw input (personal data stays in intake).
    assert {e.data["position"]: e.data["reference"] for e in rejected} == {r["position"]: r["id"] for r in kept}, \
        f"dispatch.rejected.v1 holds {[(e.data['position'], e.data['reference']) for e in rejected]}"
    assert all(e.data["channel"] == "kafka" and e.data["errors"] and e.data["raw"] is None for e in rejected), rejected
    # Nothing else was dead-lettered.
    for name in set(TOPICS) - set(sent) - {RAW_TOPIC}:
        letters = await read_records(p.kafka_bootstrap, dead_letter_topic(p.topic(name)), 1)
        assert not letters, f"{dead_letter_topic(p.topic(name))} holds {[r.value[:80] for r in letters]}"
