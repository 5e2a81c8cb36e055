"""Mediation's personal-data retention against real PostgreSQL: past it, a finished case keeps no name,
phone, ID number or free text anywhere in the database, every non-personal column is unchanged, the
case is still found by a party's phone (HMAC), open or recent cases keep everything, and no event is
written (the figures come from events only)."""
from datetime import UTC, datetime, timedelta

import pytest

from services.mediation import retention
from services.mediation.events import case_id
from tests.integration.mediation.conftest import dispute_event
from tests.integration.mediation.test_casework import AGREEMENT, SESSION

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
RESPONDENT = {"role": "respondent", "name": "李四", "phone": "13900001111", "id_number": "110101199001011234"}
# A year on, no month of the audit trail is past its retention (36 months): the purge drops none.
NO_AUDIT_MONTHS = {"audit_log_months": 0, "audit_log_rows": 0}
PERSONAL = ["王小明", "13812345678", "李四", "13900001111", "110101199001011234", "楼上漏水", "赔偿2000元",
            "双方到场", "拒绝调解"]
CASE_COLUMNS = """id, source, incident_number, revision, station_code, grid_code, officer_id, channel, state,
    dispute_type, risk_flags, high_risk, address_key, phone_hmac, received_at, claim_due_at, claimed_by, claimed_at,
    sessions, had_agreement, handoff_pending, escalated, version, created_at, updated_at, agreement - 'terms' AS agreement,
    confirmation_due, court_case_number, ruling_number, escalations, needs_review, worked_by,
    last_handoff - 'reason' AS last_handoff, incident_id"""


async def snapshot(conn) -> dict[str, list[tuple]]:
    return {
        "cases": [tuple(r) for r in await conn.fetch(f"SELECT {CASE_COLUMNS} FROM cases ORDER BY id")],
        "parties": [tuple(r) for r in await conn.fetch(
            "SELECT case_id, position, role, phone_hmac, updated_by, updated_at FROM case_parties ORDER BY 1, 2")],
        "timeline": [tuple(r) for r in await conn.fetch(
            "SELECT id, case_id, at, actor, action, from_state, to_state, "
            "details - '{participants,notes,reason}'::text[] FROM case_timeline ORDER BY id")],
        "handoffs": [tuple(r) for r in await conn.fetch(
            "SELECT id, case_id, purpose, from_channel, to_channel, state, requested_by, decided_by FROM handoffs")],
    }


async def everything_of(conn, ident) -> str:
    """Every row of the case in every table, as text."""
    parts = [await conn.fetchval("SELECT row_to_json(c)::text FROM cases c WHERE id = $1", ident)]
    for table in ("case_parties", "case_timeline", "handoffs"):
        parts += [r[0] for r in await conn.fetch(f"SELECT row_to_json(t)::text FROM {table} t WHERE case_id = $1",
                                                 ident)]
    return "\n".join(parts)  # row_to_json writes Chinese as it is


async def test_party_data_of_closed_cases_is_erased_past_retention_and_nothing_else_changes(api, open_cases,
                                                                                            mediation_ctx):
    await open_cases([dispute_event(n) for n in ("P1", "P2", "P3")])
    agreed, failed, still_open = (case_id("BJ-CAD", n) for n in ("P1", "P2", "P3"))
    mediator = api(subject="m-p")
    for ident in (agreed, failed, still_open):
        assert (await mediator.post(f"/v1/cases/{ident}/claim")).status_code == 200
        assert (await mediator.post(f"/v1/cases/{ident}/sessions", json=SESSION)).status_code == 200
        assert (await mediator.post(f"/v1/cases/{ident}/parties", json=RESPONDENT)).status_code == 201
    assert (await mediator.post(f"/v1/cases/{agreed}/outcome", json=AGREEMENT)).json()["state"] == "agreement"
    assert (await mediator.post(f"/v1/cases/{agreed}/close")).json()["state"] == "closed"
    assert (await mediator.post(f"/v1/cases/{failed}/outcome",
                                json={"type": "failure", "reason": "王小明拒绝调解"})).json()["state"] == "failed"
    assert (await mediator.post(f"/v1/cases/{failed}/close")).json()["state"] == "closed"

    async with mediation_ctx.pool.acquire() as conn:
        before = await snapshot(conn)
        # Rows ever written to the outbox: the relay deletes the ones it sent, so a count would race it.
        outbox = await conn.fetchval("SELECT last_value FROM outbox_id_seq")
        for name in PERSONAL[:5]:
            assert name in await everything_of(conn, agreed), name
        settings = mediation_ctx.settings
        inside = datetime.now(UTC) + timedelta(days=settings.closed_case_retention_days - 1)
        past = datetime.now(UTC) + timedelta(days=settings.closed_case_retention_days + 1)
        async with conn.transaction():
            assert await retention.purge(conn, settings, inside, dry_run=False) == {"closed_case_parties": 0} | NO_AUDIT_MONTHS
        async with conn.transaction():
            assert await retention.purge(conn, settings, past, dry_run=True) == {"closed_case_parties": 2} | NO_AUDIT_MONTHS
        assert await snapshot(conn) == before and "李四" in await everything_of(conn, failed)  # dry: nothing changed
        async with conn.transaction():
            assert await retention.purge(conn, settings, past, dry_run=False) == {"closed_case_parties": 2} | NO_AUDIT_MONTHS
        after = await snapshot(conn)
        erased = {ident: await everything_of(conn, ident) for ident in (agreed, failed)}
        kept = await everything_of(conn, still_open)
        assert await conn.fetchval("SELECT last_value FROM outbox_id_seq") == outbox
        async with conn.transaction():
            assert await retention.purge(conn, settings, past, dry_run=False) == {"closed_case_parties": 0} | NO_AUDIT_MONTHS

    assert after == before
    for ident, text in erased.items():
        for personal in PERSONAL:
            assert personal not in text, (ident, personal)
    for personal in ("王小明", "13812345678", "李四", "13900001111", "双方到场"):
        assert personal in kept, personal  # the open case keeps its parties
    # The HMACs stay: the closed cases are still found by the respondent's phone, without their names.
    found = await api(subject="chief", roles=("station_chief",)).get("/v1/cases", params={"phone": "13900001111"})
    assert {item["id"] for item in found.json()["items"]} == {str(agreed), str(failed), str(still_open)}
    shown = (await mediator.get(f"/v1/cases/{agreed}")).json()
    assert [(p["role"], p["name"], p["phone"]) for p in shown["parties"]] == [("applicant", None, None),
                                                                            ("respondent", None, None)]
