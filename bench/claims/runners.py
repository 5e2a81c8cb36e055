"""The closed-loop measurements: claim-next over HTTP by N mediators, and the claim statement the API runs
(repository.claim_next: the claim, its timeline, audit row and event in one statement) run directly."""
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import orjson

from bench.claims.clients import ClaimNext, claim_next_callers
from bench.claims.load import Mediator
from bench.common.percentiles import percentile
from services.mediation import repository
from services.mediation.domain.access import channels_for
from services.mediation.events import PRODUCER
from shared.db.pool import create_pool

# What the API passes for a mediator token without a channels claim (callers.channels_of).
MEDIATOR_CHANNELS = sorted(channels_for({"mediator"}))


@dataclass
class Run:
    """What one measurement saw: every claim as (case id, holder, station), and its latency."""

    claims: list[tuple[str, str, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    empty: int = 0  # "nothing to claim" answers: one per mediator that drained its station
    errors: Counter = field(default_factory=Counter)
    elapsed: float = 0.0
    busy: float = 0.0  # share of the whole machine's CPU that was busy during the run

    @property
    def rate(self) -> float:
        """Claims per second over the whole run."""
        return len(self.claims) / self.elapsed

    def ms(self, q: float) -> float:
        """The q-quantile (0..1) of claim latency, in milliseconds."""
        return percentile(self.latencies, q) * 1000


async def over_http(port: int, mediators: list[Mediator], budget_s: float, *, client: str = "lean") -> Run:
    """Each mediator loops POST /v1/queue/claim-next until 404, an error, or the budget runs out."""
    run = Run()
    async with claim_next_callers(client, port, mediators) as callers:
        async def mediator(claim_next: ClaimNext, deadline: float) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                answer = await claim_next()
                took = time.perf_counter() - started
                if answer.status == 404:
                    run.empty += 1
                    return
                if answer.status != 200:
                    run.errors[answer.status] += 1
                    return
                case = orjson.loads(answer.body)
                run.claims.append((case["id"], case["claimed_by"], case["station_code"]))
                run.latencies.append(took)

        started = time.perf_counter()
        await asyncio.gather(*(mediator(call, started + budget_s) for call in callers))
        run.elapsed = time.perf_counter() - started
    return run


async def over_sql(database_url: str, mediators: list[Mediator], budget_s: float, connections: int,
                   topic: str) -> Run:
    """The same loop, each mediator running the API's claim statement itself on a pool of `connections`."""
    run = Run()
    # Opened up front, like the HTTP client's connections; a latency includes waiting for one.
    pool = await create_pool(database_url, min_size=connections, max_size=connections)
    try:
        async def mediator(m: Mediator, deadline: float) -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with pool.acquire() as conn:
                        case = await repository.claim_next(
                            conn, stations=[m.station], channels=MEDIATOR_CHANNELS, subject=m.subject,
                            roles=["mediator"], topic=topic, traceparent=None, producer=PRODUCER)
                except asyncpg.PostgresError as exc:
                    run.errors[type(exc).__name__] += 1
                    return
                took = time.perf_counter() - started
                if case is None:
                    run.empty += 1
                    return
                run.claims.append((str(case["id"]), case["claimed_by"], case["station_code"]))
                run.latencies.append(took)

        started = time.perf_counter()
        await asyncio.gather(*(mediator(m, started + budget_s) for m in mediators))
        run.elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return run


async def check(database_url: str, run: Run, mediators: list[Mediator]) -> list[str]:
    """Problems with a run: a case claimed twice, or the database disagreeing with the answers."""
    problems = []
    ids = [c[0] for c in run.claims]
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} double claims: {len(ids)} answers, {len(set(ids))} distinct ids")
    stations = {m.subject: m.station for m in mediators}
    foreign = [c for c in run.claims if stations.get(c[1]) != c[2]]
    if foreign:
        problems.append(f"{len(foreign)} claims outside the holder's station, e.g. {foreign[0]}")
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id::text, claimed_by FROM cases WHERE state = 'claimed'")
    finally:
        await conn.close()
    if len(rows) != len(ids):
        problems.append(f"{len(rows)} cases claimed in the database for {len(ids)} claim answers")
    if {(r["id"], r["claimed_by"]) for r in rows} != {(c[0], c[1]) for c in run.claims}:
        problems.append("the database's (case, holder) pairs differ from the answers'")
    if run.errors:
        problems.append(f"errors: {dict(run.errors)}")
    return problems


async def timeline_claims(database_url: str) -> tuple[int, int]:
    """(claim entries, distinct cases among them) on the timeline: the API's own record of its claims."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT count(*), count(DISTINCT case_id) FROM case_timeline WHERE action = 'claim'")
    finally:
        await conn.close()
    return row[0], row[1]
