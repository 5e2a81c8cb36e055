"""Value transforms a feed profile can name with `as:` (for formats such as NENA's EIDO).

PIDF-LO location bodies are read with narrow regular expressions, not an XML parser: they come
from outside and an expression cannot be made to expand entities.
"""
import re
from collections.abc import Callable
from typing import Any

_POS = re.compile(r"<(?:\w+:)?pos>\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)")
# RFC 4776/5139 civic address elements, in the order a postal line is written.
_CIVIC = ("A1", "A2", "A3", "A4", "A5", "A6", "PRD", "RD", "STS", "POD", "HNO", "HNS", "LMK", "LOC", "NAM")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _join(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value if v not in (None, ""))
    return value


def _tel_uri(value: Any) -> str | None:
    uris = value if isinstance(value, list) else [value]
    for uri in uris:
        if isinstance(uri, str) and uri.startswith("tel:"):
            return uri.removeprefix("tel:")
    return None


def _pidf_position(value: Any) -> tuple[float, float] | None:
    match = _POS.search(str(value or ""))
    return (float(match[1]), float(match[2])) if match else None  # GML order: latitude longitude


def _pidf_latitude(value: Any) -> float | None:
    position = _pidf_position(value)
    return position[0] if position else None


def _pidf_longitude(value: Any) -> float | None:
    position = _pidf_position(value)
    return position[1] if position else None


def _pidf_civic(value: Any) -> str | None:
    text = str(value or "")
    parts = []
    for element in _CIVIC:
        match = re.search(rf"<{element}>([^<]*)</{element}>", text)
        if match and match[1].strip():
            parts.append(match[1].strip())
    return " ".join(parts) or None


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "first": _first,
    "join": _join,
    "tel_uri": _tel_uri,
    "pidf_latitude": _pidf_latitude,
    "pidf_longitude": _pidf_longitude,
    "pidf_civic": _pidf_civic,
}
