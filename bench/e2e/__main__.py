"""bench.e2e: the whole system end to end (intake API, mediation consumer and API, assessment consumer,
each its own process, on real Kafka and PostgreSQL), beside Kafka's own ProducerPerformance on the
same broker in the same run.

  sustained  dispute records at a fixed rate on an open-loop schedule; latency from just before the
             POST to the case claimable in mediation (p50, p90, p99, max)
  backfill   N dispute records as fast as intake takes them; records/s end to end and per stage

    .venv/bin/python -m bench.e2e [--duration 300] [--rate 500] [--backfill 1000000]
                                  [--mediation-consumers 1] [--assessment-consumers 1] [--probe db|api]
                                  [--nodes 3 | --bootstrap HOST:PORT,...]

--nodes 3 runs every phase (and its ProducerPerformance baseline) on a three-node Kafka cluster the bench
starts and stops (replication 3, min.insync.replicas 2; bench/common/cluster.py); --bootstrap on one started
beforehand. PostgreSQL is the stack's either way.

Each phase has its own fresh databases, topics under a fresh prefix and processes; all are dropped,
deleted and stopped at the end, also after a failure or Ctrl-C. Exit 1 when a record is lost, doubled
or refused; speed is reported, never asserted.
"""
import argparse
import asyncio
import math
import shutil
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.common import cluster, producer_perf
from bench.common.percentiles import percentile
from bench.common.stack import ensure_stack
from bench.e2e import backfill, sustained
from bench.e2e.feed import DisputeFeed, backfill_bodies
from bench.e2e.fleet import CpuMeter, CpuWindow, Fleet
from shared.kafka.admin import ensure_topics

LATENCY_TARGET_MS, BACKFILL_TARGET = 250, 3000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sustained_ = parser.add_argument_group("sustained feed (--duration 0 skips it)")
    sustained_.add_argument("--duration", type=float, default=300, help="measured seconds")
    sustained_.add_argument("--rate", type=float, default=500, help="records per second")
    sustained_.add_argument("--tick-ms", type=float, default=100, help="one batch every tick (500/s: 50 per 100 ms)")
    sustained_.add_argument("--warmup", type=float, default=10, help="seconds at the same rate, not measured")
    sustained_.add_argument("--drain", type=float, default=60, help="seconds to wait for the last cases")
    sustained_.add_argument("--probe", choices=("db", "api"), default="db",
                            help="see claimable cases in mediation's database or through GET /v1/queue")
    sustained_.add_argument("--poll-ms", type=float, default=20, help="the probe's polling period")
    sustained_.add_argument("--kafka-latency-seconds", type=float, default=30,
                            help="length of the ProducerPerformance run at the same rate")
    fill = parser.add_argument_group("backfill (--backfill 0 skips it)")
    fill.add_argument("--backfill", type=int, default=1_000_000, help="records")
    fill.add_argument("--batch", type=int, default=1000, help="records per POST")
    fill.add_argument("--concurrency", type=int, default=3, help="POSTs in flight")
    fill.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    fill.add_argument("--kafka-records", type=int, default=None,
                      help="records of the ProducerPerformance baseline (default: the backfill's, within 100,000 "
                           "and 1,000,000)")
    parser.add_argument("--mediation-consumers", type=int, default=1, help="`fengqiao-mediation consume` processes")
    parser.add_argument("--assessment-consumers", type=int, default=1,
                        help="`fengqiao-assessment consume` processes")
    kafka = parser.add_argument_group("Kafka (default: the stack's one node)")
    cluster.add_options(kafka, nodes_help="3: a three-node cluster the bench starts and stops")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-level", default="WARNING", help="the services' log level (INFO logs every batch)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs after a clean run")
    args = parser.parse_args(argv)
    args.nodes = cluster.nodes_of(args)
    return args


def ms(seconds: float) -> str:
    return "∞" if math.isinf(seconds) else "—" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def print_cpu(windows: list[CpuWindow], per: int = 0) -> None:
    """One column per window: CPU seconds and share of one core of each process (and µs per record)."""
    names = list(dict.fromkeys(name for w in windows for name, _ in w.spent))
    print("\nCPU by process (from /proc/<pid>/stat; the machine has 2 cores, i.e. 200% of a core):")
    print(f"  {'':<34}" + "".join(f"{w.label:>30}" for w in windows))
    print(f"  {'wall s; machine busy (all processes)':<34}"
          + "".join(f"{f'{w.wall:.0f} s; {w.machine_busy * 2:.0%} of a core':>30}" for w in windows))
    for name in names + ["sum of the above"]:
        cells = []
        for w in windows:
            spent = dict(w.spent)
            seconds = sum(spent.values()) if name == "sum of the above" else spent.get(name, 0.0)
            extra = f", {seconds / per * 1e6:,.0f} µs/rec" if per and len(windows) == 1 else ""
            cells.append(f"{f'{seconds:.1f} s = {seconds / w.wall:.0%}{extra}':>30}")
        print(f"  {name:<34}" + "".join(cells))


