"""Crashes and rebalances: a SIGKILLed consumer and a group of two lose nothing, double nothing."""
import asyncio
import os
import signal
import subprocess
import sys

import pytest

from deploy.local.infrastructure import ROOT
from shared.kafka.consumer import ConsumerRunner
from shared.kafka.producer import EventProducer
from tests.apps.ledger import ledger_event, ledger_handler, prepare
from tests.integration.test_consumer_runner import _rows_at_least, ledger_counts, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def start_ledger_process(*, bootstrap: str, topic: str, group: str, database_url: str,
                         member: str, delay_ms: int, commit_delay_ms: int = 0) -> subprocess.Popen:
    """The ledger consumer as its own OS process, so it can be killed for real."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.apps.ledger", "--bootstrap", bootstrap, "--topic", topic,
         "--group", group, "--database-url", database_url, "--member", member,
         "--delay-ms", str(delay_ms), "--commit-delay-ms", str(commit_delay_ms), "--max-batch", "100"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_sigkill_mid_batch_then_restart_loses_nothing_and_applies_nothing_twice(
        kafka_bootstrap, make_topic, db_pool, database_url, unique):
    topic = await make_topic("crash", partitions=3)
    await prepare(db_pool)
    events = [ledger_event(i, amount=i % 5 + 1) for i in range(4_000)]
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
        await producer.publish_many(topic, events)
    args = dict(bootstrap=kafka_bootstrap, topic=topic, group=f"g-{unique}", database_url=database_url)

    # Most of each batch's time falls after its database commit and before its offset commit,
    # so the kill most likely lands where Kafka will redeliver events already applied.
    first = start_ledger_process(**args, member="first", delay_ms=5, commit_delay_ms=150)
    try:
        await wait_for(lambda: _rows_at_least(db_pool, 800), timeout=60)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    rows_at_kill, _, _ = await ledger_counts(db_pool)
    assert first.returncode == -signal.SIGKILL
    assert rows_at_kill < len(events), "the kill must land before the stream is done"

    second = start_ledger_process(**args, member="second", delay_ms=0)
    try:
        await wait_for(lambda: _rows_at_least(db_pool, len(events)), timeout=120)
        await asyncio.sleep(1.0)  # anything applied twice would show up by now
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(second.communicate, timeout=30)
    assert second.returncode == 0, stderr.decode()[-2000:]  # SIGTERM is a clean stop
    rows, distinct, total = await ledger_counts(db_pool)
    assert (rows, distinct) == (len(events), len(events))
    assert total == sum(e.data["amount"] for e in events)


async def test_two_consumers_in_one_group_split_the_partitions_and_apply_each_event_once(
        kafka_bootstrap, make_topic, db_pool, unique):
    topic = await make_topic("pair", partitions=6)
    await prepare(db_pool)
    events = [ledger_event(i) for i in range(6_000)]
    async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer:
        runners = [ConsumerRunner(name=f"g-{unique}", topics=[topic], bootstrap_servers=kafka_bootstrap,
                                  pool=db_pool, handler=ledger_handler(member), producer=producer,
                                  max_batch=100)
                   for member in ("left", "right")]
        tasks = [asyncio.create_task(r.run()) for r in runners]
        try:
            async def both_assigned() -> bool:
                return all(r.assignment() for r in runners)
            await wait_for(both_assigned, timeout=60)
            assignments = [r.assignment() for r in runners]
            await producer.publish_many(topic, events)
            await wait_for(lambda: _rows_at_least(db_pool, len(events)), timeout=120)
            await asyncio.sleep(1.0)
        finally:
            for r in runners:
                r.stop()
            await asyncio.gather(*tasks)
    assert assignments[0].isdisjoint(assignments[1])
    assert len(assignments[0] | assignments[1]) == 6
    rows, distinct, _ = await ledger_counts(db_pool)
    assert (rows, distinct) == (len(events), len(events))
    async with db_pool.acquire() as conn:
        per_member = dict(await conn.fetch("SELECT applied_by, count(*) FROM ledger GROUP BY 1"))
    assert set(per_member) == {"left", "right"}, per_member


async def test_a_replica_added_and_another_removed_mid_stream_apply_every_event_exactly_once(
        kafka_bootstrap, make_topic, db_pool, database_url, unique):
    """Scaling: one consumer process, a second joins while events stream in (rebalance), then the
    first is stopped with SIGTERM mid-stream (another rebalance); the survivor finishes the stream."""
    topic = await make_topic("scale", partitions=6)
    await prepare(db_pool)
    events = [ledger_event(i, amount=i % 7 + 1) for i in range(15_000)]
    args = dict(bootstrap=kafka_bootstrap, topic=topic, group=f"g-{unique}", database_url=database_url)
    first = start_ledger_process(**args, member="first", delay_ms=20)
    second, left_at = None, None
    try:
        async with EventProducer(bootstrap_servers=kafka_bootstrap, client_id="t") as producer, \
                db_pool.acquire() as conn:
            for start in range(0, len(events), 250):  # a steady stream of about 1,000 events/s
                await producer.publish_many(topic, events[start:start + 250])
                await asyncio.sleep(0.25)
                if second is None and await conn.fetchval("SELECT count(*) FROM ledger") >= 500:
                    second = start_ledger_process(**args, member="second", delay_ms=20)  # scale out
                elif (second is not None and left_at is None and len(events) - start > 3_000
                      and await conn.fetchval("SELECT count(*) FROM ledger WHERE applied_by = 'second'")):
                    first.send_signal(signal.SIGTERM)  # scale in, while the stream goes on
                    left_at = start
        assert left_at is not None, "the second replica never took partitions while the stream ran"
        _, stderr = await asyncio.to_thread(first.communicate, timeout=60)
        assert first.returncode == 0, stderr.decode()[-2000:]
        await wait_for(lambda: _rows_at_least(db_pool, len(events)), timeout=120)
        await asyncio.sleep(1.0)  # anything applied twice would show up by now
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 30)
    rows, distinct, total = await ledger_counts(db_pool)
    assert (rows, distinct) == (len(events), len(events)), "every event exactly once across both rebalances"
    assert total == sum(e.data["amount"] for e in events)
    async with db_pool.acquire() as conn:
        by_first = await conn.fetchval("SELECT count(*) FROM ledger WHERE applied_by = 'first'")
        after_leave = await conn.fetchval("SELECT count(*) FROM ledger WHERE applied_by = 'second' AND seq >= $1",
                                          left_at + 250)
    assert by_first > 0 and after_leave > 0, "both replicas took part, the survivor after the first left"
