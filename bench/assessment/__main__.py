"""bench.assessment: a national month ranked by the assessment service, beside a plain SQL aggregate of the
same facts in the same run; then events per second through the facts consumer, beside Kafka's own
ProducerPerformance on the same broker in the same run.

    .venv/bin/python -m bench.assessment [--disputes 6000000] [--stations 40000] [--events 200000]

See bench/assessment/README.md.
"""
import argparse
import asyncio
import os
import sys
import time
from datetime import date

from bench.assessment import consumers, dataset, measure, stored_links
from bench.common import producer_perf
from bench.common.cpu import backend_cpu, busy_between, cpu_between, machine_cpu
from bench.common.scratch import Scratch, scratch
from services.assessment.domain.links import LinkRules
from shared.db.pool import create_pool
from shared.events.intake import INCIDENT_TOPIC
from shared.events.topics import TOPICS
from shared.kafka.admin import ensure_topics
from shared.logging import configure_logging

TARGET_S = 60.0  # the target for ranking the national month
TIE_TARGET = 0.01  # at most this share of ranked stations may still share a rank after the tie-break


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.assessment", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--disputes", type=int, default=6_000_000, help="disputes in the ranked month")
    parser.add_argument("--stations", type=int, default=40_000, help="stations ranked")
    parser.add_argument("--counties", type=int, default=None,
                        help="county cohorts (default: stations x 2,900 / 40,000)")
    parser.add_argument("--history-months", type=int, default=1,
                        help="months before the ranked one with the same volume of disputes and cases")
    parser.add_argument("--month", default="2024-05", help="the ranked month, YYYY-MM")
    parser.add_argument("--time-zone", default="Asia/Shanghai", help="the stations' time zone")
    parser.add_argument("--events", type=int, default=200_000,
                        help="events through the facts consumer (0: skip that measurement)")
    parser.add_argument("--explain", action="store_true",
                        help="EXPLAIN (ANALYZE, BUFFERS) every statement the ranking ran, after timing it")
    parser.add_argument("--check-links", action="store_true",
                        help="at the end, check every stored link against the service's RELINK "
                             "(minutes at national size)")
    parser.add_argument("--v1", action="store_true",
                        help="also rank the month under scoring.v1 (percentiles per county) for comparison")
    parser.add_argument("--keep", action="store_true", help="keep the database for analysis (prints its URL)")
    args = parser.parse_args(argv)
    if args.disputes < 1 or args.stations < 1 or args.history_months < 0 or args.events < 0:
        parser.error("--disputes and --stations must be positive, --history-months and --events not negative")
    args.month = date.fromisoformat(f"{args.month}-01")
    return args


def _table(rows: list[tuple[str, str, str]], head: tuple[str, str, str]) -> None:
    print(f"{head[0]:<62}{head[1]:>12}{head[2]:>12}")
    print("-" * 86)
    for name, value, ratio in rows:
        print(f"{name:<62}{value:>12}{ratio:>12}")


def load_line(when: str) -> str:
    """The machine's load average beside its cores: other work on a 2-core box moves every figure."""
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = "  (BUSY: other work is running, figures are not comparable)" if five > cores else ""
    return f"load average {when}: {one:.2f} (1 min), {five:.2f} (5 min) on {cores} cores{busy}"


def report_ranking(baseline: measure.Baseline, ours: measure.Ours, problems: list[str],
                   cpu: tuple[float, float, float]) -> None:
    """The ranking's phases beside the baseline, the target and the check."""
    phases, stmts = ours.phases, ours.statements
    sql = sum(s.seconds for s in stmts)
    facts_s = phases.seconds.get("unit_facts", sql)
    rows = [("plain SQL aggregate of the same facts (baseline)", f"{baseline.seconds:.2f}", "1.00"),
            ("service: month_ranking, every station of the month", f"{ours.seconds:.2f}",
             f"{ours.seconds / baseline.seconds:.1f}")]
    for s in stmts:
        rows.append((f"  SQL {s.label} ({s.rows:,} rows)", f"{s.seconds:.2f}", ""))
    rows.append(("  Python: rows to MonthFacts (unit_facts minus its SQL)", f"{facts_s - sql:.2f}", ""))
    for name, label in (("all_figures", "figures"), ("score_units", f"scoring ({ours.rules.version}) per cohort"),
                        ("rank_by_score", "ranking in each rank group")):
        if name in phases.calls:
            rows.append((f"  {label}: {name} x {phases.calls[name]:,}", f"{phases.seconds[name]:.2f}", ""))
    rest = ours.seconds - sum(phases.seconds.values())
    rows.append(("  rest of month_ranking", f"{rest:.2f}", ""))
    _table(rows, ("measurement", "seconds", "ours/base"))
    verdict = "met" if ours.seconds < TARGET_S else "NOT met"
    print(f"\ntarget: the national ranking under {TARGET_S:.0f} s: {verdict} ({ours.seconds:.1f} s)")
    python_cpu, postgres_cpu, busy = cpu
    print(f"during month_ranking: this process CPU {python_cpu:.1f} s, PostgreSQL backend {postgres_cpu:.1f} s, "
          f"machine {busy:.0%} busy of {os.cpu_count()} cores")
    report_outcome(ours)
    if problems:
        print("check: MISMATCH between the service's facts or ranking and the plain aggregate:")
        for line in problems:
            print(f"  {line}")
    else:
        print(f"check: OK, every station's counts equal the plain aggregate's ({len(measure.COMPARED)} facts "
              f"each); one line per station; ranks ascend from 1 in each rank group")


