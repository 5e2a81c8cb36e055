"""A producer that never loses an acknowledged event: acks=all, idempotent, batched, awaitable."""
import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import InvalidProducerEpoch, OutOfOrderSequenceNumber, ProducerFenced, UnknownProducerId
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

from shared.events.envelope import Envelope
from shared.kafka.security import PLAINTEXT, KafkaAuth
from shared.kafka.tracing import Headers, current_headers
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)
# Errors after which an idempotent producer's sequence numbers no longer match the broker's (seen
# after a broker restart while sends were timing out): the same producer would fail forever, a new
# one gets a new producer id. Events carry stable ids, so a resend after the reset is deduplicated
# by the consumers even though the broker cannot.
_BROKEN_SEQUENCE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)
_PARTITIONER = DefaultPartitioner()  # AIOKafkaProducer's default, which EventProducer keeps


class EventProducer:
    """Publishes envelopes keyed by their `key`; `publish*` return only once Kafka has them."""

    def __init__(self, *, bootstrap_servers: str, client_id: str, linger_ms: int = 10,
                 compression: str = "lz4", max_batch_bytes: int = 256 * 1024,
                 auth: KafkaAuth = PLAINTEXT) -> None:
        # Every aiokafka default that matters is set on purpose: acks=all and idempotence so an
        # acknowledged send survives a leader change without duplicates, linger and compression
        # so a burst goes out as a few large batches instead of one request per record.
        self._config = dict(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            compression_type=None if compression == "none" else compression,
            max_batch_size=max_batch_bytes,
            request_timeout_ms=30000,
            **auth.options(),
        )
        self._producer = AIOKafkaProducer(**self._config)
        self._resetting = asyncio.Lock()
        self.resets = 0  # how many times a broken producer was replaced (tests and metrics read it)
        # When a publish after a commit last failed, while the cluster has not been reached since: the
        # outbox then leaves a request's events to its relay at once instead of waiting for a broker that
        # is away (shared/outbox.py). Cleared by the next batch the relay gets through, or a metadata ping.
        self.away_since: float | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings, client_id: str | None = None) -> "EventProducer":
        """A producer configured from a service's settings."""
        return cls(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=client_id or settings.service_name,
            linger_ms=settings.producer_linger_ms,
            compression=settings.producer_compression,
            max_batch_bytes=settings.producer_max_batch_bytes,
            auth=settings.kafka_auth,
        )

    async def start(self) -> None:
        """Connect to the cluster (called by a lifespan, never at import)."""
        await self._producer.start()

    async def stop(self) -> None:
        """Flush what is buffered and disconnect."""
        await self._producer.stop()

    async def __aenter__(self) -> "EventProducer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, topic: str, envelope: Envelope, headers: Headers | None = None) -> RecordMetadata:
        """Send one envelope and wait for the broker's acknowledgement; without headers, the record
        carries the current span's trace context."""
        return await self.send_raw(topic, envelope.to_bytes(), key=envelope.key.encode(),
                                   headers=headers if headers is not None else current_headers())

    async def publish_many(self, topic: str, envelopes: Iterable[Envelope]) -> list[RecordMetadata]:
        """Send many envelopes at once and wait for all acknowledgements (order kept per key); each
        record carries the current span's trace context."""
        headers = current_headers()
        return await self.send_many(topic, [(e.key.encode(), e.to_bytes(), headers) for e in envelopes])

    async def send_many(self, topic: str,
                        records: Sequence[tuple[bytes | None, bytes, Headers | None]]) -> list[RecordMetadata]:
        """Send every (key, value, headers) record and wait for all acknowledgements; one metadata per
        record, in order. Records are appended to a batch per partition and each batch is sent whole:
        aiokafka's per-record send() costs more Python than the rest of a record's publishing. A key
        goes to the partition send() would choose (murmur2, as the Java client), so the order per key
        is the same."""
        producer = self._producer
        try:
            partitions = sorted(await producer.partitions_for(topic))
            partition_of: dict[bytes | None, int] = {}
            batches: dict[int, list[Any]] = {}  # partition -> [[builder, its records' positions], ...]
            for position, (key, value, headers) in enumerate(records):
                if key is None:  # no key, no order to keep: send() picks the partition
                    batches.setdefault(-1, []).append(position)
                    continue
                partition = partition_of.get(key)
                if partition is None:
                    partition = partition_of[key] = _PARTITIONER(key, partitions, partitions)
                open_batches = batches.setdefault(partition, [])
                if not open_batches or open_batches[-1][0].append(
                        key=key, value=value, timestamp=None, headers=headers) is None:
                    builder = producer.create_batch()
                    if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        raise ValueError(f"a record of {len(value)} bytes does not fit in a batch")
                    open_batches.append([builder, []])
                open_batches[-1][1].append(position)
            sent: list[tuple[asyncio.Future[RecordMetadata], list[int]]] = []
            for partition, open_batches in batches.items():
                if partition == -1:
                    sent += [(await producer.send(topic, records[p][1], headers=records[p][2]), [p])
                             for p in open_batches]
                    continue
                for builder, positions in open_batches:
                    builder.close()
                    sent.append((await producer.send_batch(builder, topic, partition=partition), positions))
            acks = await asyncio.gather(*(future for future, _ in sent))
        except _BROKEN_SEQUENCE as exc:
            await self._replace(producer, exc)
            raise
        result: list[RecordMetadata | None] = [None] * len(records)
        for ack, (_, positions) in zip(acks, sent, strict=True):
            for index, position in enumerate(positions):  # a batch acknowledges its base offset
                result[position] = ack._replace(offset=ack.offset + index) if index else ack
        return result

    async def send_raw(self, topic: str, value: bytes | None, *, key: bytes | None = None,
                       headers: Headers | None = None) -> RecordMetadata:
        """Send raw bytes (dead letters, replays) and wait for the acknowledgement."""
        producer = self._producer
        try:
            return await (await producer.send(topic, value, key=key, headers=headers))
        except _BROKEN_SEQUENCE as exc:
            await self._replace(producer, exc)
            raise

    async def _replace(self, broken: AIOKafkaProducer, error: Exception) -> None:
        """Swap a producer whose sequence state is broken for a new one (once, however many sends saw it);
        the caller's send still fails, so its events stay in the outbox or the batch for the next try."""
        async with self._resetting:
            if self._producer is not broken:
                return  # another send replaced it already
            log.warning("producer.reset", error_type=type(error).__name__, resets=self.resets + 1)
            fresh = AIOKafkaProducer(**self._config)
            await fresh.start()
            self._producer = fresh
            self.resets += 1
        try:
            await asyncio.wait_for(broken.stop(), timeout=10)
        except Exception as exc:  # its buffered sends fail; they are retried from the outbox or batch
            log.info("producer.reset_stop_failed", error=repr(exc))

    async def ping(self) -> bool:
        """True when the cluster answers a metadata request (used by /readyz)."""
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)
            return True
        except Exception:  # readiness reports any failure as not ready
            return False
