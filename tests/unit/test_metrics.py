"""Consumer lag is reported per partition by the member that holds the partition."""
import asyncio

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared import metrics
from shared.kafka.consumer import _HoldBatchOnRevoke


def lag(consumer: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value("fengqiao_consumer_lag",
                                     {"consumer": consumer, "topic": topic, "partition": str(partition)})


async def test_a_revoked_partitions_lag_is_no_longer_reported_here():
    metrics.CONSUMER_LAG.labels("unit-group", "t.events.v1", "0").set(12)
    metrics.CONSUMER_LAG.labels("unit-group", "t.events.v1", "1").set(3)
    listener = _HoldBatchOnRevoke(asyncio.Lock(), "unit-group")
    await listener.on_partitions_revoked({TopicPartition("t.events.v1", 0), TopicPartition("t.events.v1", 7)})
    assert lag("unit-group", "t.events.v1", 0) is None, "its new owner reports it"
    assert lag("unit-group", "t.events.v1", 1) == 3
