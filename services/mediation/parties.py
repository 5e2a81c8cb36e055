"""The parties of a case: applicant, respondent or other, each with a name, a phone and an optional ID
number; the caller is the first (position 0). The holder adds and corrects them.

Personal data: shown only to the roles that work or supervise cases (never to auditors), never in an
event or a log line; the audit log records that a party changed, not what it says. The phone is stored
with its HMAC, so a search by phone finds the case without comparing numbers in clear.
"""
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.mediation import repository
from services.mediation.bootstrap import MediationContext
from services.mediation.callers import may_read_parties
from services.mediation.changes import record, visible_case
from services.mediation.domain.access import CLAIMING_ROLES
from services.mediation.domain.errors import CaseConflict, NotAllowed, PartyNotFound
from services.mediation.domain.lifecycle import TERMINAL, State
from services.mediation.repository import CaseRow, Executor, PartyValues
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


async def of_cases(conn: Executor, ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    """The parties of these cases, in order, by case id."""
    found: dict[Any, list[dict[str, Any]]] = {ident: [] for ident in ids}
    for row in await repository.parties_of(conn, ids):
        found[row["case_id"]].append({k: row[k] for k in ("position", "role", "name", "phone", "id_number")})
    return found


# Whether this caller gets a case's party data (callers.may_read_parties), under its older name.
may_read = may_read_parties


async def save(ctx: MediationContext, principal: Principal, ident: uuid.UUID, party: PartyIn,
               position: int | None) -> tuple[CaseRow, list[dict[str, Any]]]:
    """Add a party (position None) or correct one; the holder only, while the case is open."""
    secret = ctx.settings.phone_hmac_secret.get_secret_value().encode()
    async with ctx.pool.acquire() as conn, conn.transaction():
        case = await visible_case(conn, principal, ident, for_update=True)
        if case["claimed_by"] != principal.subject:
            raise NotAllowed("holder_only", roles=CLAIMING_ROLES, holder=case["claimed_by"])
        if State(case["state"]) in TERMINAL:
            raise CaseConflict("case_closed", case)
        values = PartyValues(party.role, party.name, party.phone, phone_hmac(party.phone, secret), party.id_number,
                             principal.subject)
        if position is None:
            saved = await repository.add_party(conn, ident, values)
        else:
            found = await repository.correct_party(conn, ident, position, values)
            if found is None:
                raise PartyNotFound(f"no party {position}")
            saved = found
        updated = await repository.bump_version(conn, ident)
        await record(conn, ctx, principal, updated, action="party_saved", event_type=None,
                     from_state=case["state"], details={"position": saved, "role": party.role})
        return updated, (await of_cases(conn, [ident]))[ident]
