"""GET /v1/queue pages: the exact order (high risk, oldest, id), each caller's stations and channels, cursors
across the high-risk boundary, and the queue index doing the work."""
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.mediation import repository
from services.mediation.domain.access import channels_for
from services.mediation.queue import cursor_of
from tests.integration.mediation.conftest import STATION, dispute_event

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

OTHER = "990101002"
START = datetime(2024, 5, 1, tzinfo=UTC)
# Types that route to each of the channels; a high-risk flag sends any of them to the station officer.
TYPES = ("neighbour", "labour", "traffic_damage", "other", "family")


def varied_cases(n: int) -> list:
    """n disputes at two stations over all channels, a quarter high risk, many received at the same time."""
    return [dispute_event(f"Q{i:03d}", station=(STATION, OTHER)[i % 2], dispute_type=TYPES[i % len(TYPES)],
                          risk_flags=["weapon"] if i % 4 == 1 else [],
                          received_at=START + timedelta(minutes=(i * 7) % 13)) for i in range(n)]


async def expected(pool, stations: set[str], channels: frozenset[str]) -> list[str]:
    """The queue as its definition states it, from every case."""
    rows = await pool.fetch("SELECT id, incident_number, station_code, channel, state, high_risk, received_at "
                            "FROM cases")
    visible = [r for r in rows if r["state"] == "pending" and r["station_code"] in stations
               and r["channel"] in channels]
    return [r["incident_number"] for r in sorted(visible, key=lambda r: (not r["high_risk"], r["received_at"], r["id"]))]


async def pages(client, limit: int, cursor: str | None = None) -> list[str]:
    numbers: list[str] = []
    while True:
        answer = await client.get("/v1/queue", params={"limit": limit} | ({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        numbers += [item["incident_number"] for item in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            return numbers


async def test_every_caller_pages_through_exactly_its_queue_in_order(api, open_cases, mediation_ctx):
    await open_cases(varied_cases(120))
    claimer = api(subject="claimer", stations=(STATION, OTHER))
    for _ in range(5):  # claimed cases leave the queue
        assert (await claimer.post("/v1/queue/claim-next")).status_code == 200
    callers = [
        (api(subject="m"), {STATION}, channels_for({"mediator"})),
        (api(subject="l", roles=("lawyer",)), {STATION}, channels_for({"lawyer"})),
        (api(subject="c", roles=("court_liaison",), stations=(STATION, OTHER)), {STATION, OTHER},
         channels_for({"court_liaison"})),
        (api(subject="chief", roles=("station_chief",), stations=(STATION, OTHER)), {STATION, OTHER},
         channels_for({"station_chief"})),
        (api(subject="po", stations=(STATION, OTHER), channels=("peoples_mediator",)), {STATION, OTHER},
         frozenset({"peoples_mediator"})),
    ]
    for client, stations, channels in callers:
        want = await expected(mediation_ctx.pool, stations, channels)
        assert want, (stations, channels)
        for limit in (1, 4, 7, 500):
            assert await pages(client, limit) == want, (stations, channels, limit)
    everything = await pages(callers[3][0], 500)
    high = [n for n in everything if int(n[1:]) % 4 == 1]  # less the five claim-next took first
    assert len(everything) == 115 and len(high) == 25 and everything[:25] == high


async def test_cursors_made_before_and_at_the_risk_boundary_continue_the_queue(api, open_cases, mediation_ctx):
    await open_cases(varied_cases(40))
    chief = api(subject="chief", roles=("station_chief",), stations=(STATION, OTHER))
    want = await expected(mediation_ctx.pool, {STATION, OTHER}, channels_for({"station_chief"}))
    rows = {r["incident_number"]: r for r in await mediation_ctx.pool.fetch("SELECT * FROM cases")}
    high = sum(rows[n]["high_risk"] for n in want)
    # After the last high-risk case, and after the first normal one: the rest, in order.
    for position in (high - 1, high, 0, len(want) - 2):
        assert await pages(chief, 3, cursor_of(rows[want[position]])) == want[position + 1:]
    # Cursors as the e2e bench writes them: the start of a risk class from a time on.
    nil, since = uuid.UUID(int=0), START + timedelta(minutes=6)
    normal = [n for n in want if not rows[n]["high_risk"]]
    high_since = [n for n in want if rows[n]["high_risk"] and rows[n]["received_at"] >= since]
    assert high_since and len(high_since) < high
    assert await pages(chief, 5, cursor_of({"high_risk": True, "received_at": since, "id": nil})) == high_since + normal
    assert await pages(chief, 5, cursor_of({"high_risk": False, "received_at": since, "id": nil})) == [
        n for n in normal if rows[n]["received_at"] >= since]


async def test_the_queue_reads_the_queue_index_not_every_case(open_cases, mediation_ctx):
    """Each (station, channel, risk class) reads its head from cases_queue in order, and only the page's rows are
    read from the table: no scan or sort of every pending case (the table is big enough that one would not pay)."""
    stations = ("990101001", "990101002", "990102001", "990102002")
    await open_cases([dispute_event(f"X{i:05d}", station=stations[i % 4], risk_flags=["threat"] if i % 10 == 0 else [],
                                    received_at=START + timedelta(seconds=i)) for i in range(12_000)])
    async with mediation_ctx.pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE cases")
        for start in ((False, START - timedelta(days=1), uuid.UUID(int=0)),
                      (True, START + timedelta(seconds=6000), uuid.UUID(int=0))):
            for caller_stations, roles in (([STATION], {"mediator"}), (sorted(stations), {"auditor"})):
                plan = "\n".join(r[0] for r in await conn.fetch(
                    "EXPLAIN " + repository.QUEUE, caller_stations, sorted(channels_for(roles)), *start, 50))
                assert "Index Only Scan using cases_queue" in plan and "Seq Scan on cases" not in plan, plan
