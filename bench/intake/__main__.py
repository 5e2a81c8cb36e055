"""bench.intake: accepted records per second through intake's HTTP batch endpoint, end to end
(HTTP in, durable in PostgreSQL, events acknowledged by Kafka), beside Kafka's own
ProducerPerformance on the same broker in the same run.

    .venv/bin/python -m bench.intake [--records 100000] [--batch 1000] [--concurrency 4]
"""
import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import producer_perf
from bench.common.percentiles import percentile
from bench.common.stack import ensure_stack
from bench.intake import server
from services.intake import sample
from services.intake.settings import IntakeSettings
from shared.auth import issue_token
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.db.provision import drop_database, ensure_database
from shared.events.intake import INCIDENT_TOPIC
from shared.events.topics import TOPICS
from shared.kafka.admin import delete_topics_with_prefix, ensure_registered_topics, ensure_topics


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2, help="batches in flight at once")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def batches(records: int, size: int, seed: int) -> list[bytes]:
    """The generated feed as NDJSON bodies of `size` lines (2% malformed, repeats, revisions)."""
    lines = list(sample.generate(records, seed))
    return ["\n".join(lines[i:i + size]).encode() for i in range(0, len(lines), size)]


async def post_all(port: int, token: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], dict]:
    """Post every body with `concurrency` in flight; per-batch latencies and summed outcomes."""
    latencies: list[float] = []
    totals: dict[str, int] = {}
    queue = list(reversed(bodies))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
        async def worker() -> None:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                response = await client.post("/v1/dispatch-records/batch", content=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                answer = response.json()
                for status, count in answer["summary"].items():
                    totals[status] = totals.get(status, 0) + count
                totals["new"] = totals.get("new", 0) + sum(r["change"] == "new" for r in answer["results"])
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, totals


async def events_on(bootstrap: str, topic: str) -> int:
    """Messages on a topic: the sum of its partitions' end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(TOPICS[INCIDENT_TOPIC].partitions)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def main(args: argparse.Namespace) -> int:
    bootstrap, server_url = ensure_stack()
    libs = producer_perf.ensure_tools()
    run_id = uuid.uuid4().hex[:10]
    prefix, database_url = f"bench{run_id}.", f"{server_url}/bench_intake_{run_id}"
    settings = IntakeSettings(kafka_bootstrap_servers=bootstrap, database_url=database_url, topic_prefix=prefix)
    bodies = batches(args.records, args.batch, args.seed)
    record_size = sum(map(len, bodies)) // args.records
    await ensure_database(database_url)
    await ensure_registered_topics(bootstrap, prefix=prefix)
    process = None
    try:
        await migrate(database_url, "services.intake")
        perf_topic = prefix + "kafka-perf"
        await ensure_topics(bootstrap, [(perf_topic, TOPICS[INCIDENT_TOPIC].partitions)])
        perf = await asyncio.to_thread(producer_perf.run, bootstrap, perf_topic, args.records, record_size, libs=libs)
        kafka_rate, kafka_line = perf.rate, perf.line
        port = server.free_port()
        env = {"INTAKE_DATABASE_URL": database_url, "INTAKE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
               "INTAKE_TOPIC_PREFIX": prefix, "INTAKE_LOG_LEVEL": "WARNING"}
        process = server.start(env, port, Path(f"/tmp/bench-intake-{run_id}.log"))
        token = issue_token(settings.jwt_secret.get_secret_value(), subject="bench", roles=["feed"])
        cpu_before, started = server.cpu_seconds(process.pid), time.perf_counter()
        latencies, totals = await post_all(port, token, bodies, args.concurrency)
        elapsed, cpu = time.perf_counter() - started, server.cpu_seconds(process.pid) - cpu_before
        pool = await create_pool(database_url, max_size=1)
        stored = await pool.fetchval("SELECT count(*) FROM dispatch_records")
        await pool.close()
        events = await events_on(bootstrap, prefix + INCIDENT_TOPIC)
    finally:
        if process:
            process.terminate()
            process.wait(timeout=30)
        await drop_database(database_url)
        await delete_topics_with_prefix(bootstrap, prefix)
    accepted, new = totals.get("accepted", 0), totals.pop("new", 0)
    rate = accepted / elapsed
    print(f"\nrecords={args.records} batch={args.batch} concurrency={args.concurrency} "
          f"avg record {record_size} B; outcomes {totals}")
    print(f"Kafka summary: {kafka_line}\n")
    print(f"{'measurement':<58}{'records/s':>12}{'ratio':>8}")
    print("-" * 78)
    print(f"{'Kafka ProducerPerformance (Java), same record size':<58}{kafka_rate:>12,.0f}")
    print(f"{'intake accepted, end to end (HTTP → PostgreSQL → Kafka)':<58}{rate:>12,.0f}"
          f"{rate / kafka_rate:>8.2f}")
    print(f"\nbatch latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    print(f"intake process CPU: {cpu:.1f} s for {elapsed:.1f} s wall "
          f"({cpu / elapsed:.0%} of one core; {cpu / args.records * 1e6:.0f} µs per record)")
    # Accepted = new incidents + higher revisions; each emits one incident event, only new ones add a row.
    exact = stored == new and events == accepted
    print(f"check: {stored} incidents stored ({new} new), {events} incident events on Kafka for "
          f"{accepted} accepted → {'OK' if exact else 'MISMATCH'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
