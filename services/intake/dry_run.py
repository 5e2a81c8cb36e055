"""`fengqiao-intake check FILE --profile P`: everything an import would decide, with nothing written.

It needs no database and no Kafka. Each row is read, mapped, classified and placed exactly as the
import would (the same reader, profile, rules and reference data), and the report says what an
integrator needs before the first real import: how many rows would be rejected and why (with line
numbers), every call type with its count and whether the code table maps it (and what the rules
make of those it does not), the kind, dispute-type and risk-flag distribution, how many records no
station would receive and which profile field would fix that, and duplicates and conflicts inside
the file. Thresholds turn it into a gate for the integrator's own CI.
"""
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.intake.domain.classification import Classifier
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.domain.profile_model import FeedProfile
from services.intake.domain.profiles import map_record
from services.intake.file_reading import read_records

UNPLACED = ("unassigned", "unknown_station")
_VALUE = re.compile(r", got .*$")  # the value in a message, so equal reasons group together


@dataclass
class CodeSeen:
    """One distinct source code: how often, whether mapped, and what the rules decided without the table."""

    code: str
    rows: int = 0
    mapped: bool = False
    decided: Counter = field(default_factory=Counter)  # "kind/type +flags" → rows


@dataclass
class CheckReport:
    """What a check found; as_dict() is the --json output."""

    file: str
    profile: str
    profile_version: int
    rules_version: str
    rows_read: int = 0
    valid: int = 0
    rejected: int = 0
    reasons: dict[str, list[str]] = field(default_factory=dict)  # "field: reason" → positions
    codes: dict[str, CodeSeen] = field(default_factory=dict)
    kinds: Counter = field(default_factory=Counter)
    dispute_types: Counter = field(default_factory=Counter)
    risk_flags: Counter = field(default_factory=Counter)
    needs_review: int = 0
    unplaced: int = 0
    placement: Counter = field(default_factory=Counter)
    derived_received_at: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (position, first position)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.rows_read if self.rows_read else 0.0

    @property
    def records(self) -> int:
        """Valid rows less the in-file duplicates and conflicts: the records an import would keep."""
        return sum(self.placement.values())

    @property
    def unplaced_share(self) -> float:
        return self.unplaced / self.records if self.records else 0.0

    def top_reasons(self, n: int) -> list[tuple[str, int, list[str]]]:
        """The n most frequent rejection reasons: (reason, rows, first line numbers)."""
        ranked = sorted(self.reasons.items(), key=lambda kv: -len(kv[1]))[:n]
        return [(reason, len(positions), positions[:5]) for reason, positions in ranked]

    def as_dict(self, top: int = 10) -> dict[str, Any]:
        return {
            "file": self.file, "profile": self.profile, "profile_version": self.profile_version,
            "rules_version": self.rules_version, "rows_read": self.rows_read, "valid": self.valid,
            "rejected": self.rejected, "records": self.records, "rejected_share": round(self.rejected_share, 6),
            "rejection_reasons": [{"reason": r, "rows": n, "first_positions": p} for r, n, p in self.top_reasons(top)],
            "codes": [{"code": c.code, "rows": c.rows, "mapped": c.mapped,
                       "rules_decide": dict(c.decided.most_common()) if not c.mapped else None}
                      for c in sorted(self.codes.values(), key=lambda c: -c.rows)],
            "unmapped_codes": sum(1 for c in self.codes.values() if not c.mapped),
            "unmapped_rows": sum(c.rows for c in self.codes.values() if not c.mapped),
            "kinds": dict(self.kinds.most_common()), "dispute_types": dict(self.dispute_types.most_common()),
            "risk_flags": dict(self.risk_flags.most_common()), "needs_review": self.needs_review,
            "unplaced": self.unplaced, "unplaced_share": round(self.unplaced_share, 6),
            "placement": dict(self.placement.most_common()), "placement_fixes": self.fixes,
            "received_at_derived": self.derived_received_at,
            "duplicates": len(self.duplicates), "conflicts": len(self.conflicts),
            "conflict_positions": [{"position": p, "first": f} for p, f in self.conflicts[:top]],
        }


