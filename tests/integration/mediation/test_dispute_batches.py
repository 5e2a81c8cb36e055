"""A batch of disputes is applied with a few statements, and ends exactly as applying them one by one."""
import asyncio
import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from services.mediation.events import case_id
from services.mediation.handlers import dispute_handler
from shared.events.envelope import Envelope
from tests.integration.mediation.conftest import dispute_event

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

STATIONS = ("990101001", "990101002", "990102001", "990102002")
TYPES = ("neighbour", "family", "labour", "property_management", "land", "traffic_damage", "debt")
START = datetime(2024, 5, 1, tzinfo=UTC)


def event(source: str, number: str, revision: int = 1, *, update: bool = False, reclassified_as: str = "",
          **fields) -> Envelope:
    made = dispute_event(number, revision=revision, kind="dispute.updated" if update else "dispute.opened",
                         source=source, **fields)
    if reclassified_as:
        return Envelope(type=made.type, producer=made.producer, key=made.key,
                        data=made.data | {"kind": reclassified_as})
    return made


def history(source: str) -> tuple[list[Envelope], list[Envelope]]:
    """(what exists before the batch, the batch): many new disputes and, mixed in, duplicates, updates
    overtaking their opening, stale revisions, updates of closed, withdrawn and open cases, and
    reclassifications, several of the same incident."""
    rng = random.Random(7)
    before = [event(source, n) for n in ("OPEN", "CLOSED", "WITHDRAWN", "RECLASS")]
    batch: list[Envelope] = []
    for i in range(150):
        batch.append(event(source, f"N{i:03d}", station=STATIONS[i % 4], dispute_type=rng.choice(TYPES),
                           risk_flags=["threat"] if i % 17 == 0 else [],
                           received_at=START + timedelta(minutes=rng.randrange(10_000))))
        if i % 10 == 3:  # a later revision of a case opened a few disputes earlier in the same batch
            batch.append(event(source, f"N{i - 2:03d}", 2, update=True, dispute_type="debt",
                               risk_flags=["weapon"] if i % 20 == 3 else [], grid_code="G2"))
        if i == 40:
            batch += [event(source, "DUP"), event(source, "DUP"),  # a duplicate opening
                      event(source, "OVERTAKE", 2, update=True, risk_flags=["threat"]),
                      event(source, "NEW3", dispute_type="family")]
        if i == 60:
            batch += [event(source, "OVERTAKE"),  # the opening after its update: stale
                      event(source, "OPEN", 2, update=True, dispute_type="labour"),
                      event(source, "CLOSED", 2, update=True, disposition="已调解"),
                      event(source, "NEW3", 2, update=True, dispute_type="labour"),
                      event(source, "RECLASS", 2, update=True, reclassified_as="crime")]
        if i == 90:
            batch += [event(source, "OPEN", 3, update=True, risk_flags=["weapon"]),  # tightens the deadline
                      event(source, "CLOSED", 4, update=True),
                      event(source, "WITHDRAWN", 2, update=True),
                      event(source, "NEW3", 3, update=True, risk_flags=["domestic_violence"]),
                      event(source, "RECLASS", 3, update=True)]
        if i == 120:
            batch += [event(source, "OPEN", 2, update=True),  # stale
                      event(source, "CLOSED", 3, update=True),  # stale, after revision 4
                      event(source, "DUP"), event(source, "NEW3", 3, update=True)]  # repeats
    return before, batch


async def end_state(conn, source: str) -> dict:
    """Everything the disputes of one source left: cases, the timeline in order and the events in order."""
    cases = {r["incident_number"]: dict(r) for r in await conn.fetch(
        """SELECT incident_number, revision, station_code, grid_code, channel, state, dispute_type, risk_flags,
                  high_risk, party, received_at, version,
                  round(extract(epoch FROM claim_due_at - created_at) / 60) AS claim_minutes
           FROM cases WHERE source = $1""", source)}
    timeline = [tuple(r) for r in await conn.fetch(
        """SELECT c.incident_number, t.actor, t.action, t.from_state, t.to_state, t.details
           FROM case_timeline t JOIN cases c ON c.id = t.case_id WHERE c.source = $1 ORDER BY t.id""", source)]
    events = []
    for value in await conn.fetchval("SELECT array_agg(value ORDER BY id) FROM outbox"):
        envelope = orjson.loads(value)
        data = envelope["data"]
        if data["source"] == source:
            events.append((envelope["type"], data["incident_number"], data["sequence"], data["state"],
                           data["channel"], data["high_risk"], data["risk_flags"], data["dispute_type"]))
    return {"cases": cases, "timeline": timeline, "events": events}


