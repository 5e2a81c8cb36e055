"""Mediation's commands: cases from disputes, and the claim queue (claim, claim next, release).

Every change writes the case, its timeline and its outgoing event (the outbox) in one
transaction; the relay publishes the events. API writes also go to the audit log.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from services.mediation import repository
from services.mediation.domain.access import channels_for, may_claim, may_see
from services.mediation.domain.lifecycle import TERMINAL, Action, State, allowed_actions
from services.mediation.domain.routing import Router
from services.mediation.outgoing import case_event, case_id, public_details
from services.mediation.settings import MediationSettings
from shared import outbox
from shared.auth import Principal
from shared.events.envelope import Envelope
from shared.events.intake import DisputeData
from shared.kafka.producer import EventProducer

SYSTEM = "system"
# Party data is shown to the roles that work or supervise cases, not to auditors.
PARTY_ROLES = frozenset({"mediator", "lawyer", "court_liaison", "station_chief"})


@dataclass
class MediationContext:
    """What mediation's handlers need."""

    settings: MediationSettings
    pool: asyncpg.Pool
    producer: EventProducer
    router: Router


class CaseNotFound(LookupError):
    """No such case, or not one the caller may see (both answer 404)."""


class NotAllowed(PermissionError):
    """The caller's role may not do this (403)."""


class CaseConflict(Exception):
    """The case is not in a state that allows the action (409)."""

    def __init__(self, message: str, *, state: str, allowed: Sequence[Action], holder: str | None) -> None:
        super().__init__(message)
        self.state, self.allowed, self.holder = state, tuple(allowed), holder


# --- from intake.dispute.v1 ------------------------------------------------------------------

