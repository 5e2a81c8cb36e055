"""The one JSON envelope every Kafka message carries (docs/design.md, "Events")."""
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError


class EnvelopeError(ValueError):
    """A message that is not a valid envelope; the consumer dead-letters it without retrying."""


class Envelope(BaseModel):
    """Event id, type, schema version, time, producer, partition key and the type's data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4, description="Unique id; consumers deduplicate on it")
    type: str = Field(min_length=1, examples=["dispute.opened"])
    schema_version: int = Field(default=1, ge=1)
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str = Field(min_length=1, examples=["intake"])
    key: str = Field(min_length=1, description="Partition key: the station code on most topics; each topic names its key in shared/events/topics.py", examples=["110105001"])
    data: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialise to UTF-8 JSON, the wire format of every topic."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "Envelope":
        """Parse a message value, raising EnvelopeError with the failing field paths."""
        if raw is None:
            raise EnvelopeError("empty message value")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
            )
            raise EnvelopeError(fields) from exc


def envelope_bytes(*, event_id: UUID | str, type: str, occurred_at: datetime, producer: str, key: str,
                   data: dict[str, Any], schema_version: int = 1) -> bytes:
    """The wire bytes of one envelope written from plain values, without validating them again: every
    service's outgoing events go through here (intake's accepted records and mediation's case changes are
    hot paths); tests/unit/test_envelope.py checks the bytes against Envelope."""
    return orjson.dumps({"event_id": str(event_id), "type": type, "schema_version": schema_version,
                         "occurred_at": occurred_at, "producer": producer, "key": key, "data": data})