async def test_a_batch_ends_as_applying_its_disputes_one_by_one(mediation_ctx, open_cases):
    handle = dispute_handler(mediation_ctx)
    for source in ("BATCH", "ONE-BY-ONE"):
        before, _ = history(source)
        await open_cases(before)
        await mediation_ctx.pool.execute(
            "UPDATE cases SET state = CASE incident_number WHEN 'CLOSED' THEN 'closed' ELSE 'withdrawn' END "
            "WHERE source = $1 AND incident_number IN ('CLOSED', 'WITHDRAWN')", source)

    _, batch = history("BATCH")
    statements: list[str] = []

    def log(record) -> None:
        if record.query not in ("BEGIN;", "COMMIT;"):
            statements.append(record.query)

    async with mediation_ctx.pool.acquire() as conn:
        conn.add_query_logger(log)
        async with conn.transaction():
            await handle(conn, batch)
        await asyncio.sleep(0)  # the logger is called soon after each statement
        conn.remove_query_logger(log)
    for one in history("ONE-BY-ONE")[1]:
        await open_cases([one])

    async with mediation_ctx.pool.acquire() as conn:
        batched, one_by_one = await end_state(conn, "BATCH"), await end_state(conn, "ONE-BY-ONE")
    assert batched == one_by_one
    # The batch's own writes, as the scenario intends them:
    cases = batched["cases"]
    assert len(cases) == 4 + 150 + 3
    assert (cases["OPEN"]["revision"], cases["OPEN"]["dispute_type"], cases["OPEN"]["high_risk"],
            cases["OPEN"]["claim_minutes"], cases["OPEN"]["channel"]) == (3, "neighbour", True, 30, "peoples_mediator")
    assert (cases["CLOSED"]["state"], cases["CLOSED"]["revision"]) == ("closed", 4)
    assert (cases["WITHDRAWN"]["state"], cases["WITHDRAWN"]["revision"]) == ("withdrawn", 2)
    assert (cases["OVERTAKE"]["revision"], cases["OVERTAKE"]["high_risk"], cases["OVERTAKE"]["channel"],
            cases["OVERTAKE"]["version"]) == (2, True, "station_officer", 1)
    assert (cases["NEW3"]["revision"], cases["NEW3"]["dispute_type"], cases["NEW3"]["claim_minutes"],
            cases["NEW3"]["version"]) == (3, "neighbour", 30, 3)
    assert cases["N001"]["revision"] == 2 and cases["N001"]["grid_code"] == "G2"
    actions = [(n, a) for n, _, a, *_ in batched["timeline"]]
    assert [a for n, a in actions if n == "CLOSED"] == ["created", "update_after_close", "update_after_close"]
    assert [a for n, a in actions if n == "RECLASS"] == ["created", "reclassified", "updated"]
    assert [a for n, a in actions if n == "DUP"] == ["created"]
    assert [e[:3] for e in batched["events"] if e[1] in ("DUP", "OVERTAKE", "NEW3")] == [
        ("case.created", "DUP", 1), ("case.created", "OVERTAKE", 1), ("case.created", "NEW3", 1)]

    # A few statements for the whole batch, not one per dispute: a lock, then per round (the most
    # disputes of one incident: NEW3's four) at most an insert and two updates, the timeline, the outbox.
    assert len(batch) > 180 and len(statements) <= 1 + 3 * 4 + 2, statements


async def test_cases_another_consumer_opened_meanwhile_get_the_dispute_applied(mediation_ctx):
    """During a rebalance two members may hold the same disputes: the second waits for the first's
    cases, then treats its disputes as revisions of them (no duplicate key error, no second case)."""
    handle = dispute_handler(mediation_ctx)
    openings = [dispute_event(f"R{i}") for i in range(20)]
    async with mediation_ctx.pool.acquire() as first, mediation_ctx.pool.acquire() as second:
        first_tx = first.transaction()
        await first_tx.start()
        await handle(first, openings)
        later = asyncio.create_task(_in_transaction(second, handle, [
            dispute_event("R0"), dispute_event("R1", revision=2, kind="dispute.updated", risk_flags=["weapon"]),
            dispute_event("NEW")]))
        await asyncio.sleep(0.5)
        assert not later.done(), "the second waits for the first's uncommitted cases"
        await first_tx.commit()
        await asyncio.wait_for(later, 10)
    async with mediation_ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases") == 21
        assert await conn.fetchval("SELECT count(*) FROM case_timeline WHERE action = 'created'") == 21
        r1 = await conn.fetchrow("SELECT revision, high_risk, version FROM cases WHERE id = $1",
                                 case_id("BJ-CAD", "R1"))
        assert tuple(r1) == (2, True, 2)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 21


async def _in_transaction(conn, handle, events) -> None:
    async with conn.transaction():
        await handle(conn, events)
