"""The audit trail by month (issue 14, item 3; migration 0008) against real PostgreSQL: partitioned with the
months ahead, append-only on the table and on every partition, an insert never fails for want of a month,
and the purge drops whole months past MEDIATION_AUDIT_RETENTION_MONTHS and nothing else."""
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.mediation import audit_retention

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
INSERT = "INSERT INTO audit_log (actor, roles, action, outcome, at) VALUES ($1, '{}', 'test', 'ok', $2)"


def month_start(moment: datetime, ahead: int = 0) -> datetime:
    index = moment.year * 12 + moment.month - 1 + ahead
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


async def partitions(conn) -> dict[str, datetime]:
    return {r["name"]: r["upper_bound"] for r in await conn.fetch("SELECT * FROM audit_log_partitions()")}


async def refuses_every_change(conn, table: str) -> None:
    for statement in (f"UPDATE {table} SET actor = 'x'", f"DELETE FROM {table}", f"TRUNCATE {table}"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(statement)


async def test_the_trail_is_monthly_append_only_everywhere_and_an_insert_never_lacks_a_month(mediation_ctx):
    now = datetime.now(UTC)
    async with mediation_ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'audit_log'") == "p"
        bounds = await partitions(conn)
        for ahead in range(1, 4):  # the migration's month is in the first partition, three months ahead
            assert bounds[f"audit_log_{month_start(now, ahead):%Y_%m}"] == month_start(now, ahead + 1)
        far = now + timedelta(days=3650)  # no partition that far ahead: the default one takes it
        rows = [("now", now), ("old", datetime(2020, 1, 1, tzinfo=UTC)), ("far", far),
                *((f"+{k}", month_start(now, k) + timedelta(hours=k)) for k in range(1, 4))]
        for actor, at in rows:
            await conn.execute(INSERT, actor, at)
        placed = dict(await conn.fetch("SELECT actor, tableoid::regclass::text FROM audit_log WHERE action = 'test'"))
        assert placed == {"now": "audit_log_until_first_month", "old": "audit_log_until_first_month",
                          "far": "audit_log_default",
                          **{f"+{k}": f"audit_log_{month_start(now, k):%Y_%m}" for k in range(1, 4)}}
        # The far month gets no partition while its row is in the default one, and asking is no error.
        assert await conn.fetchval("SELECT audit_log_add_partitions(0, $1)", far) == 0
        for table in ["audit_log", "audit_log_default", *await partitions(conn)]:  # each holds a row now
            await refuses_every_change(conn, table)
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'test'") == len(rows)


async def test_the_purge_drops_whole_months_past_retention_and_adds_the_months_ahead(mediation_ctx):
    settings, now = mediation_ctx.settings, datetime.now(UTC)
    later = month_start(now, 2) + timedelta(days=3)  # the purge runs in two months' time
    async with mediation_ctx.pool.acquire() as conn:
        async with conn.transaction():
            assert await audit_retention.purge(conn, settings, later, dry_run=False) == {
                "audit_log_months": 0, "audit_log_rows": 0}
        assert f"audit_log_{month_start(now, 5):%Y_%m}" in await partitions(conn), "three months ahead of `later`"
        for actor, at in (("old", now), ("month+1", month_start(now, 1)), ("month+2", later),
                          ("month+4", month_start(now, 4) + timedelta(days=9))):
            await conn.execute(INSERT, actor, at)
        before = await conn.fetchval("SELECT count(*) FROM audit_log WHERE at < $1", month_start(now, 2))

        # 36 months after `later`, less a day: the month+1 partition still has a row inside the retention.
        inside = audit_retention.months_before(later, -settings.audit_retention_months) - timedelta(days=4)
        past = inside + timedelta(days=2)
        async with conn.transaction():
            assert await audit_retention.purge(conn, settings, inside, dry_run=True) == {
                "audit_log_months": 1, "audit_log_rows": before - 1}, "only the first partition is past"
        async with conn.transaction():
            assert await audit_retention.purge(conn, settings, past, dry_run=True) == {
                "audit_log_months": 2, "audit_log_rows": before}
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE at < $1", month_start(now, 2)) == before
        async with conn.transaction():
            assert await audit_retention.purge(conn, settings, past, dry_run=False) == {
                "audit_log_months": 2, "audit_log_rows": before}
        left = {r["actor"] for r in await conn.fetch("SELECT actor FROM audit_log WHERE action = 'test'")}
        assert left == {"month+2", "month+4"}, "whole months went, the rest is untouched"
        remaining = await partitions(conn)
        assert "audit_log_until_first_month" not in remaining and min(remaining.values()) == month_start(now, 3)
        await refuses_every_change(conn, "audit_log")
        async with conn.transaction():
            assert await audit_retention.purge(conn, settings, past, dry_run=False) == {
                "audit_log_months": 0, "audit_log_rows": 0}


def test_months_before_keeps_the_day_or_takes_the_last_of_a_shorter_month():
    assert audit_retention.months_before(datetime(2027, 1, 15, 8, tzinfo=UTC), 36) == datetime(2024, 1, 15, 8, tzinfo=UTC)
    assert audit_retention.months_before(datetime(2024, 3, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert audit_retention.months_before(datetime(2024, 1, 31, tzinfo=UTC), -1) == datetime(2024, 2, 29, tzinfo=UTC)
