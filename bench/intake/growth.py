"""bench.intake.growth: does intake slow down as its tables grow? The backfill's feed (bench/e2e/feed.py,
one new dispute per record, a month of history) ingested in-process, batch after batch, into one
database, with the outbox relay running as in the API; per slice of records: records/s, intake CPU per
record, the time of each statement of a batch, and what grew (tables, indexes, dead rows).

    .venv/bin/python -m bench.intake.growth [--records 200000] [--slice 20000] [--batch 1000]

No HTTP (bench.intake measures that); the records, SQL, outbox and Kafka sends are the API's.
"""
import argparse
import asyncio
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from bench.common.scratch import scratch
from bench.e2e.feed import DisputeFeed, backfill_bodies
from services.intake import repository
from services.intake.bootstrap import IntakeContext, intake_context
from services.intake.handlers import ingest
from services.intake.parsing import parse_ndjson
from services.intake.settings import IntakeSettings
from shared import outbox
from shared.collector import settled_collector

SIZES = """
SELECT c.relname, pg_relation_size(c.oid) AS bytes, coalesce(s.n_dead_tup, 0) AS dead
FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i') ORDER BY c.relname
"""


class StatementClock:
    """Wall time per repository function and outbox step, summed since the last take()."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, owner: object, name: str) -> None:
        """Time every call of owner.name (an async function) under its name."""
        original = getattr(owner, name)

        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - started

        setattr(owner, name, timed)

    def take(self) -> dict[str, float]:
        spent, self.spent = dict(self.spent), defaultdict(float)
        return spent


async def main(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:10]
    bodies = backfill_bodies(DisputeFeed(run_id), args.records, args.batch, now=datetime.now(UTC))
    clock = StatementClock()
    for name in ("lock_incidents", "stored_revisions", "called_before", "upsert_records", "insert_rejected"):
        clock.wrap(repository, name)
    for name in ("write", "publish"):
        clock.wrap(outbox, name)
    async with scratch("growth", "intake") as run:
        settings = IntakeSettings(kafka_bootstrap_servers=run.bootstrap, database_url=run.database_url,
                                  topic_prefix=run.prefix)
        async with intake_context(settings) as ctx, outbox.relaying(
                ctx.pool, ctx.producer, settings.outbox_relay_seconds, self_publishing=True):
            await slices(ctx, bodies, clock, args)
    return 0


async def slices(ctx: IntakeContext, bodies: list[bytes], clock: StatementClock, args: argparse.Namespace) -> None:
    """Ingest the bodies, printing a line per slice, with the collector settled as in the API's lifespan."""
    with settled_collector():
        profile = ctx.profile("fengqiao_json")
        per_slice = max(1, args.slice // args.batch)
        print(f"{'records':>9} {'rec/s':>7} {'µs CPU':>7}  ms per batch: "
              "lock stored called upsert outbox.write publish  | dispatch_records MB, its indexes MB, outbox dead")
        for first in range(0, len(bodies), per_slice):
            wall, cpu = time.perf_counter(), time.process_time()
            done = 0
            for body in bodies[first:first + per_slice]:
                done += len(await ingest(ctx, list(parse_ndjson(body)), profile=profile, channel="http"))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            spent, batches = clock.take(), len(bodies[first:first + per_slice])
            sizes = await ctx.pool.fetch(SIZES)
            table = sum(r["bytes"] for r in sizes if r["relname"] == "dispatch_records")
            indexes = sum(r["bytes"] for r in sizes if r["relname"].startswith("dispatch_records_")
                          or r["relname"] == "dispatch_records_pkey")
            dead = sum(r["dead"] for r in sizes if r["relname"] == "outbox")
            ms = [spent.get(n, 0) / batches * 1000 for n in
                  ("lock_incidents", "stored_revisions", "called_before", "upsert_records", "write", "publish")]
            print(f"{min(len(bodies), first + per_slice) * args.batch:>9,} {done / wall:>7,.0f} "
                  f"{cpu / done * 1e6:>7.0f}  " + " ".join(f"{m:6.1f}" for m in ms)
                  + f"  | {table / 2**20:8.1f} {indexes / 2**20:8.1f} {dead:8,}")


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--slice", type=int, default=20_000, help="records per printed line")
    parser.add_argument("--batch", type=int, default=1000)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
