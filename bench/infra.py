"""What every benchmark needs: the stack, Kafka's perf-tool jars, the ProducerPerformance baseline."""
import re
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from deploy.local.infrastructure import from_environment, from_local_launcher

ROOT = Path(__file__).resolve().parents[1]
TOOLS_LIBS = ROOT / ".cache" / "kafka-tools" / "libs"

# Same producer settings as EventProducer's defaults, so the baseline measures Kafka, not a config gap.
PERF_PRODUCER_PROPS = ("acks=all", "enable.idempotence=true", "linger.ms=10",
                       "compression.type=lz4", "batch.size=262144")
# The last summary line: "100000 records sent, 85034.0 records/sec (24.33 MB/sec), ...".
_SUMMARY = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


class BenchError(RuntimeError):
    """A precondition or a measurement failed; the message says which."""


def ensure_stack() -> tuple[str, str]:
    """Kafka bootstrap servers and a PostgreSQL server URL: the tests' env vars, else the local stack."""
    found = from_environment() or from_local_launcher()  # the same precedence as the test suite
    return found.kafka_bootstrap_servers, found.postgres_url


def ensure_perf_tools(libs: Path = TOOLS_LIBS) -> Path:
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


def parse_perf_summary(output: str) -> tuple[int, float, float]:
    """(records, records/s, MB/s) from ProducerPerformance's final summary line."""
    # Progress lines share the prefix; the summary is the last one printed.
    matches = [m for m in map(_SUMMARY.match, output.splitlines()) if m]
    if not matches:
        raise BenchError(f"no summary line in ProducerPerformance output:\n{output}")
    last = matches[-1]
    return int(last[1]), float(last[2]), float(last[3])


def run_producer_perf(bootstrap: str, topic: str, records: int, record_size: int,
                      libs: Path = TOOLS_LIBS) -> tuple[int, float, float, str]:
    """Run Kafka's ProducerPerformance; (records, records/s, MB/s, summary line)."""
    cmd = ["java", "-cp", f"{libs}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
           "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}",
           *PERF_PRODUCER_PROPS]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"ProducerPerformance failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    sent, rate, mb = parse_perf_summary(done.stdout)
    if sent != records:
        raise BenchError(f"ProducerPerformance sent {sent} of {records} records")
    return sent, rate, mb, done.stdout.strip().splitlines()[-1]


async def delete_topics(bootstrap: str, topics: list[str]) -> None:
    """Delete this run's topics, so repeated runs do not fill the local broker's disk."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="fengqiao-bench")
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()

