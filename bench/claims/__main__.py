"""bench.claims: claims per second and p50/p99 latency of POST /v1/queue/claim-next with many
concurrent mediators over real HTTP against the real database, beside the claim statement the API runs
(repository.claim_next) run directly with asyncpg in the same run: the floor the API adds to. Two loops:
closed (every mediator calls again as soon as it has its answer: how fast it can go) and open (calls
arrive at a fixed offered rate: what a mediator waits at that load; bench/claims/open_loop.py).

    .venv/bin/python -m bench.claims [--cases 20000] [--mediators 200] [--seed 1] [--budget 60]
                                     [--sql-connections 10,200] [--client lean|httpx|httpx-shared] [--api-pool 10]
                                     [--open-rate 300] [--open-duration 20]
"""
import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

from bench.claims import clients, load, open_loop, runners, server
from bench.claims.runners import Run
from bench.common.cpu import cpu_seconds
from bench.common.stack import ensure_stack
from deploy.local.processes import free_port
from services.mediation.bootstrap import build_context
from services.mediation.settings import MediationSettings
from shared.db.migrations import migrate
from shared.db.provision import drop_database, ensure_database
from shared.events.mediation import CASE_TOPIC
from shared.kafka.admin import delete_topics_with_prefix, ensure_registered_topics
from shared.resources import open_resources

# Issue 17: HTTP at least half the direct statement's rate, at most 600 µs of API CPU per claim, and
# p99 under 50 ms at an offered 300 claims/s.
TARGET_RATIO, TARGET_API_US, TARGET_P99_MS = 0.5, 600, 50


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--mediators", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=float, default=60, help="seconds each run may take at most")
    parser.add_argument("--client", choices=clients.CLIENTS, default="lean",
                        help="the mediators' HTTP client (bench/claims/clients.py); httpx-shared: one httpx client "
                             "with a pool of --mediators connections")
    parser.add_argument("--sql-connections", default="10,200",
                        help="comma-separated pool sizes for the direct SQL runs (one run each)")
    parser.add_argument("--api-pool", type=int, default=10, help="the API's database connections "
                                                                 "(MEDIATION_DATABASE_POOL_SIZE)")
    parser.add_argument("--open-rate", type=float, default=300, help="offered claims/s of the open loop; 0: none")
    parser.add_argument("--open-duration", type=float, default=20, help="seconds of the open loop")
    args = parser.parse_args()
    args.sql_connections = [int(c) for c in args.sql_connections.split(",") if c]
    return args


async def measure_api(settings: MediationSettings, mediators: list[load.Mediator], args: argparse.Namespace,
                      run_id: str) -> tuple[Run, dict[str, float], open_loop.OpenRun | None, dict[str, float]]:
    """Start the API; the open loop first (if asked), then the queue is reset and the mediators drain it in a
    closed loop. Each run and the CPU seconds spent in it."""
    port = free_port()
    env = {"MEDIATION_DATABASE_URL": settings.database_url, "MEDIATION_TOPIC_PREFIX": settings.topic_prefix,
           "MEDIATION_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "MEDIATION_LOG_LEVEL": os.environ.get("BENCH_API_LOG_LEVEL", "WARNING"), "MEDIATION_HTTP_PORT": str(port),
           "MEDIATION_DATABASE_POOL_SIZE": str(args.api_pool)}
    process = server.start(env, port, Path(f"/tmp/bench-claims-{run_id}.log"))
    url, name = settings.database_url, settings.database_name

    async def measured(work):
        pg_before = await server.backend_cpu(url, name)
        api_before, own_before, machine = cpu_seconds(process.pid), time.process_time(), server.machine_cpu()
        run = await work
        run.busy = server.busy_between(machine, server.machine_cpu())
        return run, {"api": cpu_seconds(process.pid) - api_before, "client": time.process_time() - own_before,
                     "postgres": server.cpu_between(pg_before, await server.backend_cpu(url, name))}

    try:
        opened, open_cpu = None, {}
        if args.open_rate > 0:
            opened, open_cpu = await measured(open_loop.over_http(port, mediators, args.open_rate, args.open_duration,
                                                                        client=args.client))
            opened.problems = await runners.check(url, opened, mediators)
            await load.reset(url)
        run, cpu = await measured(runners.over_http(port, mediators, args.budget, client=args.client))
    finally:
        server.stop(process)
    return run, cpu, opened, open_cpu


def row(label: str, run: Run, ratio: str = "") -> str:
    """One line of the result table."""
    return (f"{label:<52}{len(run.claims):>8}{run.rate:>10,.0f}{run.ms(0.5):>8.1f}{run.ms(0.99):>8.1f}"
            f"{max(run.latencies, default=0) * 1000:>8.1f}{ratio:>9}")


def cpu_line(label: str, run: Run, cpu: dict[str, float], client: str) -> str:
    """Where the CPU of a run went, per claim."""
    claims = max(len(run.claims), 1)
    return (f"{label}: mediation API process {cpu['api']:.1f} s for {run.elapsed:.1f} s wall "
            f"({cpu['api'] / run.elapsed:.0%} of one core; {cpu['api'] / claims * 1e6:,.0f} µs per claim); "
            f"PostgreSQL backends {cpu['postgres']:.1f} s ({cpu['postgres'] / claims * 1e6:,.0f} µs per claim); "
            f"benchmark client ({client}) {cpu['client']:.1f} s; machine {run.busy:.0%} busy of {os.cpu_count()} cores")


