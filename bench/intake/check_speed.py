"""bench.intake.check_speed: rows per second of `fengqiao-intake check` over the bundled Milwaukee export
(read, map, classify, place and count every row; no database, no Kafka), beside a plain csv.reader
pass over the same file in the same run. One process, one core; each figure is the best of
--repeat runs, by wall clock and by the process's CPU time (the machine may be busy with others).

    .venv/bin/python -m bench.intake.check_speed [--file CSV] [--profile milwaukee_cad] [--repeat 5]
"""
import argparse
import csv
import sys
import time
from pathlib import Path

from services.intake.domain.classification import Classifier
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.dry_run import check_file
from services.intake.profile_files import load_profile

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "services" / "intake" / "samples" / "milwaukee_calls_2018-05-01_to_14.csv"


def plain_csv(path: Path) -> int:
    """Rows of a plain csv.reader pass: the floor any CSV import stands on."""
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def best(run, repeat: int) -> tuple[int, float, float]:
    """(rows, best wall seconds, best CPU seconds) of repeat runs."""
    walls, cpus, rows = [], [], 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        rows = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return rows, min(walls), min(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=SAMPLE)
    parser.add_argument("--profile", default="milwaukee_cad")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    profile, classifier, places = load_profile(args.profile), Classifier.load(), Jurisdictions.load()
    report = check_file(args.file, profile, classifier, places)  # warm: rules compiled, call types memoised
    runs = {"csv.reader, plain": lambda: plain_csv(args.file),
            "fengqiao-intake check": lambda: check_file(args.file, profile, classifier, places).rows_read}
    print(f"{args.file.name}: {report.rows_read:,} rows, profile {profile.name}, best of {args.repeat}")
    print(f"{'':24} {'rows/s (wall)':>14} {'rows/s (CPU)':>14}")
    figures = {}
    for name, run in runs.items():
        rows, wall, cpu = best(run, args.repeat)
        figures[name] = rows / cpu
        print(f"{name:24} {rows / wall:>14,.0f} {rows / cpu:>14,.0f}")
    ratio = figures["fengqiao-intake check"] / figures["csv.reader, plain"]
    print(f"check runs at {ratio:.2f} of a plain csv.reader pass (CPU); target 30,000 rows/s on one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
