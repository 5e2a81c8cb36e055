"""The audit trail (issue 14, item 3): append-only in the database, refused attempts and reads of party data
on record with the purpose, never the personal data itself, and queried by auditors through the API."""
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from services.mediation.events import case_id
from tests.integration.mediation.conftest import STATION, dispute_event

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

OTHER_STATION = "990102002"
PHONE = "13812345678"  # dispute_event's caller_phone


async def _rows(pool, ident=None) -> list[dict]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM audit_log WHERE $1::uuid IS NULL OR case_id = $1 ORDER BY id", ident)
    return [dict(r) for r in rows]


async def test_audit_rows_cannot_be_changed_deleted_or_truncated(api, open_cases, mediation_ctx):
    await open_cases([dispute_event("AU1")])
    ident = case_id("BJ-CAD", "AU1")
    assert (await api(subject="m1").post(f"/v1/cases/{ident}/claim")).status_code == 200
    async with mediation_ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE case_id = $1", ident) == 1
        for statement in ("UPDATE audit_log SET actor = 'someone-else'", "DELETE FROM audit_log",
                          "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT actor FROM audit_log WHERE case_id = $1", ident) == "m1"


async def test_a_refused_cross_station_read_and_an_anonymous_attempt_leave_rows(api, open_cases, mediation_ctx):
    await open_cases([dispute_event("AU2")])
    ident = case_id("BJ-CAD", "AU2")
    stranger = api(subject="m-other", stations=(OTHER_STATION,))
    refused = await stranger.get(f"/v1/cases/{ident}")
    assert refused.status_code == 404 and PHONE not in refused.text
    breach = await api(subject="colleague").post(f"/v1/cases/{ident}/breach", json={"reason": "x"})
    assert breach.status_code == 403  # sees the case, but never worked it (domain/permissions.py)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://mediation") as anon:
        assert (await anon.get(f"/v1/cases/{ident}")).status_code == 401

    rows = [r for r in await _rows(mediation_ctx.pool, ident) if r["outcome"] == "refused"]
    assert [(r["actor"], r["details"]["status"], r["stations"]) for r in rows] == [
        ("m-other", 404, [OTHER_STATION]), ("colleague", 403, [STATION]), ("-", 401, [])]
    assert all(r["at"] > datetime.now(UTC) - timedelta(minutes=1) for r in rows)


async def test_a_chief_sees_parties_only_with_a_purpose_and_the_read_is_audited_with_it(api, open_cases,
                                                                                        mediation_ctx):
    await open_cases([dispute_event("AU3")])
    ident = case_id("BJ-CAD", "AU3")
    chief = api(subject="chief", roles=("station_chief",))
    masked = await chief.get(f"/v1/cases/{ident}")
    assert masked.status_code == 200 and masked.json()["parties"] is None and masked.json()["party"] is None
    assert PHONE not in masked.text and "王小明" not in masked.text
    assert not [r for r in await _rows(mediation_ctx.pool, ident) if r["action"] == "read"], "nothing personal shown"

    opened = await chief.get(f"/v1/cases/{ident}", params={"purpose": "复核群众投诉"})
    assert opened.json()["parties"][0]["phone"] == PHONE and opened.json()["party"]["caller_phone"] == PHONE
    mediator = await api(subject="m1").get(f"/v1/cases/{ident}")
    assert mediator.json()["parties"][0]["phone"] == PHONE, "who works the channel needs no purpose"

    reads = [r for r in await _rows(mediation_ctx.pool, ident) if r["action"] == "read"]
    assert [(r["actor"], r["purpose"], r["outcome"]) for r in reads] == [("chief", "复核群众投诉", "ok"),
                                                                         ("m1", None, "ok")]
    everything = str(await _rows(mediation_ctx.pool))
    assert PHONE not in everything and "王小明" not in everything, "the audit trail holds no personal data"


async def test_only_the_one_who_stood_behind_an_agreement_reports_its_breach(api, open_cases):
    await open_cases([dispute_event("AU4")])
    ident = case_id("BJ-CAD", "AU4")
    holder = api(subject="m1")
    for step, body in (("claim", None), ("sessions", {"at": "2024-05-02T10:00:00+08:00", "participants": ["甲"]}),
                       ("outcome", {"type": "agreement", "terms": "赔偿", "effective_date": "2024-05-02",
                                    "performance_date": "2024-05-20"}), ("close", None)):
        assert (await holder.post(f"/v1/cases/{ident}/{step}", json=body)).status_code == 200, step
    colleague = await api(subject="colleague").post(f"/v1/cases/{ident}/breach", json={"reason": "未履行"})
    assert colleague.status_code == 403 and colleague.json()["detail"]["code"] == "breach_roles"
    assert (await holder.post(f"/v1/cases/{ident}/breach", json={"reason": "未履行"})).json()["state"] == "pending"


async def test_auditors_query_the_trail_by_case_subject_and_time_and_page_through_it(api, open_cases):
    await open_cases([dispute_event(f"AQ{i}") for i in range(3)] + [dispute_event("AQX", station=OTHER_STATION)])
    idents = [case_id("BJ-CAD", f"AQ{i}") for i in range(3)]
    started = datetime.now(UTC) - timedelta(seconds=1)
    for i, ident in enumerate(idents):
        assert (await api(subject=f"m{i % 2}").post(f"/v1/cases/{ident}/claim")).status_code == 200
    other = case_id("BJ-CAD", "AQX")
    assert (await api(subject="m-x", stations=(OTHER_STATION,)).post(f"/v1/cases/{other}/claim")).status_code == 200
    auditor = api(subject="a1", roles=("auditor",))

    by_case = (await auditor.get("/v1/audit", params={"case_id": str(idents[1])})).json()
    assert [(e["actor"], e["action"], e["case_id"]) for e in by_case["items"]] == [("m1", "claim", str(idents[1]))]
    by_subject = (await auditor.get("/v1/audit", params={"subject": "m0"})).json()["items"]
    assert {e["case_id"] for e in by_subject} == {str(idents[0]), str(idents[2])}
    assert str(other) not in str((await auditor.get("/v1/audit")).json()), "another station's trail"
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await auditor.get("/v1/audit", params={"from": later})).json()["items"] == []
    window = (await auditor.get("/v1/audit", params={"from": started.isoformat(), "to": later})).json()["items"]
    assert len(window) == 3

    pages, cursor = [], None
    while True:
        page = (await auditor.get("/v1/audit", params={"limit": 2} | ({"cursor": cursor} if cursor else {}))).json()
        pages.append([e["id"] for e in page["items"]])
        if not (cursor := page["next_cursor"]):
            break
    flat = [i for page in pages for i in page]
    assert flat == sorted(flat) and len(flat) == len(set(flat)) == 3 and len(pages) == 2

    refused = await api(subject="chief", roles=("station_chief",)).get("/v1/audit")
    assert refused.status_code == 403 and refused.json()["detail"]["allowed_roles"] == ["auditor"]
    bad = await auditor.get("/v1/audit", params={"cursor": "zz"})
    assert bad.status_code == 422 and bad.json()["detail"]["code"] == "bad_cursor"
