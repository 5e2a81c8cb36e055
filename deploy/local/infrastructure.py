"""Where the tests' and the benchmarks' one Kafka and one PostgreSQL come from, in order of precedence:

1. explicit environment variables FENGQIAO_TEST_KAFKA_BOOTSTRAP_SERVERS and FENGQIAO_TEST_POSTGRES_URL
   (a server URL without a database; each test creates its own database there);
2. testcontainers, when a Docker engine answers;
3. the project's local launcher, deploy/local/stack.sh (real Kafka and PostgreSQL as local processes).
"""
import os
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_ENV = "FENGQIAO_TEST_KAFKA_BOOTSTRAP_SERVERS"
POSTGRES_ENV = "FENGQIAO_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class Infrastructure:
    """Addresses of the session's Kafka and PostgreSQL server, and who provided them."""

    kafka_bootstrap_servers: str
    postgres_url: str
    provider: str


def docker_answers() -> bool:
    """True when a Docker engine answers a ping (the client alone is not enough)."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:  # no engine, no socket, no permission: all mean "not available"
        return False


def from_environment() -> Infrastructure | None:
    """Both addresses from explicit environment variables, or None."""
    kafka, postgres = os.environ.get(KAFKA_ENV), os.environ.get(POSTGRES_ENV)
    if kafka and postgres:
        return Infrastructure(kafka, postgres.rstrip("/"), "environment")
    return None


def from_testcontainers(stack: ExitStack) -> Infrastructure:
    """Kafka (KRaft) and PostgreSQL containers that live as long as the stack."""
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.2").with_kraft())
    postgres = stack.enter_context(PostgresContainer("postgres:15", username="fengqiao",
                                                     password="fengqiao", dbname="postgres"))
    url = postgres.get_connection_url(driver=None).rsplit("/", 1)[0]
    return Infrastructure(kafka.get_bootstrap_server(), url, "testcontainers")


def from_local_launcher() -> Infrastructure:
    """Start (or reuse) the local stack and read its addresses."""
    stack = ROOT / "deploy" / "local" / "stack.sh"
    subprocess.run(["bash", str(stack), "up"], check=True)
    env = subprocess.run(["bash", str(stack), "env"], check=True, capture_output=True, text=True).stdout
    values = dict(line.removeprefix("export ").split("=", 1) for line in env.splitlines() if "=" in line)
    return Infrastructure(values["FENGQIAO_KAFKA_BOOTSTRAP_SERVERS"], values["FENGQIAO_POSTGRES_URL"], "local")


def provide(stack: ExitStack) -> Infrastructure:
    """The first available provider in the documented order."""
    return from_environment() or (from_testcontainers(stack) if docker_answers() else from_local_launcher())
