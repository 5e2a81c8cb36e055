"""The open loop: claim-next calls arrive at a fixed offered rate, whatever the API answers, spread
round-robin over the mediators (each with its own connection, as separate browsers: bench/claims/clients.py).

A closed loop (each mediator calling again as soon as it has an answer) measures how fast the API can
go, but its latency is only the queue the mediators themselves make: 200 mediators at N claims/s wait
200 / N s on average. Here the calls come on a schedule, so latency says what a mediator waits at a
given load. It is measured from the call's scheduled time, not from when it was sent: a call that had
to wait for its mediator's connection counts that wait too (no coordinated omission).
"""
import asyncio
import time
from dataclasses import dataclass, field

import orjson

from bench.claims.clients import TRANSPORT_ERRORS, ClaimNext, claim_next_callers
from bench.claims.load import Mediator
from bench.claims.runners import Run


@dataclass
class OpenRun(Run):
    """An open-loop run: the claims and latencies, plus what was offered."""

    offered_rate: float = 0.0
    offered: int = 0
    late_s: float = 0.0  # how far the scheduler itself fell behind at worst (the client's own limit)
    problems: list[str] = field(default_factory=list)


async def over_http(port: int, mediators: list[Mediator], rate: float, duration_s: float, *,
                    client: str = "lean") -> OpenRun:
    """Offer `rate` claim-next calls per second for `duration_s` seconds; every call is awaited at the end."""
    run = OpenRun(offered_rate=rate)
    async with claim_next_callers(client, port, mediators) as callers:
        async def call(claim_next: ClaimNext, scheduled: float) -> None:
            try:
                answer = await claim_next()
            except TRANSPORT_ERRORS as exc:
                run.errors[type(exc).__name__] += 1
                return
            took = time.perf_counter() - scheduled
            if answer.status == 404:
                run.empty += 1
            elif answer.status != 200:
                run.errors[answer.status] += 1
            else:
                case = orjson.loads(answer.body)
                run.claims.append((case["id"], case["claimed_by"], case["station_code"]))
                run.latencies.append(took)

        calls = []
        total = int(rate * duration_s)
        started = time.perf_counter()
        for i in range(total):
            scheduled = started + i / rate
            wait = scheduled - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                run.late_s = max(run.late_s, -wait)
            calls.append(asyncio.create_task(call(callers[i % len(callers)], scheduled)))
        run.offered = total
        await asyncio.gather(*calls)
        run.elapsed = time.perf_counter() - started
    return run
