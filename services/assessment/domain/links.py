"""Which incidents link to an earlier dispute: repeat disputes and civil-to-criminal cases (rules/links.v1.yaml).

A repeat dispute is a dispute that follows another dispute of the same precise address (a room or a
building) or the same caller phone: within 30 days (repeat_dispute_rate_30d) or 90 days
(repeat_dispute_rate); the two windows are the figures' definitions, not rules. A civil-to-criminal case is a
crime of a type the rules list that follows a dispute of the same precise address or the same caller phone
within the rules' look-back window. The link itself is computed in SQL (the assessment repository's relink()) with these values.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.events.intake import ADDRESS_PRECISIONS, CRIME_TYPES

DEFAULT_LINK_RULES = Path(__file__).resolve().parents[1] / "rules" / "links.v1.yaml"
REPEAT_SHORT_DAYS, REPEAT_LONG_DAYS = 30, 90
_KEYS = {"version", "linking_precisions", "civil_to_criminal"}
_C2C_KEYS = {"crime_types", "look_back_days"}


@dataclass(frozen=True)
class LinkRules:
    """One validated link rules file."""
    version: str
    linking_precisions: tuple[str, ...]
    crime_types: tuple[str, ...]
    look_back_days: int

    @property
    def reach_days(self) -> int:
        """How far after an incident a later one can still link back to it."""
        return max(REPEAT_LONG_DAYS, self.look_back_days)

    @classmethod
    def from_dict(cls, raw: Any) -> "LinkRules":
        """Validate parsed rules; every error names the key at fault."""
        if not isinstance(raw, dict) or set(raw) != _KEYS:
            raise ValueError(f"link rules: expected exactly the keys {sorted(_KEYS)}, got {raw!r:.200}")
        if not isinstance(raw["version"], str) or not raw["version"]:
            raise ValueError("version: a non-empty string is required")
        precisions = _subset(raw["linking_precisions"], ADDRESS_PRECISIONS, "linking_precisions")
        if "none" in precisions:
            raise ValueError("linking_precisions: 'none' cannot link: there is no address")
        c2c = raw["civil_to_criminal"]
        if not isinstance(c2c, dict) or set(c2c) != _C2C_KEYS:
            raise ValueError(f"civil_to_criminal: expected exactly the keys {sorted(_C2C_KEYS)}, got {c2c!r}")
        days = c2c["look_back_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3660:
            raise ValueError(f"civil_to_criminal.look_back_days: expected a whole number 1..3660, got {days!r}")
        crime_types = _subset(c2c["crime_types"], CRIME_TYPES, "civil_to_criminal.crime_types")
        return cls(raw["version"], precisions, crime_types, days)

    @classmethod
    def load(cls, path: Path | str | None = None) -> "LinkRules":
        """Read a link rules file, by default the shipped one; a bad file fails here, naming it."""
        path = Path(path or DEFAULT_LINK_RULES)
        try:
            return cls.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValueError, yaml.YAMLError) as error:
            raise ValueError(f"{path}: {error}") from None


def _subset(raw: Any, known: tuple[str, ...], where: str) -> tuple[str, ...]:
    """A non-empty list of distinct known names."""
    if (not isinstance(raw, list) or not raw or len(set(map(str, raw))) != len(raw)
            or any(item not in known for item in raw)):
        raise ValueError(f"{where}: expected a non-empty list of distinct names of {list(known)}, got {raw!r}")
    return tuple(raw)
