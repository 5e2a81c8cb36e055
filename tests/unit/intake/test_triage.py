"""Repeat callers: seen_before() over a phone's calls, and triage() adding the flag from it."""
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.classification import Classifier
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.domain.profiles import map_record
from services.intake.domain.triage import Call, repeat_keys, seen_before, triage
from services.intake.profile_files import load_profile

AT = datetime(2024, 5, 31, 12, tzinfo=UTC)
WINDOW = timedelta(days=30)


@pytest.mark.parametrize(("earlier", "expected"), [
    ([], False),
    ([Call(("S", "1"), AT - timedelta(days=2))], True),                # another incident, two days before
    ([Call(("S", "2"), AT - timedelta(days=2))], False),               # the same incident (an earlier revision)
    ([Call(("S", "1"), AT - WINDOW)], True),                           # the window's first instant counts
    ([Call(("S", "1"), AT - WINDOW - timedelta(seconds=1))], False),   # before the window
    ([Call(("S", "1"), AT)], False),                                   # at the same instant: not before
    ([Call(("S", "1"), AT + timedelta(hours=1))], False),              # later
])
def test_seen_before_is_another_incident_within_the_window_before(earlier: list[Call], expected: bool) -> None:
    assert seen_before(earlier, Call(("S", "2"), AT), WINDOW) is expected


def test_triage_adds_repeat_caller_itself_and_the_classification_never_does() -> None:
    profile = load_profile("fengqiao_json")
    mapped = map_record(profile, {"source": "S", "incident_number": "1", "received_at": "2024-05-31T20:00:00+08:00",
                                  "caller_phone": "13812345678", "description": "楼上邻居装修噪音太大",
                                  "category_code": "dispute.neighbour"})
    assert mapped.record is not None
    args = dict(classifier=Classifier.load(), jurisdictions=Jurisdictions.load(),
                keys=repeat_keys(mapped.record, b"k"))
    again = triage(mapped.record, mapped.code, repeat_caller=True, **args)
    once = triage(mapped.record, mapped.code, repeat_caller=False, **args)
    assert again.risk_flags == ("repeat_caller",) and once.risk_flags == ()
    assert "repeat_caller" not in again.classification.risk_flags
    assert again.phone_hmac == once.phone_hmac == args["keys"].phone_hmac is not None
