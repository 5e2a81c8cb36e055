"""Mediation's commands: cases from disputes, and the claim queue (claim, claim next, release).

Every change writes the case, its timeline and its outgoing event (the outbox) in one
transaction; the relay publishes the events. API writes also go to the audit log.
"""
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import asyncpg
import orjson

from services.mediation import audit, repository
from services.mediation.domain.access import CLAIMING_ROLES, READING_ROLES, channels_for, may_claim, may_see
from services.mediation.domain.lifecycle import TERMINAL, Action, State, allowed_actions
from services.mediation.domain.permissions import Relation, allows, relations
from services.mediation.domain.routing import Router
from services.mediation.events import case_event, case_id, public_details
from services.mediation.settings import MediationSettings
from shared import outbox
from shared.auth import Principal
from shared.events.envelope import Envelope
from shared.events.intake import DisputeData, incident_id
from shared.kafka.producer import EventProducer
from shared.outbox import OutboxRow

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
    """The caller may not do this (403): `code` names the rule, `roles` the roles that would be allowed."""

    def __init__(self, code: str, *, roles: Iterable[str] = (), holder: str | None = None) -> None:
        super().__init__(code)
        self.code, self.roles, self.holder = code, tuple(sorted(roles)), holder


class CaseConflict(Exception):
    """The case is not in a state that allows the action (409): `code` says why, `case` is the row as it is,
    `action` the refused one (None for a handoff that waits or is settled)."""

    def __init__(self, code: str, case: Any, action: Action | None = None) -> None:
        super().__init__(f"{code}: case is {case['state']}")
        self.code, self.case, self.action = code, case, action
        self.state, self.holder = case["state"], case["claimed_by"]
        self.allowed = allowed_actions(State(case["state"]), had_agreement=case["had_agreement"])


# --- from intake.dispute.v1 ------------------------------------------------------------------

Incident = tuple[str, str]  # (source, incident number): one case each