def dispute_handler(ctx: MediationContext):
    """The consumer's batch handler: one case per dispute; newer revisions update open cases."""

    async def handle(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        disputes = [DisputeData.model_validate(e.data) for e in events
                    if e.type in ("dispute.opened", "dispute.updated")]
        cases = await repository.cases_by_incident(conn, sorted({(d.source, d.incident_number) for d in disputes}))
        timeline, rows = [], []
        for dispute in disputes:
            key = (dispute.source, dispute.incident_number)
            case = cases.get(key)
            if case is None:  # opened, or an update that overtook its opening: either makes the case
                case = await _open_case(conn, ctx, dispute)
                timeline.append((case["id"], SYSTEM, "created", None, case["state"],
                                 {"revision": dispute.revision, "channel": case["channel"]}))
                rows.append(case_event(case, "case.created", actor=SYSTEM, prefix=ctx.settings.topic_prefix))
            elif dispute.revision <= case["revision"]:
                continue  # a redelivered or stale revision changes nothing
            elif State(case["state"]) in TERMINAL:
                # Recorded, never silently reopening a closed case.
                await conn.execute(repository.NOTE_REVISION, case["id"], dispute.revision)
                timeline.append((case["id"], SYSTEM, "update_after_close", case["state"], case["state"],
                                 {"revision": dispute.revision, "disposition": dispute.disposition}))
                case = dict(case) | {"revision": dispute.revision}
            else:
                case = await _update_case(conn, ctx, case, dispute)
                # A dispute reclassified as something else stays open for a person to decide.
                timeline.append((case["id"], SYSTEM, "updated" if dispute.kind == "dispute" else "reclassified",
                                 case["state"], case["state"], {"revision": dispute.revision, "kind": dispute.kind,
                                                                "risk_flags": list(case["risk_flags"])}))
            cases[key] = case
        await repository.add_timeline(conn, timeline)
        await outbox.write(conn, rows)

    return handle


def _party(d: DisputeData) -> dict[str, Any]:
    return {"caller_name": d.caller_name, "caller_phone": d.caller_phone,
            "address_text": d.address_text, "description": d.description}


async def _open_case(conn: asyncpg.Connection, ctx: MediationContext, d: DisputeData):
    route = ctx.router.route(station_code=d.station_code, dispute_type=d.dispute_type, risk_flags=d.risk_flags)
    return await conn.fetchrow(
        repository.INSERT_CASE, case_id(d.source, d.incident_number), d.source, d.incident_number, d.revision,
        d.station_code, d.grid_code, d.officer_id, route.channel, d.dispute_type, d.risk_flags, route.high_risk,
        d.address_key, d.caller_phone_hmac, _party(d), d.received_at, datetime.now(UTC) + route.claim_within)


async def _update_case(conn: asyncpg.Connection, ctx: MediationContext, case, d: DisputeData):
    # The channel stays (someone may already work the case); risk can tighten the claim deadline.
    route = ctx.router.route(station_code=case["station_code"], dispute_type=d.dispute_type, risk_flags=d.risk_flags)
    due = min(case["claim_due_at"], case["created_at"] + route.claim_within)
    return await conn.fetchrow(repository.UPDATE_FACTS, case["id"], d.revision, d.dispute_type, d.risk_flags,
                               route.high_risk, _party(d), d.grid_code, d.officer_id, due)


# --- the claim queue ------------------------------------------------------------------------

def _channels(principal: Principal) -> frozenset[str]:
    return channels_for(principal.roles, principal.channels)


async def _visible_case(conn: asyncpg.Connection, principal: Principal, ident: Any, *, for_update: bool = False):
    case = await conn.fetchrow(repository.CASE_BY_ID_FOR_UPDATE if for_update else repository.CASE_BY_ID, ident)
    if case is None or not may_see(roles=principal.roles, stations=principal.stations, channels=_channels(principal),
                                   case_station=case["station_code"], case_channel=case["channel"]):
        raise CaseNotFound(str(ident))
    return case


async def _record(conn: asyncpg.Connection, ctx: MediationContext, principal: Principal, case, *,
                  action: str, event_type: str, from_state: str, details: dict | None = None) -> None:
    """Timeline, audit and outgoing event of one API change, inside its transaction."""
    await repository.add_timeline(conn, [(case["id"], principal.subject, action, from_state, case["state"], details or {})])
    await conn.execute(repository.INSERT_AUDIT, principal.subject, sorted(principal.roles), action, case["id"],
                       "ok", details or {})
    await outbox.write(conn, [case_event(case, event_type, actor=principal.subject,
                                         prefix=ctx.settings.topic_prefix, details=public_details(details or {}))])


def _require_claimer(principal: Principal) -> None:
    if not may_claim(principal.roles):
        raise NotAllowed("only mediators, lawyers and court liaisons claim cases")


async def claim(ctx: MediationContext, principal: Principal, ident: Any):
    """Claim one case; of concurrent claimers exactly one wins, the others get CaseConflict."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await _visible_case(conn, principal, ident)  # first: a case one may not see is 404, whatever the role
        _require_claimer(principal)
        case = await conn.fetchrow(repository.CLAIM, ident, principal.subject)
        if case is None:
            current = await conn.fetchrow(repository.CASE_BY_ID, ident)
            raise CaseConflict(f"case is {current['state']}" + (
                f", held by {current['claimed_by']}" if current["claimed_by"] else ""),
                state=current["state"], allowed=allowed_actions(State(current["state"]),
                                                                had_agreement=current["had_agreement"]),
                holder=current["claimed_by"])
        await _record(conn, ctx, principal, case, action=Action.CLAIM, event_type="case.claimed",
                      from_state=State.PENDING)
        return case


async def claim_next(ctx: MediationContext, principal: Principal):
    """Claim the best pending case for the caller (high risk first, then oldest), or None."""
    _require_claimer(principal)
    async with ctx.pool.acquire() as conn, conn.transaction():
        case = await conn.fetchrow(repository.CLAIM_NEXT, sorted(principal.stations),
                                   sorted(_channels(principal)), principal.subject)
        if case is not None:
            await _record(conn, ctx, principal, case, action=Action.CLAIM, event_type="case.claimed",
                          from_state=State.PENDING, details={"via": "claim-next"})
        return case


async def release(ctx: MediationContext, principal: Principal, ident: Any):
    """Give a claimed case back to the queue; only its holder can."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        current = await _visible_case(conn, principal, ident)
        _require_claimer(principal)
        if current["claimed_by"] not in (None, principal.subject):
            raise NotAllowed("only the holder releases a case")
        case = await conn.fetchrow(repository.RELEASE, ident, principal.subject)
        if case is None:
            raise CaseConflict(f"case is {current['state']}, held by {current['claimed_by'] or 'nobody'}",
                               state=current["state"], holder=current["claimed_by"],
                               allowed=allowed_actions(State(current["state"]), had_agreement=current["had_agreement"]))
        await _record(conn, ctx, principal, case, action=Action.RELEASE, event_type="case.released",
                      from_state=State.CLAIMED)
        return case


async def queue(ctx: MediationContext, principal: Principal, *, after: tuple | None, limit: int) -> list:
    """Claimable cases for the caller's stations and channels, high risk first, then oldest."""
    if not principal.roles & {"mediator", "lawyer", "court_liaison", "station_chief", "auditor"}:
        raise NotAllowed("no role that reads the queue")
    start = after or (False, datetime.min.replace(tzinfo=UTC) + timedelta(days=1), "00000000-0000-0000-0000-000000000000")
    return await ctx.pool.fetch(repository.QUEUE, sorted(principal.stations), sorted(_channels(principal)),
                                *start, limit)


async def case_with_timeline(ctx: MediationContext, principal: Principal, ident: Any) -> tuple[Any, list]:
    """A case the caller may see and its timeline; party data only for the roles that need it."""
    async with ctx.pool.acquire() as conn:
        case = dict(await _visible_case(conn, principal, ident))
        timeline = await conn.fetch(repository.TIMELINE, ident)
    entries = [dict(t) for t in timeline]
    if not principal.roles & PARTY_ROLES:
        # Auditors see what happened, not who said what: participants, notes and free-text
        # reasons may name the parties, so they get the same view as the events.
        case["party"] = None
        for entry in entries:
            entry["details"] = public_details(entry["details"] or {})
    return case, entries


def cursor_of(case: Any) -> str:
    """The opaque position after a queue row."""
    return orjson.dumps([not case["high_risk"], case["received_at"].isoformat(), str(case["id"])]).hex()


def parse_cursor(cursor: str) -> tuple:
    """The position a cursor names; ValueError when it is not one."""
    high, at, ident = orjson.loads(bytes.fromhex(cursor))
    return bool(high), datetime.fromisoformat(at), ident
