"""Applying envelope batches to PostgreSQL exactly once, for the consumer runner.

The event ids of a batch go into `processed_events` in the same transaction as the handler's
writes, so a redelivered event (after a crash, a SIGKILL or a rebalance) is skipped. If the
handler fails, the batch is replayed one event at a time with bounded retries and backoff; the
events that still fail become dead letters. Undecodable records are dead letters at once.
"""
import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka.structs import ConsumerRecord

from shared import metrics
from shared.events.envelope import Envelope
from shared.kafka.dead_letter import DeadLetter, describe

log = structlog.get_logger(__name__)

BatchHandler = Callable[[asyncpg.Connection, Sequence[Envelope]], Awaitable[None]]

# Errors that say the database is unreachable rather than that the event is bad: the runner
# retries the whole batch until the database is back, and dead-letters nothing for them.
INFRASTRUCTURE_ERRORS = (
    OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.TooManyConnectionsError,
)

_MARK_PROCESSED = """
INSERT INTO processed_events (consumer, event_id, topic, partition, kafka_offset)
SELECT $1, e.id, e.topic, e.part, e.off
FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) AS e(id, topic, part, off)
ON CONFLICT DO NOTHING
RETURNING event_id
"""


class ReplayInterrupted(Exception):
    """Stop was asked for while a failed batch was being replayed event by event."""


@dataclass(frozen=True)
class Delivery:
    """A decoded record: the envelope and where it came from."""

    record: ConsumerRecord
    envelope: Envelope


class EnvelopeBatches:
    """The runner's default processor: envelopes, an idempotency ledger and a batch handler."""

    def __init__(self, *, name: str, pool: asyncpg.Pool, handler: BatchHandler,
                 stopping: asyncio.Event, max_attempts: int = 3, retry_backoff_ms: int = 200,
                 decode: Callable[[bytes | None], Envelope] = Envelope.from_bytes) -> None:
        self._name = name
        self._pool = pool
        self._handler = handler
        self._stopping = stopping
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_ms / 1000
        self._decode = decode

    async def process(self, records: list[ConsumerRecord]) -> list[DeadLetter]:
        """Apply a batch; return what must go to the dead-letter topics."""
        deliveries, letters = [], []
        for record in records:
            try:
                deliveries.append(Delivery(record, self._decode(record.value)))
            except ValueError as exc:  # EnvelopeError, and text that is not UTF-8
                letters.append(DeadLetter(record, exc, attempts=1))
        return letters + await self._apply(deliveries)

    async def _apply(self, deliveries: list[Delivery]) -> list[DeadLetter]:
        if not deliveries:
            return []
        try:
            await self._apply_in_transaction(deliveries)
            return []
        except INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # a handler error: find the bad events one by one
            log.info("consumer.batch_failed", consumer=self._name, size=len(deliveries),
                     error_type=type(exc).__name__, error=describe(exc))
        letters = []
        for delivery in deliveries:
            letter = await self._apply_with_retries(delivery)
            if letter:
                letters.append(letter)
        return letters

    async def _apply_with_retries(self, delivery: Delivery) -> DeadLetter | None:
        for attempt in range(1, self._max_attempts + 1):
            if self._stopping.is_set():
                # Stop promptly: nothing of the rest is committed, so the next owner replays it.
                raise ReplayInterrupted()
            try:
                await self._apply_in_transaction([delivery])
                return None
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:  # the handler's own failure: retry, then dead-letter
                if attempt == self._max_attempts:
                    return DeadLetter(delivery.record, exc, attempts=attempt)
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        return None

    async def _apply_in_transaction(self, deliveries: Sequence[Delivery]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            fresh_ids = {row["event_id"] for row in await conn.fetch(
                _MARK_PROCESSED, self._name,
                [d.envelope.event_id for d in deliveries], [d.record.topic for d in deliveries],
                [d.record.partition for d in deliveries], [d.record.offset for d in deliveries])}
            fresh, seen = [], set()
            for d in deliveries:
                if d.envelope.event_id in fresh_ids and d.envelope.event_id not in seen:
                    seen.add(d.envelope.event_id)
                    fresh.append(d.envelope)
            if fresh:
                await self._handler(conn, fresh)
        # One label lookup per topic and batch: a lookup per event costs more than the count.
        applied = Counter(d.record.topic for d in deliveries if d.envelope.event_id in seen)
        for topic, total in Counter(d.record.topic for d in deliveries).items():
            metrics.EVENTS_HANDLED.labels(self._name, topic).inc(applied[topic])
            metrics.EVENTS_SKIPPED.labels(self._name, topic).inc(total - applied[topic])
