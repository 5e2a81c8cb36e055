"""Pruning the consumer runner's idempotency ledger (`processed_events`) past a safe horizon.

A ledger row is only needed while Kafka can still deliver its event again. A record is appended
before it is processed, so a row whose `processed_at` is older than the source topics' retention
plus a margin describes a record Kafka has deleted: no redelivery, after a crash, a rebalance or an
offset reset to earliest, can bring it back. The margin covers that Kafka deletes whole segments,
which can outlive the retention by up to `segment.ms` (7 days by default), and clock skew.
"""
from datetime import datetime, timedelta
from typing import cast

import asyncpg

from shared.settings import ServiceSettings

# The last row of each consumer's partition stays whatever its age: it records how far the consumer got
# there (assessment publishes its rankings with these source offsets, services/assessment/events.py).
_PAST_HORIZON = """
FROM processed_events p,
     (SELECT consumer, topic, partition, max(kafka_offset) AS last FROM processed_events GROUP BY 1, 2, 3) AS l
WHERE p.processed_at < $1 AND p.consumer = l.consumer AND p.topic = l.topic AND p.partition = l.partition
  AND p.kafka_offset < l.last
"""
COUNT_PAST_HORIZON = "SELECT count(*) " + _PAST_HORIZON
DELETE_PAST_HORIZON = """
DELETE FROM processed_events AS gone
USING (SELECT p.consumer, p.event_id """ + _PAST_HORIZON + """) AS old
WHERE gone.consumer = old.consumer AND gone.event_id = old.event_id
"""


def horizon(now: datetime, *, topic_retention_days: int, margin_days: int) -> datetime:
    """The oldest processed_at still kept."""
    return now - timedelta(days=topic_retention_days + margin_days)


async def prune_ledger(conn: asyncpg.Connection, before: datetime, *, dry_run: bool = False) -> int:
    """Delete (or, dry, count) the ledger rows processed before `before`, but the last of each partition;
    returns how many."""
    if dry_run:
        return cast(int, await conn.fetchval(COUNT_PAST_HORIZON, before))
    status = await conn.execute(DELETE_PAST_HORIZON, before)
    return int(status.rsplit(" ", 1)[-1])


async def purge_ledger(conn: asyncpg.Connection, settings: ServiceSettings, now: datetime, *, dry_run: bool) -> dict[str, int]:
    """The ledger part of every service's `purge`: {"processed_events": rows}."""
    before = horizon(now, topic_retention_days=settings.topic_retention_days, margin_days=settings.ledger_margin_days)
    return {"processed_events": await prune_ledger(conn, before, dry_run=dry_run)}
