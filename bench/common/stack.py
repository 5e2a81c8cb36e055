"""The Kafka and PostgreSQL a benchmark runs against, and how a benchmark says it cannot go on."""
from deploy.local.infrastructure import ROOT, from_environment, from_local_launcher

__all__ = ["ROOT", "BenchError", "ensure_stack"]


class BenchError(RuntimeError):
    """A precondition or a measurement failed; the message says which."""


def ensure_stack() -> tuple[str, str]:
    """Kafka bootstrap servers and a PostgreSQL server URL: the tests' env vars, else the local stack."""
    found = from_environment() or from_local_launcher()  # the same precedence as the test suite
    return found.kafka_bootstrap_servers, found.postgres_url
