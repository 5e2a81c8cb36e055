"""The benchmark's cases and mediators: pending disputes spread over the four sample stations."""
import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.mediation.bootstrap import MediationContext
from services.mediation.handlers import dispute_handler
from shared.auth import issue_token
from shared.events.envelope import Envelope

STATIONS = ("990101001", "990101002", "990102001", "990102002")
# Every kind routes to station_officer or peoples_mediator (or station_officer where a station has
# no people's mediator): the channels a mediator's role serves, so every case is claimable.
KINDS = (("neighbour", []), ("family", []), ("other", []), ("neighbour", ["threat"]))
WEIGHTS = (5, 2, 2, 1)
BATCH = 1000
START = datetime(2024, 5, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Mediator:
    """One benchmark mediator: its subject, its station and its bearer token."""

    subject: str
    station: str
    token: str


def disputes(n: int, seed: int) -> list[Envelope]:
    """n dispute.opened events, round-robin over the stations, received over 30 days in random order."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        station = STATIONS[i % len(STATIONS)]
        dispute_type, flags = rng.choices(KINDS, WEIGHTS)[0]
        data = {"source": "BENCH", "incident_number": f"C{i:07d}", "revision": 1,
                "received_at": (START + timedelta(seconds=rng.randrange(30 * 86400))).isoformat(),
                "station_code": station, "jurisdiction_method": "record", "kind": "dispute",
                "dispute_type": dispute_type, "risk_flags": flags, "confidence": 0.9,
                "rules_version": "classification.v1", "caller_name": "王小明", "caller_phone": "13812345678",
                "description": "楼上漏水"}
        events.append(Envelope(type="dispute.opened", producer="intake", key=station, data=data))
    return events


async def load(ctx: MediationContext, events: list[Envelope]) -> None:
    """Open the cases as the consumer would: dispute_handler, one transaction per batch."""
    handle = dispute_handler(ctx)

    async def one(batch: list[Envelope]) -> None:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await handle(conn, batch)

    # Batches touch disjoint incidents, so they can run side by side on the pool's connections.
    await asyncio.gather(*(one(events[i:i + BATCH]) for i in range(0, len(events), BATCH)))


def mediators(secret: str, n: int) -> list[Mediator]:
    """n mediators, an equal share at each station, each with a token for its own station."""
    made = []
    for i in range(n):
        station = STATIONS[i % len(STATIONS)]
        subject = f"bench-mediator-{i:03d}"
        made.append(Mediator(subject, station, issue_token(secret, subject=subject, roles=["mediator"],
                                                           stations=[station])))
    return made


async def reset(database_url: str) -> None:
    """Every case back to pending, its claim's timeline entry and event gone, and the tables rewritten, so the
    next run starts as the first did (the audit log is append-only: its rows stay)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE cases SET state = 'pending', claimed_by = NULL, claimed_at = NULL, version = 1, "
                           "worked_by = '{}' WHERE state = 'claimed'")
        await conn.execute("DELETE FROM case_timeline WHERE action = 'claim'")
        await conn.execute("DELETE FROM outbox")
        await conn.execute("VACUUM FULL ANALYZE case_timeline")
        # The previous run left a dead tuple per claim; without the rewrite the next run pays for them.
        await conn.execute("VACUUM FULL ANALYZE cases")
    finally:
        await conn.close()
