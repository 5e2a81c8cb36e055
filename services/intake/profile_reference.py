"""docs/profiles.md, generated from the profile model: every key, transform, limit and default.

    .venv/bin/python -m services.intake.profile_reference     # rewrites docs/profiles.md

tests/unit/intake/test_profile_reference.py fails when the committed file differs from what this
writes, so the reference cannot drift from the code that enforces it.
"""
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from services.intake.domain.profile_model import (
    CATEGORY_CODES,
    MAX_CODE_CHARS,
    TEXT_RISK_FLAGS,
    TIME_FIELDS,
    CodeEntry,
    FeedProfile,
    FieldSpec,
    ProfileKeywords,
)
from services.intake.domain.record import DispatchRecord
from services.intake.domain.transforms import TRANSFORMS

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"

_TRANSFORM_NOTES = {
    "first": "a list's first element",
    "join": "a list's elements joined with spaces",
    "tel_uri": "the number of the first `tel:` URI (EIDO callback URIs)",
    "pidf_latitude": "the latitude of a PIDF-LO `gml:pos`",
    "pidf_longitude": "the longitude of a PIDF-LO `gml:pos`",
    "pidf_civic": "a postal line from PIDF-LO civic address elements",
}


def _default(info: Any) -> str:
    if info.default_factory is not None:
        return "empty"
    if info.default is PydanticUndefined:
        return "required"
    return "none" if info.default is None else f"`{info.default}`"


def _keys(model: type[BaseModel]) -> list[str]:
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for name, info in model.model_fields.items():
        description = (info.description or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{info.alias or name}` | {_default(info)} | {description} |")
    return lines


def _limit(info: Any) -> str:
    for meta in info.metadata:
        for attr, word in (("max_length", "at most {} characters"), ("ge", "≥ {}"), ("le", "≤ {}")):
            value = getattr(meta, attr, None)
            if value is not None:
                return word.format(value)
    return ""


def render() -> str:
    """The whole reference as Markdown."""
    out = ["# Feed profile reference", "",
           "Generated from `services/intake/domain/profile_model.py` by "
           "`.venv/bin/python -m services.intake.profile_reference`; do not edit by hand.",
           "A profile is a YAML file, validated strictly when it is loaded: an unknown key, field, category, risk "
           "flag, time zone or time format is refused with the file, the key and the allowed values, before a row "
           "is read. `fengqiao-intake check FILE --profile P` loads it the same way. docs/intake.md walks through "
           "integrating a new export.", "",
           "## Where profiles come from", "",
           "- `--profile NAME` (CLI), `?profile=NAME` (HTTP) and the `profile` header (Kafka) name a profile: a file "
           "`NAME.yaml` in a folder of `INTAKE_PROFILE_DIRS` (separated like PATH, searched first) or in "
           "`services/intake/profiles/`. A file's `name` must equal its file name.",
           "- The CLI also takes a path (`--profile ./town_cad.yaml`); the API and the consumer take names only, so a "
           "caller cannot make intake read a file of its choosing.",
           "- Each accepted record keeps the name and `version` of the profile that mapped it (the `profile` and "
           "`profile_version` columns of intake's `dispatch_records`).", "",
           "## Top-level keys", "", *_keys(FeedProfile), "",
           "## A field (`fields.<canonical field>`)", "",
           "A bare string is shorthand for `{path: ...}`. Read in this order: `const`, else `parts`, else `path` "
           "(the first present of a list); then `as`, then `map`, then `default` when still empty.", "",
           *_keys(FieldSpec), "",
           "### Transforms (`as`)", "", "| transform | gives |", "| --- | --- |",
           "| `epoch_millis` | revision only: a time read as milliseconds since 1970 (EIDO's last-update time) |",
           *[f"| `{name}` | {_TRANSFORM_NOTES.get(name, '')} |" for name in TRANSFORMS], "",
           "## Canonical fields", "",
           "What a field may be mapped to, and the limits a value must meet (a value past them rejects the "
           "record, naming the field).", "", "| field | limit | meaning |", "| --- | --- | --- |"]
    for name, info in DispatchRecord.model_fields.items():
        if name == "received_at_derived_from":
            continue
        required = " (required)" if info.is_required() else ""
        out.append(f"| `{name}`{required} | {_limit(info)} | {(info.description or '').replace('|', '/')} |")
    out += ["", "Times: with an offset (ISO 8601) or read in `time_zone`; `format` is a strptime format (`%Y-%m-%d "
            "%H:%M:%S`, `%m/%d/%Y %I:%M %p`, ...), checked at load. A time before 1900 or more than 10 minutes in "
            "the future is refused. Time fields: " + ", ".join(f"`{t}`" for t in TIME_FIELDS) + ".",
            "",
            "No call-received time: give `received_at` a `fallback` (e.g. `[dispatched_at, arrived_at]`); a record "
            "whose time came from the fallback carries `received_at_derived_from` (in the record, intake's table "
            "and the incident events). Without either, such a row is rejected (`received_at: Field required`).",
            "",
            "An incident number made of several columns: `incident_number: {parts: [year, seq], separator: '-'}`.",
            "",
            "CSV columns are named by the header row; a column with no name, or one repeating an earlier name, is "
            "`column_N` (N counts from 1).", "",
            "## Code table (`categories.<code>`)", "",
            f"A code is at most {MAX_CODE_CHARS} characters (the record's `category_code` limit; a longer one is "
            "refused at load). It is matched exactly, then ignoring case and surrounding spaces. A bare string is "
            "shorthand for `{category: ...}`. A code the table maps decides the kind (and type); any other code, "
            "and `other`, leaves the decision to the classification rules.", "", *_keys(CodeEntry), "",
            "Categories: " + ", ".join(f"`{c}`" for c in CATEGORY_CODES) + ".", "",
            "Risk flags: " + ", ".join(f"`{f}`" for f in TEXT_RISK_FLAGS) + " (`repeat_caller` comes from the "
            "caller's history only).", "",
            "## Extra keywords (`keywords`)", "",
            "Words of this feed added to `services/intake/rules/classification.v3.yaml`: Latin-script words join "
            "its English tables (whole words, `*` for a prefix), others its Chinese ones (substrings).", "",
            *_keys(ProfileKeywords), ""]
    return "\n".join(out)


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
