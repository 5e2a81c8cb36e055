"""The paths a mediator walks every day, as requests (issue 13): one case from the 110 call to the court's
ruling, a handoff to a lawyer rejected then accepted, a breach; and five common mistakes.

Each path counts its requests and asserts every one of them succeeds for the person who makes it: no
404 or 403 dead end, nothing to guess. The counts are printed (`-s`); docs/mediation.md lists them
before and after issue 13.
"""
import json
from dataclasses import dataclass, field

import httpx
import pytest

from services.intake.api import create_app as create_intake_app
from services.intake.settings import IntakeSettings
from shared.auth import issue_token
from shared.db.migrations import migrate
from shared.events.intake import DISPUTE_TOPIC
from tests.integration.intake.helpers import read_topic, record
from tests.integration.mediation.conftest import STATION, dispute_event, many_cases

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
SESSION = {"at": "2024-06-02T10:00:00+08:00", "participants": ["王小明", "李四"], "notes": "双方到场"}
AGREEMENT = {"type": "agreement", "terms": "楼上住户负责维修并赔偿2000元", "effective_date": "2024-06-02",
             "performance_date": "2024-06-20"}
RESPONDENT = {"role": "respondent", "name": "李四", "phone": "139 0000 1111"}
RULING = "(2024)北01民特45号"


@dataclass
class Walk:
    """Every request of one path: who made it, what, and the answer's status."""

    name: str
    steps: list[tuple[str, str, str, int]] = field(default_factory=list)

    def person(self, who: str, client: httpx.AsyncClient) -> "Person":
        return Person(self, who, client)

    def dead_ends(self) -> list[tuple[str, str, str, int]]:
        return [s for s in self.steps if s[3] >= 400]

    def report(self) -> str:
        lines = [f"{self.name}: {len(self.steps)} requests, {len(self.dead_ends())} dead ends"]
        lines += [f"  {who:9} {method:4} {path} -> {status}" for who, method, path, status in self.steps]
        return "\n".join(lines)


@dataclass
class Person:
    walk: Walk
    who: str
    client: httpx.AsyncClient

    async def ask(self, method: str, path: str, **kwargs) -> dict:
        answer = await self.client.request(method, path, **kwargs)
        self.walk.steps.append((self.who, method, path.split("?")[0], answer.status_code))
        assert answer.status_code < 400, f"{self.walk.name}: dead end for {self.who}: {method} {path}: {answer.text}"
        return answer.json()


@pytest.fixture
async def intake(mediation_settings, kafka_bootstrap):
    """Intake's API on the test's database and topics (its tables do not meet mediation's)."""
    settings = IntakeSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=mediation_settings.database_url,
                              topic_prefix=mediation_settings.topic_prefix, environment="test")
    await migrate(settings.database_url, "services.intake")
    app = create_intake_app(settings)
    token = issue_token(settings.jwt_secret.get_secret_value(), subject="cad", roles=["feed"])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake",
            headers={"Authorization": f"Bearer {token}"}) as client:
        yield settings, client


