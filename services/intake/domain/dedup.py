"""Deduplication by (source, incident number) and revision, and conflicts within a revision."""
import hashlib
from enum import StrEnum
from typing import Any

import orjson

from services.intake.domain.profiles import FieldError
from services.intake.domain.record import DispatchRecord


class Outcome(StrEnum):
    """What a record does to the stored incident."""

    NEW = "new"                # first time seen: accepted, opens the incident
    UPDATE = "update"          # higher revision: accepted, emits an update
    DUPLICATE = "duplicate"    # same revision again: nothing emitted
    SUPERSEDED = "superseded"  # lower revision arriving late: ignored and counted
    CONFLICT = "conflict"      # same revision, other content: rejected and kept, never a plain duplicate


def content_hash(document: dict[str, Any]) -> str:
    """A digest of everything a record says (its `model_dump(mode="json")`, the document that is also
    stored, so a record is dumped once), to tell a re-send from a different record."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def decide(stored_revision: int | None, incoming_revision: int, stored_hash: str | None = None,
           incoming_hash: str | None = None) -> Outcome:
    """The outcome of a record given the revision already stored (None when unseen) and, for the same
    revision, whether the content is the same (a hash that is unknown, as for rows stored before
    hashes were kept, cannot show a conflict)."""
    if stored_revision is None:
        return Outcome.NEW
    if incoming_revision > stored_revision:
        return Outcome.UPDATE
    if incoming_revision == stored_revision:
        if stored_hash is not None and incoming_hash is not None and stored_hash != incoming_hash:
            return Outcome.CONFLICT
        return Outcome.DUPLICATE
    return Outcome.SUPERSEDED


def conflict_error(record: DispatchRecord) -> FieldError:
    """Why a CONFLICT is kept as rejected: the stored revision stands, a higher one may change it."""
    return FieldError("revision", f"conflict: revision {record.revision} of incident {record.incident_number} "
                                  f"from {record.source} was already accepted with different content; "
                                  "send a higher revision to change it")
