"""The claim queue against real PostgreSQL: one winner per case, claim-next without doubles."""
import asyncio
from collections import Counter
from datetime import UTC, datetime

import orjson
import pytest

from services.mediation import queue
from services.mediation.events import case_event, case_id
from shared.auth import Principal
from tests.integration.mediation.conftest import STATION, dispute_event, many_cases

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_fifty_concurrent_claimers_give_exactly_one_winner(api, open_cases):
    await open_cases([dispute_event("C1")])
    ident = case_id("BJ-CAD", "C1")
    claimers = [api(subject=f"m{i}") for i in range(50)]
    answers = await asyncio.gather(*(c.post(f"/v1/cases/{ident}/claim") for c in claimers))
    codes = Counter(a.status_code for a in answers)
    assert codes == {200: 1, 409: 49}, codes
    winner = next(a.json()["claimed_by"] for a in answers if a.status_code == 200)
    losers = [a.json()["detail"] for a in answers if a.status_code == 409]
    assert all(d["holder"] == winner and d["state"] == "claimed" for d in losers)
    assert all(winner in d["message"] and "已认领" in d["message"] for d in losers)  # Chinese by default
    assert losers[0]["allowed_actions"] == [], "a rival may do nothing to a case someone else holds"
    assert losers[0]["holder"] == winner and losers[0]["allowed_in_states"] == ["pending"]


async def test_claim_next_with_twenty_workers_claims_each_of_a_thousand_cases_once(api, open_cases, mediation_ctx):
    await open_cases(many_cases(1000))
    claimed: list[str] = []

    async def worker(n: int) -> None:
        client = api(subject=f"w{n}")
        while True:
            answer = await client.post("/v1/queue/claim-next")
            if answer.status_code == 404:
                return
            assert answer.status_code == 200, answer.text
            claimed.append(answer.json()["id"])

    await asyncio.gather(*(worker(n) for n in range(20)))
    assert len(claimed) == len(set(claimed)) == 1000
    async with mediation_ctx.pool.acquire() as conn:
        states = dict(await conn.fetch("SELECT state, count(*) FROM cases GROUP BY 1"))
        holders = await conn.fetchval("SELECT count(DISTINCT claimed_by) FROM cases")
    assert states == {"claimed": 1000} and holders > 1


async def test_queue_is_high_risk_first_then_oldest_and_paginates(api, open_cases):
    events = many_cases(7)
    newest = datetime.fromisoformat(events[-1].data["received_at"])
    events.append(dispute_event("HR", risk_flags=["threat"], received_at=newest))
    await open_cases(events)
    client = api()
    first = (await client.get("/v1/queue", params={"limit": 5})).json()
    second = (await client.get("/v1/queue", params={"limit": 5, "cursor": first["next_cursor"]})).json()
    numbers = [c["incident_number"] for c in first["items"] + second["items"]]
    assert numbers == ["HR", "N00000", "N00001", "N00002", "N00003", "N00004", "N00005", "N00006"]
    assert second["next_cursor"] is None
    assert first["items"][0]["high_risk"] and first["items"][0]["channel"] == "station_officer"
    assert all(item["party"] is None for item in first["items"])


async def test_release_returns_the_case_to_the_queue_and_only_the_holder_may(api, open_cases):
    await open_cases([dispute_event("R1")])
    ident = case_id("BJ-CAD", "R1")
    holder, other = api(subject="holder"), api(subject="other")
    assert (await holder.post(f"/v1/cases/{ident}/claim")).status_code == 200
    refused = await other.post(f"/v1/cases/{ident}/release", headers={"Accept-Language": "en"})
    assert refused.status_code == 403, "only the holder releases"
    released = await holder.post(f"/v1/cases/{ident}/release")
    assert released.status_code == 200 and released.json()["state"] == "pending"
    case = (await holder.get(f"/v1/cases/{ident}")).json()
    assert [e["action"] for e in case["timeline"]] == ["created", "claim", "release"]
    assert case["party"]["caller_phone"] == "13812345678"  # mediators see the parties


async def test_roles_and_stations_decide_what_can_be_seen_and_done(api, open_cases):
    await open_cases([dispute_event("A1")])
    ident = case_id("BJ-CAD", "A1")
    auditor = api(subject="a", roles=("auditor",))
    elsewhere = api(subject="x", stations=("990102002",))
    lawyer = api(subject="l", roles=("lawyer",))  # a neighbour dispute goes to the people's mediator
    assert (await auditor.post(f"/v1/cases/{ident}/claim")).status_code == 403
    seen_by_auditor = (await auditor.get(f"/v1/cases/{ident}")).json()
    assert seen_by_auditor["party"] is None
    assert (await elsewhere.get(f"/v1/cases/{ident}")).status_code == 404
    assert (await elsewhere.post(f"/v1/cases/{ident}/claim")).status_code == 404
    assert (await lawyer.post(f"/v1/cases/{ident}/claim")).status_code == 404
    feed = api(subject="cad", roles=("feed",))
    assert (await feed.get("/v1/queue")).status_code == 403


async def test_claim_next_writes_in_its_one_statement_what_a_claim_writes(mediation_ctx, open_cases):
    """repository.CLAIM_NEXT_RECORDED builds the case.claimed event in SQL: it must be the event
    events.case_event builds from the same row, and the timeline, audit and worker rows of any claim."""
    received = datetime(2024, 5, 1, 8, 30, 15, 123000, tzinfo=UTC)  # microseconds, as a CAD may send
    await open_cases([dispute_event("E1", risk_flags=["threat"], received_at=received, grid_code="990101001003"),
                      dispute_event("E2", received_at=datetime(2024, 5, 1, tzinfo=UTC))])
    mediator = Principal(subject="m1", roles=frozenset({"mediator"}), stations=frozenset({STATION}))
    claimed = [await queue.claim_next(mediation_ctx, mediator) for _ in range(3)]
    assert [c["incident_number"] if c else None for c in claimed] == ["E1", "E2", None]
    async with mediation_ctx.pool.acquire() as conn:
        outbox = await conn.fetch("SELECT topic, key, value FROM outbox ORDER BY id")
        timeline = await conn.fetch("SELECT case_id, actor, action, from_state, to_state, details FROM case_timeline "
                                    "WHERE action = 'claim' ORDER BY id")
        audit = await conn.fetch("SELECT actor, roles, action, case_id, outcome, details, stations FROM audit_log "
                                 "ORDER BY id")
        workers = await conn.fetch("SELECT worked_by FROM cases ORDER BY incident_number")
    events = [(r["topic"], r["key"], orjson.loads(r["value"])) for r in outbox]
    written = [e for e in events if e[2]["type"] == "case.claimed"]
    for case, (topic, key, envelope) in zip(claimed[:2], written, strict=True):
        expected = case_event(case, "case.claimed", actor="m1", prefix=mediation_ctx.settings.topic_prefix)
        assert (topic, key) == (expected.topic, expected.key)
        assert envelope == orjson.loads(expected.value)
    assert written[0][2]["data"]["received_at"] == "2024-05-01T08:30:15.123000+00:00"
    assert written[1][2]["data"]["received_at"] == "2024-05-01T00:00:00+00:00"
    assert [tuple(r) for r in timeline] == [(c["id"], "m1", "claim", "pending", "claimed", {"via": "claim-next"})
                                            for c in claimed[:2]]
    assert [tuple(r) for r in audit] == [("m1", ["mediator"], "claim", c["id"], "ok", {"via": "claim-next"},
                                          [STATION]) for c in claimed[:2]]
    assert [r["worked_by"] for r in workers] == [["m1"], ["m1"]]
