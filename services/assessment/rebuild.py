"""Rebuild every fact from the topics: `fengqiao-assessment rebuild --from-beginning`.

The facts tables (but for activities recorded through the API, which are on no topic) and the
facts consumer's processed-event ledger are emptied in one transaction,
then every partition of the source topics is read from its beginning up to the end offsets seen
at the start, through the same exactly-once processor the live consumer uses. Events the rebuild
applied are in the ledger under the live consumer's name, so a live consumer running meanwhile
(or afterwards) skips them; facts depend only on the events, so the rebuilt ranking equals the
live one. Stop the live consumers first for a rebuild that is never observed half-done.
"""
import asyncio

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.assessment import repository
from services.assessment.bootstrap import AssessmentContext, facts_consumer_name
from services.assessment.consumer import source_topics
from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.kafka.exactly_once import EnvelopeBatches

log = structlog.get_logger(__name__)


async def _partitions(settings: AssessmentSettings, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics, as the cluster has them now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="fengqiao-rebuild",
                                **settings.kafka_auth.options())
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    found = [TopicPartition(d["topic"], p["partition"]) for d in described if not d.get("error_code")
             for p in d["partitions"]]
    if not found:
        raise RuntimeError(f"none of the source topics exist: {', '.join(topics)}")
    return sorted(found)


async def rebuild(ctx: AssessmentContext, batch: int = 2000) -> int:
    """Re-apply every event of the source topics to empty facts tables; returns events read."""
    settings = ctx.settings
    topics, name = source_topics(settings), facts_consumer_name(settings)  # the live consumer's ledger name
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                              group_id=None, auto_offset_reset="earliest",
                              **settings.kafka_auth.options())
    await reader.start()
    try:
        partitions = await _partitions(settings, topics)
        ends = await reader.end_offsets(partitions)
        async with ctx.pool.acquire() as conn, conn.transaction():
            await repository.empty_facts(conn, name)
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        # The publications already included what the rebuild re-applies: nothing is revised by it.
        processor = EnvelopeBatches(name=name, pool=ctx.pool, handler=facts_handler(ctx, mark_revisions=False),
                                    stopping=asyncio.Event(), max_attempts=settings.consumer_max_attempts)
        read = 0
        while [tp for tp in partitions if await reader.position(tp) < ends[tp]]:
            fetched = await reader.getmany(timeout_ms=500, max_records=batch)
            records = [r for tp, part in fetched.items() for r in part if r.offset < ends[tp]]
            if records:
                letters = await processor.process(records)
                read += len(records)
                for letter in letters:  # the live run dead-lettered these already
                    log.warning("rebuild.skipped", topic=letter.record.topic, offset=letter.record.offset)
        return read
    finally:
        await reader.stop()
