"""Everything intake derives from an accepted record: classification, jurisdiction, repeat keys, and
whether the caller called before."""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from services.intake.domain.address_precision import address_precision
from services.intake.domain.classification import Classification, Classifier
from services.intake.domain.jurisdiction import Assignment, Jurisdictions
from services.intake.domain.keys import key_of_normalised, normalise_address, phone_hmac
from services.intake.domain.profiles import CodeEntry
from services.intake.domain.record import DispatchRecord

REPEAT_CALLER = "repeat_caller"


class RepeatKeys(NamedTuple):
    """What other services match repeats on, without the personal data behind it; and the normalised
    address the key is made of, which placing the record and its precision read too."""

    address_key: str | None
    phone_hmac: str | None
    address: str | None = None  # normalise_address(record.address_text)


class Call(NamedTuple):
    """One call from a phone: the incident it is about and when it came."""

    incident: tuple[str, str]  # (source, incident_number)
    received_at: datetime


@dataclass(frozen=True)
class Triage:
    """The derived facts of one record revision."""

    classification: Classification
    assignment: Assignment
    address_key: str | None
    address_precision: str  # how precise the address behind address_key is, one of ADDRESS_PRECISIONS
    phone_hmac: str | None
    risk_flags: tuple[str, ...]


def repeat_keys(record: DispatchRecord, secret: bytes) -> RepeatKeys:
    """(address key, caller-phone HMAC, normalised address) of a record; the address is normalised once."""
    address = normalise_address(record.address_text)
    return RepeatKeys(key_of_normalised(address), phone_hmac(record.caller_phone, secret), address)


def seen_before(earlier: Iterable[Call], call: Call, window: timedelta) -> bool:
    """True when a call about another incident came from the same phone within `window` before this one."""
    since = call.received_at - window
    return any(c.incident != call.incident and since <= c.received_at < call.received_at for c in earlier)


def triage(record: DispatchRecord, code: CodeEntry | None, *, classifier: Classifier,
           jurisdictions: Jurisdictions, keys: RepeatKeys, repeat_caller: bool) -> Triage:
    """Classify and place one record; its risk flags are the text's, the code table's, and
    repeat_caller when the caller called before (the flag comes from history, never from text)."""
    classification = classifier.classify(
        category=code.category if code else None, description=record.description,
        category_text=record.category_text)
    assignment = jurisdictions.resolve(station_code=record.station_code, point=record.point,
                                       address_text=record.address_text, normalised_address=keys.address)
    flags = set(classification.risk_flags) | set(code.risk if code else ())
    if repeat_caller:
        flags.add(REPEAT_CALLER)
    return Triage(classification, assignment, keys.address_key, address_precision(record.address_text, keys.address),
                  keys.phone_hmac, tuple(sorted(flags)))
