"""The mediation API for the benchmark's mediators, and CPU accounting of the run."""
import subprocess
from pathlib import Path

from bench.common.cpu import backend_cpu, busy_between, cpu_between, machine_cpu  # noqa: F401  (read as server.*)
from bench.intake import server as intake_server

# Start-up first relays what the outbox holds (the loaded cases' created events): allow for it.
READY_WITHIN_S = 180


def start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """`fengqiao-mediation api` with the given MEDIATION_* settings; returns once /readyz answers."""
    return intake_server.start(env, port, log, service="mediation", ready_within_s=READY_WITHIN_S)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it will not go."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

