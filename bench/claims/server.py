"""`fengqiao-mediation api` as its own uvicorn process, for the benchmark's mediators to call."""
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from bench.infra import ROOT, BenchError
from bench.intake.server import cpu_seconds

# Start-up first relays what the outbox holds (the loaded cases' created events): allow for it.
READY_WITHIN_S = 180


def start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """`python -m services.mediation api` with the given MEDIATION_* settings; returns once /readyz answers."""
    handle = log.open("w")
    process = subprocess.Popen([sys.executable, "-m", "services.mediation", "api", "--port", str(port)],
                               cwd=ROOT, env=os.environ | env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"mediation exited during start-up; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise BenchError(f"mediation did not become ready within {READY_WITHIN_S} s; see {log}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it will not go."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def backend_cpu(database_url: str, database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to the database, by pid."""
    conn = await asyncpg.connect(database_url)
    try:
        pids = [r[0] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)]
    finally:
        await conn.close()
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass  # closed between the query and the read
    return found


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """Backend CPU spent between two samples; a backend opened in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot (Linux /proc/stat)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def busy_between(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of the machine's CPU time that was busy between two samples (0..1)."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1)
