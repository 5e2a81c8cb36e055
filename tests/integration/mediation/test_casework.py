"""Working cases through the API against real PostgreSQL: the lifecycle, handoffs, confirmation."""
import pytest

from services.mediation.events import case_id
from shared.events.mediation import CASE_TOPIC
from tests.integration.intake.helpers import read_topic
from tests.integration.mediation.conftest import dispute_event

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
AGREEMENT = {"type": "agreement", "terms": "楼上住户负责维修并赔偿2000元", "effective_date": "2024-05-02",
             "performance_date": "2024-05-20"}
SESSION = {"at": "2024-05-02T10:00:00+08:00", "participants": ["王小明", "李四"], "notes": "双方到场"}


async def claimed_case(api, open_cases, number: str, **event) -> tuple:
    await open_cases([dispute_event(number, **event)])
    ident = case_id("BJ-CAD", number)
    mediator = api(subject=f"m-{number}")
    assert (await mediator.post(f"/v1/cases/{ident}/claim")).status_code == 200
    return ident, mediator


async def test_station_to_court_to_judicial_confirmation(api, open_cases):
    ident, mediator = await claimed_case(api, open_cases, "CT1")
    assert (await mediator.post(f"/v1/cases/{ident}/sessions", json=SESSION)).json()["state"] == "in_session"
    sent = await mediator.post(f"/v1/cases/{ident}/handoffs", json={
        "to_channel": "court", "to_organisation": "示例市北城区人民法院", "court_case_number": "(2024)北01民诉前调123号"})
    assert sent.status_code == 201 and sent.json()["case"]["handoff_pending"]
    blocked = await mediator.post(f"/v1/cases/{ident}/sessions", json=SESSION)
    assert blocked.status_code == 409, "the sender cannot work the case while the handoff waits"

    court = api(subject="judge-liaison", roles=("court_liaison",))
    waiting = (await court.get("/v1/handoffs")).json()["items"]
    assert [h["case_id"] for h in waiting] == [str(ident)]
    taken = await court.post(f"/v1/handoffs/{waiting[0]['id']}/answer", json={"decision": "accept"})
    assert taken.status_code == 200 and taken.json()["channel"] == "court"
    assert taken.json()["claimed_by"] == "judge-liaison"

    assert (await court.post(f"/v1/cases/{ident}/sessions", json=SESSION)).status_code == 200
    agreed = await court.post(f"/v1/cases/{ident}/outcome", json=AGREEMENT)
    assert agreed.json()["state"] == "agreement"
    requested = await court.post(f"/v1/cases/{ident}/confirmation-request")
    assert requested.json()["confirmation_due"] == "2024-06-01"
    mediator_tries = await mediator.post(f"/v1/cases/{ident}/confirmation", json={"decision": "confirmed"})
    # The case left her channel, but she worked it: she sees it, and only the court decides confirmation.
    assert mediator_tries.status_code == 403 and mediator_tries.json()["detail"]["allowed_roles"] == ["court_liaison"]
    confirmed = await court.post(f"/v1/cases/{ident}/confirmation",
                                 json={"decision": "confirmed", "ruling_number": "(2024)北01民特45号"})
    assert confirmed.json()["state"] == "confirmed"
    closed = await court.post(f"/v1/cases/{ident}/close")
    case = (await court.get(f"/v1/cases/{ident}")).json()
    assert closed.json()["state"] == case["state"] == "closed"
    # One chain from the 110 incident to the court's decision.
    assert (case["incident_number"], case["court_case_number"], case["ruling_number"]) == (
        "CT1", "(2024)北01民诉前调123号", "(2024)北01民特45号")
    timeline = [e["action"] for e in case["timeline"]]
    assert timeline == ["created", "claim", "record_session", "handoff_requested", "handoff_accepted",
                        "record_session", "reach_agreement", "request_confirmation", "confirm", "close"]


