"""What ingesting answers: a result per input record, and the position of a file import."""
from dataclasses import dataclass, field
from typing import Literal

from services.intake.domain.profiles import FieldError

Channel = Literal["http", "kafka", "file", "replay"]
Status = Literal["accepted", "duplicate", "superseded", "conflict", "rejected"]


@dataclass(frozen=True)
class RecordResult:
    """The answer for one input record."""

    position: str
    status: Status
    source: str | None = None
    incident_number: str | None = None
    revision: int | None = None
    change: Literal["new", "update"] | None = None
    station_code: str | None = None
    kind: str | None = None
    dispute_type: str | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass
class ImportProgress:
    """A file import's position, saved in the same transaction as each batch."""

    file_id: str
    next_record: int
    counts: dict[str, int]

    def count(self, results: list[RecordResult]) -> None:
        """Add a batch's results to the counts per status."""
        for result in results:
            self.counts[result.status] = self.counts.get(result.status, 0) + 1
