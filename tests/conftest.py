"""Session-wide real Kafka and PostgreSQL; a fresh database and fresh topics for each test."""
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack

import asyncpg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from deploy.local.infrastructure import Infrastructure, provide
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.db.provision import drop_database, ensure_database
from shared.kafka.admin import delete_topics_with_prefix, ensure_topics
from tests.spans import installed_gate, recording_spans


@pytest.fixture(scope="session", autouse=True)
def tests_tracer_provider() -> None:
    """The tests' tracer provider, before any service starts in this process (tests/spans.py)."""
    installed_gate()


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    """One Kafka and one PostgreSQL server for the whole test session."""
    with ExitStack() as stack:
        yield provide(stack)


@pytest.fixture(scope="session")
def kafka_bootstrap(infrastructure: Infrastructure) -> str:
    """Bootstrap servers of the session's Kafka."""
    return infrastructure.kafka_bootstrap_servers


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans that end during the test, in the OTel SDK's in-memory exporter."""
    with recording_spans() as exporter:
        yield exporter


@pytest.fixture
def unique() -> str:
    """A short id that makes this test's topic, group and database names its own."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def database_url(infrastructure: Infrastructure, unique: str) -> AsyncIterator[str]:
    """A database of this test's own, with the shared migrations applied; dropped afterwards."""
    url = f"{infrastructure.postgres_url}/t_{unique}"
    await ensure_database(url)
    await migrate(url)
    yield url
    await drop_database(url)


@pytest.fixture
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on this test's database."""
    pool = await create_pool(database_url, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
async def make_topic(kafka_bootstrap: str, unique: str) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Create a topic (and its dead-letter topic) named for this test; deleted afterwards."""

    async def create(base: str = "events", partitions: int = 3) -> str:
        name = f"test.{unique}.{base}.v1"
        await ensure_topics(kafka_bootstrap, [(name, partitions), (name + ".dlq", 1)])
        return name

    yield create
    await delete_topics_with_prefix(kafka_bootstrap, f"test.{unique}.")


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str, unique: str) -> AsyncIterator[str]:
    """A topic-name prefix of this test's own; its topics are deleted afterwards, so a long-lived
    local broker does not pile up partitions (each keeps files open)."""
    prefix = f"t{unique}."
    yield prefix
    await delete_topics_with_prefix(kafka_bootstrap, prefix)
