"""A three-node Kafka cluster of the cluster tests' own, with SASL/SCRAM-SHA-512 and ACLs, for the session.

Started once by deploy/local/kafka.sh (FENGQIAO_KAFKA_NODES=3, FENGQIAO_KAFKA_SASL=1) on free ports with a
state directory of its own; the tests stop, kill and restart its nodes. Each service authenticates as its
own principal with the ACLs derived from the topic registry for the test's topic prefix; the tests' own
clients (lags, reads, topic creation) are the admin. PostgreSQL is the session's (tests/conftest.py).
"""
import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.local.infrastructure import ROOT
from deploy.local.processes import run_to_completion
from shared.kafka.security import KafkaAuth

KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
NODES = 3
ADMIN_PASSWORD = "cluster-tests-admin-secret"
SERVICES = ("intake", "mediation", "assessment")
T = TypeVar("T")


def password(service: str) -> str:
    """The SCRAM password the cluster was formatted with for a service's principal."""
    return f"cluster-tests-{service}-secret"


def service_auth(service: str) -> KafkaAuth:
    """How a service authenticates to the cluster."""
    return KafkaAuth("SASL_PLAINTEXT", "SCRAM-SHA-512", service, password(service))


ADMIN = KafkaAuth("SASL_PLAINTEXT", "SCRAM-SHA-512", "admin", ADMIN_PASSWORD)


@dataclass(frozen=True)
class PartitionState:
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass
class Cluster:
    """The cluster's nodes, the launcher environment that addresses them, and what the tests ask of it."""

    state_dir: Path
    env: dict[str, str]
    ports: list[int]
    started_in_s: float

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def service_settings(self) -> dict[str, dict[str, object]]:
        """Each service's Kafka client settings: its own principal."""
        return {s: {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "SCRAM-SHA-512",
                    "kafka_sasl_username": s, "kafka_sasl_password": password(s)} for s in SERVICES}

    async def launch(self, action: str, node: int | None = None, timeout: float = 150) -> float:
        """`kafka.sh <action> [node]` on this cluster; seconds it took (AssertionError with its output)."""
        started = time.monotonic()
        args = [str(KAFKA_SH), action] + ([str(node)] if node else [])
        await run_to_completion(["bash", *args], env=self.env, timeout=timeout, label=f"kafka.sh {' '.join(args[1:])}")
        return time.monotonic() - started

    async def _ask(self, question: Callable[[AIOKafkaAdminClient], Awaitable[T]], tries: int = 20) -> T:
        """Ask the cluster as the admin; while a node is down the client may pick it: ask again."""
        for attempt in range(tries):
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000,
                                        **ADMIN.options())
            try:
                await admin.start()
                return await question(admin)
            except KafkaError:
                if attempt == tries - 1:
                    raise
                await asyncio.sleep(0.5)
            finally:
                await admin.close()
        raise AssertionError("unreachable")

    async def partitions(self, topics: Iterable[str]) -> dict[tuple[str, int], PartitionState]:
        """Leader, replicas and in-sync replicas of every partition of the topics, as the cluster says now."""
        names = list(topics)
        described = await self._ask(lambda admin: admin.describe_topics(names))
        return {(d["topic"], p["partition"]): PartitionState(p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
                for d in described for p in d["partitions"]}

    async def brokers(self) -> int:
        """How many brokers the cluster's metadata lists (fenced ones are left out)."""
        cluster = await self._ask(lambda admin: admin.describe_cluster())
        return len(cluster["brokers"])

    async def wait_fully_replicated(self, topics: Iterable[str], within_s: float = 90.0) -> float:
        """Wait until every node is a broker again and every partition of the topics has its whole replica
        set in sync; seconds it took. Fails naming the partitions still under-replicated."""
        topics = list(topics)
        started = time.monotonic()
        while True:
            problems: list[str] = []
            try:
                if (brokers := await self.brokers()) < NODES:
                    problems.append(f"{brokers} of {NODES} brokers registered")
                for (topic, partition), state in sorted((await self.partitions(topics)).items() if topics else ()):
                    if set(state.isr) != set(state.replicas) or state.leader < 0:
                        problems.append(f"{topic}[{partition}] leader {state.leader}, isr {state.isr} "
                                        f"of {state.replicas}")
            except Exception as exc:  # a node still coming back: look again
                problems.append(f"could not look: {exc!r}")
            if not problems:
                return time.monotonic() - started
            if time.monotonic() - started > within_s:
                raise AssertionError(f"still under-replicated after {within_s:.0f} s:\n  " + "\n  ".join(problems[:20]))
            await asyncio.sleep(0.5)

    def server_logs(self, lines: int = 30) -> str:
        """The last lines of each node's log (printed when a test fails)."""
        found = []
        for node in range(1, NODES + 1):
            log = next(self.state_dir.glob(f"kafka*/node{node}/logs/server.log"), None)
            text = log.read_text(errors="replace").splitlines()[-lines:] if log else ["(no log)"]
            found.append(f"===== node {node}: {log} =====\n" + "\n".join(text))
        return "\n".join(found)


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _port_base() -> int:
    """A base port whose three broker ports and three controller ports (100 above) are all free."""
    for base in [29092] + list(range(30092, 40000, 211)):
        if all(_free(base + offset) for offset in (0, 1, 2, 100, 101, 102)):
            return base
    raise RuntimeError("no six free ports for the cluster")


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    """Three nodes up and registered, state in a temporary directory; stopped and removed afterwards."""
    if not shutil.which("java"):
        pytest.skip("no java: the cluster tests start three nodes with deploy/local/kafka.sh")
    state = Path(tempfile.mkdtemp(prefix="fengqiao-cluster-"))
    base = _port_base()
    env = {**os.environ, "FENGQIAO_STATE_DIR": str(state), "FENGQIAO_KAFKA_NODES": str(NODES),
           "FENGQIAO_KAFKA_SASL": "1", "FENGQIAO_KAFKA_PORT": str(base),
           "FENGQIAO_KAFKA_CONTROLLER_PORT": str(base + 100), "FENGQIAO_KAFKA_ADMIN_PASSWORD": ADMIN_PASSWORD,
           # Restarts dominate these tests: the quick compiler alone starts a node in far less CPU time.
           "FENGQIAO_KAFKA_JVM_OPTS": "-XX:TieredStopAtLevel=1",
           **{f"FENGQIAO_KAFKA_{s.upper()}_PASSWORD": password(s) for s in SERVICES}}
    if not (ROOT / ".cache" / "kafka" / "libs" / ".complete").exists() and not shutil.which("mvn"):
        pytest.skip("no Kafka jars in .cache and no mvn to fetch them")
    started = time.monotonic()
    try:
        up = subprocess.run(["bash", str(KAFKA_SH), "up"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=240)
        assert up.returncode == 0, f"the cluster did not start:\n{up.stdout}\n{up.stderr}"
        cluster = Cluster(state, env, [base, base + 1, base + 2], time.monotonic() - started)
        asyncio.run(cluster.wait_fully_replicated([], within_s=60))
        cluster.started_in_s = time.monotonic() - started
        print(f"\ncluster of {NODES} nodes (SASL) on {cluster.bootstrap} up in {cluster.started_in_s:.1f} s")
        yield cluster
    finally:
        # SIGKILL: the state is thrown away, so a controlled shutdown (up to 30 s a node) buys nothing.
        for node in range(1, NODES + 1):
            subprocess.run(["bash", str(KAFKA_SH), "kill", str(node)], cwd=ROOT, env=env, capture_output=True,
                           timeout=60)
        shutil.rmtree(state, ignore_errors=True)
