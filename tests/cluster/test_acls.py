"""Least privilege on the SASL cluster: each service's principal may write and read only what the issue's
table says (written out here, not derived, so a wrong derivation in shared/kafka/acls.py fails), and a
client without credentials, or with wrong ones, gets nothing."""
import asyncio
import uuid
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from shared.kafka.acls import all_acls
from shared.kafka.admin import create_acls, delete_topics_with_prefix, ensure_registered_topics, ensure_topics
from shared.kafka.security import KafkaAuth
from tests.cluster.conftest import ADMIN, Cluster, service_auth

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

WRITES = {  # (service, topic): may it write there?
    ("intake", "intake.incident.v1"): True, ("intake", "intake.dispute.v1"): True,
    ("intake", "dispatch.rejected.v1"): True, ("intake", "dispatch.raw.v1"): False,
    ("intake", "mediation.case.v1"): False, ("intake", "assessment.ranking.v1"): False,
    ("mediation", "mediation.case.v1"): True, ("mediation", "intake.dispute.v1.dlq"): True,
    ("mediation", "intake.dispute.v1"): False, ("mediation", "intake.incident.v1"): False,
    ("mediation", "assessment.ranking.v1"): False,
    ("assessment", "assessment.ranking.v1"): True, ("assessment", "mediation.case.v1.dlq"): True,
    ("assessment", "mediation.case.v1"): False, ("assessment", "intake.incident.v1"): False,
    ("assessment", "dispatch.rejected.v1"): False,
}
READS = {  # (service, topic): may it read there, in a group of its own?
    ("intake", "dispatch.raw.v1"): True, ("intake", "intake.incident.v1"): False,
    ("intake", "mediation.case.v1"): False,
    ("mediation", "intake.dispute.v1"): True, ("mediation", "intake.incident.v1"): False,
    ("mediation", "dispatch.raw.v1"): False, ("mediation", "mediation.case.v1"): False,
    ("assessment", "intake.incident.v1"): True, ("assessment", "mediation.case.v1"): True,
    ("assessment", "community.activity.v1"): True, ("assessment", "intake.dispute.v1"): False,
    ("assessment", "dispatch.raw.v1"): False, ("assessment", "dispatch.rejected.v1"): False,
}


@pytest.fixture(scope="module")
def prefix(cluster: Cluster) -> Iterator[str]:
    """Every registered topic under a prefix of this module's own, with every service's ACLs for it."""
    name = f"acl{uuid.uuid4().hex[:8]}."

    async def prepare() -> None:
        await ensure_registered_topics(cluster.bootstrap, prefix=name, auth=ADMIN)
        await create_acls(cluster.bootstrap, all_acls(name), ADMIN)

    asyncio.run(prepare())
    yield name
    asyncio.run(delete_topics_with_prefix(cluster.bootstrap, name, ADMIN))


async def write(cluster: Cluster, auth: KafkaAuth, topic: str) -> str:
    """"ok", or the class of the error a write as `auth` gets."""
    producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", enable_idempotence=True,
                                request_timeout_ms=10_000, **auth.options())
    try:
        await producer.start()
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 15)
        return "ok"
    except (KafkaError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        await producer.stop()


async def read(cluster: Cluster, auth: KafkaAuth, topic: str, group: str) -> str:
    """"ok", or the class of the error a group member reading as `auth` gets."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=cluster.bootstrap, group_id=group,
                                auto_offset_reset="earliest", request_timeout_ms=10_000, **auth.options())
    try:
        await consumer.start()
        for _ in range(20):  # until the group has assigned the partitions: then a fetch was authorized
            await consumer.getmany(timeout_ms=300)
            if consumer.assignment():
                return "ok"
        return "no assignment"
    except (KafkaError, TimeoutError) as exc:
        return type(exc).__name__
    finally:
        await consumer.stop()


async def test_each_service_writes_only_its_own_topics(cluster, prefix):
    outcomes = {(s, t): await write(cluster, service_auth(s), prefix + t) for s, t in WRITES}
    wrong = {k: v for k, v in outcomes.items() if (v == "ok") != WRITES[k]}
    assert not wrong, f"writes allowed or refused against the table: {wrong}"
    refused = {v for k, v in outcomes.items() if not WRITES[k]}
    assert refused == {TopicAuthorizationFailedError.__name__}, refused


async def test_each_service_reads_only_what_it_consumes(cluster, prefix):
    outcomes = {(s, t): await read(cluster, service_auth(s), prefix + t, f"{prefix}{s}-acl-test")
                for s, t in READS}
    wrong = {k: v for k, v in outcomes.items() if (v == "ok") != READS[k]}
    assert not wrong, f"reads allowed or refused against the table: {wrong}"
    refused = {v for k, v in outcomes.items() if not READS[k]}
    assert refused == {TopicAuthorizationFailedError.__name__}, f"refused otherwise than by the authorizer: {refused}"


async def test_a_service_cannot_join_another_services_consumer_group(cluster, prefix):
    outcome = await read(cluster, service_auth("mediation"), prefix + "intake.dispute.v1", f"{prefix}intake-raw")
    assert outcome == GroupAuthorizationFailedError.__name__, outcome


async def test_a_service_cannot_create_topics(cluster, prefix):
    with pytest.raises(KafkaError) as refused:
        await ensure_topics(cluster.bootstrap, [(prefix + "intake.sneaky.v1", 1)], auth=service_auth("intake"))
    assert "Authorization" in type(refused.value).__name__, repr(refused.value)


@pytest.mark.parametrize("auth", [None, KafkaAuth("SASL_PLAINTEXT", "SCRAM-SHA-512", "intake", "wrong-password")],
                         ids=["no credentials", "wrong password"])
async def test_clients_without_valid_credentials_are_refused(cluster, prefix, auth):
    outcome = await write(cluster, auth or KafkaAuth(), prefix + "intake.incident.v1")
    assert outcome != "ok", "the cluster took a write from a client that did not authenticate"
    print(f"refused with {outcome}")
