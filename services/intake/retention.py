"""Intake's part of `fengqiao-intake purge`: personal data past its retention is erased.

- Caller details (name, phone, address text, description, coordinates) leave a dispatch record's
  `record` jsonb `INTAKE_CALLER_DETAILS_RETENTION_DAYS` after the call was received. Mediation got
  them with the dispute event and keeps what its casework needs under its own retention; intake's
  figures, repeat keys and deduplication use the columns that stay (phone_hmac, address_key,
  content_hash, classification, place), so nothing computed from them changes.
- Rejected input keeps its reasons (masked) and where it came from; its raw text goes
  `INTAKE_REJECTED_INPUT_RETENTION_DAYS` after it arrived, and it can no longer be replayed.
"""
from datetime import datetime, timedelta

import asyncpg
import orjson

from services.intake import repository
from services.intake.masking import masked_reason
from services.intake.settings import IntakeSettings


async def purge(conn: asyncpg.Connection, settings: IntakeSettings, now: datetime, *,
                dry_run: bool) -> dict[str, int]:
    """Erase (or, dry, count) what is past its retention; rows per kind of data."""
    callers_before = now - timedelta(days=settings.caller_details_retention_days)
    rejected_before = now - timedelta(days=settings.rejected_input_retention_days)
    rejected = await repository.rejected_past(conn, rejected_before)
    if dry_run:
        callers = await repository.count_caller_details_past(conn, callers_before)
        return {"caller_details": callers, "rejected_input": len(rejected)}
    callers = await repository.erase_caller_details(conn, callers_before)
    await repository.erase_rejected(
        conn, [r.id for r in rejected],
        [orjson.dumps([e | {"message": masked_reason(e["field"], e["message"])} for e in r.errors]).decode()
         for r in rejected])
    return {"caller_details": callers, "rejected_input": len(rejected)}
