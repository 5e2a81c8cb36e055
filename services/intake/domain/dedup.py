"""Deduplication by (source, incident number) and revision."""
from enum import StrEnum


class Outcome(StrEnum):
    """What a record does to the stored incident."""

    NEW = "new"                # first time seen: accepted, opens the incident
    UPDATE = "update"          # higher revision: accepted, emits an update
    DUPLICATE = "duplicate"    # same revision again: nothing emitted
    SUPERSEDED = "superseded"  # lower revision arriving late: ignored and counted


def decide(stored_revision: int | None, incoming_revision: int) -> Outcome:
    """The outcome of a record given the revision already stored (None when unseen)."""
    if stored_revision is None:
        return Outcome.NEW
    if incoming_revision > stored_revision:
        return Outcome.UPDATE
    if incoming_revision == stored_revision:
        return Outcome.DUPLICATE
    return Outcome.SUPERSEDED
