"""GET /v1/queue/events over real HTTP, PostgreSQL and Kafka: a new dispute reaches the listeners of its
station and channels only, a claim takes it out of the others' queues, a reconnect replays from
Last-Event-ID, and the stream answers to the same tokens as the rest of the API."""
import asyncio

import httpx
import pytest

from services.mediation.events import case_id
from tests.integration.mediation.conftest import dispute_event
from tests.integration.mediation.live import listen, served, token

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
OTHER = "990101002"


async def test_a_new_dispute_reaches_its_station_and_channels_and_a_claim_leaves_the_others_queue(
        mediation_settings, open_cases):
    async with served(mediation_settings) as base:
        s = mediation_settings
        first, second = await listen(base, token(s, "m1")), await listen(base, token(s, "m2"))
        elsewhere = await listen(base, token(s, "m3", stations=(OTHER,)))
        lawyer = await listen(base, token(s, "l1", roles=("lawyer",)))
        try:
            await open_cases([dispute_event("L1")])  # a neighbour dispute: the people's mediators' channel
            ident = str(case_id("BJ-CAD", "L1"))
            for listener in (first, second):
                event_id, seen = await listener.next()
                assert seen["action"] == "created" and seen["case"]["id"] == ident and seen["in_queue"] is True
                assert seen["case"]["party"] is None and seen["case"]["parties"] is None, "no party data on the stream"
                assert seen["case"]["allowed_actions"] == ["claim"] and event_id == seen["event_id"]

            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token(s, 'm1')}"}) as m1:
                assert (await m1.post(f"/v1/cases/{ident}/claim")).status_code == 200
            _, claimed = await second.next()
            assert (claimed["action"], claimed["in_queue"], claimed["case"]["claimed_by"]) == ("claim", False, "m1")
            assert claimed["case"]["allowed_actions"] == [], "a colleague may do nothing to a held case"
            _, mine = await first.next()
            assert mine["case"]["allowed_actions"][:2] == ["release", "sessions"]

            # A case of the other station proves that stream works, and that it got nothing before.
            await open_cases([dispute_event("O1", station=OTHER)])
            _, other = await elsewhere.next()
            assert other["case"]["station_code"] == OTHER and len(elsewhere.cases()) == 1
            assert [c["case"]["incident_number"] for c in first.cases()] == ["L1", "L1"]
            # The lawyer's channel is not the case's: a lawyer's dispute reaches it, the neighbours' did not.
            await open_cases([dispute_event("W1", dispute_type="labour")])
            _, wages = await lawyer.next()
            assert wages["case"]["incident_number"] == "W1" and wages["case"]["channel"] == "lawyer"
            assert [c["case"]["incident_number"] for c in lawyer.cases()] == ["W1"]
        finally:
            for listener in (first, second, elsewhere, lawyer):
                await listener.close()


async def test_a_reconnect_with_last_event_id_replays_what_was_missed_in_order(mediation_settings, open_cases):
    async with served(mediation_settings) as base:
        s = mediation_settings
        listener = await listen(base, token(s, "m2"))
        await open_cases([dispute_event("R1")])
        last_id, _ = await listener.next()
        await listener.close()
        ident = str(case_id("BJ-CAD", "R1"))
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token(s, 'm1')}"}) as m1:
            assert (await m1.post(f"/v1/cases/{ident}/claim")).status_code == 200
            assert (await m1.post(f"/v1/cases/{ident}/release")).status_code == 200
        await open_cases([dispute_event("R2")])
        back = await listen(base, token(s, "m2"), last_event_id=last_id)
        try:
            replayed = [(c["action"], c["case"]["incident_number"], c["in_queue"]) for c in back.cases()]
            # Each case once, as it is now, at its latest change: R1 claimed and released, then R2 opened.
            assert replayed == [("release", "R1", True), ("created", "R2", True)]
            ids = [ident for kind, ident, _ in back.received if kind == "case"]
            assert ids == sorted(ids) and ids[0] > last_id + 1, "the claim's own change was folded into the release"
            ready = [data for kind, _, data in back.received if kind == "ready"]
            assert ready == [{"last_event_id": ids[-1]}]
            for _ in replayed:
                await back.next()  # the replayed frames, already checked
            await open_cases([dispute_event("R3")])
            _, live = await back.next()
            assert live["case"]["incident_number"] == "R3", "after the replay the stream goes on live"
        finally:
            await back.close()


async def test_the_stream_needs_a_token_of_a_reading_role(mediation_settings):
    async with served(mediation_settings) as base:
        assert (await listen(base, "not-a-token")).status == 401
        assert (await listen(base, token(mediation_settings, "feed", roles=("feed",)))).status == 403


async def test_a_lost_listening_connection_ends_the_streams_and_the_reconnect_replays_what_came_meanwhile(
        mediation_settings, mediation_ctx, open_cases):
    async with served(mediation_settings) as base:
        s = mediation_settings
        listener = await listen(base, token(s, "m1"))
        await open_cases([dispute_event("K1")])
        last_id, _ = await listener.next()
        killed = await mediation_ctx.pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'")
        assert killed == 1, "the hub's one listening connection"
        async with asyncio.timeout(20):
            await listener.task  # the stream ends: its client cannot know what it may have missed
        await open_cases([dispute_event("K2")])  # while nobody listens
        back = await listen(base, token(s, "m1"), last_event_id=last_id)
        try:
            assert [c["case"]["incident_number"] for c in back.cases()] == ["K2"]
            await open_cases([dispute_event("K3")])
            _, live = await back.next()
            assert live["case"]["incident_number"] == "K2"
            _, live = await back.next()
            assert live["case"]["incident_number"] == "K3", "a new listening connection serves the new stream"
        finally:
            await back.close()
