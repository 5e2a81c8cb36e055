"""Rejection reasons lose the caller's values and phones, and keep everything else readable."""
from services.intake.domain.profiles import map_record
from services.intake.masking import masked_reason
from services.intake.profile_files import load_profile

JSON = load_profile("fengqiao_json")
BASE = {"source": "BJ-CAD", "incident_number": "110-20240531-000123", "received_at": "2024-05-31T23:30:00+08:00"}


def reasons(**fields) -> list[tuple[str, str]]:
    mapped = map_record(JSON, BASE | fields)
    return [(e.field, masked_reason(e.field, e.message)) for e in mapped.errors]


def test_a_refused_personal_value_is_cut_but_the_reason_stays():
    [(field, message)] = reasons(caller_phone=["13912345678"])
    assert field == "caller_phone" and message == "expected text, got *** (from 'caller_phone')"
    [(_, message)] = reasons(caller_name={"surname": "赵", "given": "六"})
    assert "赵" not in message and message.startswith("expected text, got ***")


def test_a_phone_in_another_field_is_masked_and_other_values_stay():
    [(field, message)] = reasons(category_code=["13912345678", "dispute"])
    assert field == "category_code" and "13912345678" not in message and "'dispute'" in message
    assert masked_reason("disposition", "expected text, got ['010-62345678'] (from 'x')") == \
        "expected text, got ['***'] (from 'x')"


def test_times_and_incident_numbers_are_not_taken_for_phones():
    closed = "Value error, 2024-05-30T10:00:00+08:00 is before received_at 2024-05-31T23:30:00+08:00"
    assert masked_reason("closed_at", closed) == closed
    conflict = "conflict: revision 2 of incident 110-20240531-000123 from BJ-CAD was already accepted"
    assert masked_reason("revision", conflict) == conflict
    assert masked_reason("revision", "expected an integer, got '2024-05-31' (from 'revision')") == \
        "expected an integer, got '2024-05-31' (from 'revision')"
