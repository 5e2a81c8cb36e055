"""Explicit topic creation: production does not rely on broker-side auto-creation."""
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.protocol.admin import CreateAclsRequest

from shared.events.topics import TOPICS, TopicSpec, dead_letter_topic
from shared.kafka.acls import Acl
from shared.kafka.security import PLAINTEXT, KafkaAuth

# Production's replication; a smaller cluster (one local node) gets one replica per node.
MAX_REPLICATION = 3
# Kafka's wire codes of the ACL enums (org.apache.kafka.common.acl and .resource).
_RESOURCE = {"topic": 2, "group": 3}
_PATTERN = {"literal": 3, "prefixed": 4}
_OPERATION = {"read": 3, "write": 4, "describe": 8}
_ALLOW = 3


def with_dead_letters(specs: Iterable[TopicSpec]) -> list[tuple[str, int]]:
    """Each topic and its dead-letter topic, as (name, partitions)."""
    pairs: list[tuple[str, int]] = []
    for spec in specs:
        pairs += [(spec.name, spec.partitions), (dead_letter_topic(spec.name), 1)]
    return pairs


def topic_configs(replication_factor: int) -> dict[str, str]:
    """With three or more replicas an acknowledged write (acks=all) must be on two of them, so one
    broker lost never loses an accepted record (docs/design.md, "Conventions": Kafka in production); locally, one of one."""
    return {"min.insync.replicas": "2"} if replication_factor >= 3 else {}


def replication_for(default_replication: int) -> int:
    """The replication factor topics get on a cluster whose brokers default to `default_replication`
    (deploy/local/kafka.sh: 1 on one node, 3 on three): that, at most three."""
    return max(1, min(MAX_REPLICATION, default_replication))


async def cluster_replication(admin: AIOKafkaAdminClient) -> int:
    """The cluster's own `default.replication.factor`, as a broker reports it. Its configuration, not the
    brokers up at the moment: a topic created while one node of three restarts still gets three replicas."""
    broker = (await admin.describe_cluster())["brokers"][0]["node_id"]
    [response] = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.BROKER, str(broker), {"default.replication.factor": None})])
    [resource] = response.to_object()["resources"]
    if resource["error_code"]:
        raise for_code(resource["error_code"])(f"could not read broker {broker}'s configuration")
    [entry] = [e for e in resource["config_entries"] if e["config_names"] == "default.replication.factor"]
    return replication_for(int(entry["config_value"]))


def _admin(bootstrap_servers: str, auth: KafkaAuth) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="fengqiao-admin", **auth.options())


async def ensure_topics(bootstrap_servers: str, topics: Iterable[tuple[str, int]],
                        replication_factor: int | None = None, auth: KafkaAuth = PLAINTEXT) -> None:
    """Create each (name, partitions) topic that does not exist yet; existing ones are left alone.
    Without a replication factor the cluster's configured default decides (cluster_replication), so the
    same command makes 1 replica on the local node and 3 with min.insync.replicas=2 on a cluster."""
    admin = _admin(bootstrap_servers, auth)
    await admin.start()
    try:
        if replication_factor is None:
            replication_factor = await cluster_replication(admin)
        existing = set(await admin.list_topics())
        wanted = [NewTopic(name, partitions, replication_factor, topic_configs=topic_configs(replication_factor))
                  for name, partitions in topics if name not in existing]
        if wanted:
            # The response carries an error code per topic instead of raising.
            response = await admin.create_topics(wanted)
            for name, code, *_ in response.topic_errors:
                # "already exists": a replica starting at the same moment created it first.
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise for_code(code)(f"could not create topic {name!r}")
    finally:
        await admin.close()


async def ensure_registered_topics(bootstrap_servers: str, replication_factor: int | None = None, prefix: str = "",
                                   auth: KafkaAuth = PLAINTEXT) -> None:
    """Create every registered topic and its dead-letter topic (names under the deployment's prefix)."""
    topics = [(prefix + name, partitions) for name, partitions in with_dead_letters(TOPICS.values())]
    await ensure_topics(bootstrap_servers, topics, replication_factor, auth)


async def delete_topics_with_prefix(bootstrap_servers: str, prefix: str, auth: KafkaAuth = PLAINTEXT) -> list[str]:
    """Delete every topic whose name starts with the prefix (tests and benchmarks clean up)."""
    if not prefix:
        raise ValueError("refusing to delete every topic: give a prefix")
    admin = _admin(bootstrap_servers, auth)
    await admin.start()
    try:
        doomed = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


async def create_acls(bootstrap_servers: str, acls: Iterable[Acl], auth: KafkaAuth) -> None:
    """Create each ALLOW rule (creating one that exists is a no-op); `auth` must be a super user.
    aiokafka has no ACL call: its CreateAcls request, one rule each, goes to any broker."""
    admin = _admin(bootstrap_servers, auth)
    await admin.start()
    try:
        for acl in acls:
            request = CreateAclsRequest(_RESOURCE[acl.resource], acl.name, _PATTERN[acl.pattern], acl.principal,
                                        "*", _OPERATION[acl.operation], _ALLOW)
            response = await admin._send_request(request)  # noqa: SLF001 (the one way to send it)
            for code, message in response.creation_responses:
                if code:
                    raise for_code(code)(f"could not create {acl}: {message}")
    finally:
        await admin.close()