def report_outcome(ours: measure.Ours) -> None:
    """What the ranking says: ranked and not rankable, grades, red lines, and how many ties the tie-break left."""
    for line in measure.summary(ours):
        print(f"{ours.rules.version}: {line}")
    ties = measure.ties(ours)
    verdict = "met" if ties.same_rank_share < TIE_TARGET else "NOT met"
    print(f"{ours.rules.version}: target: under {TIE_TARGET:.0%} of ranked stations sharing a rank after the "
          f"tie-break: {verdict} ({ties.same_rank_share:.2%})")


async def explain(conn, statements: list[measure.Statement]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) each statement the ranking ran, with its own arguments."""
    for s in statements:
        plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + s.sql, *s.args)
        print(f"\nEXPLAIN ANALYZE {s.label}:")
        print("\n".join(row[0] for row in plan))


async def measure_consumer(args: argparse.Namespace, run: Scratch, pool, libs) -> bool:
    """Kafka's ProducerPerformance, then our publish, then the facts runner; True when every event applied."""
    from services.assessment.bootstrap import build_context
    from services.assessment.consumer import facts_runner
    from services.assessment.settings import AssessmentSettings
    from shared.kafka.producer import EventProducer
    from shared.resources import Resources

    settings = AssessmentSettings(kafka_bootstrap_servers=run.bootstrap, database_url=run.database_url,
                                  topic_prefix=run.prefix, log_level="WARNING")
    cohorts = {r["code"]: r["cohort"] for r in await pool.fetch(
        "SELECT code, cohort FROM units WHERE kind = 'station' ORDER BY code")}
    following = dataset.months_back(args.month, -1)
    started = time.perf_counter()
    load = consumers.workload(args.events, list(cohorts), following, args.time_zone, cohorts=cohorts)
    built_s = time.perf_counter() - started
    size = load.average_bytes()
    perf_topic = run.prefix + "kafka-perf"
    await ensure_topics(run.bootstrap, [(perf_topic, TOPICS[INCIDENT_TOPIC].partitions)])
    # The baseline runs alone first, so the two measurements never compete for the broker.
    perf = await asyncio.to_thread(producer_perf.run, run.bootstrap, perf_topic, load.count, size, libs=libs)
    kafka_rate, kafka_line = perf.rate, perf.line
    async with EventProducer.from_settings(settings) as producer:
        publish_s = await consumers.publish(producer, run.prefix, load)
        pool_size = 4
        runner_pool = await create_pool(run.database_url, max_size=pool_size)
        try:
            applied = await consumers.apply(facts_runner(build_context(Resources(settings, runner_pool, producer))), runner_pool, load,
                                            run.database_url)
        finally:
            await runner_pool.close()
    rate = load.count / applied.seconds
    print(f"\nevents={load.count:,} ({load.events[INCIDENT_TOPIC].__len__():,} incident, "
          f"{len(load.events[consumers.CASE_TOPIC]):,} case events; {load.cases:,} cases), average envelope "
          f"{size} B, built in {built_s:.1f} s; consumer max_batch {settings.consumer_max_batch}")
    print(f"Kafka summary: {kafka_line}\n")
    _table([("Kafka ProducerPerformance (Java), same count and size", f"{kafka_rate:,.0f}", ""),
            ("our publish: EventProducer.publish_many (before the runner)", f"{load.count / publish_s:,.0f}",
             f"{load.count / publish_s / kafka_rate:.2f}"),
            ("facts consumer: Kafka → facts_runner → PostgreSQL, applied", f"{rate:,.0f}",
             f"{rate / kafka_rate:.2f}")], ("measurement", "events/s", "ours/Kafka"))
    per_event = 1e6 / load.count
    print(f"\nduring the consumer's {applied.seconds:.1f} s: runner process CPU {applied.runner_cpu:.1f} s "
          f"({applied.runner_cpu / applied.seconds:.0%} of one core, {applied.runner_cpu * per_event:.0f} µs per event), "
          f"PostgreSQL backends {applied.postgres_cpu:.1f} s ({applied.postgres_cpu * per_event:.0f} µs per event), "
          f"machine {applied.machine_busy:.0%} busy of {os.cpu_count()} cores")
    exact = (applied.processed == load.count and applied.incidents == load.incidents
             and applied.cases == load.cases and applied.closed == load.closed)
    print(f"\nconsumer check: {applied.processed:,} events in the ledger, {applied.incidents:,} incidents, "
          f"{applied.cases:,} cases ({applied.closed:,} closed) for {load.count:,} events, {load.incidents:,} "
          f"incidents, {load.cases:,} cases ({load.closed:,} closed) → {'OK' if exact else 'MISMATCH'}")
    differ, expected = await consumers.links_differ(pool, load, LinkRules.load())
    print(f"consumer links: {differ:,} of {load.incidents:,} incidents differ from the definition (expected "
          f"{expected['repeat_30d']:,} repeats within 30 days, {expected['repeat_90d']:,} within 90, "
          f"{expected['civil_to_criminal']:,} civil-to-criminal) → {'OK' if not differ else 'MISMATCH'}")
    return exact and not differ


