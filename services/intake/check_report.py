"""How `fengqiao-intake check` shows its report: rich tables for people, JSON for machines, and the
integrator's thresholds as an exit code."""
from dataclasses import dataclass

import orjson
from rich.console import Console
from rich.table import Table

from services.intake.dry_run import CheckReport


@dataclass(frozen=True)
class Thresholds:
    """Limits past which check exits non-zero; None: no limit."""

    max_rejected: float | None = None   # share of rows read
    max_unplaced: float | None = None   # share of valid records no station receives
    max_conflicts: int | None = None    # conflicting duplicates inside the file
    max_unmapped: float | None = None   # share of valid rows whose code the table does not map


def breaches(report: CheckReport, limits: Thresholds) -> list[str]:
    """Every threshold the report exceeds, in words."""
    found = []
    if limits.max_rejected is not None and report.rejected_share > limits.max_rejected:
        found.append(f"rejected {report.rejected_share:.2%} of rows > --max-rejected {limits.max_rejected:.2%}")
    if limits.max_unplaced is not None and report.unplaced_share > limits.max_unplaced:
        found.append(f"unplaced {report.unplaced_share:.2%} of records > --max-unplaced {limits.max_unplaced:.2%}")
    if limits.max_conflicts is not None and len(report.conflicts) > limits.max_conflicts:
        found.append(f"{len(report.conflicts)} conflicts > --max-conflicts {limits.max_conflicts}")
    if limits.max_unmapped is not None and report.records:
        share = sum(c.rows for c in report.codes.values() if not c.mapped) / report.records
        if share > limits.max_unmapped:
            found.append(f"unmapped codes on {share:.2%} of records > --max-unmapped {limits.max_unmapped:.2%}")
    return found


def as_json(report: CheckReport, top: int, failed: list[str]) -> bytes:
    return orjson.dumps(report.as_dict(top) | {"threshold_breaches": failed}, option=orjson.OPT_INDENT_2)


def show(report: CheckReport, console: Console, top: int, failed: list[str]) -> None:
    """The report as tables."""
    summary = Table(title=f"check of {report.file} with {report.profile} v{report.profile_version} "
                          f"({report.rules_version})")
    summary.add_column("")
    summary.add_column("records", justify="right")
    summary.add_column("share", justify="right")
    rows = max(report.rows_read, 1)
    for name, n, base in (("rows read", report.rows_read, rows), ("valid", report.valid, rows),
                          ("rejected", report.rejected, rows), ("duplicates in the file", len(report.duplicates), rows),
                          ("conflicts in the file", len(report.conflicts), rows),
                          ("records to keep", report.records, rows),
                          ("without a station", report.unplaced, max(report.records, 1)),
                          ("disputes needing review", report.needs_review, max(report.records, 1)),
                          ("received_at derived", report.derived_received_at, max(report.records, 1))):
        summary.add_row(name, f"{n:,}", f"{n / base:.1%}")
    console.print(summary)
    if report.rejected:
        reasons = Table(title=f"top {top} rejection reasons")
        for column in ("reason", "rows", "first positions"):
            reasons.add_column(column)
        for reason, n, positions in report.top_reasons(top):
            reasons.add_row(reason, f"{n:,}", ", ".join(positions))
        console.print(reasons)
    for title, counter in (("kinds", report.kinds), ("dispute types", report.dispute_types),
                           ("risk flags", report.risk_flags), ("placement", report.placement)):
        if counter:
            table = Table(title=title)
            table.add_column("value")
            table.add_column("records", justify="right")
            for value, n in counter.most_common():
                table.add_row(value, f"{n:,}")
            console.print(table)
    codes = Table(title=f"{len(report.codes)} distinct codes "
                        f"({sum(1 for c in report.codes.values() if not c.mapped)} not in the code table)")
    for column in ("code", "records", "mapped", "the rules decide (unmapped codes)"):
        codes.add_column(column)
    for entry in sorted(report.codes.values(), key=lambda c: (c.mapped, -c.rows)):
        decided = ", ".join(f"{d} ×{n}" if len(entry.decided) > 1 else d for d, n in entry.decided.most_common(2))
        codes.add_row(entry.code, f"{entry.rows:,}", "yes" if entry.mapped else "no", decided)
    console.print(codes)
    for fix in report.fixes:
        console.print(f"to place the {report.unplaced:,} records without a station: {fix}", markup=False)
    for position, first in report.conflicts[:top]:
        console.print(f"conflict: {position} repeats the incident and revision of {first} with other content",
                      markup=False)
    for line in failed:
        console.print(f"threshold: {line}", style="red", markup=False)
