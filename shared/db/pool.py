"""asyncpg pools, opened by a lifespan or a consumer's start, never at import."""
import json

import asyncpg
import orjson


def _encode_jsonb(value: object) -> bytes:
    # Binary jsonb is a version byte (1) and the JSON text; binary format also lets COPY write jsonb.
    return b"\x01" + orjson.dumps(value)


def _decode_jsonb(data: bytes) -> object:
    return orjson.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json and jsonb columns read and write Python objects directly.
    await conn.set_type_codec("jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb,
                              schema="pg_catalog", format="binary")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection on its way back to the pool: asyncpg has already rolled back any open transaction
    and dropped its listeners; nothing else of the session needs undoing.

    asyncpg's default reset runs `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` at
    every release: one more round trip and statement for every pooled call, the second of claim-next's
    two (bench.claims). No pooled code takes a session advisory lock, holds a cursor past its
    transaction, listens or sets a session variable (tests/unit/test_session_state.py); the ones that
    do (migrations, the live queue's LISTEN) use connections of their own."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections speak JSON for json/jsonb columns."""
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection,
                                     reset=_keep_session)


async def ping(pool: asyncpg.Pool) -> bool:
    """True when the database answers a trivial query (used by /readyz)."""
    try:
        async with pool.acquire(timeout=3) as conn:
            return bool(await conn.fetchval("SELECT 1", timeout=3) == 1)
    except Exception:  # readiness reports any failure as not ready
        return False