def dispute_handler(ctx: MediationContext):
    """The consumer's batch handler: one case per dispute; newer revisions update open cases."""

    async def handle(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        disputes = [DisputeData.model_validate(e.data) for e in events
                    if e.type in ("dispute.opened", "dispute.updated")]
        await _apply_disputes(conn, ctx, disputes)

    return handle


@dataclass
class _Changes:
    """What a batch of disputes writes besides the cases, each entry tagged with its dispute's position in
    the batch, so the timeline and the events keep the order the disputes came in."""

    timeline: list[tuple[int, tuple]]
    events: list[tuple[int, OutboxRow]]

    def ordered(self) -> tuple[list[tuple], list[OutboxRow]]:
        by_position = itemgetter(0)
        return ([entry for _, entry in sorted(self.timeline, key=by_position)],
                [row for _, row in sorted(self.events, key=by_position)])


async def _apply_disputes(conn: asyncpg.Connection, ctx: MediationContext, disputes: Sequence[DisputeData]) -> None:
    """Apply disputes as if one at a time, in order, with a few statements per batch instead of one per dispute.

    Disputes of different incidents do not affect each other, and each incident's own disputes must go in
    order. So round n applies the n-th dispute of every incident in the batch at once: one multi-row
    statement opens the new cases, one updates the open ones, one notes revisions of closed ones. Most
    batches hold one dispute per incident and take one round; a duplicate or a revision of an incident
    in the same batch adds a round."""
    if not disputes:
        return
    per_incident: dict[Incident, list[tuple[int, DisputeData]]] = {}
    for position, dispute in enumerate(disputes):
        per_incident.setdefault((dispute.source, dispute.incident_number), []).append((position, dispute))
    cases = await repository.cases_by_incident(conn, sorted(per_incident))
    changes = _Changes([], [])
    for n in range(max(len(own) for own in per_incident.values())):
        await _apply_round(conn, ctx, cases, [own[n] for own in per_incident.values() if len(own) > n], changes)
    timeline, events = changes.ordered()
    await repository.add_timeline(conn, timeline)
    await outbox.write(conn, events)


async def _apply_round(conn: asyncpg.Connection, ctx: MediationContext, cases: dict[Incident, Any],
                       disputes: Sequence[tuple[int, DisputeData]], changes: _Changes) -> None:
    """At most one dispute of each incident, against `cases` (the current row of each incident), which it updates."""
    def incident(d: DisputeData) -> Incident:
        return d.source, d.incident_number

    existing = [(n, d) for n, d in disputes if incident(d) in cases]
    # Opened, or an update that overtook its opening: either makes the case.
    opening = [(n, d, case_id(d.source, d.incident_number)) for n, d in disputes if incident(d) not in cases]
    if opening:
        opened = await _open_cases(conn, ctx, [(d, ident) for _, d, ident in opening])
        raced = []
        for n, d, ident in opening:
            case = opened.get(ident)
            if case is None:  # another consumer made it after our lock (a rebalance): apply to that case
                raced.append((n, d))
                continue
            cases[incident(d)] = case
            changes.timeline.append((n, (case["id"], SYSTEM, "created", None, case["state"],
                                         {"revision": d.revision, "channel": case["channel"]})))
            changes.events.append((n, case_event(case, "case.created", actor=SYSTEM,
                                                 prefix=ctx.settings.topic_prefix)))
        if raced:
            cases.update(await repository.cases_by_incident(conn, sorted({incident(d) for _, d in raced})))
            if missing := [d.incident_number for _, d in raced if incident(d) not in cases]:
                raise RuntimeError(f"cases neither opened nor found: {missing}")
            existing += raced
    closed: list[tuple[Any, ...]] = []
    open_: list[tuple[Any, ...]] = []
    for n, d in existing:
        case = cases[incident(d)]
        if d.revision <= case["revision"]:
            continue  # a redelivered or stale revision changes nothing
        (closed if State(case["state"]) in TERMINAL else open_).append((n, d, case))
    if closed:
        # Recorded, never silently reopening a closed case.
        await conn.execute(repository.NOTE_REVISIONS, [case["id"] for _, _, case in closed],
                           [d.revision for _, d, _ in closed])
        for n, d, case in closed:
            changes.timeline.append((n, (case["id"], SYSTEM, "update_after_close", case["state"], case["state"],
                                         {"revision": d.revision, "disposition": d.disposition})))
            cases[incident(d)] = dict(case) | {"revision": d.revision}
    if open_:
        updated = await _update_cases(conn, ctx, [(d, case) for _, d, case in open_])
        for n, d, before in open_:
            case = updated[before["id"]]
            # A dispute reclassified as something else stays open for a person to decide.
            changes.timeline.append((n, (case["id"], SYSTEM, "updated" if d.kind == "dispute" else "reclassified",
                                         case["state"], case["state"], {"revision": d.revision, "kind": d.kind,
                                                                        "risk_flags": list(case["risk_flags"])})))
            cases[incident(d)] = case


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _party(d: DisputeData) -> dict[str, Any]:
    return {"caller_name": d.caller_name, "caller_phone": d.caller_phone,
            "address_text": d.address_text, "description": d.description}


async def _open_cases(conn: asyncpg.Connection, ctx: MediationContext,
                      disputes: Sequence[tuple[DisputeData, Any]]) -> dict[Any, Any]:
    """Insert the cases of (dispute, case id) pairs in one statement; the new rows by id (one that already
    exists is left alone and missing from the answer)."""
    routes = [ctx.router.route(station_code=d.station_code, dispute_type=d.dispute_type, risk_flags=d.risk_flags)
              for d, _ in disputes]
    now = datetime.now(UTC)
    rows = await conn.fetch(
        repository.INSERT_CASES, [ident for _, ident in disputes], [d.source for d, _ in disputes],
        [d.incident_number for d, _ in disputes], [d.revision for d, _ in disputes],
        [d.station_code for d, _ in disputes], [d.grid_code for d, _ in disputes],
        [d.officer_id for d, _ in disputes], [r.channel for r in routes], [d.dispute_type for d, _ in disputes],
        [_json(d.risk_flags) for d, _ in disputes], [r.high_risk for r in routes], [d.address_key for d, _ in disputes],
        [d.caller_phone_hmac for d, _ in disputes], [_party(d) for d, _ in disputes],
        [d.received_at for d, _ in disputes], [now + r.claim_within for r in routes],
        [d.needs_review for d, _ in disputes], [incident_id(d.source, d.incident_number) for d, _ in disputes])
    made = {(d.source, d.incident_number): d for d, _ in disputes}
    callers = [(row["id"], made[row["source"], row["incident_number"]]) for row in rows]
    callers = [(ident, d) for ident, d in callers if d.caller_name or d.caller_phone]
    if callers:
        await conn.execute(repository.INSERT_CALLER_PARTIES, [ident for ident, _ in callers],
                           [d.caller_name for _, d in callers], [d.caller_phone for _, d in callers],
                           [d.caller_phone_hmac for _, d in callers])
    return {row["id"]: row for row in rows}


async def _update_cases(conn: asyncpg.Connection, ctx: MediationContext,
                        updates: Sequence[tuple[DisputeData, Any]]) -> dict[Any, Any]:
    """Newer facts of open cases, (dispute, current case) pairs of distinct cases, in one statement; the
    updated rows by id. The channel stays (someone may already work the case); risk can tighten the
    claim deadline."""
    dues, routes = [], []
    for d, case in updates:
        route = ctx.router.route(station_code=case["station_code"], dispute_type=d.dispute_type,
                                 risk_flags=d.risk_flags)
        routes.append(route)
        dues.append(min(case["claim_due_at"], case["created_at"] + route.claim_within))
    rows = await conn.fetch(
        repository.UPDATE_FACTS, [case["id"] for _, case in updates], [d.revision for d, _ in updates],
        [d.dispute_type for d, _ in updates], [_json(d.risk_flags) for d, _ in updates], [r.high_risk for r in routes],
        [_party(d) for d, _ in updates], [d.grid_code for d, _ in updates], [d.officer_id for d, _ in updates], dues,
        [d.needs_review for d, _ in updates])
    return {row["id"]: row for row in rows}


# --- the claim queue ------------------------------------------------------------------------

def _channels(principal: Principal) -> frozenset[str]:
    return channels_for(principal.roles, principal.channels)


def sees(principal: Principal, case: Any) -> bool:
    """Whether the caller may see this case row (domain/access.py, may_see)."""
    handoff = case["last_handoff"] or {}
    return may_see(roles=principal.roles, stations=principal.stations, channels=_channels(principal),
                   case_station=case["station_code"], case_channel=case["channel"], subject=principal.subject,
                   worked_by=case["worked_by"], handoff_to=handoff.get("to_channel"))


def relations_of(principal: Principal, case: Any, purpose: str | None = None) -> frozenset[Relation]:
    """How the caller stands to this case row (domain/permissions.py, relations)."""
    handoff = case["last_handoff"] or {}
    return relations(subject=principal.subject, stations=principal.stations, channels=_channels(principal),
                     case_station=case["station_code"], case_channel=case["channel"], holder=case["claimed_by"],
                     worked_by=case["worked_by"], handoff_to=handoff.get("to_channel"), purpose=purpose)


async def _visible_case(conn: asyncpg.Connection, principal: Principal, ident: Any, *, for_update: bool = False):
    case = await conn.fetchrow(repository.CASE_BY_ID_FOR_UPDATE if for_update else repository.CASE_BY_ID, ident)
    if case is None or not sees(principal, case):
        raise CaseNotFound(str(ident))
    return case


async def _record(conn: asyncpg.Connection, ctx: MediationContext, principal: Principal, case, *,
                  action: str, event_type: str | None, from_state: str, details: dict | None = None) -> None:
    """Timeline, audit and outgoing event of one API change, inside its transaction (no event for a change
    that is only personal data, such as a party's phone: mediation.case.v1 carries none)."""
    await repository.add_timeline(conn, [(case["id"], principal.subject, action, from_state, case["state"], details or {})])
    await conn.execute(repository.ADD_WORKER, case["id"], principal.subject)
    await audit.write(conn, principal, action=action, case_id=case["id"], details=details)
    if event_type is not None:
        await outbox.write(conn, [case_event(case, event_type, actor=principal.subject,
                                             prefix=ctx.settings.topic_prefix, details=public_details(details or {}))])


def _require_claimer(principal: Principal) -> None:
    if not may_claim(principal.roles):
        raise NotAllowed("claimers_only", roles=CLAIMING_ROLES)


async def claim(ctx: MediationContext, principal: Principal, ident: Any):
    """Claim one case; of concurrent claimers exactly one wins, the others get CaseConflict."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        await _visible_case(conn, principal, ident)  # first: a case one may not see is 404, whatever the role
        _require_claimer(principal)
        case = await conn.fetchrow(repository.CLAIM, ident, principal.subject)
        if case is None:
            raise CaseConflict("not_claimable", await conn.fetchrow(repository.CASE_BY_ID, ident), Action.CLAIM)
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
            raise NotAllowed("holder_only", roles=CLAIMING_ROLES, holder=current["claimed_by"])
        case = await conn.fetchrow(repository.RELEASE, ident, principal.subject)
        if case is None:
            raise CaseConflict("illegal_transition", current, Action.RELEASE)
        await _record(conn, ctx, principal, case, action=Action.RELEASE, event_type="case.released",
                      from_state=State.CLAIMED)
        return case


async def queue(ctx: MediationContext, principal: Principal, *, after: tuple | None, limit: int) -> list:
    """Claimable cases for the caller's stations and channels, high risk first, then oldest."""
    if not principal.roles & READING_ROLES:
        raise NotAllowed("forbidden", roles=READING_ROLES)
    start = after or (False, datetime.min.replace(tzinfo=UTC) + timedelta(days=1), "00000000-0000-0000-0000-000000000000")
    return await ctx.pool.fetch(repository.QUEUE, sorted(principal.stations), sorted(_channels(principal)),
                                *start, limit)


async def case_with_timeline(ctx: MediationContext, principal: Principal, ident: Any,
                             purpose: str | None = None) -> tuple[Any, list, bool]:
    """A case the caller may see, its timeline, and whether party data goes with it (domain/permissions.py,
    read_parties: a chief with a stated purpose, never an auditor)."""
    async with ctx.pool.acquire() as conn:
        case = dict(await _visible_case(conn, principal, ident))
        timeline = await conn.fetch(repository.TIMELINE, ident)
    entries = [dict(t) for t in timeline]
    shows = allows("read_parties", principal.roles, relations_of(principal, case, purpose))
    if not shows:
        # What happened, not who said what: participants, notes and free-text reasons may name the
        # parties, so this caller gets the same view as the events.
        case["party"] = None
        for entry in entries:
            entry["details"] = public_details(entry["details"] or {})
    return case, entries, shows


def cursor_of(case: Any) -> str:
    """The opaque position after a queue row."""
    return orjson.dumps([not case["high_risk"], case["received_at"].isoformat(), str(case["id"])]).hex()


def parse_cursor(cursor: str) -> tuple:
    """The position a cursor names; ValueError when it is not one."""
    high, at, ident = orjson.loads(bytes.fromhex(cursor))
    return bool(high), datetime.fromisoformat(at), ident
