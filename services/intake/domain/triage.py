"""Everything intake derives from an accepted record: classification, jurisdiction, repeat keys."""
from dataclasses import dataclass

from services.intake.domain.address_precision import address_precision
from services.intake.domain.classification import Classification, Classifier
from services.intake.domain.jurisdiction import Assignment, Jurisdictions
from services.intake.domain.keys import address_key, phone_hmac
from services.intake.domain.profiles import CodeEntry
from services.intake.domain.record import DispatchRecord


@dataclass(frozen=True)
class Triage:
    """The derived facts of one record revision."""

    classification: Classification
    assignment: Assignment
    address_key: str | None
    address_precision: str  # how precise the address behind address_key is, one of ADDRESS_PRECISIONS
    phone_hmac: str | None
    risk_flags: tuple[str, ...]


def repeat_keys(record: DispatchRecord, secret: bytes) -> tuple[str | None, str | None]:
    """(address key, caller-phone HMAC): what other services match repeats on."""
    return address_key(record.address_text), phone_hmac(record.caller_phone, secret)


def triage(record: DispatchRecord, code: CodeEntry | None, *, classifier: Classifier,
           jurisdictions: Jurisdictions, keys: tuple[str | None, str | None],
           repeat_caller: bool) -> Triage:
    """Classify and place one record; the code table's own risk flags join the text's."""
    classification = classifier.classify(
        category=code.category if code else None, description=record.description,
        category_text=record.category_text, repeat_caller=repeat_caller)
    assignment = jurisdictions.resolve(station_code=record.station_code, point=record.point,
                                       address_text=record.address_text)
    flags = set(classification.risk_flags) | set(code.risk if code else ())
    return Triage(classification, assignment, keys[0], address_precision(record.address_text), keys[1],
                  tuple(sorted(flags)))
