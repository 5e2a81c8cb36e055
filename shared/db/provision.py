"""Create a service's database on demand, through the server's maintenance database."""
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def maintenance_url(database_url: str) -> str:
    """The same server and credentials, pointed at the `postgres` database."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres"))


@asynccontextmanager
async def _maintenance(database_url: str) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """The checked database name of the URL and a connection to the server's maintenance database."""
    name = urlsplit(database_url).path.lstrip("/")
    if not _NAME.match(name):
        raise ValueError(f"database name {name!r} must be lower-case letters, digits and _")
    conn = await asyncpg.connect(maintenance_url(database_url))
    try:
        yield name, conn
    finally:
        await conn.close()


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if it is missing; True when it was created."""
    async with _maintenance(database_url) as (name, conn):
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')  # name checked above: no injection
        except asyncpg.DuplicateDatabaseError:
            return False  # another replica created it between the check and the create
        return True


async def drop_database(database_url: str) -> None:
    """Drop the database named in the URL, closing its other sessions (tests and resets)."""
    async with _maintenance(database_url) as (name, conn):
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
