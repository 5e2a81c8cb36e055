"""Every benchmark runs to the end at a tiny size against the session's Kafka and PostgreSQL, so none
breaks unnoticed. Only exit statuses and the benches' own checks are asserted: speed is never (bench/
prints it beside same-run baselines). The benches run a few at a time, each as its own process, as a user
runs them; much of their time is waiting for processes to start, which overlaps well."""
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.common import producer_perf
from deploy.local.infrastructure import KAFKA_ENV, POSTGRES_ENV, ROOT, Infrastructure

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

MILWAUKEE = ROOT / "services" / "intake" / "samples" / "milwaukee_calls_2018-05-01_to_14.csv"
WITHIN_S = 240  # for all of them together; on an idle 2-core machine they take about a minute
AT_ONCE = 4  # benches running at the same time: their waits overlap, their start-ups do not crowd out each other
# A run's name, its module under bench/ and its arguments for a run of a few seconds; {tiny_csv}: the first
# rows of the bundled Milwaukee export. Every bench (every module with a main) runs: test_every_bench_runs.
RUNS = {  # the longest first
    # Its two phases as two runs: each starts a whole system of its own.
    "bench.e2e sustained": ["bench.e2e", "--duration", "2", "--rate", "20", "--warmup", "0", "--drain", "30",
                            "--kafka-latency-seconds", "1", "--backfill", "0"],
    "bench.e2e backfill": ["bench.e2e", "--duration", "0", "--backfill", "100", "--batch", "50", "--kafka-records",
                           "200", "--timeout", "120"],
    "bench.kafka_roundtrip": ["bench.kafka_roundtrip", "--events", "200", "--chunk", "100", "--partitions", "2"],
    "bench.intake": ["bench.intake", "--records", "200", "--batch", "50", "--concurrency", "2"],
    "bench.intake.check_speed": ["bench.intake.check_speed", "--file", "{tiny_csv}", "--repeat", "1"],
    "bench.intake.classify": ["bench.intake.classify", "--file", "{tiny_csv}"],
    "bench.intake.growth": ["bench.intake.growth", "--records", "300", "--slice", "100", "--batch", "50"],
    "bench.claims": ["bench.claims", "--cases", "200", "--mediators", "8", "--budget", "30",
                     "--sql-connections", "4", "--open-rate", "20", "--open-duration", "2"],
    "bench.claims.profile": ["bench.claims.profile", "--calls", "20", "--top", "5"],
    "bench.claims.queue": ["bench.claims.queue", "--cases", "800", "--repeat", "1", "--plans"],
    # Enough events to go past the consumer's first batch, which the bench leaves out of its clock.
    "bench.claims.consume": ["bench.claims.consume", "--cases", "1500", "--revisions", "0.1", "--timeout", "120"],
    "bench.assessment": ["bench.assessment", "--disputes", "300", "--stations", "10", "--events", "300",
                         "--check-links", "--v1", "--explain"],
    "bench.partitions": ["bench.partitions", "--stations", "300", "--sample-records", "500"],
    "bench.live_queue": ["bench.live_queue", "--subscribers", "4", "--cases", "3", "--interval", "0.1"],
}
# What a bench that starts service processes must print: each one's peak resident memory (issue 17).
PRINTS_RSS = {"bench.intake": 1, "bench.claims": 1, "bench.claims.consume": 1, "bench.e2e sustained": 4,
              "bench.e2e backfill": 4, "bench.live_queue": 1}


@pytest.fixture(scope="module")
def runs(infrastructure: Infrastructure, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple]]:
    """Run every bench, AT_ONCE at a time in the order listed; (exit status, output, seconds) of each."""
    folder = tmp_path_factory.mktemp("bench")
    tiny_csv = folder / "milwaukee_head.csv"
    tiny_csv.write_text("".join(MILWAUKEE.open(encoding="utf-8").readlines()[:301]), encoding="utf-8")
    producer_perf.ensure_tools()  # once here, not four times at once in the benches
    env = os.environ | {KAFKA_ENV: infrastructure.kafka_bootstrap_servers, POSTGRES_ENV: infrastructure.postgres_url}
    started, waiting, running, found = time.monotonic(), list(RUNS), {}, {}

    def start(name: str) -> None:
        module, *args = RUNS[name]
        log = (folder / f"{name.replace(' ', '-')}.log").open("w")
        command = [sys.executable, "-m", module, *(a.format(tiny_csv=tiny_csv) for a in args)]
        running[name] = (subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)

    try:
        while waiting or running:
            while waiting and len(running) < AT_ONCE:
                start(waiting.pop(0))
            for name, (process, log) in list(running.items()):
                if process.poll() is not None or time.monotonic() > started + WITHIN_S:
                    if process.poll() is None:
                        process.kill()
                    process.wait()
                    log.close()
                    found[name] = (process.returncode, Path(log.name).read_text(errors="replace"),
                                   time.monotonic() - started)
                    del running[name]
            time.sleep(0.2)
        yield found
    finally:
        for process, _ in running.values():
            process.kill()
            process.wait()
    print("bench smoke runs: " + ", ".join(f"{n} ended at {s:.0f} s" for n, (_, _, s) in found.items()))


@pytest.mark.parametrize("name", RUNS)
def test_bench_runs_to_the_end_with_its_checks_passing(runs: dict[str, tuple], name: str) -> None:
    status, output, _ = runs[name]
    assert status == 0, f"python -m {' '.join(RUNS[name])} exited {status}:\n{output[-6000:]}"
    assert "MISMATCH" not in output and "FAILED" not in output, output[-6000:]


@pytest.mark.parametrize("name", PRINTS_RSS)
def test_bench_prints_the_peak_memory_of_each_service_process(runs: dict[str, tuple], name: str) -> None:
    _, output, _ = runs[name]
    lines = [line for line in output.splitlines() if "peak RSS of " in line]
    assert len(lines) == PRINTS_RSS[name], output[-6000:]
    assert all(" MB in " in line and "target < 200 MB" in line for line in lines), lines


def test_every_bench_runs() -> None:
    found = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__main__")
             for p in (ROOT / "bench").rglob("*.py") if 'if __name__ == "__main__":' in p.read_text()}
    assert found == {module for module, *_ in RUNS.values()}
