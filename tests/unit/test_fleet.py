"""The main job's supervisor, on real processes: a process that exits is restarted after a backoff while
the others keep running; one that keeps crashing is given up on; Ctrl-C's stop reaches every process."""
import sys
import time

from deploy.local import fleet as supervision
from deploy.local.fleet import Fleet

CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]
STAY = [sys.executable, "-c", "import time; time.sleep(60)"]
# Ignores SIGTERM, as a process stuck in a long call would: only SIGKILL ends it.
STUBBORN = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)"]


class Clock:
    """Monotonic time the test moves by hand, so backoffs need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exited(fleet: Fleet, name: str) -> None:
    fleet.members[name].process.wait(timeout=10)


def test_a_crashed_process_is_restarted_after_its_backoff_and_the_others_keep_running(tmp_path):
    clock, said = Clock(), []
    fleet = Fleet(say=said.append, clock=clock)
    fleet.start("consumer", CRASH, tmp_path / "consumer.log")
    fleet.start("api", STAY, tmp_path / "api.log")
    first, api = fleet.members["consumer"].process.pid, fleet.members["api"].process.pid
    try:
        exited(fleet, "consumer")
        assert fleet.supervise() == []
        assert "consumer exited with code 3: restarting it in 1 s" in said[-1]
        assert fleet.dead() == [], "waiting for its restart, not dead"
        assert fleet.members["consumer"].process.pid == first, "not before the backoff"
        clock.now += supervision.BACKOFF_S[0]
        fleet.supervise()
        assert fleet.members["consumer"].process.pid != first and said[-1].startswith("consumer restarted")
        exited(fleet, "consumer")
        fleet.supervise()
        assert f"restarting it in {supervision.BACKOFF_S[1]:.0f} s" in said[-1], "the backoff grows"
        assert fleet.members["api"].process.pid == api and fleet.members["api"].process.poll() is None
    finally:
        fleet.stop(timeout=5)


def test_a_process_that_keeps_crashing_is_given_up_on(tmp_path):
    clock, said = Clock(), []
    fleet = Fleet(say=said.append, clock=clock)
    fleet.start("consumer", CRASH, tmp_path / "consumer.log")
    given_up = []
    for _ in range(supervision.CRASH_LIMIT + 1):
        exited(fleet, "consumer")
        given_up = fleet.supervise()
        if not given_up:
            clock.now = fleet.members["consumer"].restart_at  # restarted when due: 1 + 2 + 4 + 8 + 15 s in all
            fleet.supervise()
    assert given_up == ["consumer"]
    assert f"exited {supervision.CRASH_LIMIT + 1} times within" in said[-1] and "giving up" in said[-1]


def test_a_process_healthy_for_a_while_starts_its_count_again(tmp_path):
    clock, said = Clock(), []
    fleet = Fleet(say=said.append, clock=clock)
    fleet.start("consumer", CRASH, tmp_path / "consumer.log")
    for _ in range(supervision.CRASH_LIMIT + 2):
        clock.now += supervision.STEADY_S  # each run lasts a minute before it exits: healthy in between
        exited(fleet, "consumer")
        assert fleet.supervise() == []
        clock.now = fleet.members["consumer"].restart_at
        fleet.supervise()
    assert all("(1 exit(s)" in line for line in said if "restarting" in line)
    fleet.stop(timeout=5)


def test_stop_terminates_every_process_and_kills_one_that_ignores_it(tmp_path):
    fleet = Fleet(say=lambda _: None)
    fleet.start("api", STAY, tmp_path / "api.log")
    fleet.start("stuck", STUBBORN, tmp_path / "stuck.log")
    deadline = time.monotonic() + 10
    while b"ready" not in (tmp_path / "stuck.log").read_bytes():  # its SIGTERM handler is in place
        assert time.monotonic() < deadline
        time.sleep(0.05)
    killed = fleet.stop(timeout=1)
    assert killed == ["stuck"]
    assert all(m.process.poll() is not None for m in fleet.members.values())
    assert fleet.members["api"].process.returncode == -15  # SIGTERM, as consumers expect
