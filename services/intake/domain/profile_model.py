"""The feed profile as a strict pydantic model: what a profile file may say, checked when it is loaded.

A profile maps one CAD export format to the canonical record (services/intake/domain/record.py).
Everything a profile names is checked against what intake knows before a single row is read: the
canonical fields, our category codes, the risk flags, the time zone and every time format. A typo
therefore fails at load, naming the key and the allowed values, instead of silently turning every
row into `other` or failing on every row. The profile reference in the docs is generated from these
models, so the descriptions below are the reference.
"""
from datetime import datetime
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.intake.domain.record import DispatchRecord
from services.intake.domain.transforms import TRANSFORMS
from shared.events.intake import CRIME_TYPES, DISPUTE_TYPES, KINDS, RISK_FLAGS

TIME_FIELDS = ("received_at", "dispatched_at", "arrived_at", "closed_at")
FLOAT_FIELDS = ("longitude", "latitude")
CANONICAL_FIELDS = tuple(n for n in DispatchRecord.model_fields if n != "received_at_derived_from")
# Our category codes (the `codes` of the classification rules): a kind, or a kind and its type.
CATEGORY_CODES = ("dispute", *(f"dispute.{t}" for t in DISPUTE_TYPES), "crime",
                  *(f"crime.{t}" for t in CRIME_TYPES if t != "other"), "help", "traffic", "other")
# repeat_caller comes from the caller's history, never from a code or a word.
TEXT_RISK_FLAGS = tuple(f for f in RISK_FLAGS if f != "repeat_caller")
# The record's category_code is at most this long; a longer code in a table could never match.
MAX_CODE_CHARS = DispatchRecord.model_fields["category_code"].metadata[0].max_length
# Literals built from the tuples above: pydantic reads them, mypy cannot (hence the `valid-type` ignores).
Category = Literal[CATEGORY_CODES]  # type: ignore[valid-type]
RiskFlag = Literal[TEXT_RISK_FLAGS]  # type: ignore[valid-type]


class FieldSpec(BaseModel):
    """Where one canonical field comes from and how it is read. Exactly one of `path`, `parts` or
    `const` says where; `fallback` (received_at only) says what to use when that is empty."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    path: str | list[str] | None = Field(
        default=None, description="a column name, or a dot path into JSON (`a.0.b`, list indices as numbers); "
                                  "a list: the first that is present and not empty. A column with no name in "
                                  "the header is read as `column_N` (N counts from 1)")
    parts: list[str] | None = Field(
        default=None, min_length=2,
        description="several columns or paths joined with `separator`, e.g. an incident number made of a "
                    "year and a sequence; every part must be present, else the field is empty")
    separator: str = Field(default="-", description="what `parts` are joined with")
    const: Any = Field(default=None, description="the same value for every record (e.g. the source system)")
    map: dict[str, Any] | None = Field(default=None, description="value table applied after reading; a value "
                                                                 "not in it becomes `default`")
    default: Any = Field(default=None, description="the value when the column is empty, absent or not in `map`")
    format: str | None = Field(default=None, description="time fields only: a strptime format such as "
                                                         "`%Y-%m-%d %H:%M:%S`; without it ISO 8601 is expected")
    as_: Literal["epoch_millis", *TRANSFORMS] | None = Field(  # type: ignore[valid-type]
        default=None, alias="as", description="a transform: `epoch_millis` (revision only: a time read as "
                                              "milliseconds since 1970), or one of " + ", ".join(TRANSFORMS))
    drop_invalid: bool = Field(default=False, description="an unreadable value becomes empty instead of "
                                                          "rejecting the record (used for coordinates)")
    fallback: list[Literal[TIME_FIELDS[1:]]] | None = Field(  # type: ignore[valid-type]
        default=None, description="received_at only: canonical times to use, in order, when the call's own time "
                                  "is empty; the record then says which one in `received_at_derived_from`")

    @model_validator(mode="after")
    def _one_source(self) -> "FieldSpec":
        sources = [k for k in ("path", "parts", "const") if getattr(self, k) is not None]
        if len(sources) > 1:
            raise ValueError(f"give one of path, parts or const, not {' and '.join(sources)}")
        if not sources and self.default is None and not self.fallback:
            raise ValueError("give path, parts or const (or a default)")
        if self.format is not None:
            _check_time_format(self.format)
        return self

    @property
    def column(self) -> str | None:
        """The key or column when the field is read as-is (no dots, constant, map or transform)."""
        if isinstance(self.path, str) and "." not in self.path and self.const is None \
                and self.map is None and self.as_ is None:
            return self.path
        return None

    @property
    def paths(self) -> list[str]:
        """Every path the field is read from, in order."""
        if self.parts:
            return list(self.parts)
        return [self.path] if isinstance(self.path, str) else list(self.path or [])


def _check_time_format(fmt: str) -> None:
    # A format that cannot read back what it writes (an unknown directive, no directive at all) would
    # fail on every row; strptime says why.
    if "%" not in fmt:
        raise ValueError(f"time format {fmt!r} has no % directive; e.g. %Y-%m-%d %H:%M:%S")
    sample = datetime(2024, 5, 31, 23, 30, 15)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        raise ValueError(f"time format {fmt!r} is not a strptime format: {exc}") from None


class CodeEntry(BaseModel):
    """Our category for one of the centre's codes, with risk flags the code itself implies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: Category = Field(description="one of our category codes: " + ", ".join(CATEGORY_CODES))
    risk: tuple[RiskFlag, ...] = Field(default=(), description="risk flags the code implies: "
                                                               + ", ".join(TEXT_RISK_FLAGS))