async def test_from_the_110_call_to_the_courts_ruling(api, open_cases, intake, kafka_bootstrap):
    intake_settings, feed_client = intake
    await open_cases(many_cases(160))  # a busy station: the new case is not on the queue's first pages
    walk = Walk("intake to the court's ruling")
    feed = walk.person("feed", feed_client)
    mediator = walk.person("mediator", api(subject="m1"))
    court = walk.person("court", api(subject="c1", roles=("court_liaison",)))

    accepted = await feed.ask("POST", "/v1/dispatch-records", content=json.dumps(record("BJ20240601001")))
    disputes = await read_topic(kafka_bootstrap, intake_settings.topic(DISPUTE_TOPIC), expected=1)
    await open_cases(disputes)  # mediation's consumer, as it runs in production

    found = await mediator.ask("GET", f"/v1/cases?incident_id={accepted['incident_id']}")
    [case] = found["items"]
    assert case["allowed_actions"] == ["claim"] and case["received_at"].endswith("+08:00")
    assert case["parties"][0] | {"phone": None} == {"position": 0, "role": "applicant", "name": "王小明",
                                                    "phone": None, "id_number": None}
    path = f"/v1/cases/{case['id']}"
    await mediator.ask("POST", f"{path}/claim")
    await mediator.ask("POST", f"{path}/sessions", json=SESSION)
    with_party = await mediator.ask("POST", f"{path}/parties", json=RESPONDENT)
    assert [p["role"] for p in with_party["parties"]] == ["applicant", "respondent"]
    await mediator.ask("POST", f"{path}/outcome", json=AGREEMENT)
    requested = await mediator.ask("POST", f"{path}/confirmation-request")
    assert requested["last_handoff"]["purpose"] == "confirmation" and requested["claimed_by"] == "m1"

    waiting = await court.ask("GET", "/v1/handoffs")
    [request] = [h for h in waiting["items"] if h["case_id"] == case["id"]]
    assert request["purpose"] == "confirmation"
    read = await court.ask("GET", path)
    assert read["agreement"]["performance_date"] == "2024-06-20" and read["allowed_actions"] == ["confirmation"]
    await court.ask("POST", f"{path}/confirmation", json={"decision": "confirmed", "ruling_number": RULING})

    mine = await mediator.ask("GET", "/v1/cases?mine=true&state=confirmed")
    [told] = mine["items"]
    assert (told["ruling_number"], told["last_handoff"]["state"]) == (RULING, "accepted")
    closed = await mediator.ask("POST", f"{path}/close")
    assert closed["state"] == "closed" and closed["allowed_actions"] == ["breach"]

    by_phone = await mediator.ask("GET", "/v1/cases?phone=13900001111")
    assert [c["id"] for c in by_phone["items"]] == [case["id"]], "found by the respondent's phone, by HMAC"
    print("\n" + walk.report())
    assert not walk.dead_ends() and len(walk.steps) == 13


async def test_a_handoff_to_a_lawyer_rejected_then_accepted(api, open_cases):
    await open_cases([dispute_event("L1")])
    walk = Walk("handoff to a lawyer, rejected then accepted")
    mediator = walk.person("mediator", api(subject="m2"))
    lawyer = walk.person("lawyer", api(subject="l1", roles=("lawyer",)))

    [case] = (await mediator.ask("GET", "/v1/cases?incident_number=L1"))["items"]
    path = f"/v1/cases/{case['id']}"
    await mediator.ask("POST", f"{path}/claim")
    await mediator.ask("POST", f"{path}/sessions", json=SESSION)
    await mediator.ask("POST", f"{path}/handoffs", json={"to_channel": "lawyer", "reason": "涉及赔偿金额计算"})
    [offer] = (await lawyer.ask("GET", "/v1/handoffs"))["items"]
    assert (await lawyer.ask("GET", path))["last_handoff"]["to_channel"] == "lawyer", "reads before deciding"
    await lawyer.ask("POST", f"/v1/handoffs/{offer['id']}/answer", json={"decision": "reject", "reason": "材料不全"})

    sent = (await mediator.ask("GET", "/v1/handoffs"))["sent"]
    assert (sent[0]["state"], sent[0]["reason"]) == ("rejected", "材料不全"), "the sender is told, with the reason"
    await mediator.ask("POST", f"{path}/handoffs", json={"to_channel": "lawyer", "reason": "已补充维修报价单"})
    [offer] = (await lawyer.ask("GET", "/v1/handoffs"))["items"]
    taken = await lawyer.ask("POST", f"/v1/handoffs/{offer['id']}/answer", json={"decision": "accept"})
    assert (taken["channel"], taken["claimed_by"]) == ("lawyer", "l1")

    still = await mediator.ask("GET", path)
    assert still["claimed_by"] == "l1" and still["allowed_actions"] == [], "she follows the case she handed on"
    print("\n" + walk.report())
    assert not walk.dead_ends() and len(walk.steps) == 12


