"""A Kafka broker and a PostgreSQL server of the fault tests' own, which they may stop and restart.

The session's shared broker and database are never stopped (other tests use them): the tests that
stop infrastructure get a second stack, started by the project's own launchers (deploy/local) on
free ports with a state directory of its own, for the whole package; stopped and removed at the end.
The Kafka jars come from the shared cache (.cache/), so nothing is downloaded again.
"""
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local.infrastructure import ROOT
from deploy.local.processes import free_port, run_to_completion

LAUNCHERS = ROOT / "deploy" / "local"


@dataclass
class FaultStack:
    """The fault tests' own Kafka and PostgreSQL, and the launcher environment that addresses them."""

    state_dir: Path
    env: dict[str, str]
    kafka_bootstrap: str
    postgres_url: str
    started_in_s: float

    async def launch(self, script: str, action: str, timeout: float = 120) -> float:
        """`deploy/local/<script>.sh <action>` on this stack; seconds it took (AssertionError with its output)."""
        started = time.monotonic()
        await run_to_completion(["bash", str(LAUNCHERS / f"{script}.sh"), action], env=self.env, timeout=timeout,
                                label=f"{script}.sh {action}")
        return time.monotonic() - started

    def server_logs(self, lines: int = 60) -> str:
        """The last lines of the broker's and the database server's logs (printed when a test fails)."""
        found = []
        for log in (self.state_dir / "kafka" / "logs" / "server.log", self.state_dir / "postgres" / "server.log"):
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
            found.append(f"===== {log} =====\n" + "\n".join(text))
        return "\n".join(found)


def _launcher_prerequisites() -> str | None:
    if not shutil.which("java"):
        return "no java: the fault tests start a broker of their own with deploy/local/kafka.sh"
    if not (ROOT / ".cache" / "kafka" / "libs" / ".complete").exists() and not shutil.which("mvn"):
        return "no Kafka jars in .cache and no mvn to fetch them"
    return None


@pytest.fixture(scope="package")
def fault_stack() -> Iterator[FaultStack]:
    """A second Kafka and PostgreSQL on free ports, state in a temporary directory; gone afterwards."""
    if missing := _launcher_prerequisites():
        pytest.skip(missing)
    # In /tmp and world-enterable: as root, the postgres user must be able to enter it, else the
    # launcher would put the cluster under /var/tmp instead.
    state = Path(tempfile.mkdtemp(prefix="fengqiao-faults-"))
    state.chmod(0o755)
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    kafka_port, controller_port, pg_port = sorted(ports)
    env = {**os.environ, "FENGQIAO_STATE_DIR": str(state), "FENGQIAO_KAFKA_PORT": str(kafka_port),
           "FENGQIAO_KAFKA_CONTROLLER_PORT": str(controller_port), "FENGQIAO_PG_PORT": str(pg_port)}
    started = time.monotonic()
    try:
        up = subprocess.run(["bash", str(LAUNCHERS / "stack.sh"), "up"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=180)
        assert up.returncode == 0, f"the fault stack did not start:\n{up.stdout}\n{up.stderr}"
        started_in = time.monotonic() - started
        # The cluster must be this stack's own, never one another stack shares.
        assert (state / "postgres" / "data" / "PG_VERSION").exists(), f"PostgreSQL is not under {state}:\n{up.stderr}"
        print(f"\nfault stack (Kafka on {kafka_port}, PostgreSQL on {pg_port}) up in {started_in:.1f} s")
        yield FaultStack(state, env, f"127.0.0.1:{kafka_port}",
                         f"postgresql://fengqiao:fengqiao@127.0.0.1:{pg_port}", started_in)
    finally:
        subprocess.run(["bash", str(LAUNCHERS / "stack.sh"), "down"], cwd=ROOT, env=env, capture_output=True,
                       timeout=120)
        shutil.rmtree(state, ignore_errors=True)
