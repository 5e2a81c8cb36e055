"""The permission table: the doc shows exactly the code's table, and its cells say what the issue asks."""
from services.mediation import permissions_doc
from services.mediation.domain.permissions import TABLE, Relation, allows, relations, roles_for


def test_docs_mediation_shows_the_table_the_code_enforces():
    text = permissions_doc.DOC.read_text(encoding="utf-8")
    assert permissions_doc.with_table(text) == text, "run: python -m services.mediation.permissions_doc"


def _rel(subject="m2", *, holder="m1", worked_by=(), station="990101001", channel="peoples_mediator", purpose=None):
    return relations(subject=subject, stations=("990101001",), channels=("peoples_mediator",), case_station=station,
                     case_channel=channel, holder=holder, worked_by=worked_by, purpose=purpose)


def test_a_colleague_of_the_station_may_not_report_a_breach_but_the_holder_a_worker_and_the_chief_may():
    assert not allows("breach", {"mediator"}, _rel())  # same station, same channel, never worked it
    assert allows("breach", {"mediator"}, _rel("m1"))  # the holder
    assert allows("breach", {"mediator"}, _rel(worked_by=("m2",)))  # made the agreement, handed it on
    assert allows("breach", {"station_chief"}, _rel("chief"))
    assert not allows("breach", {"auditor"}, _rel("a", worked_by=("a",)))
    assert roles_for("breach") == ("mediator", "lawyer", "court_liaison", "station_chief")


def test_chiefs_see_party_data_only_with_a_purpose_and_auditors_never():
    assert not allows("read_parties", {"station_chief"}, _rel("chief"))
    assert not allows("read_parties", {"station_chief"}, _rel("chief", purpose="  "))
    assert allows("read_parties", {"station_chief"}, _rel("chief", purpose="复核投诉"))
    assert not allows("read_parties", {"auditor"}, _rel("a", purpose="复核投诉", worked_by=("a",)))
    assert allows("read_parties", {"mediator"}, _rel())


def test_another_station_stands_in_no_relation_at_all():
    assert _rel("m1", station="990102002", worked_by=("m1",), purpose="x") == frozenset()
    assert not any(allows(action, {"station_chief", "auditor", "mediator"}, frozenset()) for action in TABLE)


def test_only_auditors_query_the_audit_trail_and_only_holders_work_a_case():
    assert roles_for("audit") == ("auditor",)
    for action in ("sessions", "outcome", "close", "parties", "handoffs", "release"):
        assert TABLE[action] == dict.fromkeys(("mediator", "lawyer", "court_liaison"), frozenset({Relation.HOLDER}))
