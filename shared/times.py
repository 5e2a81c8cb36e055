"""Times and dates as the APIs and events take them: ISO 8601 text, never a number.

pydantic also reads a number, or text that is one, as seconds since 1970: `GET /v1/audit?to=0.5` was
taken as 1970-01-01T00:00:00.5Z and answered 200 (found by tests/contract/test_fuzz.py). A caller who
sends a number where a time goes has made a mistake; it is refused with 422 naming the field.
"""
import re
from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, int | float) and not isinstance(value, bool) or isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("expected ISO 8601 text (2024-05-02T10:00:00+08:00, 2024-05-02), not a number")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
IsoDate = Annotated[date, BeforeValidator(_not_a_number)]
