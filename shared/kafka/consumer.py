"""The consumer runner: one consumer-group member that applies batches and commits after them.

Per batch: the processor applies the records (by default `EnvelopeBatches`: exactly once into
PostgreSQL, see shared/kafka/exactly_once.py) and returns dead letters; the letters are
delivered to the dead-letter topics; then the offsets are committed. A crash anywhere before the
offset commit makes Kafka redeliver the batch, which the processor's idempotency absorbs.
Database outages are not the events' fault: the batch is retried until the database is back.
A rebalance takes partitions only between batches; SIGTERM (via `stop`) finishes the batch.
Each batch runs in one span that continues the trace context of its records' headers
(shared/kafka/tracing.py), so the events its handler emits and its log lines carry the trace on.
"""
import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import ConsumerRecord

from shared import metrics
from shared.events.envelope import Envelope
from shared.kafka.dead_letter import DeadLetter
from shared.kafka.exactly_once import INFRASTRUCTURE_ERRORS, BatchHandler, EnvelopeBatches, ReplayInterrupted
from shared.kafka.producer import EventProducer
from shared.kafka.security import PLAINTEXT, KafkaAuth
from shared.kafka.tracing import batch_span
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


class BatchProcessor(Protocol):
    """Applies a batch of records and returns those that belong on a dead-letter topic."""

    async def process(self, records: list[ConsumerRecord]) -> list[DeadLetter]: ...


class _HoldBatchOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no types
    """Lets a rebalance take partitions only between batches, after the batch's commit."""

    def __init__(self, lock: asyncio.Lock, consumer: str = "") -> None:
        self._lock = lock
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self._lock:
            # Their new owner reports their lag from now on; a stale gauge here would count it twice.
            for tp in revoked:
                metrics.CONSUMER_LAG.remove(self._consumer, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


def service_options(settings: ServiceSettings) -> dict[str, Any]:
    """A runner's arguments that come from the service's settings: brokers, batch size, attempts and backoff
    (`*_CONSUMER_MAX_BATCH`, `*_CONSUMER_MAX_ATTEMPTS`, `*_CONSUMER_RETRY_BACKOFF_MS`) and credentials (`*_KAFKA_SASL_*`)."""
    return {"bootstrap_servers": settings.kafka_bootstrap_servers, "max_batch": settings.consumer_max_batch,
            "max_attempts": settings.consumer_max_attempts, "retry_backoff_ms": settings.consumer_retry_backoff_ms,
            "auth": settings.kafka_auth}


class ConsumerRunner:
    """Runs one consumer-group member until `stop()`; see the module docstring for guarantees."""

    def __init__(self, *, name: str, topics: Sequence[str], bootstrap_servers: str,
                 producer: EventProducer, pool: asyncpg.Pool | None = None,
                 handler: BatchHandler | None = None, processor: BatchProcessor | None = None,
                 max_batch: int = 500, max_attempts: int = 3, retry_backoff_ms: int = 200,
                 decode: Callable[[bytes | None], Envelope] = Envelope.from_bytes,
                 auth: KafkaAuth = PLAINTEXT) -> None:
        self.name = name
        self._topics = list(topics)
        self._producer = producer
        self._max_batch = max_batch
        self._backoff = max(retry_backoff_ms / 1000, 0.5)
        self._stopping = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        if processor is None:
            if pool is None or handler is None:
                raise ValueError("give either a processor, or a pool and a handler")
            processor = EnvelopeBatches(name=name, pool=pool, handler=handler, stopping=self._stopping,
                                        max_attempts=max_attempts, retry_backoff_ms=retry_backoff_ms,
                                        decode=decode)
        self._processor = processor
        # Manual commits after the database transaction; read from the start of a new group.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=name, client_id=name,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=max_batch, fetch_max_wait_ms=200, **auth.options(),
        )

    @property
    def stopping(self) -> asyncio.Event:
        """Set once `stop()` was called; processors check it between retries."""
        return self._stopping

    def stop(self) -> None:
        """Ask the loop to finish its in-flight batch, commit, and leave the group."""
        self._stopping.set()

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member holds now."""
        return set(self._consumer.assignment())

    async def run(self) -> None:
        """Consume until stopped; the consumer leaves its group on the way out."""
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=_HoldBatchOnRevoke(self._batch_lock, self.name))
        log.info("consumer.started", consumer=self.name, topics=self._topics)
        try:
            while not self._stopping.is_set():
                batch = await self._consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                records = [r for part in batch.values() for r in part]
                if records:
                    async with self._batch_lock:
                        try:
                            await self._process(records)
                        except ReplayInterrupted:
                            break
        finally:
            await self._consumer.stop()
            log.info("consumer.stopped", consumer=self.name)

    async def _process(self, records: list[ConsumerRecord]) -> None:
        started = time.perf_counter()
        with batch_span(self.name, records):
            while True:
                try:
                    letters = await self._processor.process(records)
                    break
                except INFRASTRUCTURE_ERRORS as exc:
                    # Nothing was committed: wait for the database and try the same batch again.
                    log.warning("consumer.database_unavailable", consumer=self.name, error=repr(exc))
                    if self._stopping.is_set():
                        raise ReplayInterrupted() from exc
                    await asyncio.sleep(self._backoff)
            await self._dead_letter(letters)
            await self._commit(records)
            elapsed = time.perf_counter() - started
            metrics.BATCH_SECONDS.labels(self.name).observe(elapsed)
            log.info("consumer.batch_committed", consumer=self.name, records=len(records),
                     dead_letters=len(letters), ms=round(elapsed * 1000, 1))

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
