"""Community activities on community.activity.v1, keyed by station code: what only assessment counts.

Callbacks (回访) after a case closes, household visits (走访), information items (信息) and group-
defence activities (群防群治: patrols, volunteers). The same body is accepted by assessment's
`POST /v1/community/activities`. No personal data: a household is its registered key, a callback
names the case, not the person reached.
"""
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.times import IsoDateTime

ACTIVITY_TOPIC = "community.activity.v1"
# Event type on the topic -> the activity it records.
ACTIVITY_TYPES = {"callback.recorded": "callback", "visit.recorded": "visit",
                  "information.recorded": "information", "patrol.recorded": "patrol"}
Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied", "unreached"]
_CODE = r"^[A-Za-z0-9-]{1,32}$"


class ActivityData(BaseModel):
    """One community activity of a station (and its grid and officer when known)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    activity_id: UUID | None = Field(default=None, description="the sender's id: a re-sent activity counts once "
                                     "(on Kafka the envelope's event_id serves when absent)")
    type: Literal["callback", "visit", "information", "patrol"]
    occurred_at: IsoDateTime
    station_code: str = Field(pattern=_CODE)
    grid_code: str | None = Field(default=None, pattern=_CODE)
    officer_id: str | None = Field(default=None, pattern=_CODE)
    case_id: UUID | None = Field(default=None, description="callback: the closed case called back about")
    satisfaction: Satisfaction | None = Field(default=None, description="callback: the answer; unreached "
                                              "callbacks are kept but never counted in the rate")
    household_key: str | None = Field(default=None, max_length=64, description="visit: the registered household")
    participants: int | None = Field(default=None, ge=0, le=100_000, description="patrol: residents taking part")

    @model_validator(mode="after")
    def _fields_of_type(self) -> "ActivityData":
        """Each type carries what its figure counts, and nothing of another type."""
        needs = {"callback": "satisfaction", "visit": "household_key", "patrol": "participants"}
        for kind, name in needs.items():
            given = getattr(self, name) is not None
            if kind == self.type and not given:
                raise ValueError(f"a {kind} needs {name}")
            if kind != self.type and given:
                raise ValueError(f"{name} belongs to a {kind}, not to a {self.type}")
        if self.case_id is not None and self.type != "callback":
            raise ValueError(f"case_id belongs to a callback, not to a {self.type}")
        return self

    @property
    def event_type(self) -> str:
        return f"{self.type}.recorded"

