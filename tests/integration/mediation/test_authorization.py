"""The authorization matrix of the mediation API (issue 4, item 7): every role × endpoint × where.

Each cell is its own test on a fresh database: it brings one case (or one handoff) into the state
in which the endpoint's action is legal for the right person, then asks as the cell's role and
checks the answer, and what the answer leaves behind:

- the status, derived from the explicit rules below (the first rule that speaks decides);
- list endpoints (queue, handoffs) list the target exactly when the caller may see it;
- a successful write leaves exactly one `ok` audit row naming the actor, the case and the time;
  a refused write leaves no `ok` audit row and the case at its version;
- the caller's phone number is in `GET /v1/cases/{id}` only for the roles that work or supervise
  cases, never for auditors, and never in a refusal.

Where the code answers otherwise than the issue asks, the cell is a strict xfail (KNOWN_GAPS) with
the reason: the gap stays visible, and the cell turns red the moment the code is fixed, so the
mark is removed rather than forgotten.

"Where" is one of:

- own: the actor's station; the case is in the actor's channel (for a claiming role, the actor
  holds it when the state needs a holder; for chiefs, auditors and the rest, a mediator holds it);
- other_channel: the actor's station, a case of a channel the actor does not serve;
- other_station: the same case as `own`, asked by the same subject with a token bound to another
  station (so the only difference from `own` is the station);
- not_receiver (handoff answers only): a handoff in the actor's station, of a case the actor can see,
  to a channel that is not the actor's to receive.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.mediation.domain.permissions import Relation, allows
from services.mediation.events import case_id
from tests.integration.mediation.conftest import STATION, dispute_event

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

OTHER_STATION = "990102002"
PHONE = "13812345678"  # dispute_event's caller_phone
SESSION = {"at": "2024-05-02T10:00:00+08:00", "participants": ["王小明", "李四"], "notes": "双方到场"}
AGREEMENT = {"type": "agreement", "terms": "楼上住户负责维修并赔偿2000元", "effective_date": "2024-05-02",
             "performance_date": "2024-05-20"}

# --- who is who ------------------------------------------------------------------------------------

CHANNELS = frozenset({"station_officer", "peoples_mediator", "lawyer", "court"})
CLAIMERS = frozenset({"mediator", "lawyer", "court_liaison"})
SUPERVISORS = frozenset({"station_chief", "auditor"})
# The channels each role works in (docs/mediation.md, "Routing"; docs/design.md, "Words": channel); chiefs and auditors see all of them.
SERVES: dict[str, frozenset[str]] = {
    "mediator": frozenset({"station_officer", "peoples_mediator"}),
    "lawyer": frozenset({"lawyer"}),
    "court_liaison": frozenset({"court"}),
    "station_chief": CHANNELS,
    "auditor": CHANNELS,
}
# Who answers a handoff to a channel: the people of that channel; a station chief for the
# law-enforcement team. Chiefs do not claim, so they do not take over a mediation channel's case.
RECEIVES: dict[str, frozenset[str]] = {
    "mediator": SERVES["mediator"], "lawyer": SERVES["lawyer"], "court_liaison": SERVES["court_liaison"],
    "station_chief": frozenset({"law_enforcement"}), "auditor": frozenset(),
}
# Who sees a waiting handoff in GET /v1/handoffs: receivers their own; chiefs and auditors all of them.
LISTS_HANDOFFS_TO: dict[str, frozenset[str]] = RECEIVES | {
    "station_chief": CHANNELS | {"law_enforcement"}, "auditor": CHANNELS | {"law_enforcement"}}
# Party personal data, from the permission table: the roles that work a case of their channel see it without
# saying why; chiefs only with a stated purpose (the matrix asks without one), auditors never.
NEEDS_PARTY_DATA = frozenset(role for role in SERVES
                             if allows("read_parties", {role}, {Relation.CHANNEL, Relation.STATION}))

# Row name -> (subject, role). "mediator_not_holder" is a mediator of the same station and channel
# who does not hold the case; "no_token" asks without Authorization.
ACTORS: dict[str, tuple[str | None, str | None]] = {
    "mediator": ("mediator", "mediator"),
    "lawyer": ("lawyer", "lawyer"),
    "court_liaison": ("court-liaison", "court_liaison"),
    "station_chief": ("chief", "station_chief"),
    "auditor": ("auditor", "auditor"),
    "mediator_not_holder": ("colleague", "mediator"),
    "feed": ("cad-feed", "feed"),
    "no_token": (None, None),
}
# A claiming role's own channel, and a channel it does not serve.
OWN_CHANNEL = {"mediator": "peoples_mediator", "lawyer": "lawyer", "court_liaison": "court"}
FOREIGN_CHANNEL = {"mediator": "lawyer", "lawyer": "peoples_mediator", "court_liaison": "peoples_mediator"}
# Someone else who holds a case of a channel.
HOLDER_OF = {"peoples_mediator": ("mediator-h", "mediator"), "lawyer": ("lawyer-h", "lawyer"),
             "court": ("court-h", "court_liaison")}
# At STATION (all four channels) these dispute types route to these channels (rules/routing.v1.yaml).
DISPUTE_TYPE_FOR = {"peoples_mediator": "neighbour", "lawyer": "labour", "court": "traffic_damage"}


# --- the endpoints -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """One API endpoint, the case state in which its action is legal, and what success looks like."""

    key: str
    method: str
    path: str  # {case} and {handoff} are filled in per cell
    state: str  # pending, claimed, in_session, agreement, confirmation_requested, failed, closed, handoff
    body: dict | None = None
    success: int = 200
    audit_action: str | None = None  # writes: the audit row's action

    @property
    def writes(self) -> bool:
        return self.method == "POST"

    @property
    def addresses(self) -> bool:
        """The path names one case or handoff (which the caller may or may not see)."""
        return "{" in self.path

    @property
    def on_handoff(self) -> bool:
        return self.state == "handoff"


ENDPOINTS = [
    Endpoint("queue", "GET", "/v1/queue", "pending"),
    Endpoint("claim_next", "POST", "/v1/queue/claim-next", "pending", audit_action="claim"),
    Endpoint("claim", "POST", "/v1/cases/{case}/claim", "pending", audit_action="claim"),
    Endpoint("release", "POST", "/v1/cases/{case}/release", "claimed", audit_action="release"),
    Endpoint("get_case", "GET", "/v1/cases/{case}", "claimed"),
    Endpoint("sessions", "POST", "/v1/cases/{case}/sessions", "claimed", SESSION, audit_action="record_session"),
    Endpoint("outcome", "POST", "/v1/cases/{case}/outcome", "in_session", AGREEMENT,
             audit_action="reach_agreement"),
    Endpoint("confirmation_request", "POST", "/v1/cases/{case}/confirmation-request", "agreement",
             audit_action="request_confirmation"),
    Endpoint("confirmation", "POST", "/v1/cases/{case}/confirmation", "confirmation_requested",
             {"decision": "confirmed", "ruling_number": "(2024)北01民特45号"}, audit_action="confirm"),
    Endpoint("refer", "POST", "/v1/cases/{case}/refer", "failed", {"to": "人民法院诉讼", "reason": "调解不成"},
             audit_action="refer"),
    Endpoint("close", "POST", "/v1/cases/{case}/close", "agreement", audit_action="close"),
    Endpoint("withdraw", "POST", "/v1/cases/{case}/withdraw", "claimed", {"reason": "当事人撤回"},
             audit_action="withdraw"),
    Endpoint("breach", "POST", "/v1/cases/{case}/breach", "closed", {"reason": "未按期赔偿"},
             audit_action="report_breach"),
    Endpoint("handoff", "POST", "/v1/cases/{case}/handoffs", "claimed", success=201,
             audit_action="handoff_requested"),  # body: to the court, or from the court back to the station
    Endpoint("handoffs", "GET", "/v1/handoffs", "handoff"),
    Endpoint("answer", "POST", "/v1/handoffs/{handoff}/answer", "handoff", {"decision": "accept"},
             audit_action="handoff_accepted"),
]
BY_KEY = {e.key: e for e in ENDPOINTS}
# Working a claimed case: only its holder does it.
# The endpoints whose cells the permission table decides, by the table's action names.
TABLE_ACTION = {"release": "release", "sessions": "sessions", "outcome": "outcome",
                "confirmation_request": "confirmation-request", "refer": "refer", "close": "close",
                "handoff": "handoffs", "confirmation": "confirmation", "withdraw": "withdraw", "breach": "breach"}
CLAIMING = frozenset({"claim", "claim_next", "release"})


# --- the situation of a cell ---------------------------------------------------------------------

@dataclass(frozen=True)
class Situation:
    """What a cell sets up: one case at STATION and who asks about it."""

    actor_stations: tuple[str, ...]
    channel: str  # the case's channel
    state: str
    holder: tuple[str, str] | None  # (subject, role) holding the case, None when pending
    to_channel: str | None = None  # handoffs: where the waiting handoff goes
    case_station: str = STATION


def situation(row: str, ep: Endpoint, where: str) -> Situation:
    """The case (or handoff) a cell asks about, chosen so only authorization can decide the answer."""
    stations = (OTHER_STATION,) if where == "other_station" else (STATION,)
    subject, role = ACTORS[row]
    if ep.on_handoff:
        return _handoff_situation(row, where, stations)
    state = ep.state
    if row in CLAIMERS and where != "other_channel":
        channel = OWN_CHANNEL[row]
        holder = (subject, role)  # the actor holds its own case (claimed with its own-station token)
    elif where == "other_channel":
        channel = FOREIGN_CHANNEL[row]
        holder = HOLDER_OF[channel]
    else:  # chiefs, auditors, a mediator who is not the holder, the feed, no token
        channel = "peoples_mediator"
        holder = HOLDER_OF[channel]
        if row == "mediator_not_holder" and state == "pending":
            state = "claimed"  # claiming a case someone else holds
    return Situation(stations, channel, state, None if state == "pending" else holder)


def _handoff_situation(row: str, where: str, stations: tuple[str, ...]) -> Situation:
    """A case held by someone else with a handoff waiting: to the actor's channel when `own`."""
    channel, to_channel = {
        ("mediator", "own"): ("lawyer", "peoples_mediator"),
        ("lawyer", "own"): ("peoples_mediator", "lawyer"),
        ("court_liaison", "own"): ("peoples_mediator", "court"),
        ("station_chief", "own"): ("peoples_mediator", "law_enforcement"),
        ("mediator", "other_channel"): ("lawyer", "court"),
        ("lawyer", "other_channel"): ("peoples_mediator", "court"),
        ("court_liaison", "other_channel"): ("peoples_mediator", "lawyer"),
        ("mediator", "not_receiver"): ("peoples_mediator", "court"),
        ("lawyer", "not_receiver"): ("lawyer", "court"),
        ("court_liaison", "not_receiver"): ("court", "station_officer"),
        ("station_chief", "not_receiver"): ("peoples_mediator", "court"),
    }.get((row, "own" if where == "other_station" else where), ("peoples_mediator", "court"))
    return Situation(stations, channel, "handoff", HOLDER_OF[channel], to_channel)


