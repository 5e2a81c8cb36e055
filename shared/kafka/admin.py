"""Explicit topic creation: production does not rely on broker-side auto-creation."""
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from shared.events.topics import TOPICS, TopicSpec, dead_letter_topic


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


async def ensure_topics(bootstrap_servers: str, topics: Iterable[tuple[str, int]],
                        replication_factor: int = 1) -> None:
    """Create each (name, partitions) topic that does not exist yet; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="fengqiao-admin")
    await admin.start()
    try:
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


async def ensure_registered_topics(bootstrap_servers: str, replication_factor: int = 1, prefix: str = "") -> None:
    """Create every registered topic and its dead-letter topic (names under the deployment's prefix)."""
    topics = [(prefix + name, partitions) for name, partitions in with_dead_letters(TOPICS.values())]
    await ensure_topics(bootstrap_servers, topics, replication_factor)


async def delete_topics_with_prefix(bootstrap_servers: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with the prefix (tests and benchmarks clean up)."""
    if not prefix:
        raise ValueError("refusing to delete every topic: give a prefix")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="fengqiao-admin")
    await admin.start()
    try:
        doomed = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()
