"""A producer that never loses an acknowledged event: acks=all, idempotent, batched, awaitable."""
import asyncio
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from shared.events.envelope import Envelope
from shared.settings import ServiceSettings

Headers = list[tuple[str, bytes]]


class EventProducer:
    """Publishes envelopes keyed by their `key`; `publish*` return only once Kafka has them."""

    def __init__(self, *, bootstrap_servers: str, client_id: str, linger_ms: int = 10,
                 compression: str = "lz4", max_batch_bytes: int = 256 * 1024) -> None:
        # Every aiokafka default that matters is set on purpose: acks=all and idempotence so an
        # acknowledged send survives a leader change without duplicates, linger and compression
        # so a burst goes out as a few large batches instead of one request per record.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            compression_type=None if compression == "none" else compression,
            max_batch_size=max_batch_bytes,
            request_timeout_ms=30000,
        )

    @classmethod
    def from_settings(cls, settings: ServiceSettings, client_id: str | None = None) -> "EventProducer":
        """A producer configured from a service's settings."""
        return cls(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id=client_id or settings.service_name,
            linger_ms=settings.producer_linger_ms,
            compression=settings.producer_compression,
            max_batch_bytes=settings.producer_max_batch_bytes,
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
        """Send one envelope and wait for the broker's acknowledgement."""
        return await self.send_raw(topic, envelope.to_bytes(), key=envelope.key.encode(), headers=headers)

    async def publish_many(self, topic: str, envelopes: Iterable[Envelope]) -> list[RecordMetadata]:
        """Send many envelopes at once and wait for all acknowledgements (order kept per key)."""
        return await self.send_many(topic, [(e.key.encode(), e.to_bytes(), None) for e in envelopes])

    async def send_many(self, topic: str,
                        records: Sequence[tuple[bytes | None, bytes, Headers | None]]) -> list[RecordMetadata]:
        """Enqueue every (key, value, headers) record, then gather the delivery futures."""
        futures = [await self._producer.send(topic, value, key=key, headers=headers)
                   for key, value, headers in records]
        return list(await asyncio.gather(*futures))

    async def send_raw(self, topic: str, value: bytes | None, *, key: bytes | None = None,
                       headers: Headers | None = None) -> RecordMetadata:
        """Send raw bytes (dead letters, replays) and wait for the acknowledgement."""
        return await (await self._producer.send(topic, value, key=key, headers=headers))

    async def ping(self) -> bool:
        """True when the cluster answers a metadata request (used by /readyz)."""
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout=3)
            return True
        except Exception:  # readiness reports any failure as not ready
            return False