async def test_illegal_steps_answer_409_with_what_is_allowed_and_stale_writes_412(api, open_cases):
    ident, mediator = await claimed_case(api, open_cases, "IL1")
    early = await mediator.post(f"/v1/cases/{ident}/outcome", json=AGREEMENT, headers={"Accept-Language": "en"})
    assert early.status_code == 409
    detail = early.json()["detail"]
    # The endpoints she may call now, by their names, and where the refused one would be allowed.
    assert detail["allowed_actions"] == ["release", "sessions", "withdraw", "handoffs"]
    assert set(detail["allowed_next_states"]) == {"pending", "in_session", "withdrawn"}
    assert detail["allowed_in_states"] == ["in_session"]
    zh = (await mediator.post(f"/v1/cases/{ident}/outcome", json=AGREEMENT)).json()["detail"]
    assert zh["message"] == ("不能对“已认领”的案件执行“记录调解结果”；该操作需案件处于：调解中；"
                             "当前可执行：释放认领、记录调解、撤回、移交")
    version = (await mediator.get(f"/v1/cases/{ident}")).json()["version"]
    stale = await mediator.post(f"/v1/cases/{ident}/sessions", json=SESSION, headers={"If-Match": f'"{version - 1}"'})
    assert stale.status_code == 412 and stale.json()["detail"]["version"] == version
    fresh = await mediator.post(f"/v1/cases/{ident}/sessions", json=SESSION, headers={"If-Match": f'"{version}"'})
    assert fresh.status_code == 200 and fresh.headers["ETag"] == f'"{version + 1}"'


async def test_failure_referral_and_a_breach_that_reopens(api, open_cases):
    failed, mediator = await claimed_case(api, open_cases, "F1")
    await mediator.post(f"/v1/cases/{failed}/sessions", json=SESSION)
    assert (await mediator.post(f"/v1/cases/{failed}/outcome", json={"type": "failure"})).status_code == 422
    assert (await mediator.post(f"/v1/cases/{failed}/outcome",
                                json={"type": "failure", "reason": "双方分歧大"})).json()["state"] == "failed"
    assert (await mediator.post(f"/v1/cases/{failed}/refer", json={"to": "人民法院诉讼"})).json()["state"] == "referred"
    assert (await mediator.post(f"/v1/cases/{failed}/close")).json()["state"] == "closed"
    assert (await mediator.post(f"/v1/cases/{failed}/breach")).status_code == 409, "no agreement to breach"

    agreed, holder = await claimed_case(api, open_cases, "B1")
    await holder.post(f"/v1/cases/{agreed}/sessions", json=SESSION)
    await holder.post(f"/v1/cases/{agreed}/outcome", json=AGREEMENT)
    await holder.post(f"/v1/cases/{agreed}/close")
    reopened = await holder.post(f"/v1/cases/{agreed}/breach", json={"reason": "未按期赔偿"})
    assert reopened.json()["state"] == "pending" and reopened.json()["claimed_by"] is None


async def test_only_the_holder_works_and_the_chief_may_withdraw(api, open_cases):
    ident, _ = await claimed_case(api, open_cases, "W1")
    colleague = api(subject="colleague")
    assert (await colleague.post(f"/v1/cases/{ident}/sessions", json=SESSION)).status_code == 403
    chief = api(subject="chief", roles=("station_chief",))
    assert (await chief.post(f"/v1/cases/{ident}/withdraw", json={"reason": "当事人撤回"})).json()["state"] == "withdrawn"


async def test_an_auditor_reads_the_timeline_without_names_or_notes_and_events_carry_none(api, open_cases,
                                                                                           mediation_ctx):
    ident, mediator = await claimed_case(api, open_cases, "PI1")
    await mediator.post(f"/v1/cases/{ident}/sessions", json=SESSION)
    await mediator.post(f"/v1/cases/{ident}/outcome", json={"type": "failure", "reason": "王小明拒绝调解"})
    auditor = (await api(subject="a1", roles=("auditor",)).get(f"/v1/cases/{ident}")).json()
    chief_client = api(subject="c1", roles=("station_chief",))
    masked = (await chief_client.get(f"/v1/cases/{ident}")).json()
    chief = (await chief_client.get(f"/v1/cases/{ident}", params={"purpose": "督办"})).json()
    session = {e["action"]: e["details"] for e in auditor["timeline"]}["record_session"]
    assert session == {"at": SESSION["at"], "participants": 2}, "a count and a time, not who came"
    assert "王小明" not in str(auditor["timeline"]) and "双方到场" not in str(auditor["timeline"])
    assert "王小明" not in str(masked["timeline"]), "a chief who gives no purpose sees what an auditor sees"
    assert "王小明" in str(chief["timeline"]), "the chief, who supervises casework, sees the names with a purpose"
    topic = mediation_ctx.settings.topic(CASE_TOPIC)
    events = await read_topic(mediation_ctx.settings.kafka_bootstrap_servers, topic, expected=3, timeout=10)
    session_event = [e for e in events if e.type == "case.session_recorded"]
    assert session_event and session_event[0].data["details"] == {"at": SESSION["at"], "participants": 2}
    assert all("王小明" not in e.to_bytes().decode() for e in events), "mediation.case.v1 carries no names"
