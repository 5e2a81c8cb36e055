"""Feed profiles: declarative mappings from one CAD export format to the canonical record.

A profile (a YAML file in services/intake/profiles/) names, for each canonical field, where the
value sits in the centre's record (a column, or a dot path into JSON with list indices), how to
read it (time format and zone, a value map, a constant) and a code table from the centre's
category codes to ours. Integrating another 110 system means writing a profile, not code.
"""
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.intake.domain.profile_model import (
    FLOAT_FIELDS,
    TIME_FIELDS,
    CodeEntry,
    FeedProfile,
    FieldSpec,
)
from services.intake.domain.record import DispatchRecord
from services.intake.domain.transforms import TRANSFORMS


@dataclass(frozen=True)
class FieldError:
    """A reason a raw record was rejected, naming the field."""

    field: str
    message: str


@dataclass(frozen=True)
class Mapped:
    """A raw record mapped through a profile: the canonical record, or the reasons it is not one."""

    record: DispatchRecord | None
    errors: list[FieldError] = field(default_factory=list)
    code: CodeEntry | None = None


def _lookup(raw: Any, path: str) -> Any:
    value = raw
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _first_present(raw: Any, paths: list[str]) -> tuple[str | None, Any]:
    """(path, value) of the first path whose value is present and not empty."""
    for path in paths:
        value = _lookup(raw, path)
        if value not in (None, "", []):
            return path, value
    return None, None


def _extract(raw: dict[str, Any], spec: FieldSpec, column: str | None = None) -> Any:
    if column is not None:
        value = raw.get(column)
        return spec.default if value is None or value == "" else value
    if spec.const is not None:
        return spec.const
    if spec.parts:
        # An incident number made of several columns: all of them, or nothing.
        pieces = [_lookup(raw, path) for path in spec.parts]
        if any(p in (None, "", []) for p in pieces):
            return spec.default
        value = spec.separator.join(str(p).strip() for p in pieces)
    else:
        value = _first_present(raw, spec.paths)[1]
    if spec.as_ in TRANSFORMS and value is not None:
        value = TRANSFORMS[spec.as_](value)
    if spec.map is not None and value is not None:
        value = spec.map.get(str(value), spec.default)
    return spec.default if value in (None, "") else value


# Formats whose every strptime match of this exact shape (zero-padded, nothing else) fromisoformat reads
# the same, ten times faster; anything else (single digits, other shapes) still goes to strptime.
_ISO_SHAPED = {"%Y-%m-%d %H:%M:%S": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
               "%Y-%m-%dT%H:%M:%S": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"),
               "%Y-%m-%d %H:%M": re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")}


def _read_time(value: Any, spec: FieldSpec, zone: ZoneInfo) -> datetime:
    if spec.format:
        shape = _ISO_SHAPED.get(spec.format)
        if shape is not None and isinstance(value, str) and shape.fullmatch(value):
            parsed = datetime.fromisoformat(value)
        else:
            parsed = datetime.strptime(value, spec.format)
    else:
        parsed = datetime.fromisoformat(str(value))
    # Naive CAD times are local to the centre's zone; stored in UTC downstream.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _convert(name: str, value: Any, spec: FieldSpec, zone: ZoneInfo) -> Any:
    if value is None:
        return None
    if name in TIME_FIELDS:
        return _read_time(value, spec, zone)
    if name in FLOAT_FIELDS:
        if isinstance(value, bool):
            raise TypeError("expected a number")  # float(True) is 1.0: a coordinate of 1 degree
        return float(value)
    if name == "revision" and spec.as_ == "epoch_millis":
        # EIDO has no revision number; its last-update time orders the re-sends instead.
        return int(_read_time(value, spec, zone).timestamp() * 1000)
    if name == "revision":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("not an integer")
        return int(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected text")  # objects, lists and booleans are not silently stringified
    return str(value)


_PLAIN_TEXT = frozenset(n for n in DispatchRecord.model_fields
                         if n not in TIME_FIELDS and n not in FLOAT_FIELDS and n != "revision")


def map_record(profile: FeedProfile, raw: Any) -> Mapped:
    """Map one raw record (a JSON object or a CSV row) to a DispatchRecord, or say why not."""
    if not isinstance(raw, dict):
        return Mapped(None, [FieldError("<record>", f"expected an object, got {type(raw).__name__}")])
    zone = profile.zone
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, column, spec in profile.plan:
        if column is not None and name in _PLAIN_TEXT:
            # The common case, a text column read as it is: no conversion to make.
            value = raw.get(column)
            if type(value) is str and value:
                values[name] = value
                continue
        try:
            values[name] = _convert(name, _extract(raw, spec, column), spec, zone)
        except (ValueError, TypeError, OverflowError):
            if spec.drop_invalid:
                values[name] = None
            else:
                errors.append(FieldError(name, f"{_expected(name, spec)}, got {_extract(raw, spec)!r} ({_where(spec)})"))
    _drop_impossible_coordinates(profile, values)
    if not errors:
        _derive_received_at(profile, raw, values)
    code = profile.category(values.get("category_code"))
    if errors:
        return Mapped(None, errors, code)
    present = {k: v for k, v in values.items() if v is not None}  # absent → "Field required"
    try:
        return Mapped(DispatchRecord.model_validate(present), [], code)
    except ValidationError as exc:
        return Mapped(None, [FieldError(".".join(map(str, e["loc"])) or "<record>", e["msg"])
                             for e in exc.errors()], code)


def _derive_received_at(profile: FeedProfile, raw: dict[str, Any], values: dict[str, Any]) -> None:
    # A feed without a call-received time on some rows may name where to take it from instead; the
    # record then says so, because a dispatch time is minutes later than the call.
    spec = profile.spec("received_at")
    if spec is None:
        return
    if values.get("received_at") is None:
        for name in spec.fallback or ():
            if values.get(name) is not None:
                values["received_at"], values["received_at_derived_from"] = values[name], name
                return
    elif isinstance(spec.path, list) and len(spec.path) > 1:
        used = _first_present(raw, spec.path)[0]
        if used is not None and used != spec.path[0]:
            values["received_at_derived_from"] = used


def _drop_impossible_coordinates(profile: FeedProfile, values: dict[str, Any]) -> None:
    # A wrong coordinate pair must not cost us the call: drop it and let the address decide.
    if profile.drops_invalid_coordinates:
        lon, lat = values.get("longitude"), values.get("latitude")
        if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            values["longitude"] = values["latitude"] = None


def _expected(name: str, spec: FieldSpec) -> str:
    if name in TIME_FIELDS:
        return f"expected a time as {spec.format}" if spec.format else "expected an ISO 8601 time"
    if name in FLOAT_FIELDS:
        return "expected a number"
    return "expected an integer" if name == "revision" else "expected text"


def _where(spec: FieldSpec) -> str:
    if spec.const is not None:
        return "constant"
    return f"from {spec.path!r}" if spec.path is not None else f"from parts {spec.parts!r}"