def handoff_body(sit: Situation) -> dict:
    """To the court with its case number; a court case goes back to the station."""
    if sit.channel == "court":
        return {"to_channel": "station_officer", "reason": "退回派出所"}
    return {"to_channel": "court", "to_organisation": "示例市北城区人民法院", "court_case_number": "(2024)北01民诉前调1号"}


# --- the rules -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ask:
    """Everything the rules look at."""

    row: str
    subject: str | None
    role: str | None
    ep: Endpoint
    sit: Situation

    @property
    def in_station(self) -> bool:
        return self.sit.case_station in self.sit.actor_stations

    @property
    def sees_case(self) -> bool:
        """The case is in one of my stations and channels (issue 4 item 7)."""
        return self.in_station and self.sit.channel in SERVES.get(self.role, frozenset())

    @property
    def sees_target(self) -> bool:
        """A handoff is also visible to whoever is to receive it; a confirmation request goes to the court
        liaisons of the case's station (issue 13, item 1)."""
        receives = self.sit.to_channel in RECEIVES.get(self.role, frozenset())
        asked_to_confirm = self.sit.state == "confirmation_requested" and self.role == "court_liaison"
        return self.sees_case or (self.in_station and ((self.ep.on_handoff and receives) or asked_to_confirm))

    @property
    def is_holder(self) -> bool:
        return self.sit.holder is not None and self.sit.holder[0] == self.subject

    @property
    def relations(self) -> frozenset[Relation]:
        """How the actor stands to the case, in the permission table's words. In these cells whoever holds
        the case is the one who worked it; nobody else did."""
        if not self.in_station:
            return frozenset()
        found = {Relation.STATION}
        if self.is_holder:
            found |= {Relation.HOLDER, Relation.WORKER}
        if self.sees_case:
            found.add(Relation.CHANNEL)
        elif self.sees_target:
            found.add(Relation.RECEIVER)
        return frozenset(found)


