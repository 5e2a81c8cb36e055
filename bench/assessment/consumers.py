"""Events per second through the facts consumer: intake.incident.v1 and mediation.case.v1 envelopes as
intake and mediation publish them, applied by `services.assessment.consumer.facts_runner`.

The events are published first; then one runner starts and is timed from the moment it holds its
partitions until processed_events holds every event (the runner's exactly-once ledger, written in the
same transaction as the facts). They belong to the month after the ranked one, at the same stations,
so they land in the full-size tables without changing the ranking just measured.

Their incidents carry what intake sends now: an address precision per address key (the station's cohort
mix, as the load has it) and a crime type per crime (the mix of crimes at a household that called about a
dispute: every live call comes from the same skewed household pool), so the runner's RELINK links by
address and by phone as in production. After the run every live incident's links are compared with the definition,
computed here in Python from the events themselves.
"""
import asyncio
import bisect
import hashlib
import random
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from bench.assessment.dataset import (
    CHANNELS,
    CRIME_TYPES_AT_HOUSEHOLD,
    DISPUTE_TYPES,
    PRECISION_SHARES,
    PRECISIONS,
    month_bounds,
)
from bench.common.cpu import backend_cpu, busy_between, cpu_between, machine_cpu
from services.assessment.domain.links import REPEAT_LONG_DAYS, REPEAT_SHORT_DAYS, LinkRules
from shared.events.envelope import Envelope
from shared.events.intake import INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC
from shared.kafka.producer import EventProducer

SOURCE = "BENCH-LIVE"
CRIMES_PER_DISPUTE = 0.12
NO_PHONE = 0.08  # as the load: some calls come without a caller phone, and then only the address can link


@dataclass
class Workload:
    """The events to publish, by topic, and what applying them must leave in the tables."""

    events: dict[str, list[Envelope]]
    incidents: int
    cases: int
    closed: int

    @property
    def count(self) -> int:
        return sum(map(len, self.events.values()))

    def average_bytes(self) -> int:
        sizes = [len(e.to_bytes()) for events in self.events.values() for e in events[::50]]
        return sum(sizes) // len(sizes)


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def precision_of(address_key: str, cohort: str | None) -> str:
    """A key's precision, a function of the key (the same key always has the same one), in its cohort's mix."""
    shares = PRECISION_SHARES.get(cohort or "", PRECISION_SHARES["town"])
    draw = int(address_key[:8], 16) % sum(shares)
    for precision, share in zip(PRECISIONS, shares):
        if draw < share:
            return precision
        draw -= share
    raise AssertionError("unreachable: the draw is below the sum of the shares")


def _incident(number: str, station: str, at: datetime, kind: str, rng: random.Random, household: int,
              cohort: str | None = None) -> Envelope:
    """incident.accepted as intake's events.incident_events writes it."""
    grid = rng.randrange(1, 9)
    address_key = hashlib.md5(f"{station}:live:{household}".encode()).hexdigest()
    phone = None if rng.random() < NO_PHONE else hashlib.sha256(f"{station}:live:{household}".encode()).hexdigest()
    data = {"source": SOURCE, "incident_number": number, "revision": 1, "received_at": at.isoformat(),
            "closed_at": None, "station_code": station, "grid_code": f"{station}{grid:02d}",
            "officer_id": f"P{station}{2 * grid:02d}", "jurisdiction_method": "grid", "kind": kind,
            "dispute_type": rng.choices([t for t, _ in DISPUTE_TYPES], [w for _, w in DISPUTE_TYPES])[0]
            if kind == "dispute" else None,
            "risk_flags": ["threat"] if rng.random() < 0.02 else [], "confidence": round(rng.uniform(0.6, 1), 4),
            "rules_version": "classification.v1", "category_code": "0301" if kind == "dispute" else "0101",
            "disposition": None, "address_key": address_key, "address_precision": precision_of(address_key, cohort),
            "crime_type": rng.choices([t for t, _ in CRIME_TYPES_AT_HOUSEHOLD], [w for _, w in CRIME_TYPES_AT_HOUSEHOLD])[0]
            if kind == "crime" else None,
            "caller_phone_hmac": phone}
    return Envelope(event_id=_uuid(rng), type="incident.accepted", producer="intake", key=station,
                    occurred_at=at, data=data)


