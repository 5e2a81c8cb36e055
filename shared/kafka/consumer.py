"""The consumer runner: batches from Kafka applied exactly once to PostgreSQL.

Per batch: decode every record (undecodable ones are dead-lettered at once), record the event
ids in `processed_events` and run the handler in one database transaction, commit that
transaction, then commit the Kafka offsets. A redelivered event (after a crash, a SIGKILL or a
rebalance) finds its id in `processed_events` and is skipped, so its effects apply once.
If the handler fails, the batch is replayed one event at a time with bounded retries and the
events that still fail go to the topic's dead-letter topic; the partition moves on.
Database outages are not the event's fault: the batch is retried until the database is back.
"""
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from shared import metrics
from shared.events.envelope import Envelope, EnvelopeError
from shared.kafka.dead_letter import DeadLetter
from shared.kafka.producer import EventProducer

log = structlog.get_logger(__name__)

BatchHandler = Callable[[asyncpg.Connection, Sequence[Envelope]], Awaitable[None]]

# Errors that say the database is unreachable rather than that the event is bad.
_INFRASTRUCTURE_ERRORS = (
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


class _ReplayInterrupted(Exception):
    """Stop was asked for while a failed batch was being replayed event by event."""


@dataclass(frozen=True)
class Delivery:
    """A decoded record: the envelope and where it came from."""

    record: ConsumerRecord
    envelope: Envelope


class _HoldBatchOnRevoke(ConsumerRebalanceListener):
    """Lets a rebalance take partitions only between batches, after the batch's commit."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def on_partitions_revoked(self, revoked: object) -> None:
        async with self._lock:
            pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


class ConsumerRunner:
    """Runs one consumer-group member until `stop()`; see the module docstring for guarantees."""

    def __init__(self, *, name: str, topics: Sequence[str], bootstrap_servers: str,
                 pool: asyncpg.Pool, handler: BatchHandler, producer: EventProducer,
                 max_batch: int = 500, max_attempts: int = 3, retry_backoff_ms: int = 200,
                 decode: Callable[[bytes | None], Envelope] = Envelope.from_bytes) -> None:
        self.name = name
        self._topics = list(topics)
        self._pool = pool
        self._handler = handler
        self._producer = producer
        self._max_batch = max_batch
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_ms / 1000
        self._decode = decode
        self._stopping = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        # Manual commits after the database transaction; read from the start of a new group.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=name, client_id=name,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=max_batch, fetch_max_wait_ms=200,
        )

    def stop(self) -> None:
        """Ask the loop to finish its in-flight batch, commit, and leave the group."""
        self._stopping.set()

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member holds now."""
        return set(self._consumer.assignment())

    async def run(self) -> None:
        """Consume until stopped; the consumer leaves its group on the way out."""
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=_HoldBatchOnRevoke(self._batch_lock))
        log.info("consumer.started", consumer=self.name, topics=self._topics)
        try:
            while not self._stopping.is_set():
                batch = await self._consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                records = [r for part in batch.values() for r in part]
                if records:
                    async with self._batch_lock:
                        try:
                            await self._process(records)
                        except _ReplayInterrupted:
                            break
        finally:
            await self._consumer.stop()
            log.info("consumer.stopped", consumer=self.name)

    async def _process(self, records: list[ConsumerRecord]) -> None:
        started = time.perf_counter()
        deliveries, letters = self._decode_all(records)
        while True:
            try:
                letters += await self._apply(deliveries)
                break
            except _INFRASTRUCTURE_ERRORS as exc:
                # Nothing was committed: wait for the database and try the same batch again.
                log.warning("consumer.database_unavailable", consumer=self.name, error=repr(exc))
                await asyncio.sleep(max(self._backoff, 0.5))
        await self._dead_letter(letters)
        await self._commit(records)
        metrics.BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)

    def _decode_all(self, records: list[ConsumerRecord]) -> tuple[list[Delivery], list[DeadLetter]]:
        deliveries, letters = [], []
        for record in records:
            try:
                deliveries.append(Delivery(record, self._decode(record.value)))
            except (EnvelopeError, UnicodeDecodeError, ValueError) as exc:
                letters.append(DeadLetter(record, exc, attempts=1))
        return deliveries, letters

    async def _apply(self, deliveries: list[Delivery]) -> list[DeadLetter]:
        """Apply the batch in one transaction; on a handler error, replay it event by event."""
        if not deliveries:
            return []
        try:
            await self._apply_in_transaction(deliveries)
            return []
        except _INFRASTRUCTURE_ERRORS:
            raise
        except Exception as exc:  # a handler error: find the bad events one by one
            log.info("consumer.batch_failed", consumer=self.name, size=len(deliveries), error=repr(exc))
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
                raise _ReplayInterrupted()
            try:
                await self._apply_in_transaction([delivery])
                return None
            except _INFRASTRUCTURE_ERRORS:
                raise
            except Exception as exc:  # the handler's own failure: retry, then dead-letter
                if attempt == self._max_attempts:
                    return DeadLetter(delivery.record, exc, attempts=attempt)
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        return None

    async def _apply_in_transaction(self, deliveries: Sequence[Delivery]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            fresh_ids = {row["event_id"] for row in await conn.fetch(
                _MARK_PROCESSED, self.name,
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
            metrics.EVENTS_HANDLED.labels(self.name, topic).inc(applied[topic])
            metrics.EVENTS_SKIPPED.labels(self.name, topic).inc(total - applied[topic])

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        # Delivered before the offsets are committed, so a crash can repeat a letter, never drop one.
        await asyncio.gather(*(self._producer.send_raw(
            letter.topic, letter.record.value, key=letter.record.key,
            headers=letter.headers(self.name)) for letter in letters))
        for letter in letters:
            metrics.EVENTS_FAILED.labels(self.name, letter.record.topic, type(letter.error).__name__).inc()
            log.warning("consumer.dead_lettered", consumer=self.name, topic=letter.record.topic,
                        partition=letter.record.partition, offset=letter.record.offset,
                        error_type=type(letter.error).__name__)

    async def _commit(self, records: list[ConsumerRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # The partitions moved to another member, which redelivers; processed_events skips them.
            log.warning("consumer.commit_failed", consumer=self.name, error=repr(exc))
        for tp, next_offset in offsets.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                    max(highwater - next_offset, 0))