async def measure_ranking(args: argparse.Namespace, shape: dataset.Shape, run: Scratch, pool) -> bool:
    """Generate the month, rank it beside the plain aggregate (and under scoring.v1); True when they agree."""
    print("\ngenerating (server-side INSERT … SELECT; secondary indexes rebuilt after the load):")
    started = time.perf_counter()
    async with pool.acquire() as conn:
        counts = await dataset.generate(conn, shape, lambda name, s, rows: print(
            f"  {name:<44}{s:>9.1f} s{f'{rows:>14,} rows' if rows else ''}", flush=True))
    generated_s = time.perf_counter() - started
    print(f"generation: {generated_s:.1f} s; rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
    print(f"\nranking the month (baseline first, then the service's path); {load_line('now')}", flush=True)
    async with pool.acquire() as conn:
        baseline = await measure.run_baseline(conn, args.month, args.time_zone)
        pg_before, own_before, machine = (await backend_cpu(run.database_url, run.database), time.process_time(),
                                          machine_cpu())
        ours = await measure.run_ours(conn, args.month, args.time_zone)
        cpu = (time.process_time() - own_before,
               cpu_between(pg_before, await backend_cpu(run.database_url, run.database)),
               busy_between(machine, machine_cpu()))
        problems = measure.check(ours, baseline)
        report_ranking(baseline, ours, problems, cpu)
        ok = not problems
        if args.v1:
            from services.assessment.domain.scoring import V1_RULES

            v1 = await measure.run_ours(conn, args.month, args.time_zone, V1_RULES)
            v1_problems = measure.check(v1, baseline)
            print(f"\nfor comparison, {v1.rules.version} (percentiles per county, ranked across the country): "
                  f"month_ranking {v1.seconds:.2f} s ({v1.seconds / baseline.seconds:.1f} x the baseline)")
            report_outcome(v1)
            print("check: " + ("OK" if not v1_problems else "MISMATCH: " + "; ".join(v1_problems[:5])))
            ok = not v1_problems and ok
        if args.explain:
            await explain(conn, ours.statements)
    return ok


async def main(args: argparse.Namespace) -> int:
    """Provision, generate, measure, clean up; the exit status says whether every check held."""
    configure_logging("bench", "WARNING")
    libs = producer_perf.ensure_tools() if args.events else None
    shape = dataset.Shape.of(args.disputes, args.stations, args.counties, args.history_months, args.month,
                             args.time_zone)
    print(load_line("at start"))
    ok = True
    try:
        async with scratch("assessment", "assessment", registered_topics=bool(args.events),
                           keep_database=args.keep) as run:
            print(f"disputes={shape.disputes:,} in {args.month:%Y-%m} (+{shape.history_months} month(s) before), "
                  f"stations={shape.stations:,} in {shape.counties:,} counties, database {run.database}")
            pool = await create_pool(run.database_url, max_size=2)
            try:
                ok = await measure_ranking(args, shape, run, pool)
                if args.events:
                    ok = await measure_consumer(args, run, pool, libs) and ok
                if args.check_links:
                    print("\nthe stored links beside the service's RELINK over every incident:", flush=True)
                    ok = await stored_links.check(pool) and ok
            finally:
                await pool.close()
    finally:
        print(f"\n{load_line('at the end')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