def _case_events(incident: Envelope, rng: random.Random) -> list[Envelope]:
    """A case's life on mediation.case.v1, as mediation's events.case_event writes it."""
    d = incident.data
    case_id = uuid.uuid5(uuid.NAMESPACE_URL, f"fengqiao:case:{d['source']}/{d['incident_number']}")
    channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
    at = incident.occurred_at + timedelta(seconds=rng.uniform(10, 90))
    mediator = f"m{rng.randrange(1, 40)}@{d['station_code']}"
    steps = [("case.created", "pending", "system", {})]
    if rng.random() < 0.03:
        steps.append(("case.escalated", "pending", "system", {"reason": "unclaimed"}))
    steps += [("case.claimed", "claimed", mediator, {}),
              ("case.session_recorded", "in_mediation", mediator, {"session": 1})]
    if rng.random() < 0.4:
        steps.append(("case.session_recorded", "in_mediation", mediator, {"session": 2}))
    outcome = rng.random()
    if outcome < 0.8:
        steps.append(("case.agreement_reached", "agreement", mediator, {"terms": "paid in two instalments"}))
    elif outcome < 0.9:
        steps.append(("case.referred", "referred", mediator, {"to": "court"}))
    else:
        steps.append(("case.failed", "failed", mediator, {"reason": "party absent"}))
    steps.append(("case.closed", "closed", mediator, {}))
    events = []
    for sequence, (kind, state, actor, details) in enumerate(steps, start=1):
        at += timedelta(minutes=rng.lognormvariate(3, 1))
        data = {"case_id": str(case_id), "source": d["source"], "incident_number": d["incident_number"],
                "station_code": d["station_code"], "grid_code": d["grid_code"], "officer_id": d["officer_id"],
                "channel": channel, "state": state, "dispute_type": d["dispute_type"], "risk_flags": d["risk_flags"],
                "high_risk": False, "address_key": d["address_key"], "caller_phone_hmac": d["caller_phone_hmac"],
                "received_at": d["received_at"], "actor": actor, "sequence": sequence, "details": details}
        events.append(Envelope(event_id=uuid.uuid5(case_id, f"{kind}/{sequence}"), type=kind, producer="mediation",
                               key=d["station_code"], occurred_at=at, data=data))
    return events


def workload(count: int, stations: list[str], month: date, time_zone: str, seed: int = 11,
             cohorts: dict[str, str] | None = None) -> Workload:
    """`count` events: each dispute's incident and case life (about 6 events), plus crimes' incidents."""
    cohorts = cohorts or {}
    rng = random.Random(seed)
    start, end = month_bounds(month, time_zone)
    span = (end - start).total_seconds()
    incidents: list[Envelope] = []
    cases: list[Envelope] = []
    number = closed = case_ids = 0
    while len(incidents) + len(cases) < count:
        number += 1
        station = rng.choice(stations)
        at = start + timedelta(seconds=rng.uniform(0, span * 0.9))
        household = int(rng.paretovariate(1.2) * 10)
        if rng.random() < CRIMES_PER_DISPUTE / (1 + CRIMES_PER_DISPUTE):
            incidents.append(_incident(f"LC{number}", station, at, "crime", rng, household, cohorts.get(station)))
            continue
        incident = _incident(f"LD{number}", station, at, "dispute", rng, household, cohorts.get(station))
        life = _case_events(incident, rng)[:count - len(incidents) - len(cases) - 1]
        incidents.append(incident)
        cases += life
        case_ids += bool(life)
        closed += bool(life) and life[-1].type == "case.closed"
    return Workload({INCIDENT_TOPIC: incidents, CASE_TOPIC: cases}, len(incidents), case_ids, closed)


async def publish(producer: EventProducer, prefix: str, load: Workload, chunk: int = 10_000) -> float:
    """Publish every event (each topic in order, so a case's events keep theirs); seconds taken."""
    started = time.perf_counter()
    for topic, events in load.events.items():
        for first in range(0, len(events), chunk):
            await producer.publish_many(prefix + topic, events[first:first + chunk])
    return time.perf_counter() - started


@dataclass(frozen=True)
class Applied:
    """How long the runner took to apply everything, and what the tables hold afterwards."""

    seconds: float
    processed: int
    incidents: int
    cases: int
    closed: int
    runner_cpu: float  # this process (the runner, and the bench's polling) over the timed interval
    postgres_cpu: float  # the database's backends over the timed interval
    machine_busy: float  # share of all cores busy over the timed interval


