"""The canonical 110 dispatch record every feed profile maps to."""
import re
import time
from datetime import UTC, date, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

# A CAD clock may run a little ahead of ours; beyond this a time is "in the future".
FUTURE_TOLERANCE = timedelta(minutes=10)
# No 110 record predates this; earlier years are typos that would also overflow date arithmetic.
EARLIEST_YEAR = 1900
_SURROGATE = re.compile("[\ud800-\udfff]")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_TEXT_FIELDS = ("source", "incident_number", "caller_name", "caller_phone", "address_text", "station_code",
                "category_code", "category_text", "description", "disposition")


def _utc_today() -> int:
    """Today's date in UTC as an ordinal (date.toordinal)."""
    return int(time.time() // 86400) + _EPOCH_ORDINAL


class DispatchRecord(BaseModel):
    """One 110 incident as the CAD system reports it; a re-send carries a higher revision."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    source: str = Field(min_length=1, max_length=64, description="CAD system that reported it",
                        examples=["BJ-CAD"])
    incident_number: str = Field(min_length=1, max_length=64, examples=["110-20240501-000123"])
    revision: int = Field(default=1, ge=1, le=2**63 - 1, description="Higher revisions supersede lower ones")
    received_at: AwareDatetime = Field(description="When the call was received")
    dispatched_at: AwareDatetime | None = None
    arrived_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    caller_name: str | None = Field(default=None, max_length=100, description="Personal data")
    caller_phone: str | None = Field(default=None, max_length=32, description="Personal data")
    address_text: str | None = Field(default=None, max_length=500)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    station_code: str | None = Field(default=None, max_length=32)
    category_code: str | None = Field(default=None, max_length=64, description="The centre's own code")
    category_text: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000, description="Free text, usually Chinese")
    disposition: str | None = Field(default=None, max_length=200)
    received_at_derived_from: str | None = Field(
        default=None, max_length=200,
        description="set when the feed had no call-received time for this record and received_at was taken "
                    "from another field (its name), as the feed profile's fallback says; absent when read directly")

    @field_validator("received_at", "dispatched_at", "arrived_at", "closed_at")
    @classmethod
    def _time_is_possible(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        # Field validators, so the error names the field: "closed_at: ... before received_at".
        if value is None:
            return value
        if value.year < EARLIEST_YEAR:
            raise ValueError(f"{value.isoformat()} is before {EARLIEST_YEAR}")
        # Comparing aware times of different offsets costs a microsecond, and so does asking the clock; a time
        # whose own date is two days before today's UTC date is in the past whatever its offset (under a day),
        # so a backfill's historic records skip both.
        if value.toordinal() > _utc_today() - 2 and value > datetime.now(UTC) + FUTURE_TOLERANCE:
            raise ValueError(f"{value.isoformat()} is in the future")
        received = info.data.get("received_at")
        if info.field_name != "received_at" and received is not None and value < received:
            raise ValueError(f"{value.isoformat()} is before received_at {received.isoformat()}")
        return value

    @field_validator(*_TEXT_FIELDS)
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL; a lone surrogate is not text at all.
        # ASCII text holds no surrogate; the regular expression looks at the rest at C speed.
        if value is not None and ("\x00" in value or (not value.isascii() and _SURROGATE.search(value))):
            raise ValueError("contains a NUL character or a lone surrogate")
        return value

    @model_validator(mode="after")
    def _coordinates_come_in_pairs(self) -> "DispatchRecord":
        if (self.longitude is None) != (self.latitude is None):
            raise ValueError("longitude and latitude come together or not at all")
        return self

    @property
    def point(self) -> tuple[float, float] | None:
        """(longitude, latitude) when both are known."""
        if self.longitude is None or self.latitude is None:
            return None
        return (self.longitude, self.latitude)
