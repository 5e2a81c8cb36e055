"""A service's API as its own uvicorn process, on a free port, for a benchmark to call."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.infra import ROOT, BenchError


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(env: dict[str, str], port: int, log: Path, *, service: str = "intake",
          ready_within_s: float = 60) -> subprocess.Popen:
    """`fengqiao-<service> api` with the given settings; returns once /readyz answers."""
    handle = log.open("w")
    process = subprocess.Popen([sys.executable, "-m", f"services.{service}", "api", "--port", str(port)],
                               cwd=ROOT, env=os.environ | env, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ready_within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{service} exited during start-up; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise BenchError(f"{service} did not become ready within {ready_within_s:.0f} s; see {log}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
