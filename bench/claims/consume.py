"""bench.claims.consume: how fast `fengqiao-mediation consume` (its own process, the real consumer runner
and its outbox relay) turns disputes on intake.dispute.v1 into cases, on the real Kafka and PostgreSQL.

    .venv/bin/python -m bench.claims.consume [--cases 20000] [--revisions 0.1] [--seed 1] [--timeout 600]

N dispute.opened events (bench.claims.load's disputes, four stations) are published first, and with
`--revisions` a share of the incidents also get a dispute.updated (revision 2, half of them high risk)
a few dozen events after their opening, so most land in the same batch. Then the consumer starts. The
clock runs from its first committed batch to the last (the group join is left out); every 0.1 s the
bench counts the consumer's rows in processed_events. It prints events/s and cases/s, the CPU of the
consumer process and of the database's backends per case, and checks the end state: one case and one
`created` entry per incident, each update applied.
"""
import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg

from bench.claims import load, server
from bench.common import memory
from bench.common.cpu import cpu_seconds
from bench.common.stack import ROOT, BenchError, ensure_stack
from services.mediation.settings import MediationSettings
from shared.db.migrations import migrate
from shared.db.provision import drop_database, ensure_database
from shared.events.envelope import Envelope
from shared.events.intake import DISPUTE_TOPIC
from shared.kafka.admin import delete_topics_with_prefix, ensure_registered_topics
from shared.kafka.producer import EventProducer

UPDATE_AFTER = 40  # events between an opening and its update: mostly within one batch of 500


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--revisions", type=float, default=0.0, help="share of incidents that also get an update")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    return parser.parse_args()


def feed(n: int, revisions: float, seed: int) -> tuple[list[Envelope], int]:
    """The openings, with updates mixed in after some of them; (events, how many updates)."""
    rng = random.Random(seed)
    events, pending, updates = [], [], 0
    for i, opened in enumerate(load.disputes(n, seed)):
        events.append(opened)
        if rng.random() < revisions:
            flags = ["threat"] if rng.random() < 0.5 else []
            pending.append((i + UPDATE_AFTER, Envelope(type="dispute.updated", producer="intake", key=opened.key,
                                                       data=opened.data | {"revision": 2, "risk_flags": flags})))
        while pending and pending[0][0] <= i:
            events.append(pending.pop(0)[1])
            updates += 1
    for _, update in pending:
        events.append(update)
        updates += 1
    return events, updates


async def processed(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM processed_events")


async def main(args: argparse.Namespace) -> int:
    """Provision, publish, consume, check, clean up; the exit status."""
    bootstrap, server_url = ensure_stack()
    run_id = uuid.uuid4().hex[:10]
    prefix, database = f"benchconsume{run_id}.", f"bench_consume_{run_id}"
    database_url = f"{server_url}/{database}"
    settings = MediationSettings(kafka_bootstrap_servers=bootstrap, database_url=database_url, topic_prefix=prefix)
    events, updates = feed(args.cases, args.revisions, args.seed)
    await ensure_database(database_url)
    await ensure_registered_topics(bootstrap, prefix=prefix)
    log = Path(f"/tmp/bench-consume-{run_id}.log")
    process = None
    try:
        await migrate(database_url, "services.mediation")
        async with EventProducer(bootstrap_servers=bootstrap, client_id="bench-intake") as producer:
            for i in range(0, len(events), 5000):
                await producer.publish_many(settings.topic(DISPUTE_TOPIC), events[i:i + 5000])
        env = {"MEDIATION_DATABASE_URL": database_url, "MEDIATION_TOPIC_PREFIX": prefix,
               "MEDIATION_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "MEDIATION_LOG_LEVEL": "WARNING"}
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-m", "services.mediation", "consume"], cwd=ROOT,
                                       env=os.environ | env, stdout=out, stderr=subprocess.STDOUT)
        memory.watch(process, "mediation consume")  # prints the consumer's peak RSS once it has stopped
        conn = await asyncpg.connect(database_url)
        try:
            deadline = time.monotonic() + args.timeout
            while (done := await processed(conn)) == 0:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise BenchError(f"the consumer committed nothing; see {log}")
                await asyncio.sleep(0.02)
            first_at, first_done = time.monotonic(), done
            consumer_cpu, pg_cpu = cpu_seconds(process.pid), await server.backend_cpu(database_url, database)
            machine = server.machine_cpu()
            while done < len(events):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise BenchError(f"{done} of {len(events)} events after {args.timeout:.0f} s; see {log}")
                await asyncio.sleep(0.1)
                done = await processed(conn)
            elapsed = time.monotonic() - first_at
            consumer_cpu = cpu_seconds(process.pid) - consumer_cpu
            pg_cpu = server.cpu_between(pg_cpu, await server.backend_cpu(database_url, database))
            busy = server.busy_between(machine, server.machine_cpu())
            cases, created, revised = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM cases), "
                "(SELECT count(*) FROM case_timeline WHERE action = 'created'), "
                "(SELECT count(*) FROM cases WHERE revision = 2)")
        finally:
            await conn.close()
    finally:
        if process is not None:
            server.stop(process)
        await drop_database(database_url)
        await delete_topics_with_prefix(bootstrap, prefix)
    measured = len(events) - first_done
    share = measured / len(events)  # the cases opened in the measured span, about
    print(f"{args.cases} incidents, {updates} updates ({len(events)} events) on {len(load.STATIONS)} stations; "
          f"code under {ROOT}")
    print(f"consumer: {measured} events in {elapsed:.2f} s after its first batch ({first_done} events): "
          f"{measured / elapsed:,.0f} events/s, {args.cases * share / elapsed:,.0f} cases/s")
    print(f"CPU per event: consumer process {consumer_cpu / measured * 1e6:,.0f} µs "
          f"({consumer_cpu / elapsed:.0%} of a core), PostgreSQL backends {pg_cpu / measured * 1e6:,.0f} µs "
          f"({pg_cpu / elapsed:.0%}); machine {busy:.0%} busy of {os.cpu_count()} cores")
    problems = []
    if cases != args.cases or created != args.cases:
        problems.append(f"{cases} cases and {created} created entries for {args.cases} incidents")
    if revised != updates:
        problems.append(f"{revised} cases at revision 2 for {updates} updates")
    print("check: " + ("OK" if not problems else "FAILED: " + "; ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
