"""The sustained feed: dispute records posted on a fixed, open-loop schedule, and the time from just
before each record's POST until the bench's poller first sees its case claimable in mediation."""
import asyncio
import heapq
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.common.percentiles import percentile
from bench.e2e.feed import STATIONS, DisputeFeed
from bench.e2e.fleet import Fleet
from services.mediation.domain.routing import CHANNELS
from services.mediation.queue import cursor_of

NIL = "00000000-0000-0000-0000-000000000000"
# The claim queue's own condition (services/mediation/repository.py QUEUE: pending, in the caller's
# stations and channels), cut per station to the cases received since that station's oldest record
# not seen yet. Every condition is one of the cases_queue index (station_code, channel, high_risk DESC,
# received_at, id) WHERE state = 'pending': a poll reads the windows only, however long the queue is.
# A station's records share one partition of intake.dispute.v1 and are applied in order, so a
# station's window holds few cases already seen, even when the system falls behind.
BRANCH = """(SELECT incident_number FROM cases
 WHERE state = 'pending' AND station_code = ${s} AND channel = ANY($1::text[])
   AND high_risk = ANY('{{true,false}}'::boolean[]) AND received_at >= ${t})"""


def windows_query(stations: int) -> str:
    """One index-driven branch per station, glued with UNION ALL (a join against a list of windows
    is planned as a sequential scan of every case)."""
    return "\nUNION ALL\n".join(BRANCH.format(s=2 + 2 * i, t=3 + 2 * i) for i in range(stations))


MARGIN = timedelta(milliseconds=5)  # received_at is stored to the microsecond; a little slack anyway


class DbProbe:
    """Reads mediation's database with the queue's condition, on one connection of its own."""

    name = "db"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.conn: asyncpg.Connection | None = None
        self.backend_pid = 0

    async def open(self) -> None:
        self.conn = await asyncpg.connect(self.fleet.urls["mediation"])
        self.backend_pid = await self.conn.fetchval("SELECT pg_backend_pid()")

    async def close(self) -> None:
        if self.conn:
            await self.conn.close()

    async def poll(self, windows: dict[str, datetime]) -> list[str]:
        args = [a for station, since in windows.items() for a in (station, since - MARGIN)]
        rows = await self.conn.fetch(windows_query(len(windows)), list(CHANNELS), *args)
        return [r[0] for r in rows]


class ApiProbe:
    """Reads mediation's claim queue (GET /v1/queue) as each station's chief sees it: the high-risk
    part and the rest, each from a cursor at the station's window start."""

    name = "api"

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.client: httpx.AsyncClient | None = None
        self.tokens = {code: fleet.token(f"bench-e2e-probe-{code}", ["station_chief"], [code]) for code in STATIONS}
        self.backend_pid = 0

    async def open(self) -> None:
        self.client = httpx.AsyncClient(base_url=self.fleet.url("mediation"), timeout=30,
                                        limits=httpx.Limits(keepalive_expiry=2.0))

    async def close(self) -> None:
        if self.client:
            await self.client.aclose()

    async def _pages(self, station: str, cursor: str, limit: int, high_risk_only: bool) -> list[str]:
        found = []
        while cursor:
            answer = await self.client.get("/v1/queue", params={"cursor": cursor, "limit": limit},
                                           headers={"Authorization": f"Bearer {self.tokens[station]}"})
            answer.raise_for_status()
            body = answer.json()
            for item in body["items"]:
                if high_risk_only and not item["high_risk"]:
                    return found  # the high-risk part ended; the rest of the page is the other part
                found.append(item["incident_number"])
            cursor = body["next_cursor"]
        return found

    async def poll(self, windows: dict[str, datetime]) -> list[str]:
        found = []
        for station, since in windows.items():
            since -= MARGIN
            # The queue's order is (NOT high_risk, received_at, id): high risk first, then the rest.
            found += await self._pages(station, cursor_of({"high_risk": True, "received_at": since, "id": NIL}),
                                       50, True)
            found += await self._pages(station, cursor_of({"high_risk": False, "received_at": since, "id": NIL}),
                                       500, False)
        return found


@dataclass
class SustainedResult:
    rate: float
    duration: float
    posted: int = 0
    measured: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, POST start -> seen claimable
    post_latencies: list[float] = field(default_factory=list)  # seconds, POST start -> answered (per record)
    after_answer: list[float] = field(default_factory=list)  # seconds, POST answered -> seen claimable
    lags: list[float] = field(default_factory=list)  # client's lateness against the schedule, per batch
    poll_gaps: list[float] = field(default_factory=list)
    schedule_s: float = 0.0  # first POST -> last POST started
    unseen_at_end_of_schedule: int = 0
    unseen: int = 0  # never seen claimable within the drain period
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    rows_polled: int = 0
    # (seconds into the measurement at which the window starts, p50, p99, max) of the end-to-end latency
    # of the records posted in each `window_s` slice: shows whether the tail is steady or comes in bursts
    by_window: list[tuple[float, float, float, float]] = field(default_factory=list)


