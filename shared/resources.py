"""The connections a service holds while it runs: one database pool and one producer, and the
process's tracer provider (shared/tracing.py).

Opened by a FastAPI lifespan or a consumer's start, closed on the way out; never at import.
"""
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from shared.db.pool import create_pool, ping
from shared.http import ReadinessCheck
from shared.kafka.producer import EventProducer
from shared.settings import ServiceSettings
from shared.tracing import configure as configure_tracing
from shared.tracing import flush as flush_spans


@dataclass(frozen=True)
class Resources:
    """A service's open pool and producer."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    producer: EventProducer

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """What /readyz asks: Kafka and the database."""
        return {"kafka": self.producer.ping, "database": lambda: ping(self.pool)}


@asynccontextmanager
async def open_resources(settings: ServiceSettings, *, pool_size: int | None = None) -> AsyncIterator[Resources]:
    """Install tracing, open the pool (of `database_pool_size` connections unless told) and the producer;
    close both and flush the spans however the block ends."""
    configure_tracing(settings)
    try:
        pool = await create_pool(settings.database_url, max_size=pool_size or settings.database_pool_size)
        try:
            producer = EventProducer.from_settings(settings)
            await producer.start()
            try:
                yield Resources(settings, pool, producer)
            finally:
                await producer.stop()
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(flush_spans)