def print_memory(fleet: Fleet) -> None:
    """Each service process's peak resident memory over the phase (sampled every 0.1 s while it ran)."""
    print("\nmemory by process (from /proc/<pid>/status):")
    for peak in fleet.peak_rss:
        print(f"  {peak.line()}")


async def phase_sustained(args: argparse.Namespace, bootstrap: str, server_url: str, run_id: str,
                          libs: Path) -> bool:
    fleet = Fleet(bootstrap, server_url, run_id + "s", args.mediation_consumers, args.assessment_consumers,
                  log_level=args.log_level)
    probe = sustained.DbProbe(fleet) if args.probe == "db" else sustained.ApiProbe(fleet)
    meter = None
    try:
        started = time.monotonic()
        await fleet.start()
        print(f"sustained: {len(fleet.processes())} processes up in {time.monotonic() - started:.0f} s "
              f"(logs in {fleet.log_dir})", flush=True)
        feed = DisputeFeed("sizing", args.seed)
        size = sum(len(feed.record(datetime.now(UTC))[1].encode()) for _ in range(1000)) // 1000
        perf_topic = fleet.prefix + "kafka-perf-latency"
        await ensure_topics(bootstrap, [(perf_topic, 6)])
        replication = await cluster.replication(bootstrap, fleet.prefix + "intake.dispute.v1")
        perf = await asyncio.to_thread(producer_perf.run, bootstrap, perf_topic,
                                       max(int(args.rate * args.kafka_latency_seconds), 1), size,
                                       throughput=args.rate, libs=libs)
        kafka, kafka_line = perf.latency_ms, perf.line
        await probe.open()
        meter = CpuMeter(fleet, {probe.backend_pid: "postgres (bench probe)"} if probe.backend_pid else {})
        await meter.mark("start")
        result = await sustained.run(fleet, probe, rate=args.rate, duration=args.duration,
                                     tick_s=args.tick_ms / 1000, warmup_s=args.warmup, drain_s=args.drain,
                                     poll_s=args.poll_ms / 1000, seed=args.seed)
        await meter.mark("end")
    finally:
        if meter:
            meter.close()
        await probe.close()
        await fleet.clean_up()
    lat, post = result.latencies, result.post_latencies
    q = lambda values, p, missing=0: percentile(values, p, missing=missing)  # noqa: E731
    per_tick = args.rate * args.tick_ms / 1000
    print(f"\n=== sustained: {args.rate:,.0f} records/s for {args.duration:.0f} s "
          f"({per_tick:g} records every {args.tick_ms:g} ms, open loop; {args.warmup:.0f} s warm-up not counted); "
          f"mediation consumers x{args.mediation_consumers}, assessment x{args.assessment_consumers}")
    print(f"Kafka: {where(args, bootstrap)}; the pipeline's topics with {replication}")
    print(f"Kafka summary at {args.rate:,.0f} records/s, {size} B: {kafka_line}\n")
    print(f"{'latency (ms)':<62}{'p50':>7}{'p90':>7}{'p99':>7}{'max':>8}")
    print("-" * 91)
    if kafka:
        print(f"{'Kafka ProducerPerformance: send → acks=all ack, same rate':<62}{kafka['p50']:>7.0f}"
              f"{'':>7}{kafka['p99']:>7.0f}{kafka['max']:>8.0f}")
    print(f"{'POST batch answered (HTTP → PostgreSQL → Kafka ack), per record':<62}{ms(q(post, .5)):>7}"
          f"{ms(q(post, .9)):>7}{ms(q(post, .99)):>7}{ms(post[-1] if post else math.nan):>8}")
    after = sorted(result.after_answer)
    print(f"{'POST answered → case claimable (Kafka → mediation consumer)':<62}{ms(q(after, .5)):>7}"
          f"{ms(q(after, .9)):>7}{ms(q(after, .99)):>7}{ms(after[-1] if after else math.nan):>8}")
    print(f"{'POST → case claimable in mediation (end to end)':<62}{ms(q(lat, .5, result.unseen)):>7}"
          f"{ms(q(lat, .9, result.unseen)):>7}{ms(q(lat, .99, result.unseen)):>7}"
          f"{ms(lat[-1] if lat and not result.unseen else math.inf if result.unseen else math.nan):>8}")
    p99 = q(lat, .99, result.unseen)
    if kafka and kafka["p99"] > 0:
        print(f"\nratio end-to-end p99 / Kafka's p99: {p99 * 1000 / kafka['p99']:.1f}; "
              f"p50: {q(lat, .5, result.unseen) * 1000 / max(kafka['p50'], 1):.1f}")
    gaps = sorted(result.poll_gaps)
    print(f"probe: {probe.name}, a poll every {statistics_mean(gaps) * 1000:.1f} ms on average "
          f"(p99 {ms(q(gaps, .99))} ms; {result.rows_polled / max(len(gaps), 1):,.0f} rows per poll): "
          f"that is the resolution of 'claimable'")
    achieved = result.measured / result.schedule_s if result.schedule_s else math.nan
    lags = sorted(result.lags)
    print(f"achieved rate {achieved:,.1f} records/s ({result.measured:,} records measured, {result.posted:,} "
          f"posted with the warm-up); the client's lateness against its schedule p99 {ms(q(lags, .99))} ms, "
          f"max {ms(lags[-1] if lags else math.nan)} ms")
    print(f"not claimable yet when the last POST was answered: {result.unseen_at_end_of_schedule:,}; "
          f"still not claimable {args.drain:.0f} s later: {result.unseen:,}")
    print("end-to-end latency of the records posted in each 30 s (start s: p50/p99/max ms):")
    print("  " + "; ".join(f"{at:.0f}: {ms(p50)}/{ms(p99_)}/{ms(top)}" for at, p50, p99_, top in result.by_window))
    met = p99 * 1000 < LATENCY_TARGET_MS
    print(f"target p99 < {LATENCY_TARGET_MS} ms at {args.rate:,.0f} records/s: {'MET' if met else 'NOT MET'} "
          f"(p99 {ms(p99)} ms)")
    print_cpu([meter.window()], per=result.posted)
    print_memory(fleet)
    ok = not result.errors and not result.rejected and not result.unseen
    if ok and not args.keep_logs:
        shutil.rmtree(fleet.log_dir, ignore_errors=True)
    print(f"check: {result.rejected} records not accepted, {len(result.errors)} failed POSTs {result.errors[:3]} "
          f"({len(result.retries)} retried {result.retries[:3]}), {result.unseen} never claimable "
          f"→ {'OK' if ok else 'FAILED'}")
    return ok


