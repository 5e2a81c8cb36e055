"""allowed_actions speaks the API's endpoint names, per caller: what this person may call now."""
from services.mediation.domain.endpoints import available, states_allowing
from services.mediation.domain.lifecycle import Action


def case(state: str, holder: str | None = "m1", *, had_agreement: bool = False, handoff_pending: bool = False,
         worked_by: tuple[str, ...] = ()):
    return {"state": state, "claimed_by": holder, "had_agreement": had_agreement, "handoff_pending": handoff_pending,
            "station_code": "990101001", "channel": "peoples_mediator", "worked_by": list(worked_by)}


def test_the_holder_gets_her_endpoints_and_handoffs_others_only_what_their_role_gives():
    claimed = case("claimed")
    assert available(claimed, subject="m1", roles={"mediator"}) == ["release", "sessions", "withdraw", "handoffs"]
    assert available(claimed, subject="m2", roles={"mediator"}) == []
    assert available(claimed, subject="chief", roles={"station_chief"}) == ["withdraw"]
    asked = case("confirmation_requested")
    assert available(asked, subject="m1", roles={"mediator"}) == ["withdraw", "handoffs"], "never confirmation"
    assert available(asked, subject="c1", roles={"court_liaison"}) == ["confirmation"]


def test_a_waiting_handoff_stops_the_holder_and_a_closed_agreement_offers_a_breach():
    assert available(case("in_session", handoff_pending=True), subject="m1", roles={"mediator"}) == []
    agreed = case("closed", None, had_agreement=True, worked_by=("m1",))
    assert available(agreed, subject="m1", roles={"mediator"}) == ["breach"], "who made the agreement"
    assert available(agreed, subject="m2", roles={"mediator"}) == [], "not any colleague (issue 14)"
    assert available(agreed, subject="chief", roles={"station_chief"}) == ["breach"]
    assert available(case("closed", None), subject="m1", roles={"mediator"}) == []
    assert available(case("pending", None), subject="m1", roles={"mediator"}) == ["claim"]
    assert available(case("pending", None), subject="a1", roles={"auditor"}) == []


def test_a_refused_action_names_the_states_that_would_allow_it():
    assert states_allowing(Action.REACH_AGREEMENT) == ["in_session"]
    assert states_allowing(Action.REPORT_BREACH) == ["closed"]
    assert states_allowing(Action.CLOSE) == ["agreement", "confirmed", "confirmation_rejected", "failed", "referred"]
