"""The producer, Kafka and the consumer runner against the real broker and database."""
import asyncio

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from shared.events.envelope import Envelope
from shared.kafka import dead_letter
from shared.kafka.consumer import ConsumerRunner
from shared.kafka.producer import EventProducer
from tests.apps.ledger import ledger_event, ledger_handler, prepare

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    """Poll an async predicate until it is truthy; fail with its last value otherwise."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(interval)


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0):
    """Read `expected` records from the start of a topic (no group)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    records = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records += [r for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return records


async def ledger_counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    """(rows, distinct events, running total) of the ledger."""
    async with pool.acquire() as conn:
        rows, distinct = await conn.fetchrow("SELECT count(*), count(DISTINCT event_id) FROM ledger")
        total = await conn.fetchval("SELECT total FROM ledger_total WHERE id = 1")
    return rows, distinct, total


async def test_envelope_round_trip_through_kafka(kafka_bootstrap, make_topic):
    topic = await make_topic("roundtrip", partitions=1)
    sent = Envelope(type="dispute.opened", producer="tests", key="110105001",
                    data={"dispute_type": "neighbour", "说明": "楼上漏水"})
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
        metadata = await producer.publish(topic, sent)
    [record] = await read_all(kafka_bootstrap, topic, 1)
    assert record.offset == metadata.offset
    assert record.key == b"110105001"
    assert Envelope.from_bytes(record.value) == sent


async def test_ten_thousand_events_each_applied_exactly_once(kafka_bootstrap, make_topic, db_pool, unique):
    topic = await make_topic("ten-thousand", partitions=6)
    await prepare(db_pool)
    events = [ledger_event(i, amount=i % 7 + 1) for i in range(10_000)]
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
        await producer.publish_many(topic, events)
        # The same 500 events again, as a producer retrying after a lost acknowledgement would.
        await producer.publish_many(topic, events[:500])
        runner = ConsumerRunner(name=f"g-{unique}", topics=[topic], bootstrap_servers=kafka_bootstrap,
                                pool=db_pool, handler=ledger_handler("solo"), producer=producer)
        task = asyncio.create_task(runner.run())
        try:
            await wait_for(lambda: _rows_at_least(db_pool, 10_000), timeout=120)
            # Let the redelivered copies pass through, then stop cleanly.
            await asyncio.sleep(1.0)
        finally:
            runner.stop()
            await task
    rows, distinct, total = await ledger_counts(db_pool)
    assert (rows, distinct) == (10_000, 10_000)
    assert total == sum(e.data["amount"] for e in events)


async def _rows_at_least(pool: asyncpg.Pool, n: int) -> bool:
    rows, _, _ = await ledger_counts(pool)
    return rows >= n


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_is_applied(
        kafka_bootstrap, make_topic, db_pool, unique):
    topic = await make_topic("poison", partitions=2)
    await prepare(db_pool)
    good = [ledger_event(i) for i in range(300)]
    poisoned = ledger_event(9_999, poison=True)
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
        await producer.publish_many(topic, good[:150])
        sent = {b"{not json": await producer.send_raw(topic, b"{not json", key=b"station-1"),
                poisoned.to_bytes(): await producer.publish(topic, poisoned),
                # a valid JSON, not an envelope
                b'{"type": "x"}': await producer.send_raw(topic, b'{"type": "x"}', key=b"station-2")}
        await producer.publish_many(topic, good[150:])
        runner = ConsumerRunner(name=f"g-{unique}", topics=[topic], bootstrap_servers=kafka_bootstrap,
                                pool=db_pool, handler=ledger_handler("solo"), producer=producer,
                                max_attempts=3, retry_backoff_ms=5)
        task = asyncio.create_task(runner.run())
        try:
            letters = await read_all(kafka_bootstrap, topic + ".dlq", 3, timeout=60)
            await wait_for(lambda: _rows_at_least(db_pool, 300))
        finally:
            runner.stop()
            await task
    assert len(letters) == 3
    by_value = {r.value: dict(r.headers) for r in letters}
    assert set(by_value) == {b"{not json", poisoned.to_bytes(), b'{"type": "x"}'}
    handler_failure = by_value[poisoned.to_bytes()]
    assert handler_failure[dead_letter.ERROR_TYPE] == b"PoisonEvent"
    assert handler_failure[dead_letter.ATTEMPTS] == b"3"
    assert handler_failure[dead_letter.ORIGINAL_TOPIC] == topic.encode()
    for value, headers in by_value.items():  # each letter names the very record it replaces
        assert headers[dead_letter.ERROR]
        assert int(headers[dead_letter.ORIGINAL_PARTITION]) == sent[value].partition
        assert int(headers[dead_letter.ORIGINAL_OFFSET]) == sent[value].offset
    assert b"producer" in by_value[b'{"type": "x"}'][dead_letter.ERROR]  # names the missing field
    rows, distinct, _ = await ledger_counts(db_pool)
    assert (rows, distinct) == (300, 300)
