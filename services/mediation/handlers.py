"""Mediation's event handler: cases from the disputes of intake.dispute.v1, one case per incident.

A batch writes the cases, their timeline and their outgoing events (the outbox) in the consumer's
transaction; the relay publishes the events. The API's commands are in queue.py (the claim queue),
casework.py and parties.py.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import asyncpg
import orjson

from services.mediation import repository
from services.mediation.bootstrap import MediationContext
from services.mediation.domain.lifecycle import TERMINAL, State
from services.mediation.events import case_event, case_id
from services.mediation.repository import CallerParty, CaseRow, FactsUpdate, NewCase, TimelineEntry
from shared import outbox
from shared.events.envelope import Envelope
from shared.events.intake import DisputeData, incident_id
from shared.outbox import OutboxRow

SYSTEM = "system"

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

    timeline: list[tuple[int, TimelineEntry]]
    events: list[tuple[int, OutboxRow]]

    def ordered(self) -> tuple[list[TimelineEntry], list[OutboxRow]]:
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
            changes.timeline.append((n, TimelineEntry(case["id"], SYSTEM, "created", None, case["state"],
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
        await repository.note_revisions(conn, [(case["id"], d.revision) for _, d, case in closed])
        for n, d, case in closed:
            changes.timeline.append((n, TimelineEntry(case["id"], SYSTEM, "update_after_close", case["state"],
                                                      case["state"], {"revision": d.revision,
                                                                      "disposition": d.disposition})))
            cases[incident(d)] = dict(case) | {"revision": d.revision}
    if open_:
        updated = await _update_cases(conn, ctx, [(d, case) for _, d, case in open_])
        for n, d, before in open_:
            case = updated[before["id"]]
            # A dispute reclassified as something else stays open for a person to decide.
            changes.timeline.append((n, TimelineEntry(
                case["id"], SYSTEM, "updated" if d.kind == "dispute" else "reclassified", case["state"],
                case["state"], {"revision": d.revision, "kind": d.kind, "risk_flags": list(case["risk_flags"])})))
            cases[incident(d)] = case


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _party(d: DisputeData) -> dict[str, Any]:
    return {"caller_name": d.caller_name, "caller_phone": d.caller_phone,
            "address_text": d.address_text, "description": d.description}


async def _open_cases(conn: asyncpg.Connection, ctx: MediationContext,
                      disputes: Sequence[tuple[DisputeData, Any]]) -> dict[Any, CaseRow]:
    """Insert the cases of (dispute, case id) pairs in one statement; the new rows by id (one that already
    exists is left alone and missing from the answer)."""
    now = datetime.now(UTC)
    new = []
    for d, ident in disputes:
        route = ctx.router.route(station_code=d.station_code, dispute_type=d.dispute_type, risk_flags=d.risk_flags)
        new.append(NewCase(
            id=ident, source=d.source, incident_number=d.incident_number, revision=d.revision,
            station_code=d.station_code, grid_code=d.grid_code, officer_id=d.officer_id, channel=route.channel,
            dispute_type=d.dispute_type, risk_flags=_json(d.risk_flags), high_risk=route.high_risk,
            address_key=d.address_key, phone_hmac=d.caller_phone_hmac, party=_party(d), received_at=d.received_at,
            claim_due_at=now + route.claim_within, needs_review=d.needs_review,
            incident_id=incident_id(d.source, d.incident_number)))
    rows = await repository.insert_cases(conn, new)
    made = {(d.source, d.incident_number): d for d, _ in disputes}
    callers = [(row["id"], made[row["source"], row["incident_number"]]) for row in rows]
    await repository.add_caller_parties(conn, [CallerParty(ident, d.caller_name, d.caller_phone, d.caller_phone_hmac)
                                               for ident, d in callers if d.caller_name or d.caller_phone])
    return {row["id"]: row for row in rows}


async def _update_cases(conn: asyncpg.Connection, ctx: MediationContext,
                        updates: Sequence[tuple[DisputeData, Any]]) -> dict[Any, CaseRow]:
    """Newer facts of open cases, (dispute, current case) pairs of distinct cases, in one statement; the
    updated rows by id. The channel stays (someone may already work the case); risk can tighten the
    claim deadline."""
    facts = []
    for d, case in updates:
        route = ctx.router.route(station_code=case["station_code"], dispute_type=d.dispute_type,
                                 risk_flags=d.risk_flags)
        facts.append(FactsUpdate(
            id=case["id"], revision=d.revision, dispute_type=d.dispute_type, risk_flags=_json(d.risk_flags),
            high_risk=route.high_risk, party=_party(d), grid_code=d.grid_code, officer_id=d.officer_id,
            claim_due_at=min(case["claim_due_at"], case["created_at"] + route.claim_within),
            needs_review=d.needs_review))
    rows = await repository.update_facts(conn, facts)
    return {row["id"]: row for row in rows}
