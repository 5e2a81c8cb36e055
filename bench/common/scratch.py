"""A benchmark's own database and topics: created fresh for one run, dropped and deleted after it."""
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bench.common.stack import ensure_stack
from shared.db.migrations import migrate
from shared.db.provision import drop_database, ensure_database
from shared.kafka.admin import delete_topics_with_prefix, ensure_registered_topics


@dataclass(frozen=True)
class Scratch:
    """Where one run lives: the stack's addresses, its database and its topic prefix."""

    run_id: str
    bootstrap: str
    server_url: str
    database: str
    prefix: str

    @property
    def database_url(self) -> str:
        return f"{self.server_url}/{self.database}"


@asynccontextmanager
async def scratch(name: str, service: str | None = None, *, registered_topics: bool = True,
                  keep_database: bool = False, bootstrap: str | None = None) -> AsyncIterator[Scratch]:
    """A database `bench_<name>_<run>` migrated for `service` (shared tables only without one) and, with
    `registered_topics`, every registered topic under the prefix `bench<name><run>.`. On the way out,
    also after a failure or Ctrl-C, the database is dropped (unless kept) and every topic under the prefix
    deleted, so repeated runs do not fill the local broker's disk. `bootstrap`: another Kafka than the
    stack's (a three-node cluster, bench/common/cluster.py); PostgreSQL stays the stack's."""
    stack_bootstrap, server_url = ensure_stack()
    bootstrap = bootstrap or stack_bootstrap
    run_id = uuid.uuid4().hex[:10]
    place = Scratch(run_id, bootstrap, server_url, f"bench_{name}_{run_id}", f"bench{name}{run_id}.")
    await ensure_database(place.database_url)
    try:
        if registered_topics:
            await ensure_registered_topics(bootstrap, prefix=place.prefix)
        await migrate(place.database_url, f"services.{service}" if service else None)
        yield place
    finally:
        if keep_database:
            print(f"\nkept the database: {place.database_url} (drop it with DROP DATABASE {place.database})")
        else:
            await drop_database(place.database_url)
        await delete_topics_with_prefix(bootstrap, place.prefix)
