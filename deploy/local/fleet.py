"""The main job's processes, supervised as an orchestrator would: a process that exits on its own is
started again after a backoff, and the others keep running; only a process that keeps crashing, or
Ctrl-C, stops the fleet.

A consumer replica killed mid-batch is the case this is for: its partitions go to the surviving
replicas while it restarts, and it rejoins the group when it is back (the runner's exactly-once
ledger makes the redelivered batch harmless).
"""
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # wait before the n-th restart in a row
CRASH_LIMIT, CRASH_WINDOW_S = 5, 120.0  # this many exits within the window: the process is given up on
STEADY_S = 60.0  # a process that ran this long since its last start is healthy again: the backoff resets


@dataclass
class Supervised:
    """One process: its command, its log, and its recent exits."""
    name: str
    command: Sequence[str]
    log: Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    exits: list[float] = field(default_factory=list)  # monotonic times of its recent exits
    restart_at: float | None = None  # when to start it again after an exit


class Fleet:
    """Start, supervise and stop named processes; `say` reports restarts and give-ups to the operator."""

    def __init__(self, say: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic) -> None:
        self.members: dict[str, Supervised] = {}
        self.say, self.clock = say, clock

    @property
    def processes(self) -> dict[str, subprocess.Popen]:
        return {name: m.process for name, m in self.members.items() if m.process is not None}

    def start(self, name: str, command: Sequence[str], log: Path) -> None:
        member = self.members.setdefault(name, Supervised(name, tuple(command), log))
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as handle:  # the child keeps its own descriptor
            member.process = subprocess.Popen(list(member.command), stdout=handle, stderr=subprocess.STDOUT,
                                              start_new_session=True)
        member.started_at, member.restart_at = self.clock(), None

    def dead(self) -> list[str]:
        """The processes that have exited and are not waiting to be restarted."""
        return [m.name for m in self.members.values()
                if m.process is not None and m.process.poll() is not None and m.restart_at is None]

    def supervise(self) -> list[str]:
        """One round: note exits, schedule restarts with backoff, start what is due. Returns the names given
        up on (more than CRASH_LIMIT exits within CRASH_WINDOW_S): the caller stops the fleet."""
        now, given_up = self.clock(), []
        for m in self.members.values():
            if m.process is None:
                continue
            code = m.process.poll()
            if code is not None and m.restart_at is None:
                if now - m.started_at >= STEADY_S:
                    m.exits.clear()  # it had been healthy: this exit starts a new count
                m.exits = [t for t in m.exits if now - t < CRASH_WINDOW_S] + [now]
                if len(m.exits) > CRASH_LIMIT:
                    self.say(f"{m.name} exited {len(m.exits)} times within {CRASH_WINDOW_S:.0f} s "
                             f"(last exit code {code}): giving up on it; see {m.log}")
                    given_up.append(m.name)
                    continue
                wait = BACKOFF_S[min(len(m.exits), len(BACKOFF_S)) - 1]
                m.restart_at = now + wait
                self.say(f"{m.name} exited with code {code}: restarting it in {wait:.0f} s "
                         f"({len(m.exits)} exit(s) in {CRASH_WINDOW_S:.0f} s); the others keep running")
            if m.restart_at is not None and now >= m.restart_at:
                self.start(m.name, m.command, m.log)
                self.say(f"{m.name} restarted (pid {m.process.pid})")
        return given_up

    def stop(self, timeout: float = 20.0) -> list[str]:
        """SIGTERM to every process, so consumers finish their batch; SIGKILL after the timeout. Returns the
        names that had to be killed."""
        running = [m for m in self.members.values() if m.process is not None and m.process.poll() is None]
        for m in running:
            m.process.send_signal(signal.SIGTERM)
        deadline, killed = time.monotonic() + timeout, []
        for m in running:
            try:
                m.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                m.process.kill()
                m.process.wait()
                killed.append(m.name)
        for m in self.members.values():
            m.restart_at = None
        return killed
