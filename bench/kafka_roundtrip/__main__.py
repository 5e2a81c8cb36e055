"""`python -m bench.kafka_roundtrip`: Kafka's ProducerPerformance versus our producer and round trip, on one
node and (with --nodes 3 or --bootstrap) on a three-node cluster in the same run."""
import argparse
import asyncio
import sys
import uuid
from dataclasses import dataclass

from bench.common import cluster, producer_perf
from bench.common.scratch import scratch
from bench.kafka_roundtrip import roundtrip, sink, workload
from shared.db.pool import create_pool
from shared.kafka.admin import delete_topics_with_prefix, ensure_topics
from shared.logging import configure_logging
from shared.settings import ServiceSettings
from shared.tracing import configure as configure_tracing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_roundtrip", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="events per measurement")
    parser.add_argument("--payload-bytes", type=int, default=300, help="size of each event's data JSON")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of each topic")
    parser.add_argument("--chunk", type=int, default=10_000, help="events per publish_many call")
    parser.add_argument("--max-batch", type=int, default=500, help="ConsumerRunner max_batch")
    parser.add_argument("--tracing", action="store_true",
                        help="spans and trace headers as a service makes them (exported only where OTEL_* says)")
    three = parser.add_argument_group("three nodes (acks=all, replication 3, min.insync.replicas 2)")
    cluster.add_options(three, nodes_help="3: also measure on a three-node cluster the bench starts and stops "
                                          "(bench/common/cluster.py)")
    three.add_argument("--cluster-warmup", type=int, default=100_000,
                       help="records ProducerPerformance sends to the cluster before measuring, not counted "
                            "(its JVMs start cold, the stack's node has run for hours); 0: none")
    args = parser.parse_args(argv)
    args.nodes = cluster.nodes_of(args)
    if args.events < 1 or args.payload_bytes < 0 or args.partitions < 1 or args.chunk < 1:
        parser.error("--events, --partitions and --chunk must be positive, --payload-bytes not negative")
    return args


@dataclass(frozen=True)
class Measured:
    """One cluster's measurements: ProducerPerformance, our producer and round trip, the table's check."""

    where: str
    replication: str
    record_size: int
    perf: producer_perf.PerfRun
    timings: roundtrip.Timings
    result: sink.Check


def report(args: argparse.Namespace, m: Measured) -> bool:
    """Print one cluster's results table and the row check; True when the table is exact."""
    record_size, kafka_rate, kafka_line, t, result = m.record_size, m.perf.rate, m.perf.line, m.timings, m.result
    rows = [("Kafka ProducerPerformance (Java)", kafka_rate, None),
            ("our producer: EventProducer.publish_many", t.producer_rate, t.producer_rate / kafka_rate),
            ("our end to end: producer → Kafka → runner → PostgreSQL", t.end_to_end_rate,
             t.end_to_end_rate / kafka_rate)]
    print(f"\n=== {m.where}: topics with {m.replication}")
    print(f"events={args.events} envelope={record_size} B (data {args.payload_bytes} B) "
          f"partitions={args.partitions} chunk={args.chunk} max_batch={args.max_batch} "
          f"tracing={'on' if args.tracing else 'off'}")
    print(f"Kafka summary: {kafka_line}")
    print(f"our publish phase {t.publish_s:.2f} s (of which building envelopes {t.build_s:.2f} s), "
          f"end to end {t.end_to_end_s:.2f} s\n")
    print(f"{'measurement':<56} {'events/s':>10} {'ours/Kafka':>10}")
    print("-" * 78)
    for name, rate, ratio in rows:
        print(f"{name:<56} {rate:>10,.0f} {'' if ratio is None else f'{ratio:.2f}':>10}")
    exact = result.exact(args.events)
    print(f"\ntable check: {result.rows} rows, {result.distinct_events} distinct events, "
          f"seq {result.min_seq}..{result.max_seq} ({result.distinct_seqs} distinct) → "
          f"{'OK, exactly' if exact else 'MISMATCH, expected exactly'} {args.events}")
    return exact


