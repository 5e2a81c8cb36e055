"""The audit trail's retention: whole months of `audit_log` dropped past `MEDIATION_AUDIT_RETENTION_MONTHS`.

`audit_log` is append-only (migration 0007): no role may UPDATE, DELETE or TRUNCATE a row of it. It is
partitioned by calendar month (UTC, migration 0008), and the one sanctioned removal is this: a month
is dropped as a whole once every row in it is older than the retention. That is consistent with
append-only: no row is ever changed, no row is removed alone or chosen by what it says (a record of
a read or a refusal cannot be made to disappear while its month is kept), and what goes is fixed by
the calendar alone. The same run creates the months ahead, so inserts land in their own month;
a row that finds none goes to audit_log_default and is kept (see docs/mediation.md).
"""
from datetime import datetime

import asyncpg
import structlog

from services.mediation import repository
from services.mediation.settings import MediationSettings

log = structlog.get_logger(__name__)


def months_before(moment: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the last day of a shorter month if need be)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    for day in range(moment.day, 27, -1):  # 31 March less one month is 28 or 29 February
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month + 1)


async def purge(conn: asyncpg.Connection, settings: MediationSettings, now: datetime, *,
                dry_run: bool) -> dict[str, int]:
    """Drop (or, dry, count) the months past the retention and add the months ahead; rows per kind."""
    past = await repository.audit_months_before(conn, months_before(now, settings.audit_retention_months))
    rows = 0
    for month in past:
        rows += await repository.audit_month_rows(conn, month.name)
        if not dry_run:
            await repository.drop_audit_month(conn, month.name)
            log.info("audit_log.month_dropped", partition=month.name, upper_bound=month.upper_bound.isoformat())
    if not dry_run:
        await repository.add_audit_months(conn, settings.audit_partitions_ahead, now)
    if stray := await repository.audit_rows_in_default(conn):
        log.warning("audit_log.rows_without_their_month", rows=stray, partition="audit_log_default")
    return {"audit_log_months": len(past), "audit_log_rows": rows}
