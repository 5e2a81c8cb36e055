"""Numbered SQL migrations: `NNNN_name.sql` files applied once each, in order, per component.

The shared component (the consumer runner's processed-events table) is applied before a
service's own files. An advisory lock lets several replicas start at once.
"""
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x46454E47  # "FENG": one advisory lock for all migration runs in a database

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)"""


@dataclass(frozen=True)
class Migration:
    """One SQL file of a component."""

    component: str
    version: int
    name: str
    sql: str


def load(component: str, package: str) -> list[Migration]:
    """The migrations in a package's `migrations/` folder, sorted by version."""
    folder: Traversable = resources.files(package).joinpath("migrations")
    if not folder.is_dir():
        return []  # a service without tables yet (an empty folder is not installed)
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(component, int(match[1]), match[2], entry.read_text("utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {package}")
    return sorted(found, key=lambda m: m.version)


async def apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply the migrations not yet recorded, each in its own transaction; return those applied."""
    applied: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_CREATE_LEDGER)
        done = {(r["component"], r["version"]) for r in
                await conn.fetch("SELECT component, version FROM schema_migrations")}
        for migration in migrations:
            if (migration.component, migration.version) in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                    migration.component, migration.version, migration.name)
            applied.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied


async def migrate(database_url: str, service_package: str | None = None) -> list[Migration]:
    """Apply the shared migrations, then the service package's own, to the database at the URL."""
    migrations = load("shared", "shared.db")
    if service_package:
        migrations += load(service_package.rsplit(".", 1)[-1], service_package)
    conn = await asyncpg.connect(database_url)
    try:
        return await apply(conn, migrations)
    finally:
        await conn.close()