def compare(one: Measured, three: Measured) -> None:
    """The same measurements side by side: one node, three nodes, and three over one."""
    rows = [("Kafka ProducerPerformance (Java)", one.perf.rate, three.perf.rate),
            ("our producer: EventProducer.publish_many", one.timings.producer_rate, three.timings.producer_rate),
            ("our end to end: producer → Kafka → runner → PostgreSQL", one.timings.end_to_end_rate,
             three.timings.end_to_end_rate)]
    print(f"\n=== acks=all, one node ({one.replication}) beside three nodes ({three.replication}), same run")
    print(f"{'events/s':<56} {'1 node':>10} {'3 nodes':>10} {'3/1':>6}")
    print("-" * 85)
    for name, a, b in rows:
        print(f"{name:<56} {a:>10,.0f} {b:>10,.0f} {b / a:>6.2f}")
    for name, a, b in [("our producer / ProducerPerformance", one.timings.producer_rate / one.perf.rate,
                        three.timings.producer_rate / three.perf.rate),
                       ("our end to end / ProducerPerformance", one.timings.end_to_end_rate / one.perf.rate,
                        three.timings.end_to_end_rate / three.perf.rate)]:
        print(f"{name:<56} {a:>10.2f} {b:>10.2f}")
    cells = ["/".join(f"{m.perf.latency_ms[k]:.0f}" for k in ("p50", "p99", "max")) if m.perf.latency_ms else "—"
             for m in (one, three)]
    print(f"{'ProducerPerformance latency p50/p99/max, ms':<56} {cells[0]:>10} {cells[1]:>10}")


async def warm_up(args: argparse.Namespace, libs, bootstrap: str) -> None:
    """Send records through a fresh cluster, so its brokers' JIT has compiled the write path, as the
    stack's long-running node has."""
    if args.cluster_warmup < 1:
        return
    prefix = f"benchroundtripwarmup{uuid.uuid4().hex[:10]}."
    try:
        await ensure_topics(bootstrap, [(prefix + "warm-up.v1", args.partitions)])
        size = workload.envelope_size(args.payload_bytes, args.events)
        perf = await asyncio.to_thread(producer_perf.run, bootstrap, prefix + "warm-up.v1", args.cluster_warmup,
                                       size, libs=libs)
    finally:
        await delete_topics_with_prefix(bootstrap, prefix)
    print(f"warm-up, not counted: {perf.line}", flush=True)


async def measure(args: argparse.Namespace, libs, where: str, bootstrap: str | None = None) -> Measured:
    """Provision on one cluster (the stack's Kafka without `bootstrap`), measure both sides, clean up."""
    print(f"measuring on {where} ...", flush=True)
    # The runner's ledger and dead-letter tables only: this bench has its own topics and table (sink.py).
    async with scratch("roundtrip", registered_topics=False, bootstrap=bootstrap) as run:
        perf_topic, our_topic = run.prefix + "kafka-perf.v1", run.prefix + "events.v1"
        await ensure_topics(run.bootstrap, [(perf_topic, args.partitions), (our_topic, args.partitions),
                                            (our_topic + ".dlq", 1)])
        replication = await cluster.replication(run.bootstrap, our_topic)
        record_size = workload.envelope_size(args.payload_bytes, args.events)
        # The baseline runs alone first, so the two measurements never compete for the broker.
        perf = await asyncio.to_thread(producer_perf.run, run.bootstrap, perf_topic, args.events, record_size,
                                       libs=libs)
        pool = await create_pool(run.database_url, max_size=4)
        try:
            await sink.prepare(pool)
            timings = await roundtrip.run(
                bootstrap=run.bootstrap, pool=pool, topic=our_topic, group=f"bench-{run.run_id}",
                events=args.events, payload_bytes=args.payload_bytes, chunk=args.chunk,
                max_batch=args.max_batch)
            result = await sink.check(pool)
        finally:
            await pool.close()
    return Measured(where, replication, record_size, perf, timings, result)


async def main(args: argparse.Namespace) -> int:
    """Measure on one node, and on three when asked; the exit status says whether every table was exact."""
    configure_logging("bench", "WARNING")  # the runner's info lines would drown the table
    if args.tracing:
        configure_tracing(ServiceSettings(service_name="bench"))
    libs = producer_perf.ensure_tools()
    if args.nodes == 1:
        return 0 if report(args, await measure(args, libs, "one node (the stack's Kafka)")) else 1
    # The cluster starts first, so the two measurements run back to back under the same load.
    async with cluster.cluster(args.bootstrap, args.cluster_port) as three:
        print(three.describe(), flush=True)
        await warm_up(args, libs, three.bootstrap)
        one = await measure(args, libs, "one node (the stack's Kafka)")
        many = await measure(args, libs, f"three nodes ({three.bootstrap})", three.bootstrap)
    exact = [report(args, m) for m in (one, many)]
    compare(one, many)
    return 0 if all(exact) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
