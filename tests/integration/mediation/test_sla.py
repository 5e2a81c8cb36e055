"""SLA escalation with an injected clock, and two sweepers at once escalating each case once."""
import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.mediation import sla
from services.mediation.events import case_id
from tests.integration.mediation.conftest import dispute_event, many_cases

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def escalations(ctx) -> dict[str, list[str]]:
    rows = await ctx.pool.fetch("SELECT incident_number, escalations FROM cases WHERE escalations <> '{}'")
    return {r["incident_number"]: list(r["escalations"]) for r in rows}


async def test_unclaimed_cases_escalate_by_risk_and_only_once(mediation_ctx, open_cases):
    await open_cases([dispute_event("NORMAL"), dispute_event("RISKY", risk_flags=["weapon"])])
    now = datetime.now(UTC)
    assert await sla.sweep(mediation_ctx, now + timedelta(minutes=10)) == {
        "unclaimed": 0, "no_session": 0, "confirmation_due": 0, "fulfilment_check": 0}
    assert (await sla.sweep(mediation_ctx, now + timedelta(minutes=31)))["unclaimed"] == 1
    assert await escalations(mediation_ctx) == {"RISKY": ["unclaimed"]}
    assert (await sla.sweep(mediation_ctx, now + timedelta(hours=25)))["unclaimed"] == 1
    assert (await sla.sweep(mediation_ctx, now + timedelta(hours=26)))["unclaimed"] == 0, "never twice"
    timeline = await mediation_ctx.pool.fetch(
        "SELECT action, details FROM case_timeline WHERE case_id = $1 ORDER BY id", case_id("BJ-CAD", "NORMAL"))
    assert [t["action"] for t in timeline] == ["created", "escalated"]


async def test_a_claim_without_a_session_expires_back_to_the_queue(api, mediation_ctx, open_cases):
    await open_cases([dispute_event("IDLE")])
    ident = case_id("BJ-CAD", "IDLE")
    assert (await api(subject="slow").post(f"/v1/cases/{ident}/claim")).status_code == 200
    counts = await sla.sweep(mediation_ctx, datetime.now(UTC) + timedelta(hours=73))
    assert counts["no_session"] == 1
    state, holder = await mediation_ctx.pool.fetchrow("SELECT state, claimed_by FROM cases WHERE id = $1", ident)
    assert (state, holder) == ("pending", None)
    chief = api(subject="chief", roles=("station_chief",))
    [item] = (await chief.get("/v1/queue")).json()["items"]  # the chief sees it, marked
    assert item["escalated"] and item["escalations"] == ["no_session"]


async def test_an_agreement_nearing_its_confirmation_deadline_is_escalated(api, mediation_ctx, open_cases):
    await open_cases([dispute_event("AG")])
    ident = case_id("BJ-CAD", "AG")
    mediator = api(subject="m")
    await mediator.post(f"/v1/cases/{ident}/claim")
    await mediator.post(f"/v1/cases/{ident}/sessions", json={"at": "2024-05-02T10:00:00+08:00", "participants": ["a"]})
    await mediator.post(f"/v1/cases/{ident}/outcome", json={
        "type": "agreement", "terms": "赔偿", "effective_date": "2024-05-02", "performance_date": "2024-06-10"})
    day = datetime(2024, 5, 2, tzinfo=UTC)
    assert (await sla.sweep(mediation_ctx, day + timedelta(days=24)))["confirmation_due"] == 0
    assert (await sla.sweep(mediation_ctx, day + timedelta(days=25)))["confirmation_due"] == 1
    assert (await sla.sweep(mediation_ctx, datetime(2024, 6, 10, 12, tzinfo=UTC)))["fulfilment_check"] == 0
    assert (await sla.sweep(mediation_ctx, datetime(2024, 6, 11, 1, tzinfo=UTC)))["fulfilment_check"] == 1


async def test_two_sweepers_at_once_escalate_each_case_exactly_once(mediation_ctx, open_cases):
    await open_cases(many_cases(600))
    later = datetime.now(UTC) + timedelta(days=2)
    first, second = await asyncio.gather(sla.sweep(mediation_ctx, later, batch=50),
                                         sla.sweep(mediation_ctx, later, batch=50))
    assert first["unclaimed"] + second["unclaimed"] == 600
    events = await mediation_ctx.pool.fetchval("SELECT count(*) FROM case_timeline WHERE action = 'escalated'")
    assert events == 600


async def test_escalations_are_counted_for_prometheus(mediation_ctx, open_cases):
    """fengqiao_sla_escalations_total, which the SLA alert watches, counts each escalation once."""
    def escalated() -> float:
        return REGISTRY.get_sample_value("fengqiao_sla_escalations_total", {"reason": "unclaimed"}) or 0.0

    await open_cases([dispute_event("LATE", risk_flags=["weapon"])])
    before = escalated()
    await sla.sweep(mediation_ctx, datetime.now(UTC) + timedelta(minutes=31))
    await sla.sweep(mediation_ctx, datetime.now(UTC) + timedelta(minutes=32))
    assert escalated() - before == 1