def rule_authentication(a: Ask) -> int | None:
    """No bearer token: 401."""
    return 401 if a.role is None else None


def rule_mediation_roles(a: Ask) -> int | None:
    """Roles that are not mediation's (the CAD feed): 403 everywhere."""
    return 403 if a.role not in SERVES else None


def rule_unseen_target_is_404(a: Ask) -> int | None:
    """A case or handoff the caller may not see answers 404, whatever the role: never 403 or 200."""
    return 404 if a.ep.addresses and not a.sees_target else None


def rule_reads(a: Ask) -> int | None:
    """Every mediation role reads what it can see."""
    return 200 if not a.ep.writes else None


def rule_auditors_only_read(a: Ask) -> int | None:
    """Auditors never write."""
    return 403 if a.role == "auditor" else None


def rule_only_claimers_claim(a: Ask) -> int | None:
    """Mediators, lawyers and court liaisons claim and release; chiefs do not."""
    return 403 if a.ep.key in CLAIMING and a.role not in CLAIMERS else None


def rule_claim_next_only_from_my_queue(a: Ask) -> int | None:
    """claim-next takes only a case of my stations and channels; none there: 404 (empty queue)."""
    return 404 if a.ep.key == "claim_next" and not a.sees_case else None


def rule_claimed_case_conflicts(a: Ask) -> int | None:
    """Claiming a case someone else holds: 409 naming the holder."""
    return 409 if a.ep.key == "claim" and a.sit.holder is not None and not a.is_holder else None


