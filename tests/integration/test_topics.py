"""Topics are created explicitly, and a refusal from the broker is not swallowed."""
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import InvalidTopicError

from shared.kafka.admin import ensure_topics

pytestmark = pytest.mark.kafka


async def test_topics_are_created_with_their_partitions_and_creation_is_idempotent(kafka_bootstrap, unique):
    name = f"test.{unique}.created.v1"
    await ensure_topics(kafka_bootstrap, [(name, 4)])
    await ensure_topics(kafka_bootstrap, [(name, 4)])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [description] = await admin.describe_topics([name])
    finally:
        await admin.close()
    assert len(description["partitions"]) == 4


async def test_an_invalid_topic_name_raises(kafka_bootstrap):
    with pytest.raises(InvalidTopicError):
        await ensure_topics(kafka_bootstrap, [("not a valid name!", 1)])
