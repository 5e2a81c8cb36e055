"""Mediation's consumer SIGKILLed mid-batch, twice, while disputes stream into intake; restarted each time.

Each kill is aimed: the consumer is frozen (SIGSTOP) at a candidate moment, the test looks at what it is
doing, and kills it (SIGKILL) only if it is where the kill should land, else lets it go on (SIGCONT):
  1. inside a batch's PostgreSQL transaction (its writes roll back; Kafka hands the batch to the next member);
  2. after a batch committed in PostgreSQL and before its offsets reached Kafka (the next member is handed
     disputes already applied, which the processed_events ledger must skip).
After recovery every accepted dispute is one case with one `created` entry in its timeline, mediation's
ledger holds each dispute event once, assessment holds each case once and no partition has lag.
"""
import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from deploy.local.processes import ServiceProcess
from shared.events.intake import DISPUTE_TOPIC
from tests.faults.conftest import FaultStack
from tests.faults.pipeline import (
    DisputeStream,
    Pipeline,
    Services,
    assert_exactly_once,
    assert_no_personal_data,
    group_lags,
    pipeline,
    wait_until_settled,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(240)]

# An open transaction of the consumer's batch (the outbox relay's own transactions read and delete outbox rows).
OPEN_BATCH = """
SELECT left(query, 60) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
  AND backend_type = 'client backend' AND query NOT ILIKE '%FROM outbox%'
LIMIT 1
"""


async def applied_not_committed(p: Pipeline, conn: asyncpg.Connection) -> int:
    """Disputes mediation applied (processed_events) at offsets its group has not committed."""
    group, _ = p.groups["mediation consumer"]
    lags = await group_lags(p.kafka_bootstrap, group, p.prefix, [DISPUTE_TOPIC])
    total = 0
    for tp, (committed, _) in lags.items():
        total += await conn.fetchval(
            "SELECT count(*) FROM processed_events WHERE consumer = $1 AND partition = $2 AND kafka_offset >= $3",
            group, tp.partition, committed)
    return total


async def kill_when(services: Services, process: ServiceProcess, moment: Callable[[], Awaitable[None]],
                    there: Callable[[], Awaitable[str | None]], *, what: str, within_s: float = 30.0) -> str:
    """At each `moment`, freeze the process and ask `there` whether it is where the kill should land: if so
    SIGKILL it (returns what `there` saw), else let it go on. Fails if that moment never comes."""
    deadline = time.monotonic() + within_s
    tries = 0
    while time.monotonic() < deadline:
        services.check_alive()
        try:
            await asyncio.wait_for(moment(), max(deadline - time.monotonic(), 0.01))
        except TimeoutError:
            break
        os.kill(process.process.pid, signal.SIGSTOP)
        tries += 1
        try:
            seen = await there()
        except BaseException:
            os.kill(process.process.pid, signal.SIGCONT)
            raise
        if seen:
            await services.kill(process)
            return f"{seen} (on try {tries})"
        os.kill(process.process.pid, signal.SIGCONT)
    raise AssertionError(f"{process.name} was never caught {what} in {tries} tries within {within_s:.0f} s")


async def test_mediation_consumer_sigkilled_mid_batch_and_restarted_applies_each_dispute_once(
        fault_stack: FaultStack, unique, tmp_path):
    async with pipeline(fault_stack.kafka_bootstrap, fault_stack.postgres_url, unique) as p, \
            Services(tmp_path / "logs") as services:
        group, _ = p.groups["mediation consumer"]
        intake = services.start("intake", "api", p.env["intake"], port=p.ports["intake"])
        services.start("assessment", "consume", p.env["assessment"])
        await services.wait_ready(intake)
        conn = await asyncpg.connect(p.databases["mediation"])
        try:
            async def applied() -> int:
                return await conn.fetchval("SELECT count(*) FROM processed_events WHERE consumer = $1", group)

            async def batch_open() -> None:
                while await applied() < 300 or not await conn.fetchval(OPEN_BATCH):  # some batches done first
                    await asyncio.sleep(0.002)

            async def batch_committed() -> None:
                before = await applied()
                while await applied() == before:
                    await asyncio.sleep(0.001)

            async def in_transaction() -> str | None:
                last = await conn.fetchval(OPEN_BATCH)
                if last and not last.lstrip().upper().startswith("BEGIN"):  # it has written something
                    return f"a batch's transaction open, its last statement {' '.join(last.split())!r}"
                return None

            async def applied_ahead_of_kafka() -> str | None:
                if ahead := await applied_not_committed(p, conn):
                    return f"{ahead} disputes applied in PostgreSQL at offsets not committed in Kafka"
                return None

            async with p.feed_client(intake.url) as cad:
                stream = DisputeStream(cad, "KILL", duration_s=30.0)
                async with stream.streaming() as streaming:
                    kills = []
                    await asyncio.sleep(6.0)  # behind the stream: a backlog, worked in full batches
                    first = services.start("mediation", "consume", p.env["mediation"], label="1")
                    seen = await kill_when(services, first, batch_open, in_transaction, what="inside a batch")
                    kills.append(f"kill 1 at {stream.elapsed():.1f} s, {await applied()} disputes applied: {seen}")
                    stream.mark("after kill 1")

                    second = services.start("mediation", "consume", p.env["mediation"], label="2")
                    seen = await kill_when(services, second, batch_committed, applied_ahead_of_kafka,
                                           what="between a batch's database commit and its offset commit")
                    kills.append(f"kill 2 at {stream.elapsed():.1f} s, {await applied()} disputes applied: {seen}")
                    stream.mark("after kill 2")

                    services.start("mediation", "consume", p.env["mediation"], label="3")
                    await streaming
                retried = await stream.post_again()
            print(stream.report())
            print("\n".join(kills))
            posted = {r["incident_number"] for r in stream.records}
            assert not retried, f"intake had nothing to do with the kills, yet some POSTs failed: {dict(retried)}"
            settled_s = await wait_until_settled(p, posted, services, within_s=120.0)
            counts = await assert_exactly_once(p, stream.accepted(), posted)
            print(f"settled {settled_s:.1f} s after the last answer; {counts}")
            assert_no_personal_data(services)
        finally:
            await conn.close()
