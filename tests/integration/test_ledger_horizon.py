"""processed_events is pruned past the source topics' retention plus a margin, and only there:
a redelivery inside the horizon is still skipped, rows past it are gone but the last of each
partition, which records how far the consumer got (real PostgreSQL)."""
import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from aiokafka.structs import ConsumerRecord

from shared.kafka.exactly_once import EnvelopeBatches
from shared.kafka.ledger_horizon import horizon, purge_ledger
from tests.apps.ledger import CREATE_TABLES, ledger_event, ledger_handler

SETTINGS = SimpleNamespace(topic_retention_days=7, ledger_margin_days=7)


def delivery(envelope, offset: int, partition: int = 0) -> ConsumerRecord:
    value = envelope.to_bytes()
    return ConsumerRecord(topic="t.ledger.v1", partition=partition, offset=offset, timestamp=0, timestamp_type=0, key=b"k",
                          value=value, checksum=None, serialized_key_size=1, serialized_value_size=len(value),
                          headers=[])


async def test_a_redelivery_inside_the_horizon_is_skipped_and_rows_past_it_are_gone(db_pool):
    async with db_pool.acquire() as conn:
        await conn.execute(CREATE_TABLES)
    batches = EnvelopeBatches(name="ledger", pool=db_pool, handler=ledger_handler("m1"), stopping=asyncio.Event())
    old, recent, quiet = ledger_event(1, amount=10), ledger_event(2, amount=100), ledger_event(3, amount=1000)
    assert await batches.process([delivery(old, 0), delivery(recent, 1), delivery(quiet, 7, partition=1)]) == []
    now = datetime.now(UTC)
    async with db_pool.acquire() as conn:
        # The first event was processed 15 days ago (past 7 + 7), the second 13 days ago (inside).
        await conn.execute("UPDATE processed_events SET processed_at = $2 WHERE event_id = $1",
                           old.event_id, now - timedelta(days=15))
        await conn.execute("UPDATE processed_events SET processed_at = $2 WHERE event_id = $1",
                           recent.event_id, now - timedelta(days=13))
        # A partition that has been quiet for 20 days: its last row stays, it says how far the consumer got.
        await conn.execute("UPDATE processed_events SET processed_at = $2 WHERE event_id = $1",
                           quiet.event_id, now - timedelta(days=20))
        assert horizon(now, topic_retention_days=7, margin_days=7) == now - timedelta(days=14)
        async with conn.transaction():
            assert await purge_ledger(conn, SETTINGS, now, dry_run=True) == {"processed_events": 1}
        assert await conn.fetchval("SELECT count(*) FROM processed_events") == 3  # a dry run deletes nothing
        async with conn.transaction():
            assert await purge_ledger(conn, SETTINGS, now, dry_run=False) == {"processed_events": 1}
        kept = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM processed_events")}
        offsets = [tuple(r) for r in await conn.fetch(
            "SELECT partition, max(kafka_offset) FROM processed_events GROUP BY 1 ORDER BY 1")]
    assert kept == {recent.event_id, quiet.event_id} and offsets == [(0, 1), (1, 7)]

    # Kafka redelivers the recent event (a crash before the offset commit): skipped, still applied once.
    assert await batches.process([delivery(recent, 1)]) == []
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT total FROM ledger_total") == 1110
        assert await conn.fetchval("SELECT count(*) FROM ledger WHERE event_id = $1", recent.event_id) == 1
