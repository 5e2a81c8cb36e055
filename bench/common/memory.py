"""Peak resident memory (RSS) of a service process while a benchmark runs, from /proc/<pid>/status."""
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_MB = 200  # issue 17: each service's RSS under the benches' load


def rss_bytes(pid: int) -> int:
    """The process's resident set size now (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise ProcessLookupError(pid)  # a zombie has no memory left to report


@dataclass
class PeakRss:
    """The largest RSS seen in a process's samples."""

    name: str
    pid: int
    peak: int = 0
    samples: int = 0

    @property
    def megabytes(self) -> float:
        return self.peak / 2 ** 20

    def line(self) -> str:
        """One line for the report, with the target."""
        verdict = "met" if self.megabytes < TARGET_MB else "NOT met"
        return (f"peak RSS of {self.name} (pid {self.pid}): {self.megabytes:,.0f} MB in {self.samples:,} samples; "
                f"target < {TARGET_MB} MB {verdict}")


def watch(process: subprocess.Popen, name: str, *, every_s: float = 0.1, report: bool = True) -> PeakRss:
    """Sample the process's RSS on a thread of its own until it exits (whatever the benchmark's event loop is
    doing), keeping the peak; with `report`, print the peak's line when the process has exited."""
    peak = PeakRss(name, process.pid)

    def sample() -> None:
        while process.poll() is None:
            try:
                peak.peak, peak.samples = max(peak.peak, rss_bytes(process.pid)), peak.samples + 1
            except OSError:
                break  # gone between poll() and the read
            time.sleep(every_s)
        if report:
            print(peak.line(), flush=True)

    threading.Thread(target=sample, name=f"rss {name}", daemon=True).start()
    return peak
