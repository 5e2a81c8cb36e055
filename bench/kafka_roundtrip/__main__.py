"""`python -m bench.kafka_roundtrip`: Kafka's ProducerPerformance versus our producer and round trip."""
import argparse
import asyncio
import sys

from bench.common import producer_perf
from bench.common.scratch import scratch
from bench.kafka_roundtrip import roundtrip, sink, workload
from shared.db.pool import create_pool
from shared.kafka.admin import ensure_topics
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
    args = parser.parse_args(argv)
    if args.events < 1 or args.payload_bytes < 0 or args.partitions < 1 or args.chunk < 1:
        parser.error("--events, --partitions and --chunk must be positive, --payload-bytes not negative")
    return args


def report(args: argparse.Namespace, record_size: int, kafka_rate: float, kafka_line: str,
           t: roundtrip.Timings, result: sink.Check) -> bool:
    """Print the results table and the row check; True when the table is exact."""
    rows = [("Kafka ProducerPerformance (Java)", kafka_rate, None),
            ("our producer: EventProducer.publish_many", t.producer_rate, t.producer_rate / kafka_rate),
            ("our end to end: producer → Kafka → runner → PostgreSQL", t.end_to_end_rate,
             t.end_to_end_rate / kafka_rate)]
    print(f"\nevents={args.events} envelope={record_size} B (data {args.payload_bytes} B) "
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


async def main(args: argparse.Namespace) -> int:
    """Provision, measure both sides, clean up; the exit status says whether the table was exact."""
    configure_logging("bench", "WARNING")  # the runner's info lines would drown the table
    if args.tracing:
        configure_tracing(ServiceSettings(service_name="bench"))
    libs = producer_perf.ensure_tools()
    # The runner's ledger and dead-letter tables only: this bench has its own topics and table (sink.py).
    async with scratch("roundtrip", registered_topics=False) as run:
        perf_topic, our_topic = run.prefix + "kafka-perf.v1", run.prefix + "events.v1"
        await ensure_topics(run.bootstrap, [(perf_topic, args.partitions), (our_topic, args.partitions),
                                            (our_topic + ".dlq", 1)])
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
    return 0 if report(args, record_size, perf.rate, perf.line, timings, result) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
