"""Databases on demand and migrations against the real PostgreSQL."""
import asyncpg
import pytest

from shared.db.migrations import Migration, apply, load, migrate
from shared.db.provision import drop_database, ensure_database

pytestmark = pytest.mark.postgres


async def test_ensure_database_creates_once(infrastructure, unique):
    url = f"{infrastructure.postgres_url}/p_{unique}"
    try:
        assert await ensure_database(url) is True
        assert await ensure_database(url) is False
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT current_database()") == f"p_{unique}"
        await conn.close()
    finally:
        await drop_database(url)


async def test_migrations_apply_once_in_order_and_a_failing_one_rolls_back(database_url):
    assert await migrate(database_url) == []  # the fixture already applied the shared ones
    conn = await asyncpg.connect(database_url)
    try:
        first = Migration("demo", 1, "table", "CREATE TABLE demo (id int)")
        broken = Migration("demo", 2, "broken", "ALTER TABLE demo ADD COLUMN x int; SELECT no_such_column FROM demo")
        assert await apply(conn, [first]) == [first]
        with pytest.raises(asyncpg.UndefinedColumnError):
            await apply(conn, [first, broken])
        columns = await conn.fetchval("SELECT count(*) FROM information_schema.columns WHERE table_name = 'demo'")
        recorded = await conn.fetch("SELECT component, version FROM schema_migrations ORDER BY 1, 2")
    finally:
        await conn.close()
    assert columns == 1, "the failed migration's ALTER must be rolled back with it"
    shared = [(m.component, m.version) for m in load("shared", "shared.db")]
    assert [tuple(r) for r in recorded] == sorted([("demo", 1), *shared])


async def test_bad_database_names_are_refused(infrastructure):
    with pytest.raises(ValueError, match="lower-case"):
        await ensure_database(f"{infrastructure.postgres_url}/Robert'); DROP TABLE x;--")


async def test_jsonb_round_trips_through_insert_and_copy(db_pool):
    document = {"说明": "楼上漏水", "flags": ["threat"], "n": 3}
    async with db_pool.acquire() as conn:
        await conn.execute("CREATE TABLE docs (id int, body jsonb)")
        await conn.execute("INSERT INTO docs VALUES (1, $1)", document)
        await conn.copy_records_to_table("docs", records=[(2, document)])
        bodies = [r["body"] for r in await conn.fetch("SELECT body FROM docs ORDER BY id")]
    assert bodies == [document, document]


async def test_the_outbox_is_vacuumed_by_dead_rows_not_by_its_size(db_pool):
    # A queue's size says nothing of its churn (shared/db/migrations/0004_outbox_vacuum.sql).
    options = await db_pool.fetchval("SELECT reloptions FROM pg_class WHERE oid = 'outbox'::regclass")
    assert {"autovacuum_vacuum_scale_factor=0", "autovacuum_vacuum_threshold=5000",
            "autovacuum_vacuum_cost_delay=0"} <= set(options)
