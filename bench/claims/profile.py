"""bench.claims.profile: where the mediation API's CPU goes per claim-next, measured in one process.

    .venv/bin/python -m bench.claims.profile [--calls 1000] [--top 25]

The app runs in this process (its real lifespan, pool and producer, on uvloop) and is called through
httpx's ASGI transport (no sockets, no HTTP parsing: httptools' share is left out), one call at a time, so the CPU this process spends is the API's plus the client's, and nothing
else on the machine can inflate it: a contended machine stretches wall time, not process time. The client
alone is measured too (the same calls to a do-nothing ASGI app) and subtracted. cProfile then shows which
parts of the request take the API's share. PostgreSQL's CPU is not in it (the bench's main run has it).
"""
import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
import uuid

import httpx
import uvloop

from bench.claims import load
from bench.common.stack import ensure_stack
from services.mediation.api import create_app
from services.mediation.bootstrap import build_context
from services.mediation.settings import MediationSettings
from shared.db.migrations import migrate
from shared.db.provision import drop_database, ensure_database
from shared.kafka.admin import delete_topics_with_prefix, ensure_registered_topics
from shared.logging import configure_logging
from shared.resources import open_resources


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="per measurement (there are two, and a profile)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measurements of each, alternating; the median is printed (one is noisy)")
    parser.add_argument("--top", type=int, default=25)
    return parser.parse_args()


async def _nothing(scope, receive, send) -> None:
    """An ASGI app that answers 200 with a small JSON body: the client's own cost."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


async def calls(app, token: str, n: int) -> tuple[float, int]:
    """n claim-next calls one after another; (process CPU seconds, claims answered)."""
    claimed = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mediation",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        await client.post("/v1/queue/claim-next")  # the token is verified and cached on the first call
        started = time.process_time()
        for _ in range(n):
            answer = await client.post("/v1/queue/claim-next")
            claimed += answer.status_code == 200
        return time.process_time() - started, claimed


async def main(args: argparse.Namespace) -> int:
    """Provision, load, measure, profile, clean up."""
    bootstrap, server_url = ensure_stack()
    run_id = uuid.uuid4().hex[:10]
    prefix, database_url = f"benchprof{run_id}.", f"{server_url}/bench_profile_{run_id}"
    settings = MediationSettings(kafka_bootstrap_servers=bootstrap, database_url=database_url, topic_prefix=prefix,
                                 log_level="WARNING", outbox_relay_seconds=3600)  # the relay stays out of it
    configure_logging(settings.service_name, settings.log_level)  # as `fengqiao-mediation api` does
    mediator = load.mediators(settings.jwt_secret.get_secret_value(), 1)[0]
    await ensure_database(database_url)
    await ensure_registered_topics(bootstrap, prefix=prefix)
    try:
        await migrate(database_url, "services.mediation")
        async with open_resources(settings) as resources:
            # Enough pending cases at the mediator's station for every call to claim one.
            await load.load(build_context(resources),
                            load.disputes(((args.rounds + 1) * args.calls + 2) * len(load.STATIONS), 1))
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await calls(_nothing, mediator.token, min(args.calls, 200))  # warm both paths up
            client_cpus, total_cpus, claimed = [], [], 0
            for _ in range(args.rounds):
                client_cpus.append((await calls(_nothing, mediator.token, args.calls))[0])
                total, answered = await calls(app, mediator.token, args.calls)
                total_cpus.append(total)
                claimed += answered
            client_cpu, total_cpu = statistics.median(client_cpus), statistics.median(total_cpus)
            profiler = cProfile.Profile(time.process_time)  # CPU, not wall: contention does not count
            profiler.enable()
            await calls(app, mediator.token, args.calls)
            profiler.disable()
    finally:
        await drop_database(database_url)
        await delete_topics_with_prefix(bootstrap, prefix)
    per_call = (total_cpu - client_cpu) / args.calls * 1e6
    spread = ", ".join(f"{(t - c) / args.calls * 1e6:,.0f}" for t, c in zip(total_cpus, client_cpus))
    print(f"{args.rounds} rounds of {args.calls} claim-next calls, {claimed} claims: {total_cpu / args.calls * 1e6:,.0f} µs"
          f" of process CPU per call (median), of which the httpx client {client_cpu / args.calls * 1e6:,.0f} µs: "
          f"the API {per_call:,.0f} µs (rounds: {spread})")
    out = io.StringIO()
    # CPU time per function (with the profiler's own overhead: the shares are what to read).
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(uvloop.run(main(parse_args())))  # the event loop `fengqiao-mediation api` runs on
