"""The intake vocabulary (kinds, dispute types, risk flags) is a type on the event models that carry it."""
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events.intake import DISPUTE_TYPES, KINDS, RISK_FLAGS, IncidentData
from shared.events.mediation import CaseEventData

AT = datetime(2024, 5, 1, 10, tzinfo=UTC)
INCIDENT = {"source": "cad", "incident_number": "1", "revision": 1, "received_at": AT, "station_code": "990101001",
            "jurisdiction_method": "record", "kind": "dispute", "confidence": 0.9, "rules_version": "v3"}
CASE = {"case_id": "c", "source": "cad", "incident_number": "1", "station_code": "990101001",
        "channel": "station_officer", "state": "new", "received_at": AT, "actor": "system", "sequence": 1}


@pytest.mark.parametrize("model, base", [(IncidentData, INCIDENT), (CaseEventData, CASE)])
def test_every_name_of_the_vocabulary_is_accepted(model, base):
    for dispute_type in DISPUTE_TYPES:
        assert model.model_validate(base | {"dispute_type": dispute_type}).dispute_type == dispute_type
    assert model.model_validate(base | {"risk_flags": list(RISK_FLAGS)}).risk_flags == list(RISK_FLAGS)


@pytest.mark.parametrize("model, base", [(IncidentData, INCIDENT), (CaseEventData, CASE)])
@pytest.mark.parametrize("field, value, path", [
    ("dispute_type", "noise", ("dispute_type",)),
    ("risk_flags", ["weapon", "knife"], ("risk_flags", 1)),
])
def test_a_name_outside_the_vocabulary_is_refused_at_its_field(model, base, field, value, path):
    with pytest.raises(ValidationError) as refused:
        model.model_validate(base | {field: value})
    assert [e["loc"] for e in refused.value.errors()] == [path]


def test_kind_is_one_of_the_kinds():
    assert [IncidentData.model_validate(INCIDENT | {"kind": k}).kind for k in KINDS] == list(KINDS)
    with pytest.raises(ValidationError, match="kind"):
        IncidentData.model_validate(INCIDENT | {"kind": "noise"})