class ProfileKeywords(BaseModel):
    """Words of this feed added to the classification rules' own (whole words for Latin script, substrings for
    Chinese); the rules decide with them exactly as with their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: dict[Literal["crime", "help", "traffic", "other"], list[str]] = Field(
        default_factory=dict, description="words that name a kind that is no dispute")
    dispute: list[str] = Field(default_factory=list, description="words that say 'a dispute' without a type")
    dispute_types: dict[Literal[DISPUTE_TYPES], list[str]] = Field(default_factory=dict,  # type: ignore[valid-type]
                                                                   description="words per dispute type")
    risk_flags: dict[RiskFlag, list[str]] = Field(default_factory=dict, description="words per risk flag")

    @field_validator("dispute", mode="after")
    @classmethod
    def _non_empty(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError("a keyword is empty")
        return words


class FeedProfile(BaseModel):
    """One CAD export format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="lower-case letters, digits and _; what "
                                                                     "--profile and ?profile= call it")
    version: int = Field(default=1, ge=1, description="bump when the mapping changes; every record keeps the "
                                                      "name and version of the profile that mapped it")
    description: str = Field(default="", description="what export this is, for people")
    format: Literal["json", "csv"] = Field(description="`csv` (a header row, then one record per row) or `json` "
                                                       "(one object per line, a JSON array, or a Kafka message)")
    time_zone: str = Field(default="Asia/Shanghai", description="IANA zone of times written without an offset, "
                                                                "e.g. America/Chicago, Europe/London, UTC")
    fields: dict[Literal[CANONICAL_FIELDS], FieldSpec] = Field(  # type: ignore[valid-type]
        description="canonical field → where it comes from; a bare string is a `path`. Required: source, "
                    "incident_number, received_at (directly, or through `fallback`)")
    categories: dict[str, CodeEntry] = Field(
        default_factory=dict, description="the centre's code → our category; a bare string is a `category`. "
                                          f"Codes are matched exactly, then ignoring case and spaces around; at "
                                          f"most {MAX_CODE_CHARS} characters (the record's category_code limit)")
    keywords: ProfileKeywords = Field(default_factory=ProfileKeywords,
                                      description="extra classification words for this feed's text")

    @field_validator("fields", mode="before")
    @classmethod
    def _bare_path(cls, value: Any) -> Any:
        # `received_at: time` is shorthand for `received_at: {path: time}`.
        if not isinstance(value, dict):
            return value
        return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}

    @field_validator("categories", mode="before")
    @classmethod
    def _bare_category(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {str(k): {"category": v} if isinstance(v, str) else v for k, v in value.items()}

    @field_validator("categories", mode="after")
    @classmethod
    def _codes_fit_the_record(cls, value: dict[str, CodeEntry]) -> dict[str, CodeEntry]:
        for code in value:
            if len(code.strip()) > MAX_CODE_CHARS:
                raise ValueError(f"code {code!r} is longer than {MAX_CODE_CHARS} characters and could never match")
            if not code.strip():
                raise ValueError("an empty code")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; expected an IANA zone such as America/Chicago, "
                             "Asia/Shanghai, Europe/London or UTC") from None
        return value

    @model_validator(mode="after")
    def _fields_fit_their_kind(self) -> "FeedProfile":
        missing = [f for f in ("source", "incident_number", "received_at") if f not in self.fields]
        if missing:
            raise ValueError(f"fields: {', '.join(missing)} must be mapped")
        for name, spec in self.fields.items():
            if spec.format is not None and name not in TIME_FIELDS and not (name == "revision" and spec.as_):
                raise ValueError(f"fields.{name}.format: only time fields ({', '.join(TIME_FIELDS)}) take a format")
            if spec.as_ == "epoch_millis" and name != "revision":
                raise ValueError(f"fields.{name}.as: epoch_millis is for revision only")
            if spec.fallback and name != "received_at":
                raise ValueError(f"fields.{name}.fallback: only received_at takes a fallback")
        return self

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
    def drops_invalid_coordinates(self) -> bool:
        """Whether a coordinate's spec says drop_invalid (map_record then drops an impossible pair)."""
        return any(s is not None and s.drop_invalid for s in map(self.spec, FLOAT_FIELDS))

    @cached_property
    def plan(self) -> tuple[tuple[str, str | None, FieldSpec], ...]:
        """(field, plain column or None, spec) for every mapped field."""
        return tuple((name, spec.column, spec) for name, spec in self.fields.items())


__all__ = ["CANONICAL_FIELDS", "CATEGORY_CODES", "KINDS", "MAX_CODE_CHARS", "CodeEntry", "FeedProfile",
           "FieldSpec", "ProfileKeywords", "TEXT_RISK_FLAGS", "TIME_FIELDS", "FLOAT_FIELDS"]
