"""The backfill: N dispute records posted as fast as intake takes them, timed until the last case
exists in mediation and the last incident fact in assessment."""
import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import httpx

from bench.e2e.fleet import Fleet, Offsets
from shared.events.intake import DISPUTE_TOPIC, INCIDENT_TOPIC
from shared.events.mediation import CASE_TOPIC

STAGES = ("intake", "mediation", "assessment")


@dataclass
class BackfillResult:
    records: int
    accepted: int = 0
    not_new: int = 0
    retries: int = 0
    # (seconds since the first POST, intake accepted, mediation cases committed, assessment incident
    # facts committed, assessment case events committed), one sample every `sample_s`
    timeline: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    done_at: dict[str, float] = field(default_factory=dict)  # stage -> seconds since the first POST
    batch_latencies: list[float] = field(default_factory=list)
    ends: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # exact row counts at the end
    timed_out: bool = False

    def rate(self, stage: str) -> float:
        """Records per second from the first POST until the stage held all of them."""
        return self.records / self.done_at[stage] if stage in self.done_at else float("nan")

    def steady_rate(self, stage: str, low: float = 0.1, high: float = 0.9) -> float:
        """The stage's own pace while it ran: records between 10% and 90% of N over the time between."""
        column = 1 + STAGES.index(stage)
        t_low = next((row[0] for row in self.timeline if row[column] >= low * self.records), None)
        t_high = next((row[0] for row in self.timeline if row[column] >= high * self.records), None)
        if t_low is None or t_high is None or t_high <= t_low:
            return float("nan")
        return (high - low) * self.records / (t_high - t_low)


async def run(fleet: Fleet, bodies: list[bytes], records: int, *, concurrency: int, timeout_s: float,
              sample_s: float = 0.5, on_intake_done: Callable[[], Awaitable[None]] | None = None) -> BackfillResult:
    result = BackfillResult(records=records)
    token = fleet.token("bench-e2e-backfill", ["feed"])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    queue = list(reversed(bodies))
    accepted, last_answer, origin = 0, 0.0, 0.0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted, last_answer
        while queue:
            body = queue.pop()
            started = time.monotonic()
            for attempt in range(3):
                try:
                    answer = await client.post("/v1/dispatch-records/batch", content=body)
                    break
                except httpx.TransportError:  # e.g. a keep-alive connection the server just closed
                    result.retries += 1
                    if attempt == 2:
                        raise
            result.batch_latencies.append(time.monotonic() - started)
            answer.raise_for_status()
            summary = answer.json()["summary"]
            # A retried batch may have been taken the first time: intake then answers "duplicate".
            accepted += summary.get("accepted", 0) + (summary.get("duplicate", 0) if attempt else 0)
            last_answer = time.monotonic() - origin
            result.not_new += sum(n for status, n in summary.items()
                                  if status != "accepted" and not (attempt and status == "duplicate"))

    async with Offsets(fleet) as offsets, httpx.AsyncClient(base_url=fleet.url("intake"), headers=headers,
                                                            timeout=300,
                                                            limits=httpx.Limits(keepalive_expiry=2.0)) as client:
        origin = time.monotonic()
        posting = asyncio.gather(*(worker(client) for _ in range(concurrency)))
        deadline = origin + timeout_s
        while True:
            await asyncio.sleep(sample_s)
            now = time.monotonic() - origin
            if posting.done():
                posting.result()  # an HTTP failure ends the run here
                if "intake" not in result.done_at:
                    result.done_at["intake"] = last_answer
                    if on_intake_done:
                        await on_intake_done()
            fleet.group.check_alive()
            committed = await offsets.committed()
            result.timeline.append((now, accepted, committed["mediation"], committed["assessment"],
                                    committed["assessment_cases"]))
            # Events intake left to its outbox relay (Kafka slow to acknowledge) are not on the topics yet,
            # while a publish that timed out may still land beside its relayed copy: only with the outbox
            # empty do the topics' end offsets hold every accepted record.
            if posting.done() and await intake_outbox(fleet) == 0:
                result.ends = ends = await offsets.ends()
                for stage, topic in (("mediation", DISPUTE_TOPIC), ("assessment", INCIDENT_TOPIC)):
                    if committed[stage] >= ends[topic] and ends[topic] >= accepted:
                        result.done_at.setdefault(stage, now)
                if all(s in result.done_at for s in STAGES):
                    break
            if time.monotonic() > deadline:
                result.timed_out = True
                posting.cancel()
                break
        result.accepted = accepted
        # Where the case events stood when the run was timed: assessment also has to catch up on those.
        result.ends = await offsets.ends()
        result.counts["assessment case events committed"] = (await offsets.committed())["assessment_cases"]
        result.counts["case events on mediation.case.v1"] = result.ends[CASE_TOPIC]
    result.counts |= await exact_counts(fleet)
    return result


async def intake_outbox(fleet: Fleet) -> int:
    """Events intake has committed and not yet seen acknowledged by Kafka."""
    conn = await asyncpg.connect(fleet.urls["intake"])
    try:
        return await conn.fetchval("SELECT count(*) FROM outbox")
    finally:
        await conn.close()


async def exact_counts(fleet: Fleet) -> dict[str, int]:
    """Rows at the end, counted in each service's database."""
    found = {}
    for service, label, query in (
            ("intake", "intake dispatch_records", "SELECT count(*) FROM dispatch_records"),
            ("mediation", "mediation cases", "SELECT count(*) FROM cases"),
            ("assessment", "assessment incidents", "SELECT count(*) FROM incidents")):
        conn = await asyncpg.connect(fleet.urls[service])
        try:
            found[label] = await conn.fetchval(query)
        finally:
            await conn.close()
    return found
