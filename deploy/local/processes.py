"""Fengqiao's services as OS processes for end-to-end tests and benchmarks: one-shot commands, long-running
processes on free ports, readiness, SIGTERM at the end and their logs when something fails."""
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from deploy.local.infrastructure import ROOT

SERVICES = ("intake", "mediation", "assessment")
_PREFIXES = tuple(f"{s.upper()}_" for s in SERVICES) + ("FENGQIAO_",)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command(service: str, *args: str) -> list[str]:
    """`fengqiao-<service> ARGS`: the console script beside the interpreter running the tests
    (the project's .venv/bin), else the same CLI through `python -m`."""
    script = Path(sys.executable).parent / f"fengqiao-{service}"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", f"services.{service}", *args]


def service_env(service: str, **settings: object) -> dict[str, str]:
    """The process environment for one service: this environment without any Fengqiao settings it
    may carry (a developer's `stack.sh env`), plus the given settings under the service's prefix."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
    return base | {f"{service.upper()}_{name.upper()}": str(value) for name, value in settings.items()}


async def run_to_completion(argv: list[str], *, env: dict[str, str], timeout: float, label: str) -> str:
    """Run a command in the repository to completion; its output, or AssertionError naming `label` with it."""
    process = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{label} did not finish within {timeout:.0f} s") from None
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{label} exited {process.returncode}:\n{text}"
    return text


async def run_command(service: str, *args: str, env: dict[str, str], timeout: float = 60) -> str:
    """Run a one-shot CLI command to completion; its output, or AssertionError with it."""
    return await run_to_completion(command(service, *args), env=env, timeout=timeout,
                                   label=f"`fengqiao-{service} {' '.join(args)}`")


@dataclass
class ServiceProcess:
    """One long-running service command (`api` or `consume`) and its log file."""

    name: str
    process: subprocess.Popen
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} serves no HTTP"
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class ServiceGroup:
    """The processes of one test. Leaving the block stops them (SIGTERM, then SIGKILL after a grace
    period); leaving it with an exception prints every process's log first, so pytest shows them."""

    log_dir: Path
    stop_within_s: float = 20.0
    processes: list[ServiceProcess] = field(default_factory=list)
    return_codes: dict[str, int | None] = field(default_factory=dict)

    def start(self, service: str, subcommand: str, env: dict[str, str], *, port: int | None = None,
              label: str = "") -> ServiceProcess:
        """Start `fengqiao-<service> <subcommand>` with its output in a log file of its own (a label tells
        apart a process started again, or a second replica)."""
        name = f"{service} {subcommand}{' ' + label if label else ''}"
        log = self.log_dir / f"{service}-{subcommand}{'-' + label if label else ''}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(command(service, subcommand), cwd=ROOT, env=env, stdout=handle,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started = ServiceProcess(name, process, log, port)
        self.processes.append(started)
        return started

    def check_alive(self) -> None:
        """AssertionError naming the first process that has exited, with its log."""
        for p in self.processes:
            if p.process.poll() is not None:
                raise AssertionError(f"{p.name} exited with {p.process.returncode} while it should run:\n"
                                     f"{p.output()[-4000:]}")

    async def wait_ready(self, *services: ServiceProcess, within_s: float = 45.0) -> None:
        """Return once every given API answers 200 on /readyz (its database and Kafka answer)."""
        deadline = time.monotonic() + within_s
        waiting = list(services)
        async with httpx.AsyncClient(timeout=2.0) as client:
            while waiting:
                self.check_alive()
                for service in list(waiting):
                    try:
                        if (await client.get(f"{service.url}/readyz")).status_code == 200:
                            waiting.remove(service)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    raise AssertionError(f"not ready within {within_s:.0f} s: {', '.join(s.name for s in waiting)}")
                if waiting:
                    await asyncio.sleep(0.2)

    async def stop(self) -> dict[str, int | None]:
        """SIGTERM to every process still running, SIGKILL to those not gone within the grace period;
        the return code of each (0 is a clean stop)."""
        for p in self.processes:
            if p.process.poll() is None:
                p.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_within_s
        while any(p.process.poll() is None for p in self.processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for p in self.processes:
            if p.process.poll() is None:
                p.process.kill()
                p.process.wait()
                self.return_codes[p.name] = None  # did not stop on SIGTERM
            else:
                self.return_codes.setdefault(p.name, p.process.returncode)
        return self.return_codes

    def logs(self) -> str:
        """Every process's log, each under a header."""
        return "\n".join(f"===== {p.name} (pid {p.process.pid}, exit {p.process.poll()}) {p.log} =====\n{p.output()}"
                         for p in self.processes)

    async def __aenter__(self) -> "ServiceGroup":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
        if exc is not None:
            print(self.logs())
