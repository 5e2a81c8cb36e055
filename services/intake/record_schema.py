"""The JSON Schema of one record as the fengqiao_json profile reads it: intake's documented request body.

Not the canonical DispatchRecord's schema, because the profile reads more leniently than the model
(services/intake/domain/profiles.py): text fields take numbers too (stored as text), coordinates and
the revision may come as text, a time without an offset is read in the profile's time zone, and
fields the profile does not map are ignored. What the schema cannot say (a time in the future, a
closing time before the call) is refused with 422 naming the field.
"""
from typing import Any

from services.intake.domain.profile_model import FLOAT_FIELDS, TIME_FIELDS
from services.intake.domain.record import DispatchRecord

# Set by intake, never read from a feed.
_NOT_READ = frozenset({"received_at_derived_from"})


def _field(name: str, field: dict[str, Any], required: bool) -> dict[str, Any]:
    plain = next((s for s in field.get("anyOf", [field]) if s.get("type") != "null"), field)
    limits = {k: plain[k] for k in ("maxLength", "minLength", "minimum", "maximum") if k in plain}
    if name in TIME_FIELDS:
        types, description = ["string"], ("ISO 8601; without an offset, a time in the profile's time zone "
                                           "(Asia/Shanghai)")
        limits = {}
    elif name in FLOAT_FIELDS:
        types, description = ["number", "string"], "a number, or text that is one"
    elif name == "revision":
        types, description = ["integer", "string"], "an integer ≥ 1, or text that is one; absent or null: 1"
    else:
        types, description = ["string", "number"], "text (a number is taken as its text)"
    if not required:
        types.append("null")
    schema = {"type": types, **limits, "description": "; ".join(filter(None, [field.get("description"), description]))}
    return schema | ({"examples": field["examples"]} if "examples" in field else {})


def fengqiao_json_record() -> dict[str, Any]:
    """The schema of a fengqiao_json record on the wire."""
    model = DispatchRecord.model_json_schema()
    required = [n for n in model["required"] if n not in _NOT_READ]
    return {"title": "DispatchRecordInput", "type": "object", "required": required,
            "description": f"{model['description']} In the fengqiao_json profile; other fields are ignored.",
            "properties": {name: _field(name, field, name in required)
                           for name, field in model["properties"].items() if name not in _NOT_READ}}