def report(args: argparse.Namespace, loaded_s: float, api: Run, cpu: dict[str, float],
           sql: list[tuple[int, Run, float, list[str]]], api_problems: list[str],
           opened: open_loop.OpenRun | None, open_cpu: dict[str, float]) -> bool:
    """Print the table, the targets, the CPU and the checks; True when every check passed."""
    print(f"\ncases={args.cases} over {len(load.STATIONS)} stations, mediators={args.mediators} "
          f"({args.mediators // len(load.STATIONS)} per station), budget {args.budget:.0f} s per run, "
          f"seed {args.seed}; cases loaded through dispute_handler in {loaded_s:.1f} s; "
          f"the API holds {args.api_pool} database connections\n")
    print(f"{'measurement':<52}{'claims':>8}{'claims/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'API/SQL':>9}")
    print("-" * 103)
    print(row(f"claim-next over HTTP ({args.mediators} mediators, {args.client})", api))
    for connections, run, _, _ in sql:
        print(row(f"claim statement via asyncpg ({args.mediators} tasks, {connections} conns)", run,
                  f"{api.rate / run.rate:.2f}"))
    if opened is not None:
        print(row(f"open loop: {opened.offered_rate:,.0f}/s offered for {args.open_duration:.0f} s "
                  f"({opened.offered} calls)", opened))
    best = max((run.rate for _, run, _, _ in sql), default=float("nan"))
    ratio = api.rate / best
    api_us = cpu["api"] / max(len(api.claims), 1) * 1e6
    doubles = len(api.claims) - len({c[0] for c in api.claims})
    print(f"\ntargets: HTTP ≥ {TARGET_RATIO}× the best direct run {'met' if ratio >= TARGET_RATIO else 'NOT met'} "
          f"({ratio:.2f}); ≤ {TARGET_API_US} µs API CPU per claim {'met' if api_us <= TARGET_API_US else 'NOT met'} "
          f"({api_us:,.0f}, closed loop)", end="")
    if opened is not None:
        p99 = opened.ms(0.99)
        print(f"; p99 < {TARGET_P99_MS} ms at {opened.offered_rate:,.0f}/s offered "
              f"{'met' if p99 < TARGET_P99_MS else 'NOT met'} ({p99:.1f})", end="")
    print(f"; zero double claims {'met' if doubles == 0 else 'NOT met'} ({doubles})")
    print(cpu_line("closed loop", api, cpu, args.client))
    if opened is not None:
        print(cpu_line("open loop", opened, open_cpu, args.client) + f"; the scheduler fell behind by {opened.late_s * 1000:.1f} ms "
              "at worst")
    for connections, run, client_cpu, _ in sql:
        print(f"direct SQL, {connections} conns: client (asyncpg) CPU {client_cpu:.1f} s for {run.elapsed:.1f} s wall; "
              f"machine {run.busy:.0%} busy")
    ok = True
    runs = [("HTTP", api, api_problems)] + [(f"SQL/{c}", r, p) for c, r, _, p in sql]
    if opened is not None:
        runs.append(("HTTP open loop", opened, opened.problems))
    for label, run, problems in runs:
        ok &= not problems
        print(f"check {label}: {len(run.claims)} claims answered of {args.cases} cases, "
              f"{len({c[0] for c in run.claims})} distinct, {run.empty} empty-queue answers → "
              f"{'OK' if not problems else 'FAILED: ' + '; '.join(problems)}")
    return ok


async def main(args: argparse.Namespace) -> int:
    """Provision, load, measure direct SQL then HTTP, clean up, report; the exit status."""
    bootstrap, server_url = ensure_stack()
    run_id = uuid.uuid4().hex[:10]
    prefix, database_url = f"bench{run_id}.", f"{server_url}/bench_claims_{run_id}"
    settings = MediationSettings(kafka_bootstrap_servers=bootstrap, database_url=database_url,
                                 topic_prefix=prefix, log_level="WARNING")
    mediators = load.mediators(settings.jwt_secret.get_secret_value(), args.mediators)
    events = load.disputes(args.cases, args.seed)
    await ensure_database(database_url)
    await ensure_registered_topics(bootstrap, prefix=prefix)
    try:
        await migrate(database_url, "services.mediation")
        started = time.perf_counter()
        async with open_resources(settings) as resources:
            await load.load(build_context(resources), events)
        loaded_s = time.perf_counter() - started
        sql = []
        # The direct runs first: each ends with every case back to pending, so all runs see the same queue.
        for connections in args.sql_connections:
            before, machine = time.process_time(), server.machine_cpu()
            run = await runners.over_sql(database_url, mediators, args.budget, connections,
                                         settings.topic(CASE_TOPIC))
            run.busy = server.busy_between(machine, server.machine_cpu())
            sql.append((connections, run, time.process_time() - before,
                        await runners.check(database_url, run, mediators)))
            await load.reset(database_url)
        api, cpu, opened, open_cpu = await measure_api(settings, mediators, args, run_id)
        problems = await runners.check(database_url, api, mediators)
        entries, distinct = await runners.timeline_claims(database_url)
        if not entries == distinct == len(api.claims):
            problems.append(f"timeline has {entries} claim entries on {distinct} cases for {len(api.claims)} answers")
    finally:
        await drop_database(database_url)
        await delete_topics_with_prefix(bootstrap, prefix)
    return 0 if report(args, loaded_s, api, cpu, sql, problems, opened, open_cpu) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
