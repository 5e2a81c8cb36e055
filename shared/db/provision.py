"""Create a service's database on demand, through the server's maintenance database."""
import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def maintenance_url(database_url: str) -> str:
    """The same server and credentials, pointed at the `postgres` database."""
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path="/postgres"))


async def ensure_database(database_url: str) -> bool:
    """Create the database named in the URL if it is missing; True when it was created."""
    name = urlsplit(database_url).path.lstrip("/")
    if not _NAME.match(name):
        raise ValueError(f"database name {name!r} must be lower-case letters, digits and _")
    conn = await asyncpg.connect(maintenance_url(database_url))
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')  # name checked above: no injection
        except asyncpg.DuplicateDatabaseError:
            return False  # another replica created it between the check and the create
        return True
    finally:
        await conn.close()


async def drop_database(database_url: str) -> None:
    """Drop the database named in the URL, closing its other sessions (tests and resets)."""
    name = urlsplit(database_url).path.lstrip("/")
    if not _NAME.match(name):
        raise ValueError(f"database name {name!r} must be lower-case letters, digits and _")
    conn = await asyncpg.connect(maintenance_url(database_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
