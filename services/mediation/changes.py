"""The steps every API command on a case shares: find the case the caller may see (locked when it will
change), and record a change: its timeline entry, its worker, its audit row and its outgoing event,
inside the command's transaction."""
import uuid
from typing import Any

import asyncpg

from services.mediation import audit, repository
from services.mediation.bootstrap import MediationContext
from services.mediation.callers import sees
from services.mediation.domain.errors import CaseNotFound
from services.mediation.events import case_event, public_details
from services.mediation.repository import CaseRow, TimelineEntry
from shared import outbox
from shared.auth import Principal


async def visible_case(conn: asyncpg.Connection, principal: Principal, ident: uuid.UUID, *,
                       for_update: bool = False) -> CaseRow:
    """The case, if the caller may see it; CaseNotFound otherwise (another station's case is 404 too)."""
    case = await repository.case_by_id(conn, ident, for_update=for_update)
    if case is None or not sees(principal, case):
        raise CaseNotFound(str(ident))
    return case


async def record(conn: asyncpg.Connection, ctx: MediationContext, principal: Principal, case: CaseRow, *,
                 action: str, event_type: str | None, from_state: str, details: dict[str, Any] | None = None) -> None:
    """Timeline, worker, audit and outgoing event of one API change, inside its transaction (no event for a
    change that is only personal data, such as a party's phone: mediation.case.v1 carries none)."""
    details = details or {}
    await repository.add_timeline(conn, [TimelineEntry(case["id"], principal.subject, action, from_state,
                                                       case["state"], details)])
    await repository.add_worker(conn, case["id"], principal.subject)
    await audit.write(conn, principal, action=action, case_id=case["id"], details=details)
    if event_type is not None:
        await outbox.write(conn, [case_event(case, event_type, actor=principal.subject,
                                             prefix=ctx.settings.topic_prefix, details=public_details(details))])
