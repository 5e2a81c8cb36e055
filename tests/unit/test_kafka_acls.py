"""Kafka access: the ACLs derived from the topic registry, the client settings that carry SASL, and
the replication a cluster's size gets."""
import re
import types
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.assessment.consumer import facts_consumer_name, source_topics
from services.assessment.settings import AssessmentSettings
from services.intake.consumer import raw_runner
from services.intake.settings import IntakeSettings
from services.mediation.consumer import dispute_runner
from services.mediation.settings import MediationSettings
from shared.events.topics import TOPICS
from shared.kafka.acls import SERVICES, Acl, service_acls, table
from shared.kafka.admin import replication_for, topic_configs
from shared.kafka.producer import EventProducer
from shared.kafka.security import KafkaAuth

ROOT = Path(__file__).resolve().parents[2]


def allowed(service: str, operation: str, prefix: str = "") -> set[str]:
    return {a.name for a in service_acls(service, prefix=prefix) if a.resource == "topic" and a.operation == operation}


def test_intake_writes_its_topics_and_rejections_and_reads_the_raw_feed():
    assert allowed("intake", "write") == {"intake.incident.v1", "intake.dispute.v1", "dispatch.rejected.v1",
                                          "dispatch.raw.v1.dlq"}
    assert allowed("intake", "read") == {"dispatch.raw.v1"}


def test_mediation_reads_disputes_and_writes_cases():
    assert allowed("mediation", "write") == {"mediation.case.v1", "intake.dispute.v1.dlq"}
    assert allowed("mediation", "read") == {"intake.dispute.v1"}


def test_assessment_reads_what_its_consumer_subscribes_to_and_writes_rankings():
    settings = AssessmentSettings(topic_prefix="p.")
    assert allowed("assessment", "read", "p.") == set(source_topics(settings))
    assert allowed("assessment", "write", "p.") == {"p.assessment.ranking.v1"} | {
        t + ".dlq" for t in source_topics(settings)}


def test_every_write_is_the_services_own_namespace_a_rejection_or_a_dead_letter():
    for service in SERVICES:
        for name in allowed(service, "write"):
            read_dlq = name.endswith(".dlq") and name.removesuffix(".dlq") in allowed(service, "read")
            assert name.startswith(f"{service}.") or name == "dispatch.rejected.v1" or read_dlq, (service, name)


def test_acls_name_only_registered_topics_under_the_prefix_and_a_group_prefix_of_the_service():
    names = set(TOPICS) | {t + ".dlq" for t in TOPICS}
    for service in SERVICES:
        acls = service_acls(service, prefix="t1.")
        assert {a.principal for a in acls} == {f"User:{service}"}
        assert {a.name.removeprefix("t1.") for a in acls if a.resource == "topic"} <= names
        assert [a for a in acls if a.resource == "group"] == [Acl(f"User:{service}", "group", f"t1.{service}-",
                                                                  "prefixed", "read")]
        assert {a.operation for a in acls} <= {"read", "write"}, "nothing beyond reading and writing"


async def test_each_services_consumer_group_falls_under_its_group_acl():
    """The groups the consumers really join are the ones the ACLs let each service use."""
    producer = EventProducer(bootstrap_servers="127.0.0.1:1", client_id="t")
    intake = raw_runner(types.SimpleNamespace(settings=IntakeSettings(topic_prefix="p."), producer=producer))
    mediation = dispute_runner(types.SimpleNamespace(settings=MediationSettings(topic_prefix="p."),
                                                     producer=producer, pool=object()))
    groups = {"intake": intake.name, "mediation": mediation.name,
              "assessment": facts_consumer_name(AssessmentSettings(topic_prefix="p."))}
    for service, group in groups.items():
        [acl] = [a for a in service_acls(service, prefix="p.") if a.resource == "group"]
        assert group.startswith(acl.name), (service, group, acl)
    assert set(intake._topics) == allowed("intake", "read", "p.")
    assert set(mediation._topics) == allowed("mediation", "read", "p.")


def test_the_acl_table_in_the_docs_is_the_derived_one():
    assert table() in (ROOT / "docs" / "kafka.md").read_text("utf-8"), \
        "docs/kafka.md's ACL table is stale: paste `python -m shared.kafka.acls table`"


def test_unknown_service_is_an_error():
    with pytest.raises(ValueError, match="unknown service"):
        service_acls("billing")


def test_sasl_settings_reach_every_client_option(monkeypatch):
    monkeypatch.setenv("MEDIATION_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MEDIATION_KAFKA_SASL_USERNAME", "mediation")
    monkeypatch.setenv("MEDIATION_KAFKA_SASL_PASSWORD", "s3cret")
    auth = MediationSettings().kafka_auth
    assert auth.principal == "User:mediation"
    assert auth.options() == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                              "sasl_plain_username": "mediation", "sasl_plain_password": "s3cret"}
    assert "s3cret" not in repr(MediationSettings()), "the password must not show in a settings repr"


def test_sasl_without_credentials_is_refused(monkeypatch):
    monkeypatch.setenv("INTAKE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValidationError, match=re.escape("kafka_sasl_username and kafka_sasl_password")):
        IntakeSettings()
    with pytest.raises(ValueError, match="needs a SASL username"):
        KafkaAuth("SASL_PLAINTEXT")


def test_plaintext_is_the_default_and_sasl_ssl_carries_a_tls_context():
    assert IntakeSettings().kafka_auth.options() == {"security_protocol": "PLAINTEXT"}
    options = KafkaAuth("SASL_SSL", "SCRAM-SHA-512", "intake", "pw").options()
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"


@pytest.mark.parametrize(("default", "replicas", "configs"), [
    (1, 1, {}), (2, 2, {}), (3, 3, {"min.insync.replicas": "2"}), (5, 3, {"min.insync.replicas": "2"})])
def test_replication_follows_the_clusters_default_up_to_three(default, replicas, configs):
    assert replication_for(default) == replicas
    assert topic_configs(replication_for(default)) == configs


async def test_services_producers_wait_for_every_in_sync_replica_and_are_idempotent(monkeypatch):
    """min.insync.replicas=2 protects only writes sent with acks=all; idempotence keeps retries single."""
    monkeypatch.setenv("INTAKE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("INTAKE_KAFKA_SASL_USERNAME", "intake")
    monkeypatch.setenv("INTAKE_KAFKA_SASL_PASSWORD", "pw")
    producer = EventProducer.from_settings(IntakeSettings())
    client = producer._producer
    assert client.client._sasl_plain_username == "intake"
    assert producer._config["acks"] == "all" and producer._config["enable_idempotence"] is True
    assert client._txn_manager is not None, "idempotence is off in the aiokafka producer"