def rule_the_permission_table(a: Ask) -> int | None:
    """Past sight and role, the work on a case is the permission table's (domain/permissions.py): only the holder
    works it, only a court liaison decides a confirmation, the holder or the chief withdraws, and a breach is
    reported by the holder, whoever worked the case or the chief, not by any colleague (issue 14)."""
    action = TABLE_ACTION.get(a.ep.key)
    if action is None or a.role is None:
        return None
    return None if allows(action, {a.role}, a.relations) else 403


def rule_receiver_answers_handoff(a: Ask) -> int | None:
    """Only the receiving side answers a handoff."""
    return 403 if a.ep.key == "answer" and a.sit.to_channel not in RECEIVES[a.role] else None


RULES: list[Callable[[Ask], int | None]] = [
    rule_authentication, rule_mediation_roles, rule_unseen_target_is_404, rule_reads, rule_auditors_only_read,
    rule_only_claimers_claim, rule_claim_next_only_from_my_queue, rule_claimed_case_conflicts,
    rule_the_permission_table, rule_receiver_answers_handoff,
]


@dataclass(frozen=True)
class Expected:
    status: int
    because: str
    listed: bool | None = None  # list endpoints: whether the target is in the answer


def expect(a: Ask) -> Expected:
    """The answer the rules give; success when none of them objects."""
    status, because = a.ep.success, "success"
    for rule in RULES:
        if (answer := rule(a)) is not None:
            status, because = answer, rule.__name__
            break
    listed = None
    if a.ep.key == "queue" and status == 200:
        listed = a.sees_case
    elif a.ep.key == "handoffs" and status == 200:
        listed = a.in_station and a.sit.to_channel in LISTS_HANDOFFS_TO[a.role]
    return Expected(status, because, listed)


# --- the cells -----------------------------------------------------------------------------------

def wheres(row: str, ep: Endpoint) -> list[str]:
    if row in CLAIMERS:
        places = ["own", "other_channel", "other_station"]
    else:
        places = ["own", "other_station"]
    if ep.key == "answer" and (row in CLAIMERS or row == "station_chief"):
        places.append("not_receiver")
    return places


def cells() -> list[tuple[str, str, str]]:
    out = []
    for ep in ENDPOINTS:
        for row in ACTORS:
            if row == "mediator_not_holder" and ep.key in ("queue", "claim_next", "handoffs", "answer"):
                continue  # not holding means nothing without a held case
            out.extend((row, ep.key, where) for where in wheres(row, ep))
    return out


