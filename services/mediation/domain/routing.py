"""Choose a new case's first channel by rules over dispute type, risk flags and the station's channels."""
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from shared.events.intake import DISPUTE_TYPES, RISK_FLAGS

CHANNELS = ("station_officer", "peoples_mediator", "lawyer", "court")
HIGH_RISK_FLAGS = frozenset({"weapon", "threat", "self_harm", "domestic_violence"})
FALLBACK = "station_officer"  # every station has it: a case whose rule finds no channel goes here
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "rules" / "routing.v1.yaml"
DEFAULT_CHANNELS = Path(__file__).resolve().parents[1] / "reference" / "channels.yaml"
_CONDITIONS = {"risk_flags_any": RISK_FLAGS, "dispute_types": DISPUTE_TYPES}
_DURATION = re.compile(r"([1-9][0-9]*)([smhd])")


@dataclass(frozen=True)
class Route:
    """Where a new case goes first, the rule that sent it there, and how soon it must be claimed."""
    channel: str
    rule: str
    high_risk: bool
    claim_within: timedelta


@dataclass(frozen=True)
class Sla:
    """The rules file's time limits: claim by risk, first session after a claim, confirmation warning."""
    claim_high_risk: timedelta
    claim_normal: timedelta
    session_within: timedelta
    confirmation_warning_days: int


@dataclass(frozen=True)
class _Rule:
    id: str
    channels: tuple[str, ...]
    when: dict[str, frozenset[str]]  # empty: matches every case

    def matches(self, dispute_type: str | None, flags: frozenset[str]) -> bool:
        """Each condition the rule has holds: any of its risk flags is present, the type is one of its types."""
        risks, types = self.when.get("risk_flags_any"), self.when.get("dispute_types")
        return (risks is None or not risks.isdisjoint(flags)) and (types is None or dispute_type in types)


def _duration(raw: Any, where: str) -> timedelta:
    """A positive duration written like 30m, 24h or 3d."""
    match = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise ValueError(f"{where}: expected a positive duration such as 30m, 24h or 3d, got {raw!r}")
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]: int(match[1])})


def _names(raw: Any, allowed: tuple[str, ...], where: str) -> tuple[str, ...]:
    """A non-empty list of names, each one of `allowed`."""
    if not isinstance(raw, list) or not raw or not all(isinstance(name, str) for name in raw):
        raise ValueError(f"{where}: expected a non-empty list of names, got {raw!r}")
    if unknown := [name for name in raw if name not in allowed]:
        raise ValueError(f"{where}: unknown name {unknown[0]!r}, expected one of {allowed}")
    return tuple(raw)


def _rule(raw: Any, index: int) -> _Rule:
    """One validated rule; every error names the rule."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise ValueError(f"rules[{index}]: every rule needs a non-empty string 'id'")
    where = f"rule {raw['id']!r}"
    when = raw.get("when") or {}
    if set(raw) - {"id", "when", "channels"} or not isinstance(when, dict) or set(when) - set(_CONDITIONS):
        raise ValueError(f"{where}: expected keys id, when (with {' and/or '.join(_CONDITIONS)}) and channels")
    when = {key: frozenset(_names(names, _CONDITIONS[key], f"{where}: when.{key}")) for key, names in when.items()}
    return _Rule(raw["id"], _names(raw.get("channels"), CHANNELS, f"{where}: channels"), when)


def _sla(sla: Any) -> Sla:
    """The 'sla' section of the rules file."""
    sla = sla if isinstance(sla, dict) else {}
    claim = sla.get("claim_within") if isinstance(sla.get("claim_within"), dict) else {}
    warning = sla.get("confirmation_warning_days")
    if not isinstance(warning, int) or isinstance(warning, bool) or not 0 < warning < 30:
        raise ValueError(f"sla.confirmation_warning_days: expected a whole number of days 1..29, got {warning!r}")
    return Sla(_duration(claim.get("high_risk"), "sla.claim_within.high_risk"),
               _duration(claim.get("normal"), "sla.claim_within.normal"),
               _duration(sla.get("session_within"), "sla.session_within"), warning)


def _station(code: Any, names: Any) -> frozenset[str]:
    """One station's channels; every station has the fallback channel."""
    if not isinstance(code, str):
        raise ValueError(f"station {code!r}: codes must be quoted strings")
    if FALLBACK not in (found := frozenset(_names(names, CHANNELS, f"station {code!r}"))):
        raise ValueError(f"station {code!r}: must have {FALLBACK!r}, every rule's fallback")
    return found


class Router:
    """Applies one rules file to the channels of each station; immutable after loading."""

    def __init__(self, rules: Any, channels: Any) -> None:
        """Validate both parsed files; a bad file fails here, at start-up, not on a case."""
        if not isinstance(rules, dict) or not isinstance(rules.get("version"), str) or not rules["version"]:
            raise ValueError("rules: a non-empty 'version' string is required")
        if not isinstance(channels, dict) or not isinstance(channels.get("stations") or {}, dict):
            raise ValueError("channels: expected 'default' and a 'stations' mapping of code to channels")
        self.rules_version: str = rules["version"]
        self.sla = _sla(rules.get("sla"))
        if not isinstance(rules.get("rules"), list) or not rules["rules"]:
            raise ValueError("rules: a non-empty ordered list of rules is required")
        self._rules = tuple(_rule(item, i) for i, item in enumerate(rules["rules"]))
        for i, rule in enumerate(self._rules):
            if rule.id in (earlier.id for earlier in self._rules[:i]):
                raise ValueError(f"rule {rule.id!r}: the id is used twice")
            if not rule.when and rule is not self._rules[-1]:
                raise ValueError(f"rule {self._rules[i + 1].id!r}: unreachable, {rule.id!r} matches every case")
        if self._rules[-1].when:
            raise ValueError(f"rule {self._rules[-1].id!r}: the last rule must have no 'when', so every case is routed")
        self._default = _station("default", channels.get("default"))
        self._stations = {code: _station(code, names) for code, names in (channels.get("stations") or {}).items()}

    @classmethod
    def load(cls, rules_path: Path | None = None, channels_path: Path | None = None) -> "Router":
        """Read the rules and the station channels; by default the files shipped with the service."""
        with open(rules_path or DEFAULT_RULES, encoding="utf-8") as rules_file:
            rules = yaml.safe_load(rules_file)
        with open(channels_path or DEFAULT_CHANNELS, encoding="utf-8") as channels_file:
            return cls(rules, yaml.safe_load(channels_file))

    def channels_of(self, station_code: str) -> frozenset[str]:
        """The channels a station has; an unknown station has the default set."""
        return self._stations.get(station_code, self._default)

    def route(self, *, station_code: str, dispute_type: str | None, risk_flags: Iterable[str]) -> Route:
        """The first matching rule's first channel the station has, else the station officer."""
        if isinstance(risk_flags, str):
            raise TypeError("risk_flags: expected an iterable of flag names, not one string")
        flags = frozenset(risk_flags)
        high_risk = not HIGH_RISK_FLAGS.isdisjoint(flags)
        rule = next(rule for rule in self._rules if rule.matches(dispute_type, flags))
        channel = next((c for c in rule.channels if c in self.channels_of(station_code)), FALLBACK)
        return Route(channel, rule.id, high_risk, self.sla.claim_high_risk if high_risk else self.sla.claim_normal)
