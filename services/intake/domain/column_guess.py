"""Guessing a feed profile's mapping from an export's column names and values (for the scaffold).

Every guess is a suggestion a person reviews; the rules are deliberately plain: a column is a
candidate for a canonical field when its name says so (words such as "incident", "time",
"address"), and its values must agree (a time column reads as times in one format, coordinates
are numbers in range, an incident number is nearly unique). Names are compared as lower-case
words, so `Call Type`, `call_type` and `CALLTYPE` all name a call type.
"""
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

# Formats tried on a time column's values, most specific first. Day-first and month-first formats
# both stay in: values with a day above 12 tell them apart.
TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y%m%d%H%M%S",
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
)
ISO = "iso"  # values fromisoformat reads, offsets included: the profile needs no format


@dataclass
class Column:
    """What the scaffold saw of one column: its name and a sample of its non-empty values."""

    name: str
    values: list[str] = field(default_factory=list)
    filled: int = 0   # rows with a value
    rows: int = 0     # rows seen
    distinct: int = 0  # distinct values among the sampled ones

    @property
    def words(self) -> set[str]:
        """The name as lower-case words (camelCase and snake_case split)."""
        spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", self.name)
        return set(re.findall(r"[a-z]+", spaced.lower()))

    @property
    def squashed(self) -> str:
        return re.sub(r"[^a-z]", "", self.name.lower())


def time_format(values: Sequence[str]) -> str | None:
    """The one format all sampled values read with (ISO when fromisoformat reads them all), else None."""
    sample = [v.strip() for v in values if v.strip()][:200]
    if not sample:
        return None
    fitting = [fmt for fmt in TIME_FORMATS if all(_parses(v, fmt) for v in sample)]
    if fitting:
        return fitting[0]
    if all(_iso(v) for v in sample):
        return ISO
    return None


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _numbers_within(values: Sequence[str], low: float, high: float) -> bool:
    numbers = 0
    for v in values[:200]:
        try:
            number = float(v)
        except ValueError:
            continue
        if not low <= number <= high:
            return False
        numbers += 1
    return numbers >= max(1, len(values[:200]) // 2)


# Canonical field → name words that suggest it, best first. A name matches when it holds all the
# words of one entry ("call type" needs both), or its letters squashed together equal them.
NAME_HINTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "incident_number": (("incident", "number"), ("incident", "id"), ("incident", "no"), ("event", "number"),
                        ("event", "id"), ("event", "no"), ("call", "number"), ("call", "id"), ("call", "no"),
                        ("call", "num"), ("cad", "number"), ("case", "number"), ("case", "no"), ("case", "id"),
                        ("report", "number"), ("report", "no"), ("inc", "number"), ("inc", "no"), ("inc", "num"),
                        ("inci", "id"), ("cfs",), ("incident",), ("id",), ("number",), ("no",), ("num",)),
    "received_at": (("received",), ("call", "time"), ("call", "date"), ("create",), ("created",), ("open",),
                    ("opened",), ("reported",), ("entry", "time"), ("time",), ("date",), ("datetime",)),
    "dispatched_at": (("dispatch",), ("dispatched",), ("assigned",)),
    "arrived_at": (("arrived",), ("arrival",), ("onscene",), ("on", "scene"), ("enroute",)),
    "closed_at": (("closed",), ("cleared",), ("clear",), ("close",), ("completed",), ("end",)),
    "address_text": (("address",), ("location",), ("addr",), ("street",), ("block",), ("place",)),
    "latitude": (("latitude",), ("lat",), ("y",)),
    "longitude": (("longitude",), ("lon",), ("lng",), ("long",), ("x",)),
    "station_code": (("district",), ("precinct",), ("station",), ("beat",), ("zone",), ("sector",),
                     ("division",), ("area",), ("agency",)),
    "category_code": (("call", "type"), ("nature",), ("incident", "type"), ("event", "type"), ("type",),
                      ("category",), ("problem",), ("offense",), ("initial", "type"), ("final", "type"),
                      ("description",)),
    "description": (("narrative",), ("comments",), ("remarks",), ("notes",), ("comment",), ("details",)),
    "disposition": (("disposition",), ("status",), ("outcome",), ("result",), ("clearance",)),
    "caller_name": (("caller", "name"), ("caller",)),
    "caller_phone": (("phone",), ("telephone",), ("callback",)),
}


def _rank(column: Column, hints: tuple[tuple[str, ...], ...]) -> int | None:
    words, squashed = column.words, column.squashed
    for rank, hint in enumerate(hints):
        if set(hint) <= words or squashed == "".join(hint):
            return rank
    return None


@dataclass(frozen=True)
class Guess:
    """A suggested source for one canonical field, and why."""

    field: str
    column: str
    format: str | None = None  # time fields: a strptime format, or ISO
    note: str = ""


def guess_mapping(columns: Sequence[Column]) -> dict[str, Guess]:
    """The most likely column for each canonical field, each column used once."""
    used: set[str] = set()
    out: dict[str, Guess] = {}
    times = {c.name: time_format(c.values) for c in columns}
    order = ("incident_number", "received_at", "dispatched_at", "arrived_at", "closed_at", "latitude",
             "longitude", "address_text", "station_code", "category_code", "description", "disposition",
             "caller_name", "caller_phone")
    for name in order:
        best: tuple[int, Column] | None = None
        for column in columns:
            if column.name in used or not column.filled:
                continue
            rank = _rank(column, NAME_HINTS[name])
            if rank is None or not _values_fit(name, column, times[column.name]):
                continue
            if best is None or rank < best[0]:
                best = (rank, column)
        if best is not None:
            column = best[1]
            used.add(column.name)
            fmt = times[column.name] if name.endswith("_at") else None
            out[name] = Guess(name, column.name, None if fmt == ISO else fmt, _note(name, column))
    return out


def _values_fit(name: str, column: Column, fmt: str | None) -> bool:
    values = column.values
    if name.endswith("_at"):
        return fmt is not None
    if name == "latitude":
        return _numbers_within(values, -90, 90)
    if name == "longitude":
        return _numbers_within(values, -180, 180)
    if name == "incident_number":
        return column.distinct >= 0.95 * min(len(values), column.filled) and fmt is None
    if name in ("category_code", "station_code", "disposition"):
        # A code column repeats its values; a free-text one does not.
        return fmt is None and column.distinct <= max(10, len(values) // 2)
    return fmt is None


def _note(name: str, column: Column) -> str:
    share = column.filled / column.rows if column.rows else 0
    return f"{share:.0%} of rows filled" if share < 0.999 else ""
