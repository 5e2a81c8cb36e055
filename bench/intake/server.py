"""A service's API as its own uvicorn process, on a free port, for a benchmark to call."""
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import memory
from bench.common.cpu import cpu_seconds  # noqa: F401  (the benches read it as server.cpu_seconds)
from bench.common.stack import ROOT, BenchError
from deploy.local.processes import free_port  # noqa: F401  (the benches read it as server.free_port)


def start(env: dict[str, str], port: int, log: Path, *, service: str = "intake",
          ready_within_s: float = 60) -> subprocess.Popen:
    """`fengqiao-<service> api` with the given settings; returns once /readyz answers."""
    handle = log.open("w")
    process = subprocess.Popen([sys.executable, "-m", f"services.{service}", "api", "--port", str(port)],
                               cwd=ROOT, env=os.environ | env, stdout=handle, stderr=subprocess.STDOUT)
    memory.watch(process, f"{service} api")  # prints the API's peak RSS once it has stopped
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
