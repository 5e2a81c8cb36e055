"""Feed profiles: declarative mappings from one CAD export format to the canonical record.

A profile (a YAML file in services/intake/profiles/) names, for each canonical field, where the
value sits in the centre's record (a column, or a dot path into JSON with list indices), how to
read it (time format and zone, a value map, a constant) and a code table from the centre's
category codes to ours. Integrating another 110 system means writing a profile, not code.
"""
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.intake.domain.record import DispatchRecord
from services.intake.domain.transforms import TRANSFORMS

TIME_FIELDS = ("received_at", "dispatched_at", "arrived_at", "closed_at")
FLOAT_FIELDS = ("longitude", "latitude")


class FieldSpec(BaseModel):
    """Where one canonical field comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | list[str] | None = Field(default=None, description="column or dot path; a list: first non-empty")
    const: Any = None
    map: dict[str, Any] | None = Field(default=None, description="value table; unmapped values use `default`")
    default: Any = None
    format: str | None = Field(default=None, description="strptime format for times")
    as_: Literal["epoch_millis", *TRANSFORMS] | None = Field(default=None, alias="as")
    drop_invalid: bool = Field(default=False, description="an unreadable value becomes empty, not a rejection")

    @property
    def column(self) -> str | None:
        """The key or column when the field is read as-is (no dots, constant, map or transform)."""
        if isinstance(self.path, str) and "." not in self.path and self.const is None \
                and self.map is None and self.as_ is None:
            return self.path
        return None


class CodeEntry(BaseModel):
    """Our category for one of the centre's codes, with risk flags the code itself implies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str
    risk: tuple[str, ...] = ()


class FeedProfile(BaseModel):
    """One CAD export format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    format: Literal["json", "csv"]
    time_zone: str = "Asia/Shanghai"
    fields: dict[str, FieldSpec]
    categories: dict[str, CodeEntry] = Field(default_factory=dict)

    @field_validator("fields", mode="before")
    @classmethod
    def _bare_path(cls, value: Any) -> Any:
        # `received_at: time` is shorthand for `received_at: {path: time}`.
        return {k: {"path": v} if isinstance(v, str) else v for k, v in (value or {}).items()}

    @field_validator("categories", mode="before")
    @classmethod
    def _bare_category(cls, value: Any) -> Any:
        return {k: {"category": v} if isinstance(v, str) else v for k, v in (value or {}).items()}

    def spec(self, name: str) -> FieldSpec | None:
        """The spec of a canonical field."""
        return self.fields.get(name)

    def category(self, code: str | None) -> CodeEntry | None:
        """Our category for a centre code (exact, then case-insensitive), or None when unmapped."""
        if code is None:
            return None
        return self.categories.get(code) or self._upper.get(code.strip().upper())

    # Cached on first use (plain instance attributes afterwards): map_record runs for every
    # record of every feed, and pydantic's attribute machinery costs more than the mapping.
    @cached_property
    def _upper(self) -> dict[str, CodeEntry]:
        return {k.strip().upper(): v for k, v in self.categories.items()}

    @cached_property
    def zone(self) -> ZoneInfo:
        """The zone of the centre's naive times."""
        return ZoneInfo(self.time_zone)

    @cached_property
    def plan(self) -> tuple[tuple[str, str | None, FieldSpec], ...]:
        """(field, plain column or None, spec) for every mapped field."""
        return tuple((name, spec.column, spec) for name, spec in self.fields.items())


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


class ProfileError(ValueError):
    """A profile that does not exist or does not parse."""


def load_profile(name: str, folder: Path | None = None) -> FeedProfile:
    """The named profile from the shipped profiles (or another folder)."""
    base = folder or Path(str(resources.files("services.intake").joinpath("profiles")))
    path = base / f"{name}.yaml"
    if not name.replace("_", "").isalnum() or not path.is_file():
        known = sorted(p.stem for p in base.glob("*.yaml"))
        raise ProfileError(f"unknown profile {name!r}; known profiles: {', '.join(known)}")
    try:
        return FeedProfile.model_validate(yaml.safe_load(path.read_text("utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ProfileError(f"profile {name!r} is invalid: {exc}") from exc


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


def _extract(raw: dict[str, Any], spec: FieldSpec, column: str | None = None) -> Any:
    if column is not None:
        value = raw.get(column)
        return spec.default if value is None or value == "" else value
    if spec.const is not None:
        return spec.const
    paths = [spec.path] if isinstance(spec.path, str) else (spec.path or [])
    for path in paths:
        value = _lookup(raw, path)
        if value not in (None, "", []):
            break
    else:
        value = None
    if spec.as_ in TRANSFORMS and value is not None:
        value = TRANSFORMS[spec.as_](value)
    if spec.map is not None and value is not None:
        value = spec.map.get(str(value), spec.default)
    return spec.default if value in (None, "") else value


def _read_time(value: Any, spec: FieldSpec, zone: ZoneInfo) -> datetime:
    parsed = datetime.strptime(value, spec.format) if spec.format else datetime.fromisoformat(str(value))
    # Naive CAD times are local to the centre's zone; stored in UTC downstream.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _convert(name: str, value: Any, spec: FieldSpec, zone: ZoneInfo) -> Any:
    if value is None:
        return None
    if name in TIME_FIELDS:
        return _read_time(value, spec, zone)
    if name in FLOAT_FIELDS:
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


def map_record(profile: FeedProfile, raw: Any) -> Mapped:
    """Map one raw record (a JSON object or a CSV row) to a DispatchRecord, or say why not."""
    if not isinstance(raw, dict):
        return Mapped(None, [FieldError("<record>", f"expected an object, got {type(raw).__name__}")])
    zone = profile.zone
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, column, spec in profile.plan:
        try:
            values[name] = _convert(name, _extract(raw, spec, column), spec, zone)
        except (ValueError, TypeError, OverflowError):
            if spec.drop_invalid:
                values[name] = None
            else:
                errors.append(FieldError(name, f"{_expected(name, spec)}, got {_extract(raw, spec)!r} ({_where(spec)})"))
    _drop_impossible_coordinates(profile, values)
    code = profile.category(values.get("category_code"))
    if errors:
        return Mapped(None, errors, code)
    present = {k: v for k, v in values.items() if v is not None}  # absent → "Field required"
    try:
        return Mapped(DispatchRecord.model_validate(present), [], code)
    except ValidationError as exc:
        return Mapped(None, [FieldError(".".join(map(str, e["loc"])) or "<record>", e["msg"])
                             for e in exc.errors()], code)


def _drop_impossible_coordinates(profile: FeedProfile, values: dict[str, Any]) -> None:
    # A wrong coordinate pair must not cost us the call: drop it and let the address decide.
    lon, lat = values.get("longitude"), values.get("latitude")
    specs = [profile.spec(n) for n in FLOAT_FIELDS]
    if any(s is not None and s.drop_invalid for s in specs):
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
    return f"from {spec.path!r}"
