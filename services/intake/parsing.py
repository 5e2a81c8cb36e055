"""Turning bytes into raw inputs: JSON bodies, NDJSON lines and Kafka messages.

Nothing here decides whether a record is valid; it only says what could not even be read
(not UTF-8, not JSON), so that those inputs are rejected with a reason and kept like the rest.
"""
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from services.intake.domain.profiles import FieldError


@dataclass(frozen=True)
class RawInput:
    """One record as received: its parsed value, or the reason it could not be parsed."""

    position: str
    raw_text: str
    value: Any = None
    parse_error: FieldError | None = None


class BodyError(ValueError):
    """A request body that cannot be split into records at all."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def decode_text(raw: bytes) -> tuple[str, FieldError | None]:
    """The text of raw bytes; bytes that are not UTF-8 are replaced and reported."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return raw.decode("utf-8", errors="replace"), FieldError(
            "<encoding>", f"not UTF-8 text: invalid byte at position {exc.start}")


def parse_one(raw: bytes, position: str) -> RawInput:
    """One JSON record (a message value, a line or a single-record body)."""
    text, encoding_error = decode_text(raw)
    if encoding_error:
        return RawInput(position, text, parse_error=encoding_error)
    try:
        return RawInput(position, text, orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        return RawInput(position, text, parse_error=FieldError(
            "<json>", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"))


def parse_ndjson(raw: bytes, first_line: int = 1) -> Iterator[RawInput]:
    """One record per non-empty line."""
    for number, line in enumerate(raw.split(b"\n"), start=first_line):
        if line.strip():
            yield parse_one(line.rstrip(b"\r"), f"line {number}")


def parse_array(raw: bytes) -> list[RawInput]:
    """A JSON array of records; a body that is not one is a BodyError."""
    text, encoding_error = decode_text(raw)
    if encoding_error:
        raise BodyError("body", encoding_error.message)
    try:
        values = orjson.loads(raw)  # refuses lone surrogates, which json.loads would let through
    except orjson.JSONDecodeError as exc:
        raise BodyError("body", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(values, list):
        raise BodyError("body", f"expected a JSON array of records, got {type(values).__name__}")
    return [RawInput(f"[{i}]", orjson.dumps(v).decode(), v) for i, v in enumerate(values)]


def storable(text: str) -> str:
    """Text PostgreSQL can keep: NUL written as \\u0000, lone surrogates replaced."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", errors="replace").decode("utf-8")