class Tracker:
    """Records posted and not yet seen claimable: their POST times, and per station the oldest
    received_at among them."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.measured: set[str] = set()  # not the warm-up
        self.seen: dict[str, float] = {}
        self._oldest: dict[str, list[tuple[datetime, str]]] = {}

    def add(self, number: str, station: str, received_at: datetime, started: float, measured: bool) -> None:
        self.started[number] = started
        heapq.heappush(self._oldest.setdefault(station, []), (received_at, number))
        if measured:
            self.measured.add(number)

    def windows(self) -> dict[str, datetime]:
        """Station → the received_at of its oldest record not seen yet (stations with none left out)."""
        found = {}
        for station, heap in self._oldest.items():
            while heap and heap[0][1] in self.seen:
                heapq.heappop(heap)
            if heap:
                found[station] = heap[0][0]
        return found

    def saw(self, numbers: list[str], at: float) -> None:
        for number in numbers:
            if number in self.started and number not in self.seen:
                self.seen[number] = at

    def outstanding(self) -> int:
        return len(self.started) - len(self.seen)


async def run(fleet: Fleet, probe: "DbProbe | ApiProbe", *, rate: float, duration: float, tick_s: float,
              warmup_s: float, drain_s: float, poll_s: float, seed: int, window_s: float = 30) -> SustainedResult:
    """Post `rate` records/s for warmup_s + duration, in batches every tick_s on a fixed schedule that
    never waits for answers; poll (with the opened probe) every poll_s; after the schedule, wait up
    to drain_s for the rest. Records of the warm-up are tracked but not measured."""
    result = SustainedResult(rate=rate, duration=duration)
    feed, tracker = DisputeFeed(fleet.run_id, seed), Tracker()
    per_tick = rate * tick_s
    token = fleet.token("bench-e2e-cad", ["feed"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them under a request.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    posting_done = asyncio.Event()

    async def poller() -> None:
        last = None
        while not (posting_done.is_set() and tracker.outstanding() == 0):
            windows = tracker.windows()
            started = time.monotonic()
            if last is not None:
                result.poll_gaps.append(started - last)
            last = started
            if windows:
                # A case in this answer was committed before the poll's snapshot: `started` bounds it.
                found = await probe.poll(windows)
                result.rows_polled += len(found)
                tracker.saw(found, started)
            await asyncio.sleep(max(0.0, poll_s - (time.monotonic() - started)))

    async def post(client: httpx.AsyncClient, records: list[tuple[str, str, str]], received_at: datetime,
                   measured: bool) -> None:
        started = time.monotonic()
        for number, _, station in records:
            tracker.add(number, station, received_at, started, measured)
        body = "\n".join(r[1] for r in records)
        for attempt in range(3):
            try:
                answer = await client.post("/v1/dispatch-records/batch", content=body)
                answer.raise_for_status()
                break
            except httpx.TransportError as exc:  # e.g. a keep-alive connection the server just closed
                result.retries.append(f"{type(exc).__name__}: {exc}")
                if attempt == 2:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                    return
            except httpx.HTTPError as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}")
                return
        done = time.monotonic()
        for number, _, _ in records:
            tracker.answered[number] = done
        # A retried batch may have been taken the first time: then intake answers "duplicate".
        fine = ("accepted", "duplicate") if attempt else ("accepted",)
        result.rejected += sum(r["status"] not in fine for r in answer.json()["results"])

    poll_task = asyncio.create_task(poller())
    posts: list[asyncio.Task] = []
    ticks = round((warmup_s + duration) / tick_s)
    warm_ticks = round(warmup_s / tick_s)
    carry = 0.0
    async with httpx.AsyncClient(base_url=fleet.url("intake"), headers=headers, timeout=120, limits=limits) as client:
        origin = time.monotonic()
        for k in range(ticks):
            due = origin + k * tick_s
            if (wait := due - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            if k % 50 == 0:
                fleet.group.check_alive()  # a service that died ends the run with its log
            if k >= warm_ticks:
                result.lags.append(time.monotonic() - due)
            carry += per_tick
            count, carry = int(carry), carry - int(carry)
            now = datetime.now(UTC)
            records = [feed.record(now) for _ in range(count)]
            posts.append(asyncio.create_task(post(client, records, now, k >= warm_ticks)))
        result.schedule_s = time.monotonic() - origin - warmup_s
        await asyncio.gather(*posts)
        result.unseen_at_end_of_schedule = len(tracker.measured - tracker.seen.keys())
        posting_done.set()
        try:
            await asyncio.wait_for(asyncio.shield(poll_task), drain_s)
        except TimeoutError:
            poll_task.cancel()
    measured = tracker.measured
    result.posted, result.measured = len(tracker.started), len(measured)
    result.latencies = sorted(tracker.seen[n] - tracker.started[n] for n in measured if n in tracker.seen)
    result.post_latencies = sorted(tracker.answered[n] - tracker.started[n] for n in measured
                                   if n in tracker.answered)
    result.after_answer = [max(0.0, tracker.seen[n] - tracker.answered[n]) for n in measured
                           if n in tracker.seen and n in tracker.answered]
    result.unseen = len(measured) - len(result.latencies)
    measured_from = origin + warmup_s
    slices: dict[int, list[float]] = {}
    for n in measured:
        late = tracker.seen[n] - tracker.started[n] if n in tracker.seen else math.inf
        slices.setdefault(int((tracker.started[n] - measured_from) // window_s), []).append(late)
    for k in sorted(slices):
        values = sorted(slices[k])
        result.by_window.append((k * window_s, percentile(values, .5), percentile(values, .99), values[-1]))
    return result