async def apply(runner, pool: asyncpg.Pool, load: Workload, database_url: str,
                stall_s: float = 120.0) -> Applied:
    """Run the facts runner from its assignment until every event is in processed_events."""
    task = asyncio.create_task(runner.run(), name="bench-facts-runner")
    count = "SELECT count(*) FROM processed_events WHERE consumer = $1"
    try:
        while not runner.assignment():
            if task.done():
                task.result()
                raise RuntimeError("the facts runner stopped before it got partitions")
            await asyncio.sleep(0.005)
        database = database_url.rsplit("/", 1)[1]
        pg_before, own_before, machine = await backend_cpu(database_url, database), time.process_time(), machine_cpu()
        started = time.perf_counter()
        last, last_change = -1, started
        while True:
            done = await pool.fetchval(count, runner.name)
            now = time.perf_counter()
            if done >= load.count:
                break
            if done != last:
                last, last_change = done, now
            elif now - last_change > stall_s:
                raise TimeoutError(f"no progress for {stall_s:.0f} s at {done} of {load.count} events")
            if task.done():
                task.result()
                raise RuntimeError("the facts runner stopped before it applied every event")
            await asyncio.sleep(0.25)  # a count(*) of the ledger; more often would steal CPU from the runner
        seconds = now - started
        runner_cpu, busy = time.process_time() - own_before, busy_between(machine, machine_cpu())
        postgres_cpu = cpu_between(pg_before, await backend_cpu(database_url, database))
    finally:
        runner.stop()
        await asyncio.wait({task}, timeout=30)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM processed_events WHERE consumer = $1) AS processed,"
        " (SELECT count(*) FROM incidents WHERE source = $2) AS incidents,"
        " (SELECT count(*) FROM cases WHERE source = $2) AS cases,"
        " (SELECT count(*) FROM cases WHERE source = $2 AND closed_at IS NOT NULL) AS closed", runner.name, SOURCE)
    return Applied(seconds, row["processed"], row["incidents"], row["cases"], row["closed"], runner_cpu,
                   postgres_cpu, busy)


def expected_links(incidents: list[Envelope], rules: LinkRules) -> dict[str, tuple[bool, bool, str | None]]:
    """Each incident's (repeat_30d, repeat_90d, civil-to-criminal dispute number) by the definition
    (domain/links.py), from the events alone: the latest earlier dispute of the same linking address key
    or caller phone, within 90 days for a dispute and the look-back for a crime of a listed type."""
    by_key: dict[tuple[str, str], list[tuple[datetime, str, str]]] = {}
    for e in incidents:
        d = e.data
        if d["kind"] == "dispute":
            for key in _link_keys(d, rules):
                by_key.setdefault(key, []).append((datetime.fromisoformat(d["received_at"]), d["source"],
                                                   d["incident_number"]))
    for disputes in by_key.values():
        disputes.sort()
    links = {}
    for e in incidents:
        d = e.data
        at = datetime.fromisoformat(d["received_at"])
        earlier = []  # per key, the latest dispute strictly before (bisect_left skips those at the same time)
        for key in _link_keys(d, rules):
            disputes = by_key.get(key, [])
            if (i := bisect.bisect_left(disputes, (at, "", ""))) > 0:
                earlier.append(disputes[i - 1])
        latest = max(earlier, default=None)  # RELINK's order: received_at, source, incident_number, latest first
        if d["kind"] == "dispute":
            links[d["incident_number"]] = (
                latest is not None and latest[0] >= at - timedelta(days=REPEAT_SHORT_DAYS),
                latest is not None and latest[0] >= at - timedelta(days=REPEAT_LONG_DAYS), None)
        else:
            counts = (d["crime_type"] in rules.crime_types and latest is not None
                      and latest[0] >= at - timedelta(days=rules.look_back_days))
            links[d["incident_number"]] = (False, False, latest[2] if counts else None)
    return links


def _link_keys(d: dict, rules: LinkRules) -> list[tuple[str, str]]:
    """The keys an incident links by: its address key at a linking precision, its caller phone."""
    keys = [("phone", d["caller_phone_hmac"])] if d["caller_phone_hmac"] else []
    if d["address_key"] and d["address_precision"] in rules.linking_precisions:
        keys.append(("address", d["address_key"]))
    return keys


async def links_differ(pool: asyncpg.Pool, load: Workload, rules: LinkRules) -> tuple[int, dict[str, int]]:
    """How many live incidents' stored links differ from the definition, and the expected link counts."""
    expected = expected_links(load.events[INCIDENT_TOPIC], rules)
    rows = await pool.fetch("SELECT incident_number, repeat_30d, repeat_90d, c2c_incident_number FROM incidents"
                            " WHERE source = $1", SOURCE)
    stored = {r["incident_number"]: (r["repeat_30d"], r["repeat_90d"], r["c2c_incident_number"]) for r in rows}
    differ = sum(stored.get(number) != links for number, links in expected.items()) + len(stored.keys() - expected)
    counts = {"repeat_30d": sum(v[0] for v in expected.values()), "repeat_90d": sum(v[1] for v in expected.values()),
              "civil_to_criminal": sum(v[2] is not None for v in expected.values())}
    return differ, counts
