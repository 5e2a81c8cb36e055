"""`fengqiao-intake profile scaffold FILE`: a starter profile for a CAD export intake has never seen.

It reads the whole file once (CSV, or NDJSON whose nested keys become dot paths), guesses where
each canonical field comes from (services/intake/domain/column_guess.py), and writes a code table
of every distinct call type with its count and what the classification rules make of it. The
result loads and validates as it is; the comments say what a person should look at first.
"""
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from services.intake.domain.classification import Classification, Classifier
from services.intake.domain.column_guess import Column, Guess, guess_mapping
from services.intake.file_reading import read_records

SAMPLE_ROWS = 2000  # values kept per column to guess from; codes are counted over every row
MAX_CODE_CHARS = 64


def detect_format(path: Path) -> str:
    """`json` when the first non-blank line is a JSON object, else `csv`."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                return "json" if line.lstrip().startswith(b"{") else "csv"
    return "csv"


def flatten(value: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(dot path, text) of the scalars of a JSON object; lists by their first element, as profiles read them."""
    if isinstance(value, dict) and depth < 5:
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}{key}.", depth + 1)
    elif isinstance(value, list) and value and depth < 5:
        yield from flatten(value[0], f"{prefix}0.", depth + 1)
    elif value is not None and not isinstance(value, dict | list):
        yield prefix[:-1], str(value)


def survey(path: Path, fmt: str) -> tuple[list[Column], int]:
    """Every column (or JSON path) with a sample of its values, and the number of records."""
    columns: dict[str, Column] = {}
    seen: dict[str, set[str]] = {}
    rows = 0
    for raw in read_records(path, fmt):
        if raw.value is None or not isinstance(raw.value, dict):
            continue
        rows += 1
        pairs = raw.value.items() if fmt == "csv" else flatten(raw.value)
        for name, value in pairs:
            column = columns.get(name)
            if column is None:
                column = columns[name] = Column(name, rows=rows - 1)
                seen[name] = set()
            column.rows += 1
            text = str(value).strip()
            if text:
                column.filled += 1
                if len(column.values) < SAMPLE_ROWS:
                    column.values.append(text)
                    seen[name].add(text)
    for name, column in columns.items():
        column.distinct = len(seen[name])
        column.rows = rows
    return list(columns.values()), rows


def count_codes(path: Path, fmt: str, guesses: dict[str, Guess]) -> Counter:
    """How often each distinct call type occurs, over the whole file."""
    code = guesses.get("category_code")
    counts: Counter = Counter()
    if code is None:
        return counts
    for raw in read_records(path, fmt):
        if isinstance(raw.value, dict):
            value = raw.value.get(code.column) if fmt == "csv" else dict(flatten(raw.value)).get(code.column)
            if value not in (None, ""):
                counts[str(value).strip()] += 1
    return counts


def category_of(result: Classification) -> str:
    """Our category code for what the rules decided."""
    if result.kind == "dispute":
        return f"dispute.{result.dispute_type}"
    if result.kind == "crime":
        return f"crime.{result.crime_type}" if result.crime_type not in (None, "other") else "crime"
    return result.kind


def scaffold_profile(path: Path, *, name: str, classifier: Classifier, fmt: str | None = None) -> str:
    """The starter profile's YAML text, comments included."""
    fmt = fmt or detect_format(path)
    columns, rows = survey(path, fmt)
    guesses = guess_mapping(columns)
    codes = count_codes(path, fmt, guesses)
    lines = [f"# Starter profile for {path.name}, written by `fengqiao-intake profile scaffold`: {rows:,} records,",
             f"# {len(columns)} columns. Every mapping below is a guess; check the ones marked CHECK, then run",
             f"#   fengqiao-intake check {path.name} --profile {name}.yaml",
             "# Columns found (name: rows filled, distinct values in the first 2,000, an example):"]
    for column in columns:
        example = column.values[0][:40] if column.values else ""
        lines.append(f"#   {column.name}: {column.filled:,} filled, {column.distinct:,} distinct, e.g. {example!r}")
    lines += [f"name: {name}", "version: 1", f"description: {_q('starter profile for ' + path.name)}",
              f"format: {fmt}",
              "time_zone: UTC  # CHECK: the zone of times written without an offset, e.g. America/Chicago",
              "fields:", f"  source: {{const: {_q(name.upper())}}}  # CHECK: the name of the CAD system"]
    lines += _field_lines(guesses)
    lines += _code_lines(codes, classifier, guesses)
    return "\n".join(lines) + "\n"


def _field_lines(guesses: dict[str, Guess]) -> list[str]:
    out = []
    for field in ("incident_number", "received_at", "dispatched_at", "arrived_at", "closed_at", "address_text",
                  "latitude", "longitude", "station_code", "category_code", "category_text", "description",
                  "disposition", "caller_name", "caller_phone"):
        guess = guesses.get("category_code") if field == "category_text" else guesses.get(field)
        if guess is None:
            out.append(f"  # {field}: no column found{_missing_hint(field)}")
            continue
        spec: dict[str, Any] = {"path": guess.column}
        if guess.format:
            spec["format"] = guess.format
        if field in ("latitude", "longitude"):
            spec["drop_invalid"] = True
        if field == "received_at":
            spec["fallback"] = [f for f in ("dispatched_at", "arrived_at") if f in guesses] or None
            spec = {k: v for k, v in spec.items() if v is not None}
        body = ", ".join(f"{k}: {_q(v) if isinstance(v, str) else _flow(v)}" for k, v in spec.items())
        note = f"  # {guess.note}" if guess.note else ""
        out.append(f"  {field}: {{{body}}}{note}")
    return out


def _missing_hint(field: str) -> str:
    return {
        "incident_number": " (REQUIRED: name the id column, or several with `parts`)",
        "received_at": " (REQUIRED: name the call time, or `fallback: [dispatched_at]`)",
        "station_code": ": records are placed by their point or address, else unassigned; map the district, "
                        "precinct or beat column here if the export has one",
    }.get(field, "")


def _code_lines(codes: Counter, classifier: Classifier, guesses: dict[str, Guess]) -> list[str]:
    if not codes:
        return ["categories: {}  # no call-type column found: the text alone decides every record"]
    out = ["# Every distinct call type, most frequent first, with what the classification rules suggest",
           f"# ({classifier.version}): category, risk flags, confidence and the words that decided.",
           "# REVIEW marks a suggestion made on weak evidence; `other` means no rule word matched.",
           "categories:"]
    for code, count in codes.most_common():
        if len(code) > MAX_CODE_CHARS:
            out.append(f"  # {code[:70]!r}: longer than {MAX_CODE_CHARS} characters, cannot be mapped")
            continue
        result = classifier.classify(category=None, description=None, category_text=code)
        entry: dict[str, Any] = {"category": category_of(result)}
        flags = sorted(result.risk_flags - {"repeat_caller"})
        if flags:
            entry["risk"] = flags
        words = ", ".join(m.split(":", 2)[-1] for m in result.matched) or "no rule word"
        review = " REVIEW" if result.needs_review else ""
        body = ", ".join(f"{k}: {_flow(v)}" for k, v in entry.items())
        out.append(f"  {_q(code)}: {{{body}}}  # {count:,} rows; {result.confidence:.2f} from {words}{review}")
    return out


def _q(text: str) -> str:
    # JSON strings are YAML double-quoted scalars: codes such as "TRBL W/SUBJ-DV" or "1" stay text.
    return orjson.dumps(text).decode()


def _flow(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _q(value) if isinstance(value, str) else str(value)
