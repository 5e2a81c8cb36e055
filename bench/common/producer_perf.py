"""Kafka's own ProducerPerformance (Java), the baseline every benchmark reports its rate beside."""
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.common.stack import ROOT, BenchError

TOOLS_LIBS = ROOT / ".cache" / "kafka-tools" / "libs"
# Same producer settings as EventProducer's defaults, so the baseline measures Kafka, not a config gap.
PRODUCER_PROPS = ("acks=all", "enable.idempotence=true", "linger.ms=10", "compression.type=lz4", "batch.size=262144")
# The last summary line: "100000 records sent, 85034.0 records/sec (24.33 MB/sec), 2.31 ms avg latency,
# 150.00 ms max latency, 2 ms 50th, 4 ms 95th, 10 ms 99th, 40 ms 99.9th."
_SUMMARY = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")
_LATENCY = re.compile(r"([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, "
                      r"(\d+) ms 99th, (\d+) ms 99.9th")


@dataclass(frozen=True)
class PerfRun:
    """What ProducerPerformance reported: records sent, records/s, MB/s, latencies in ms, its summary line."""

    records: int
    rate: float
    mb_per_s: float
    line: str
    latency_ms: dict[str, float] = field(default_factory=dict)  # avg, max, p50, p95, p99, p99.9


def ensure_tools(libs: Path = TOOLS_LIBS) -> Path:
    """Fetch kafka-tools (ProducerPerformance) and its runtime jars from Maven Central once."""
    if any(libs.glob("*.jar")):
        return libs
    libs.mkdir(parents=True, exist_ok=True)
    cmd = ["mvn", "-q", "-B", "-f", str(ROOT / "deploy" / "kafka-tools" / "pom.xml"),
           "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={libs}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not any(libs.glob("*.jar")):
        raise BenchError(f"could not fetch Kafka perf tools with {' '.join(cmd)}:\n{done.stdout}{done.stderr}")
    return libs


def parse_summary(output: str) -> PerfRun:
    """The final summary line of ProducerPerformance's output."""
    # Progress lines share the prefix; the summary is the last one printed.
    lines = [line for line in output.splitlines() if _SUMMARY.match(line)]
    if not lines:
        raise BenchError(f"no summary line in ProducerPerformance output:\n{output}")
    summary = _SUMMARY.match(lines[-1])
    assert summary is not None
    found = _LATENCY.search(lines[-1])
    latency = dict(zip(("avg", "max", "p50", "p95", "p99", "p99.9"), map(float, found.groups()))) if found else {}
    return PerfRun(int(summary[1]), float(summary[2]), float(summary[3]), lines[-1], latency)


def run(bootstrap: str, topic: str, records: int, record_size: int, *, throughput: float = -1,
        libs: Path = TOOLS_LIBS, timeout_s: float = 900) -> PerfRun:
    """Run ProducerPerformance with EventProducer's settings, as fast as it goes (throughput -1) or at a rate."""
    cmd = ["java", "-cp", f"{libs}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
           "--throughput", str(int(throughput)), "--producer-props", f"bootstrap.servers={bootstrap}",
           *PRODUCER_PROPS]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise BenchError(f"ProducerPerformance failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    found = parse_summary(done.stdout)
    if found.records != records:
        raise BenchError(f"ProducerPerformance sent {found.records} of {records} records")
    return found