async def test_a_breach_goes_to_the_station_chief_also_from_whoever_handed_the_case_on(api, open_cases):
    await open_cases([dispute_event("B1")])
    walk = Walk("breach")
    mediator = walk.person("mediator", api(subject="m3"))
    court = walk.person("court", api(subject="c3", roles=("court_liaison",)))
    chief = walk.person("chief", api(subject="chief", roles=("station_chief",)))

    [case] = (await mediator.ask("GET", "/v1/cases?incident_number=B1"))["items"]
    path = f"/v1/cases/{case['id']}"
    await mediator.ask("POST", f"{path}/claim")
    await mediator.ask("POST", f"{path}/sessions", json=SESSION)
    await mediator.ask("POST", f"{path}/handoffs", json={"to_channel": "court", "court_case_number": "(2024)北01民诉前调9号"})
    [offer] = (await court.ask("GET", "/v1/handoffs"))["items"]
    await court.ask("POST", f"/v1/handoffs/{offer['id']}/answer", json={"decision": "accept"})
    await court.ask("POST", f"{path}/outcome", json=AGREEMENT)
    await court.ask("POST", f"{path}/close")

    reported = await mediator.ask("POST", f"{path}/breach", json={"reason": "对方未按期赔偿"})
    assert (reported["state"], reported["escalated"], reported["escalations"]) == ("pending", True, ["breach"])
    listed = await chief.ask("GET", "/v1/cases?escalated=true")
    assert [c["id"] for c in listed["items"]] == [case["id"]]
    print("\n" + walk.report())
    assert not walk.dead_ends() and len(walk.steps) == 10


async def test_five_common_mistakes_answer_in_one_shape_in_chinese_and_say_what_would_do(api, open_cases):
    await open_cases([dispute_event("E1")])
    mediator, auditor = api(subject="m4"), api(subject="a1", roles=("auditor",))
    [case] = (await mediator.get("/v1/cases?incident_number=E1")).json()["items"]
    path = f"/v1/cases/{case['id']}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://m") as anonymous:
        no_token = await anonymous.get(path)
    wrong_role = await auditor.post(f"{path}/claim")
    await mediator.post(f"{path}/claim")
    naive_time = await mediator.post(f"{path}/sessions", json=SESSION | {"at": "2024-06-02T10:00:00"})
    too_early = await mediator.post(f"{path}/outcome", json=AGREEMENT)
    await mediator.post(f"{path}/sessions", json=SESSION)
    no_performance = await mediator.post(f"{path}/outcome", json={k: v for k, v in AGREEMENT.items()
                                                                  if k != "performance_date"})
    answers = {"401": no_token, "403": wrong_role, "422 time": naive_time, "409": too_early,
               "422 agreement": no_performance}
    for name, answer in answers.items():
        detail = answer.json()["detail"]
        assert set(detail) >= {"code", "message"}, name
        assert any("\u4e00" <= ch <= "\u9fff" for ch in detail["message"]), f"{name}: Chinese by default"
    assert (no_token.status_code, wrong_role.status_code, too_early.status_code) == (401, 403, 409)
    assert wrong_role.json()["detail"]["allowed_roles"] == ["court_liaison", "lawyer", "mediator"]
    assert [e["loc"] for e in naive_time.json()["detail"]["errors"]] == [["body", "at"]]
    assert [e["loc"] for e in no_performance.json()["detail"]["errors"]] == [["body", "agreement", "performance_date"]]
    assert too_early.json()["detail"]["allowed_actions"] == ["release", "sessions", "withdraw", "handoffs"]
    assert too_early.json()["detail"]["allowed_in_states"] == ["in_session"]
    english = await mediator.post(f"{path}/claim", headers={"Accept-Language": "en"})
    assert english.json()["detail"]["message"] == "the case is in_session, held by m4: it cannot be claimed"
    assert STATION in case["station_code"]
