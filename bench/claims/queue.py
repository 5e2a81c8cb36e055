"""bench.claims.queue: the claim queue's page query (`repository.QUEUE`, behind GET /v1/queue) on a large
queue, beside the plain statement of its order (a filter and ORDER BY over all pending cases, which was
QUEUE until the index could serve it). Both must answer the same rows; the plans and times are printed.

    .venv/bin/python -m bench.claims.queue [--cases 100000] [--seed 1] [--repeat 20] [--plans]

N pending disputes (bench.claims.load's: four stations, about one in ten high risk) are opened through
`dispute_handler`. Each caller reads its first page, the page across the high-risk/normal boundary and
a page deep in the queue; every page is checked against the plain statement, and each statement is timed
(median of --repeat runs). --plans prints `EXPLAIN (ANALYZE, BUFFERS)` of both for the first and the deep page.
"""
import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.claims import load
from bench.common.stack import ensure_stack
from services.mediation import repository
from services.mediation.bootstrap import build_context
from services.mediation.domain.access import channels_for
from services.mediation.settings import MediationSettings
from shared.db.migrations import migrate
from shared.db.provision import drop_database, ensure_database
from shared.kafka.admin import delete_topics_with_prefix, ensure_registered_topics
from shared.resources import open_resources

PLAIN = f"""
SELECT {repository.CASE_COLUMNS} FROM cases
WHERE state = 'pending' AND station_code = ANY($1::text[]) AND channel = ANY($2::text[])
  AND (NOT high_risk, received_at, id) > ($3::boolean, $4::timestamptz, $5::uuid)
ORDER BY NOT high_risk, received_at, id
LIMIT $6
"""
PAGE = 50
START = (False, datetime.min.replace(tzinfo=UTC) + timedelta(days=1), uuid.UUID(int=0))  # handlers.queue's


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--plans", action="store_true")
    return parser.parse_args()


def callers() -> list[tuple[str, list[str], list[str]]]:
    """(who, stations, channels) as handlers.queue passes them."""
    return [("mediator, one station", [load.STATIONS[0]], sorted(channels_for({"mediator"}))),
            ("station chief, one station", [load.STATIONS[0]], sorted(channels_for({"station_chief"}))),
            ("auditor, four stations", sorted(load.STATIONS), sorted(channels_for({"auditor"})))]


def after(row) -> tuple:
    """The cursor after a row, as handlers.parse_cursor returns it."""
    return not row["high_risk"], row["received_at"], row["id"]


async def timed(conn: asyncpg.Connection, query: str, args: tuple, repeat: int) -> tuple[list, float]:
    """The rows and the median milliseconds of the statement."""
    rows, times = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = await conn.fetch(query, *args)
        times.append((time.perf_counter() - started) * 1000)
    return rows, statistics.median(times)


async def measure(conn: asyncpg.Connection, args: argparse.Namespace) -> bool:
    """Print a line per caller and page, and the plans; True when every page matched."""
    ok = True
    print(f"{'caller':<28}{'page':<10}{'pending':>9}{'plain ms':>10}{'QUEUE ms':>10}  same rows")
    for who, stations, channels in callers():
        pending = await conn.fetch(PLAIN, stations, channels, *START, 10 ** 9)
        high = sum(r["high_risk"] for r in pending)
        pages = {"first": START, "boundary": after(pending[max(high - PAGE // 2, 0)]),
                 "deep": after(pending[len(pending) * 2 // 3])}
        for page, start in pages.items():
            call = (stations, channels, *start, PAGE)
            plain, plain_ms = await timed(conn, PLAIN, call, args.repeat)
            rows, queue_ms = await timed(conn, repository.QUEUE, call, args.repeat)
            same = [dict(r) for r in rows] == [dict(r) for r in plain] and len(rows) == PAGE
            ok &= same
            print(f"{who:<28}{page:<10}{len(pending):>9,}{plain_ms:>10.2f}{queue_ms:>10.2f}  {'yes' if same else 'NO'}")
            if args.plans and page in ("first", "deep"):
                for label, query in (("plain", PLAIN), ("QUEUE", repository.QUEUE)):
                    plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query, *call)
                    print(f"\n--- {label}, {who}, {page} page:")
                    print("\n".join(r[0] for r in plan) + "\n")
    return ok


async def main(args: argparse.Namespace) -> int:
    """Provision, load, measure, clean up; the exit status."""
    bootstrap, server_url = ensure_stack()
    run_id = uuid.uuid4().hex[:10]
    prefix, database_url = f"benchqueue{run_id}.", f"{server_url}/bench_queue_{run_id}"
    settings = MediationSettings(kafka_bootstrap_servers=bootstrap, database_url=database_url,
                                 topic_prefix=prefix, log_level="WARNING")
    await ensure_database(database_url)
    await ensure_registered_topics(bootstrap, prefix=prefix)
    try:
        await migrate(database_url, "services.mediation")
        started = time.perf_counter()
        async with open_resources(settings) as resources:
            await load.load(build_context(resources), load.disputes(args.cases, args.seed))
        print(f"{args.cases:,} pending cases opened through dispute_handler in {time.perf_counter() - started:.1f} s")
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("VACUUM ANALYZE cases")
            ok = await measure(conn, args)
        finally:
            await conn.close()
    finally:
        await drop_database(database_url)
        await delete_topics_with_prefix(bootstrap, prefix)
    print("check: " + ("OK" if ok else "FAILED: QUEUE and the plain statement answered different pages"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