def where(args: argparse.Namespace, bootstrap: str) -> str:
    return f"one node at {bootstrap}" if args.nodes == 1 else f"three nodes at {bootstrap}"


def statistics_mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


async def phase_backfill(args: argparse.Namespace, bootstrap: str, server_url: str, run_id: str,
                         libs: Path) -> bool:
    n = args.backfill
    generating = time.monotonic()
    bodies = backfill_bodies(DisputeFeed(run_id + "b", args.seed), n, args.batch, now=datetime.now(UTC))
    size = sum(map(len, bodies)) // n
    print(f"backfill: {n:,} records generated in {time.monotonic() - generating:.0f} s (average {size} B)",
          flush=True)
    fleet = Fleet(bootstrap, server_url, run_id + "b", args.mediation_consumers, args.assessment_consumers,
                  log_level=args.log_level)
    meter = None
    try:
        started = time.monotonic()
        await fleet.start()
        print(f"backfill: {len(fleet.processes())} processes up in {time.monotonic() - started:.0f} s "
              f"(logs in {fleet.log_dir})", flush=True)
        perf_topic = fleet.prefix + "kafka-perf"
        await ensure_topics(bootstrap, [(perf_topic, 6)])
        replication = await cluster.replication(bootstrap, fleet.prefix + "intake.dispute.v1")
        perf_n = args.kafka_records or min(max(n, 100_000), 1_000_000)
        perf = await asyncio.to_thread(producer_perf.run, bootstrap, perf_topic, perf_n, size, libs=libs)
        kafka_rate, kafka_line = perf.rate, perf.line
        meter = CpuMeter(fleet)
        await meter.mark("start")
        result = await backfill.run(fleet, bodies, n, concurrency=args.concurrency, timeout_s=args.timeout,
                                    on_intake_done=lambda: meter.mark("intake done"))
        await meter.mark("end")
    finally:
        if meter:
            meter.close()
        await fleet.clean_up()
    print(f"\n=== backfill: {n:,} records, batches of {args.batch:,}, {args.concurrency} in flight; "
          f"mediation consumers x{args.mediation_consumers}, assessment x{args.assessment_consumers}")
    print(f"Kafka: {where(args, bootstrap)}; the pipeline's topics with {replication}")
    print(f"Kafka summary ({perf_n:,} records of {size} B): {kafka_line}\n")
    print(f"{'measurement':<54}{'records/s':>11}{'ratio':>8}{'done at s':>11}{'own pace/s':>12}")
    print("-" * 96)
    print(f"{'Kafka ProducerPerformance (Java), same record size':<54}{kafka_rate:>11,.0f}")
    labels = {"intake": "intake accepted (HTTP → PostgreSQL → Kafka)",
              "mediation": "mediation cases (committed by its consumer)",
              "assessment": "assessment incident facts (committed by its consumer)"}
    for stage in backfill.STAGES:
        rate = result.rate(stage)
        done = result.done_at.get(stage)
        print(f"{labels[stage]:<54}{rate:>11,.0f}{rate / kafka_rate:>8.3f}"
              f"{(f'{done:.1f}' if done else 'not done'):>11}{result.steady_rate(stage):>12,.0f}")
    end = max(result.done_at.values()) if len(result.done_at) == 3 else math.nan
    e2e = n / end
    print(f"{'end to end (last case and last incident fact)':<54}{e2e:>11,.0f}{e2e / kafka_rate:>8.3f}"
          f"{end:>11.1f}")
    print("\n('own pace' is a stage's rate between 10% and 90% of the records: its speed while it ran.)")
    lat = sorted(result.batch_latencies)
    print(f"POST of {args.batch:,} records: p50 {ms(percentile(lat, .5))} ms, p99 {ms(percentile(lat, .99))} ms")
    reached = e2e >= BACKFILL_TARGET
    print(f"target ≥ {BACKFILL_TARGET:,} records/s end to end: {'REACHED' if reached else 'NOT REACHED'} "
          f"({e2e:,.0f} records/s)")
    lagging = [(t, a, m, s) for t, a, m, s, _ in result.timeline]
    marks = [row for i, row in enumerate(lagging) if i % max(1, len(lagging) // 12) == 0] + lagging[-1:]
    print("\nprogress (s: intake accepted / mediation cases / assessment incident facts):")
    print("  " + "; ".join(f"{t:.0f}: {a:,}/{m:,}/{s:,}" for t, a, m, s in marks))
    windows = [meter.window()] + ([meter.window(0, 1), meter.window(1, 2)] if len(meter.samples) == 3 else [])
    print_cpu(windows[:1], per=n)
    if len(windows) > 1:
        print_cpu(windows[1:])
    print_memory(fleet)
    counts = result.counts
    rows = n + fleet.canaries  # the canary records posted before the clock started
    exact = (not result.timed_out and result.accepted == n and not result.not_new and counts["intake dispatch_records"] == rows
             and counts["mediation cases"] == rows and counts["assessment incidents"] == rows)
    print(f"check: {result.accepted:,} accepted of {n:,} ({result.retries} POSTs retried); rows (with {fleet.canaries} canary records) {counts}"
          f" → {'OK' if exact else 'FAILED'}" + (" (timed out)" if result.timed_out else ""))
    if exact and not args.keep_logs:
        shutil.rmtree(fleet.log_dir, ignore_errors=True)
    return exact


async def main(args: argparse.Namespace) -> int:
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    bootstrap, server_url = ensure_stack()
    libs = producer_perf.ensure_tools()
    if args.nodes == 1:
        return await phases(args, bootstrap, server_url, libs)
    async with cluster.cluster(args.bootstrap, args.cluster_port) as three:
        print(three.describe(), flush=True)
        return await phases(args, three.bootstrap, server_url, libs)


async def phases(args: argparse.Namespace, bootstrap: str, server_url: str, libs: Path) -> int:
    run_id = uuid.uuid4().hex[:8]
    ok = True
    if args.duration > 0:
        ok &= await phase_sustained(args, bootstrap, server_url, run_id, libs)
    if args.backfill > 0:
        ok &= await phase_backfill(args, bootstrap, server_url, run_id, libs)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(parse_args())))
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)
