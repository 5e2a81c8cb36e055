"""The claim queue: claim a case, claim the next one, give it back, read the queue.

Of concurrent claimers exactly one wins. A claim writes the case, its timeline, the audit log and its
case.claimed event (the outbox) in one transaction; claim-next, the hot path, does all of it in one
statement (repository.claim_next), one round trip.
"""
import uuid
from datetime import datetime
from typing import Any

import orjson

from services.mediation import repository
from services.mediation.bootstrap import MediationContext
from services.mediation.callers import channels_of
from services.mediation.changes import record, visible_case
from services.mediation.domain.access import CLAIMING_ROLES, READING_ROLES, may_claim
from services.mediation.domain.errors import CaseConflict, NotAllowed
from services.mediation.domain.lifecycle import Action, State
from services.mediation.events import PRODUCER
from services.mediation.repository import CaseRow
from shared.auth import Principal
from shared.events.mediation import CASE_TOPIC
from shared.tracing import current_traceparent


def _require_claimer(principal: Principal) -> None:
    if not may_claim(principal.roles):
        raise NotAllowed("claimers_only", roles=CLAIMING_ROLES)


async def claim(ctx: MediationContext, principal: Principal, ident: uuid.UUID) -> CaseRow:
    """Claim one case; of concurrent claimers exactly one wins, the others get CaseConflict."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await visible_case(conn, principal, ident)  # first: a case one may not see is 404, whatever the role
        _require_claimer(principal)
        case = await repository.claim(conn, ident, principal.subject)
        if case is None:
            current = await repository.case_by_id(conn, ident)
            assert current is not None  # seen above, and cases are never deleted
            raise CaseConflict("not_claimable", current, Action.CLAIM)
        await record(conn, ctx, principal, case, action=Action.CLAIM, event_type="case.claimed",
                     from_state=State.PENDING)
        return case


async def claim_next(ctx: MediationContext, principal: Principal) -> CaseRow | None:
    """Claim the best pending case for the caller (high risk first, then oldest), or None; the claim, its
    timeline, audit row and event in one statement."""
    _require_claimer(principal)
    return await repository.claim_next(
        ctx.pool, stations=sorted(principal.stations), channels=sorted(channels_of(principal)),
        subject=principal.subject, roles=sorted(principal.roles), topic=ctx.settings.topic(CASE_TOPIC),
        traceparent=current_traceparent(), producer=PRODUCER)


async def release(ctx: MediationContext, principal: Principal, ident: uuid.UUID) -> CaseRow:
    """Give a claimed case back to the queue; only its holder can."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await visible_case(conn, principal, ident)
        _require_claimer(principal)
        if current["claimed_by"] not in (None, principal.subject):
            raise NotAllowed("holder_only", roles=CLAIMING_ROLES, holder=current["claimed_by"])
        case = await repository.release(conn, ident, principal.subject)
        if case is None:
            raise CaseConflict("illegal_transition", current, Action.RELEASE)
        await record(conn, ctx, principal, case, action=Action.RELEASE, event_type="case.released",
                     from_state=State.CLAIMED)
        return case


async def page(ctx: MediationContext, principal: Principal, *, after: tuple | None, limit: int) -> list[CaseRow]:
    """Claimable cases for the caller's stations and channels, high risk first, then oldest."""
    if not principal.roles & READING_ROLES:
        raise NotAllowed("forbidden", roles=READING_ROLES)
    return await repository.queue_page(ctx.pool, stations=sorted(principal.stations),
                                       channels=sorted(channels_of(principal)), after=after, limit=limit)


def cursor_of(case: Any) -> str:
    """The opaque position after a queue row."""
    return orjson.dumps([not case["high_risk"], case["received_at"].isoformat(), str(case["id"])]).hex()


def parse_cursor(cursor: str) -> tuple[bool, datetime, Any]:
    """The position a cursor names; ValueError when it is not one."""
    high, at, ident = orjson.loads(bytes.fromhex(cursor))
    return bool(high), datetime.fromisoformat(at), ident
