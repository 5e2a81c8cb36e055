"""The parties of a case: applicant, respondent or other, each with a name, a phone and an optional ID
number; the caller is the first (position 0). The holder adds and corrects them.

Personal data: shown only to the roles that work or supervise cases (never to auditors), never in an
event or a log line; the audit log records that a party changed, not what it says. The phone is stored
with its HMAC, so a search by phone finds the case without comparing numbers in clear.
"""
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.mediation import repository
from services.mediation.domain.access import CLAIMING_ROLES
from services.mediation.domain.lifecycle import TERMINAL, State
from services.mediation.domain.permissions import allows
from services.mediation.handlers import (
    CaseConflict,
    MediationContext,
    NotAllowed,
    _record,
    _visible_case,
    relations_of,
)
from shared.auth import Principal
from shared.phones import phone_hmac


class PartyIn(BaseModel):
    """A party as the holder records it."""

    model_config = {"json_schema_extra": {"examples": [
        {"role": "respondent", "name": "李四", "phone": "13900001111", "id_number": None}]}}

    role: Literal["applicant", "respondent", "other"]
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    id_number: str | None = Field(default=None, max_length=40, description="resident ID number, when given")


async def of_cases(conn, ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """The parties of these cases, in order, by case id."""
    found: dict[Any, list[dict[str, Any]]] = {ident: [] for ident in ids}
    for row in await conn.fetch(repository.PARTIES, ids):
        found[row["case_id"]].append({k: row[k] for k in ("position", "role", "name", "phone", "id_number")})
    return found


def may_read(principal: Principal, case: Any, purpose: str | None = None) -> bool:
    """Whether this caller gets this case's party data (domain/permissions.py, read_parties): chiefs only with
    a stated purpose, auditors never."""
    return allows("read_parties", principal.roles, relations_of(principal, case, purpose))


async def save(ctx: MediationContext, principal: Principal, ident: Any, party: PartyIn, position: int | None):
    """Add a party (position None) or correct one; the holder only, while the case is open."""
    secret = ctx.settings.phone_hmac_secret.get_secret_value().encode()
    async with ctx.pool.acquire() as conn, conn.transaction():
        case = await _visible_case(conn, principal, ident, for_update=True)
        if case["claimed_by"] != principal.subject:
            raise NotAllowed("holder_only", roles=CLAIMING_ROLES, holder=case["claimed_by"])
        if State(case["state"]) in TERMINAL:
            raise CaseConflict("case_closed", case)
        values = (party.role, party.name, party.phone, phone_hmac(party.phone, secret), party.id_number,
                  principal.subject)
        if position is None:
            saved = await conn.fetchval(repository.ADD_PARTY, ident, *values)
        else:
            saved = await conn.fetchval(repository.CORRECT_PARTY, ident, position, *values)
            if saved is None:
                raise LookupError(f"no party {position}")
        updated = await conn.fetchrow(repository.BUMP_VERSION, ident)
        await _record(conn, ctx, principal, updated, action="party_saved", event_type=None,
                      from_state=case["state"], details={"position": saved, "role": party.role})
        return updated, (await of_cases(conn, [ident]))[ident]