# Cells where the code answers otherwise than the issue asks: (row, endpoint, where) -> reason.
_ROLE_BEFORE_SIGHT = ("queue._require_claimer runs before visible_case: a chief or auditor asking about another "
                      "station's case gets 403, not 404 (leaks nothing, but contradicts 'a case they may not see gets "
                      "404' and the 404 every other endpoint gives here)")
_ANSWER_NEVER_404 = ("casework.answer_handoff raises NotAllowed (403) for a handoff whose case the caller may not see "
                     "(another station, or neither the case's channel nor the handoff's target); the issue asks 404")
_ANSWER_BY_CHANNEL_SET = ("casework.answer_handoff takes 'receiving' from callers.channels_of(), which for chiefs and "
                          "auditors is every channel (access.ROLE_CHANNELS, meant for reading), so {who} accepts a "
                          "handoff to the court and becomes the case's holder in the court channel")
KNOWN_GAPS: dict[tuple[str, str, str], str] = {}


def params() -> list:
    return [pytest.param(row, key, where, id=f"{key}-{row}-{where}",
                         marks=[pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[row, key, where])]
                         if (row, key, where) in KNOWN_GAPS else [])
            for row, key, where in cells()]


# --- setting a cell up ---------------------------------------------------------------------------

def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, f"setup: {response.request.url} answered {response.text}"
    return response.json()


async def bring_to(client: httpx.AsyncClient, ident: Any, state: str) -> None:
    """Through the API, as the holder: pending -> claimed -> in_session -> agreement | failed -> ..."""
    if state == "pending":
        return
    _ok(await client.post(f"/v1/cases/{ident}/claim"))
    if state == "claimed":
        return
    _ok(await client.post(f"/v1/cases/{ident}/sessions", json=SESSION))
    if state == "in_session":
        return
    if state == "failed":
        _ok(await client.post(f"/v1/cases/{ident}/outcome", json={"type": "failure", "reason": "双方分歧大"}))
        return
    _ok(await client.post(f"/v1/cases/{ident}/outcome", json=AGREEMENT))
    if state == "confirmation_requested":
        _ok(await client.post(f"/v1/cases/{ident}/confirmation-request"))
    elif state == "closed":
        _ok(await client.post(f"/v1/cases/{ident}/close"))
    else:
        assert state == "agreement", state


async def set_up(api, open_cases, sit: Situation) -> tuple[Any, str | None]:
    """The case (and handoff) of the situation; returns the case id and the handoff id."""
    await open_cases([dispute_event("AZ1", dispute_type=DISPUTE_TYPE_FOR[sit.channel], station=sit.case_station)])
    ident = case_id("BJ-CAD", "AZ1")
    handoff_id = None
    if sit.holder is not None:
        subject, role = sit.holder
        holder = api(subject=subject, roles=(role,), stations=(sit.case_station,))
        await bring_to(holder, ident, "claimed" if sit.state == "handoff" else sit.state)
        if sit.state == "handoff":
            body = {"to_channel": sit.to_channel, "reason": "移交"}
            handoff_id = _ok(await holder.post(f"/v1/cases/{ident}/handoffs", json=body), 201)["handoff_id"]
    async with api.app.state.mediation.pool.acquire() as conn:
        channel = await conn.fetchval("SELECT channel FROM cases WHERE id = $1", ident)
    assert channel == sit.channel, f"setup: the case went to {channel}, the cell needs {sit.channel}"
    return ident, handoff_id


async def snapshot(pool, ident: Any) -> tuple[int, int]:
    """(last audit row id, the case's version)."""
    async with pool.acquire() as conn:
        last = await conn.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
        version = await conn.fetchval("SELECT version FROM cases WHERE id = $1", ident)
    return last, version


