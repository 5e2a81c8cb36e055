"""A benchmark's own local three-node Kafka cluster, or one started beforehand, and how its topics replicate.

The cluster is started as the cluster tests start theirs (tests/cluster/conftest.py): deploy/local/kafka.sh
with FENGQIAO_KAFKA_NODES=3, on free ports from 39092 (controllers 100 above), state in the work tree's
`.local/bench-cluster-<port>/`. It is plaintext (no SASL): the benches measure replication, not
authentication. At the end its nodes are SIGKILLed and the state removed, also after a failure or Ctrl-C.
"""
import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench.common.stack import ROOT, BenchError

KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
NODES = 3
FIRST_PORT = 39092  # away from the shared stack (19092) and the cluster tests (29092 up)


@dataclass(frozen=True)
class Cluster:
    """Where a three-node cluster answers, and whether this run started it (and how long that took)."""

    bootstrap: str
    started_in_s: float | None  # None: started beforehand (--bootstrap)

    def describe(self) -> str:
        if self.started_in_s is None:
            return f"the cluster at {self.bootstrap} (given with --bootstrap, left running)"
        return f"{NODES} nodes at {self.bootstrap} (started in {self.started_in_s:.0f} s)"


def add_options(group: argparse._ArgumentGroup, *, nodes_help: str) -> None:
    """--nodes, --bootstrap and --cluster-port, as every bench that runs on three nodes takes them; after
    parsing, `nodes_of(args)` is the count (a --bootstrap cluster means three)."""
    group.add_argument("--nodes", type=int, choices=(1, NODES), default=1, help=nodes_help)
    group.add_argument("--bootstrap", help="a three-node cluster started beforehand "
                                           "(FENGQIAO_KAFKA_NODES=3 deploy/local/kafka.sh bootstrap); implies --nodes 3")
    group.add_argument("--cluster-port", type=int, default=FIRST_PORT,
                       help="first port tried for the bench's own cluster (controllers 100 above)")


def nodes_of(args: argparse.Namespace) -> int:
    """The nodes a bench's options ask for (add_options)."""
    return NODES if args.bootstrap else args.nodes


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def port_base(first: int = FIRST_PORT) -> int:
    """A base port whose three broker ports and three controller ports (100 above) are all free."""
    for base in range(first, first + 2000, 211):
        if all(_free(base + offset) for offset in (0, 1, 2, 100, 101, 102)):
            return base
    raise BenchError(f"no six free ports for a cluster from {first}")


def _launch(env: dict[str, str], *args: str, timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(KAFKA_SH), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout_s)


@asynccontextmanager
async def three_nodes(first_port: int = FIRST_PORT) -> AsyncIterator[Cluster]:
    """Start three KRaft nodes (replication 3, min.insync.replicas=2 by default) for the run; kill them after."""
    base = port_base(first_port)
    state = ROOT / ".local" / f"bench-cluster-{base}"
    env = {**os.environ, "FENGQIAO_STATE_DIR": str(state), "FENGQIAO_KAFKA_NODES": str(NODES),
           "FENGQIAO_KAFKA_SASL": "0", "FENGQIAO_KAFKA_PORT": str(base),
           "FENGQIAO_KAFKA_CONTROLLER_PORT": str(base + 100)}
    # Unlike the cluster tests, the full JIT: throughput is what this cluster is for.
    env.pop("FENGQIAO_KAFKA_JVM_OPTS", None)
    print(f"starting {NODES} Kafka nodes on ports {base}-{base + NODES - 1} (state in {state}) ...", flush=True)
    started = time.monotonic()
    keep_state = False
    try:
        up = await asyncio.to_thread(_launch, env, "up", timeout_s=300)
        if up.returncode != 0:
            keep_state = True  # its logs say why
            raise BenchError(f"the cluster did not start (kafka.sh up exited {up.returncode}):\n{up.stdout}{up.stderr}")
        bootstrap = ",".join(f"127.0.0.1:{base + n}" for n in range(NODES))
        yield Cluster(bootstrap, time.monotonic() - started)
    finally:
        # SIGKILL: the state is thrown away, so a controlled shutdown buys nothing.
        for node in range(1, NODES + 1):
            await asyncio.to_thread(_launch, env, "kill", str(node), timeout_s=60)
        if not keep_state:
            shutil.rmtree(state, ignore_errors=True)


@asynccontextmanager
async def given(bootstrap: str) -> AsyncIterator[Cluster]:
    """A cluster started beforehand, e.g. `FENGQIAO_KAFKA_NODES=3 deploy/local/kafka.sh up`; left running."""
    yield Cluster(bootstrap, None)


def cluster(bootstrap: str | None, first_port: int = FIRST_PORT):
    """The context of the three-node cluster a bench measures on: the given one, else one of its own."""
    return given(bootstrap) if bootstrap else three_nodes(first_port)


async def replication(bootstrap: str, topic: str) -> str:
    """"replication R, min.insync.replicas M" of a topic, as the cluster reports it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-replication")
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        replicas = {len(p["replicas"]) for p in described["partitions"]}
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"min.insync.replicas": None})])
        [resource] = response.to_object()["resources"]
        [entry] = [e for e in resource["config_entries"] if e["config_names"] == "min.insync.replicas"]
    finally:
        await admin.close()
    return (f"replication {'/'.join(map(str, sorted(replicas)))}, "
            f"min.insync.replicas {entry['config_value']}")
