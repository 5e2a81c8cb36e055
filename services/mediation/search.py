"""Finding and reading cases: GET /v1/cases with filters, newest first, cursor-paginated, and one case with
its timeline (GET /v1/cases/{id}).

A phone is matched by its HMAC (the key intake uses for caller_phone_hmac), against the caller's and every
party's, so no phone is ever compared or stored in clear here. A search by roles that see party data is
audited (which filters, never their values: a phone or a name must not land in the audit log); auditors
may search, but not by phone, and get no party data.
"""
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from services.mediation import audit, repository
from services.mediation.bootstrap import MediationContext
from services.mediation.callers import channels_of, may_read_parties
from services.mediation.changes import visible_case
from services.mediation.domain.access import PARTY_ROLES
from services.mediation.domain.errors import NotAllowed
from services.mediation.events import public_details
from services.mediation.repository import CaseRow
from shared.auth import Principal
from shared.phones import phone_hmac


@dataclass(frozen=True)
class Filters:
    """What GET /v1/cases narrows by; None (or False) does not narrow."""

    mine: bool = False
    states: tuple[str, ...] | None = None
    channel: str | None = None
    escalated: bool | None = None
    overdue_confirmation: bool = False
    incident_number: str | None = None
    source: str | None = None
    incident_id: uuid.UUID | None = None
    phone: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None

    def used(self) -> list[str]:
        """The names of the filters in use (for the audit log, without their values)."""
        return [name for name, value in self.__dict__.items() if value not in (None, False)]


class BadPhone(ValueError):
    """A phone filter with too few digits to be a phone."""


def cursor_of(case: Any) -> str:
    """The opaque position after a search row."""
    return orjson.dumps([case["received_at"].isoformat(), str(case["id"])]).hex()


def parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor names; ValueError when it is not one."""
    at, ident = orjson.loads(bytes.fromhex(cursor))
    return datetime.fromisoformat(at), uuid.UUID(ident)


async def search(ctx: MediationContext, principal: Principal, filters: Filters, *, after: tuple | None,
                 limit: int, today: date | None = None) -> list[CaseRow]:
    """The cases the caller may see that match, newest first."""
    shows_parties = bool(principal.roles & PARTY_ROLES)
    hashed = None
    if filters.phone is not None:
        if not shows_parties:
            raise NotAllowed("party_search_roles", roles=PARTY_ROLES)
        hashed = phone_hmac(filters.phone, ctx.settings.phone_hmac_secret.get_secret_value().encode())
        if hashed is None:
            raise BadPhone(filters.phone)
    async with ctx.pool.acquire() as conn, conn.transaction():
        rows = await repository.search(
            conn, stations=sorted(principal.stations), channels=sorted(channels_of(principal)),
            subject=principal.subject, mine=filters.mine, states=filters.states, channel=filters.channel,
            escalated=filters.escalated, overdue_confirmation=filters.overdue_confirmation,
            today=today or datetime.now(UTC).date(), incident_number=filters.incident_number, source=filters.source,
            incident_id=filters.incident_id, phone_hmac=hashed, received_from=filters.received_from,
            received_to=filters.received_to, after=after, limit=limit)
        if shows_parties:
            await audit.write(conn, principal, action="search", case_id=None,
                              details={"filters": filters.used(), "found": len(rows),
                                       "cases": [str(r["id"]) for r in rows]})
    return rows


async def case_with_timeline(ctx: MediationContext, principal: Principal, ident: uuid.UUID,
                             purpose: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """A case the caller may see, its timeline, and whether party data goes with it (domain/permissions.py,
    read_parties: a chief with a stated purpose, never an auditor)."""
    async with ctx.pool.acquire() as conn:
        case = dict(await visible_case(conn, principal, ident))
        entries = [dict(t) for t in await repository.timeline(conn, ident)]
    shows = may_read_parties(principal, case, purpose)
    if not shows:
        # What happened, not who said what: participants, notes and free-text reasons may name the
        # parties, so this caller gets the same view as the events.
        case["party"] = None
        for entry in entries:
            entry["details"] = public_details(entry["details"] or {})
    return case, entries, shows
