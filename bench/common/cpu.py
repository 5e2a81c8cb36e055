"""CPU time from Linux /proc: of a process, of the PostgreSQL backends serving a database, of the machine."""
import os
from pathlib import Path

import asyncpg


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    # The command name in parentheses may hold spaces: the fields are counted after its closing one.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    """(busy, total) clock ticks of all CPUs since boot (/proc/stat)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def busy_between(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of the machine's CPU time that was busy between two samples (0..1)."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1)
