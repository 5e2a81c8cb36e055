"""Reading CAD export files (CSV or NDJSON) into raw inputs, line by line, for import, check and scaffold.

The file is read as bytes, line by line, so memory stays constant and a line that is not UTF-8 is
rejected on its own. CSV rows become JSON objects keyed by the header, so a rejected row can be
replayed through the same profile.
"""
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from services.intake.domain.profile_model import FeedProfile
from services.intake.domain.profiles import FieldError
from services.intake.parsing import RawInput, decode_text, parse_one


def column_names(header: list[str]) -> list[str]:
    """The header's names; a column without one, or repeating an earlier one, is `column_N` (N from 1),
    so every column of an export can be mapped and none silently overwrites another."""
    names: list[str] = []
    for number, name in enumerate(header, start=1):
        names.append(name if name.strip() and name not in names else f"column_{number}")
    return names


def _lines(path: Path, on_bytes: Callable[[int], None]) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            on_bytes(len(line))
            yield number, line


def read_records(path: Path, profile: FeedProfile | str,
                 on_bytes: Callable[[int], None] = lambda n: None, keep_raw: bool = True) -> Iterator[RawInput]:
    """The file's records in order, each with its line number as position (profile: or its format).
    keep_raw=False leaves a valid CSV row's raw_text empty: a dry run never stores it."""
    if (profile if isinstance(profile, str) else profile.format) == "json":
        for number, line in _lines(path, on_bytes):
            if line.strip():
                yield parse_one(line.rstrip(b"\r\n"), f"line {number}")
        return
    decoded: dict[int, str] = {}

    def text_lines() -> Iterator[str]:
        for number, line in _lines(path, on_bytes):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark, as spreadsheet exports write
            text, error = decode_text(line)
            if error:
                decoded[number] = error.message
            yield text

    reader = csv.reader(text_lines())
    header = column_names(next(reader, None) or [])  # type: ignore[arg-type]
    start = reader.line_num + 1
    for row in reader:
        position, start = f"line {start}", reader.line_num + 1
        if not row:
            continue  # a blank line is no record
        raw_text = ",".join(row)
        problems = [decoded.pop(n) for n in sorted(decoded) if n < start]
        if problems:
            yield RawInput(position, raw_text, parse_error=FieldError("<encoding>", problems[0]))
        elif len(row) != len(header):
            yield RawInput(position, raw_text, parse_error=FieldError(
                "<columns>", f"{len(row)} columns where the header has {len(header)}"))
        else:
            # Kept as a JSON object, so a rejected row can be replayed through the same profile.
            value = dict(zip(header, row, strict=True))
            yield RawInput(position, json.dumps(value, ensure_ascii=False) if keep_raw else "", value)


