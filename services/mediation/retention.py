"""Mediation's part of `fengqiao-mediation purge`: the party data of finished cases past its retention.

A case keeps its parties (names, phones, ID numbers) and the free text of its casework while it is
worked, and for `MEDIATION_CLOSED_CASE_RETENTION_DAYS` after it was closed or withdrawn (its last
change): long enough for the court's ruling, the performance date and a reported breach. Then they
are erased; what the figures and the search by phone need (the phone HMACs, address key, states,
dates, counts, channels, who worked it) stays. A breach reported after that reopens the case
without its parties; the mediator records them again.
"""
from datetime import datetime, timedelta

import asyncpg

from services.mediation import audit_retention, repository
from services.mediation.settings import MediationSettings


async def purge(conn: asyncpg.Connection, settings: MediationSettings, now: datetime, *,
                dry_run: bool) -> dict[str, int]:
    """Erase (or, dry, count) the party data of cases finished before the retention, and drop the months of
    the audit trail past its own (audit_retention.py); how many per kind."""
    before = now - timedelta(days=settings.closed_case_retention_days)
    ids = await repository.cases_past_retention(conn, before)
    if ids and not dry_run:
        await repository.erase_party_data(conn, ids)
    return {"closed_case_parties": len(ids)} | await audit_retention.purge(conn, settings, now, dry_run=dry_run)
