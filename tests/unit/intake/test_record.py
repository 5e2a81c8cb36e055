"""The canonical record's time checks, at the edges of the shortcut that spares historic records the clock."""
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from services.intake.domain.record import FUTURE_TOLERANCE, DispatchRecord

ZONES = [timezone(timedelta(hours=h)) for h in (-12, -5, 0, 8, 14)]


def record(received_at: datetime) -> dict:
    return {"source": "S", "incident_number": "1", "received_at": received_at.isoformat()}


@pytest.mark.parametrize("zone", ZONES, ids=str)
@pytest.mark.parametrize("ago", [timedelta(0), timedelta(hours=23), timedelta(days=1, hours=23), timedelta(days=3)])
def test_a_past_time_is_accepted_in_every_zone(zone, ago):
    received = (datetime.now(UTC) - ago).astimezone(zone)
    assert DispatchRecord.model_validate(record(received)).received_at == received


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_a_time_past_the_tolerance_is_in_the_future_in_every_zone(zone):
    ahead = (datetime.now(UTC) + FUTURE_TOLERANCE + timedelta(minutes=2)).astimezone(zone)
    with pytest.raises(ValidationError, match="in the future"):
        DispatchRecord.model_validate(record(ahead))
    later = record(datetime.now(UTC) - timedelta(days=3)) | {"closed_at": ahead.isoformat()}
    with pytest.raises(ValidationError, match="closed_at"):
        DispatchRecord.model_validate(later)