# --- the matrix ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("row", "key", "where"), params())
async def test_authorization_matrix(api, open_cases, row: str, key: str, where: str):
    ep = BY_KEY[key]
    subject, role = ACTORS[row]
    sit = situation(row, ep, where)
    want = expect(Ask(row, subject, role, ep, sit))
    ident, handoff_id = await set_up(api, open_cases, sit)
    pool = api.app.state.mediation.pool
    audit_before, version_before = await snapshot(pool, ident)

    path = ep.path.format(case=ident, handoff=handoff_id)
    body = handoff_body(sit) if key == "handoff" else ep.body
    if role is None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app),
                                     base_url="http://mediation") as anonymous:
            got = await anonymous.request(ep.method, path, json=body)
    else:
        client = api(subject=subject, roles=(role,), stations=sit.actor_stations)
        got = await client.request(ep.method, path, json=body)

    cell = f"{row} × {ep.method} {ep.path} × {where}"
    assert got.status_code == want.status, (
        f"{cell}: expected {want.status} ({want.because}), got {got.status_code}: {got.text[:400]}")

    if want.listed is not None:
        items = got.json()["items"]
        found = {i["case_id"] for i in items} if key == "handoffs" else {i["id"] for i in items}
        assert (str(ident) in found) is want.listed, f"{cell}: listed should be {want.listed}, got {items}"
        assert PHONE not in got.text, f"{cell}: a list shows the caller's phone"

    if got.status_code >= 400:
        assert PHONE not in got.text, f"{cell}: a refusal shows the caller's phone"
    if role not in NEEDS_PARTY_DATA:
        assert PHONE not in got.text, f"{cell}: {role} must never get the caller's phone"

    if key == "get_case" and got.status_code == 200:
        party = got.json()["party"]
        if role in NEEDS_PARTY_DATA:
            assert party and party["caller_phone"] == PHONE, f"{cell}: {role} needs the parties, got {party}"
        else:
            assert party is None and PHONE not in got.text, f"{cell}: {role} must not see party data"
            # Nor the names in the timeline's session participants and notes.
            assert not {p for p in SESSION["participants"] if p in got.text}, f"{cell}: {role} sees a party's name"

    if key == "claim" and got.status_code == 409:
        assert got.json()["detail"]["holder"] == sit.holder[0], f"{cell}: the 409 names the holder"

    if ep.writes and role is not None:
        await _check_audit(pool, cell, ep, subject, role, ident, got, audit_before, version_before)


async def _check_audit(pool, cell: str, ep: Endpoint, subject: str, role: str, ident: Any,
                       got: httpx.Response, audit_before: int, version_before: int) -> None:
    """A successful write: exactly one ok audit row with actor, roles, action, case and time.
    A refused write: no ok audit row, and the case untouched."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT actor, roles, action, case_id, outcome, at, now() - at AS age"
                                " FROM audit_log WHERE id > $1 ORDER BY id", audit_before)
        version_after = await conn.fetchval("SELECT version FROM cases WHERE id = $1", ident)
    if 200 <= got.status_code < 300:
        assert len(rows) == 1, f"{cell}: a write leaves exactly one audit row, found {[dict(r) for r in rows]}"
        audit = rows[0]
        assert (audit["actor"], audit["action"], audit["case_id"], audit["outcome"]) == (
            subject, ep.audit_action, ident, "ok"), f"{cell}: audit row {dict(audit)}"
        assert role in audit["roles"], f"{cell}: audit row roles {audit['roles']}"
        assert audit["at"] is not None and audit["age"].total_seconds() < 60, f"{cell}: audit time {audit['at']}"
        assert version_after > version_before, f"{cell}: a successful write changes the case"
    else:
        assert not [r for r in rows if r["outcome"] == "ok"], f"{cell}: a refused write audited as ok: {rows}"
        assert version_after == version_before, f"{cell}: a refused write changed the case"


def test_the_matrix_covers_every_role_endpoint_and_place():
    """The table is what it claims to be: every row × endpoint, own and other station."""
    made = set(cells())
    for ep in ENDPOINTS:
        for row in ACTORS:
            if row == "mediator_not_holder" and ep.key in ("queue", "claim_next", "handoffs", "answer"):
                continue
            assert {(row, ep.key, "own"), (row, ep.key, "other_station")} <= made
        for row in CLAIMERS:
            assert (row, ep.key, "other_channel") in made
    assert set(KNOWN_GAPS) <= made, "a known gap names a cell that is not in the matrix"
    # The rules are not vacuous: each decides at least one cell.
    deciding = {expect(Ask(r, ACTORS[r][0], ACTORS[r][1], BY_KEY[k], situation(r, BY_KEY[k], w))).because
                for r, k, w in made}
    assert {rule.__name__ for rule in RULES} <= deciding, {rule.__name__ for rule in RULES} - deciding

