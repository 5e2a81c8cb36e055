"""Transactional outbox: events are written in the same transaction as the state they describe,
published right after the commit, and deleted once Kafka acknowledges them. Whatever a crash
leaves behind is published by the relay; event ids are stable, so a repeat is skipped downstream.
Each row keeps the trace context it was made in, which goes on its record's `traceparent` header.
"""
import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import structlog

from shared import metrics
from shared.kafka.producer import EventProducer
from shared.kafka.tracing import Headers, trace_headers
from shared.tracing import current_traceparent

log = structlog.get_logger(__name__)

INSERT = """
INSERT INTO outbox (topic, key, value, traceparent)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[])
RETURNING id
"""
DELETE = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
# The backlog Prometheus watches (deploy/prometheus/alerts.yml): how many events wait, and the oldest's age.
BACKLOG = """
SELECT current_database() AS database, count(*) AS events,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_s
FROM outbox
"""
# How often the relay loop measures the backlog: about a scrape interval (count(*) grows with an outage's backlog).
MEASURE_EVERY_S = 15.0
# Rows a crash left unpublished; SKIP LOCKED lets several relays share the backlog.
CLAIM = """
SELECT id, topic, key, value, traceparent FROM outbox
WHERE created_at < now() - make_interval(secs => $1)
ORDER BY id LIMIT $2
FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class OutboxRow:
    """One event ready for Kafka: topic, key bytes, envelope bytes and the trace context (by
    default the current span's, so a row made in a request or a consumer batch continues its trace)."""

    topic: str
    key: bytes
    value: bytes
    traceparent: str | None = field(default_factory=current_traceparent)


async def write(conn: asyncpg.Connection, rows: Sequence[OutboxRow]) -> list[int]:
    """Add events to the outbox inside the caller's transaction; returns their ids."""
    if not rows:
        return []
    records = await conn.fetch(INSERT, [r.topic for r in rows], [r.key for r in rows], [r.value for r in rows],
                               [r.traceparent for r in rows])
    return [r["id"] for r in records]


async def send(producer: EventProducer, rows: Sequence[OutboxRow]) -> None:
    """Publish rows, all topics at once, and wait for every acknowledgement."""
    by_topic: dict[str, list[tuple[bytes, bytes, Headers | None]]] = {}
    headers: dict[str | None, Headers | None] = {}  # the rows of one request share their context
    for row in rows:
        if row.traceparent not in headers:
            headers[row.traceparent] = trace_headers(row.traceparent)
        by_topic.setdefault(row.topic, []).append((row.key, row.value, headers[row.traceparent]))
    await asyncio.gather(*(producer.send_many(topic, records) for topic, records in by_topic.items()))


# How long a request waits for Kafka after its commit before leaving its events to the relay: the
# state is committed either way, and a CAD client must get its answer well within its own timeout.
PUBLISH_TIMEOUT_S = 5.0


def _away(producer: EventProducer, exc: Exception) -> None:
    """Kafka did not take a batch: from now on requests leave their events to the relay at once."""
    if producer.away_since is None:
        producer.away_since = time.monotonic()
        log.warning("kafka.away", error=repr(exc), note="requests answer after their commit; the relay delivers")


def _back(producer: EventProducer) -> None:
    if producer.away_since is not None:
        log.warning("kafka.back", away_s=round(time.monotonic() - producer.away_since, 1))
        producer.away_since = None


async def publish(pool: asyncpg.Pool, producer: EventProducer, rows: Sequence[OutboxRow], ids: Sequence[int],
                  *, timeout_s: float = PUBLISH_TIMEOUT_S) -> bool:
    """After the commit: publish, then delete the acknowledged rows. False leaves them for the relay, at
    once while Kafka is known to be away (a broker outage would otherwise cost every request the timeout)."""
    if not rows:
        return True
    if producer.away_since is not None:
        return False
    try:
        await asyncio.wait_for(send(producer, rows), timeout_s)
    except Exception as exc:  # the state is committed; the relay publishes these later
        log.warning("outbox.publish_deferred", events=len(rows), error=repr(exc))
        _away(producer, exc)
        return False
    await pool.execute(DELETE, list(ids))
    return True


async def relay(pool: asyncpg.Pool, producer: EventProducer, *, older_than_s: float = 0.0,
                limit: int = 5000) -> int:
    """Publish what a crash left in the outbox; returns how many events were published."""
    published = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, older_than_s, limit)
            if not rows:
                if producer.away_since is not None and await producer.ping():  # nothing to send: ask
                    _back(producer)
                return published
            try:
                await send(producer, [OutboxRow(r["topic"], r["key"], r["value"], r["traceparent"]) for r in rows])
            except Exception as exc:  # Kafka away: the rows stay for the next relay; start-up goes on
                log.warning("outbox.relay_deferred", events=len(rows), error=repr(exc))
                _away(producer, exc)
                return published
            _back(producer)
            await conn.execute(DELETE, [r["id"] for r in rows])
        published += len(rows)


def relay_threshold(period_s: float, *, self_publishing: bool) -> float:
    """How old an outbox row must be before the relay takes it. Where requests publish their own events
    after the commit, no younger than a request may still be doing so (the publish timeout and a
    period), or an outage would send every event twice; where only the relay publishes (consumers,
    the SLA worker, mediation's API), two periods: just past the writer's commit."""
    return max(period_s * 2, PUBLISH_TIMEOUT_S + period_s) if self_publishing else period_s * 2


async def measure(pool: asyncpg.Pool) -> None:
    """Set the outbox gauges: events Kafka has not acknowledged yet, and how old the oldest one is."""
    row = await pool.fetchrow(BACKLOG)
    metrics.OUTBOX_ROWS.labels(row["database"]).set(row["events"])
    metrics.OUTBOX_OLDEST_SECONDS.labels(row["database"]).set(row["oldest_s"])


async def relay_forever(pool: asyncpg.Pool, producer: EventProducer, period_s: float, *,
                        self_publishing: bool = False) -> None:
    """Relay every period, forever (a lifespan task), rows older than relay_threshold(); measure the
    backlog every MEASURE_EVERY_S."""
    older_than_s = relay_threshold(period_s, self_publishing=self_publishing)
    measured_at = -MEASURE_EVERY_S
    while True:
        await asyncio.sleep(period_s)
        try:
            await relay(pool, producer, older_than_s=older_than_s)
            if time.monotonic() - measured_at >= MEASURE_EVERY_S:
                measured_at = time.monotonic()
                await measure(pool)
        except Exception as exc:  # Kafka or the database away: try again next period
            log.warning("outbox.relay_failed", error=repr(exc))


@asynccontextmanager
async def relaying(pool: asyncpg.Pool, producer: EventProducer, period_s: float, *,
                   self_publishing: bool = False) -> AsyncIterator[None]:
    """Within the block: first publish what a crash left behind, then keep relaying every period."""
    await relay(pool, producer)
    task = asyncio.create_task(relay_forever(pool, producer, period_s, self_publishing=self_publishing))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