def check_file(path: Path, profile: FeedProfile, classifier: Classifier,
               jurisdictions: Jurisdictions) -> CheckReport:
    """Read, map, classify and place every row of the file; write nothing."""
    rules = classifier.with_keywords(profile.keywords.model_dump())
    report = CheckReport(str(path), profile.name, profile.version, rules.version)
    seen: dict[tuple[str, str, int], tuple[int, str]] = {}  # (source, number, revision) → (hash, position)
    header: set[str] = set()
    for raw in read_records(path, profile, keep_raw=False):
        report.rows_read += 1
        if raw.parse_error is not None:
            _reject(report, raw.position, [raw.parse_error])
            continue
        if not header and isinstance(raw.value, dict):
            header = set(raw.value)
        mapped = map_record(profile, raw.value)
        record = mapped.record
        if record is None:
            _reject(report, raw.position, mapped.errors)
            continue
        report.valid += 1
        key = (record.source, record.incident_number, record.revision)
        # Python's hash of the field values: the content comparison of the import (dedup.content_hash),
        # without serialising every row; equal records hash equal, a collision is 1 in 2^64.
        digest = hash(tuple(record.__dict__.values()))
        first = seen.get(key)
        if first is not None:
            (report.duplicates if first[0] == digest else report.conflicts).append((raw.position, first[1]))
            continue
        seen[key] = (digest, raw.position)
        code = mapped.code
        result = rules.classify(category=code.category if code else None, description=record.description,
                                category_text=record.category_text)
        if record.category_code is not None:
            entry = report.codes.get(record.category_code)
            if entry is None:
                entry = report.codes[record.category_code] = CodeSeen(record.category_code, mapped=code is not None)
            entry.rows += 1
            if code is None:
                entry.decided[_decision(result)] += 1
        report.kinds[result.kind] += 1
        if result.dispute_type:
            report.dispute_types[result.dispute_type] += 1
        for flag in set(result.risk_flags) | set(code.risk if code else ()):
            report.risk_flags[flag] += 1
        report.needs_review += result.needs_review
        report.derived_received_at += record.received_at_derived_from is not None
        assignment = jurisdictions.resolve(station_code=record.station_code, point=record.point,
                                           address_text=record.address_text)
        report.placement[assignment.method] += 1
        report.unplaced += assignment.method in UNPLACED
    report.fixes = placement_fixes(profile, report, header)
    return report


def _reject(report: CheckReport, position: str, errors: list) -> None:
    report.rejected += 1
    for error in errors[:1]:  # the first reason is the one the integrator fixes first
        report.reasons.setdefault(f"{error.field}: {_VALUE.sub('', error.message)}", []).append(position)


def _decision(result) -> str:
    kind = result.kind + (f".{result.dispute_type}" if result.dispute_type else "") + \
        (f".{result.crime_type}" if result.crime_type not in (None, "other") else "")
    flags = sorted(result.risk_flags - {"repeat_caller"})
    return kind + (f" +{','.join(flags)}" if flags else "") + (" (review)" if result.needs_review else "")


STATION_WORDS = ("district", "precinct", "station", "beat", "zone", "sector", "division")


def placement_fixes(profile: FeedProfile, report: CheckReport, header: set[str]) -> list[str]:
    """Which profile fields would place the records no station receives."""
    if not report.unplaced:
        return []
    fixes = []
    unmapped = sorted(c for c in header if c not in _mapped_columns(profile))
    if "station_code" not in profile.fields:
        hints = [c for c in unmapped if any(w in c.lower() for w in STATION_WORDS)]
        fixes.append("map fields.station_code to the column naming the station"
                     + (f" (candidates: {', '.join(hints)})" if hints else "")
                     + "; codes must be stations of services/intake/reference/stations.yaml")
    elif report.placement.get("unknown_station"):
        fixes.append("fields.station_code names codes that are no known station: give it a `map` to station "
                     "codes of services/intake/reference/stations.yaml")
    if "latitude" not in profile.fields or "longitude" not in profile.fields:
        fixes.append("map fields.latitude and fields.longitude: a point inside a grid places the record")
    if "address_text" not in profile.fields:
        fixes.append("map fields.address_text: address prefixes of the reference data place the record")
    if not fixes:
        fixes.append("the records' stations, points and addresses match no reference unit: add the feed's "
                     "stations to services/intake/reference/ or map station_code to known codes")
    return fixes


def _mapped_columns(profile: FeedProfile) -> set[str]:
    return {path.split(".")[0] for spec in profile.fields.values() for path in spec.paths}
