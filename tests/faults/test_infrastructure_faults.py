"""The broker stopped for 20 s, and PostgreSQL restarted, while disputes stream into intake.

intake (api), mediation (consume) and assessment (consume) run as their own processes on the fault tests'
own Kafka and PostgreSQL (tests/faults/conftest.py), fed 150 disputes a second. After recovery: every
record intake answered `accepted` is one incident in assessment and one case in mediation and in
assessment, every event was applied once, the outboxes are empty and no partition has lag.
"""
import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.faults.conftest import FaultStack
from tests.faults.pipeline import (
    DisputeStream,
    Services,
    assert_exactly_once,
    assert_no_personal_data,
    pipeline,
    wait_until_settled,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(240)]

BROKER_DOWN_S = 20.0
POSTGRES_DOWN_S = 5.0


async def stream_through(stack: FaultStack, unique: str, tmp_path, *, tag: str, duration_s: float,
                         fault: Callable[[DisputeStream], Awaitable[None]]) -> DisputeStream:
    """Stream disputes through the three services while `fault` runs; then check nothing was lost or doubled."""
    async with pipeline(stack.kafka_bootstrap, stack.postgres_url, unique) as p, \
            Services(tmp_path / "logs") as services:
        try:
            intake = services.start("intake", "api", p.env["intake"], port=p.ports["intake"])
            services.start("mediation", "consume", p.env["mediation"])
            services.start("assessment", "consume", p.env["assessment"])
            await services.wait_ready(intake)
            async with p.feed_client(intake.url) as cad:
                stream = DisputeStream(cad, tag, duration_s=duration_s)
                async with stream.streaming() as streaming:
                    try:
                        await fault(stream)
                    finally:
                        # Whatever happened, the stack is up again for the checks and the next test.
                        await stack.launch("kafka", "up")
                        await stack.launch("postgres", "up")
                    await streaming
                retried = await stream.post_again()
            print(stream.report())
            print(f"posted again after recovery: {sum(retried.values())} records "
                  f"without an answer, answered {dict(retried)}")
            posted = {r["incident_number"] for r in stream.records}
            settled_s = await wait_until_settled(p, posted, services)
            counts = await assert_exactly_once(p, stream.accepted(), posted)
            print(f"settled {settled_s:.1f} s after the last answer; {counts}")
            assert_no_personal_data(services)
            return stream
        except BaseException:
            print(stack.server_logs())
            raise


async def test_broker_stopped_for_20_s_mid_stream_loses_nothing_and_doubles_nothing(fault_stack, unique, tmp_path):
    async def broker_stopped(stream: DisputeStream) -> None:
        await asyncio.sleep(6.0)
        stream.mark("broker stopping")
        await fault_stack.launch("kafka", "down")
        stream.mark("broker down")
        await asyncio.sleep(BROKER_DOWN_S)
        stream.mark("broker starting")
        started_in = await fault_stack.launch("kafka", "up")
        stream.mark("broker back")
        print(f"broker down for {BROKER_DOWN_S:.0f} s, answering again {started_in:.1f} s after `kafka.sh up`")

    stream = await stream_through(fault_stack, unique, tmp_path, tag="BROKER", duration_s=45.0, fault=broker_stopped)
    # Once intake knows the broker is away, a request answers after its commit and leaves its events to
    # the relay: only the requests in flight when the outage began wait out the publish timeout.
    down = [a for a in stream.answers if a.phase == "broker down" and a.answered_at is not None]
    fast = [a for a in down if a.answered_at - a.sent_at < 1.5]
    print(f"during the outage {len(fast)} of {len(down)} batches answered within 1.5 s")
    assert down and len(fast) >= len(down) / 2, "requests kept waiting for a broker known to be away"


async def test_postgres_restarted_mid_stream_loses_nothing_and_doubles_nothing(fault_stack, unique, tmp_path):
    async def postgres_restarted(stream: DisputeStream) -> None:
        await asyncio.sleep(8.0)
        stream.mark("postgres stopping")
        await fault_stack.launch("postgres", "down")
        stream.mark("postgres down")
        await asyncio.sleep(POSTGRES_DOWN_S)
        stream.mark("postgres starting")
        await fault_stack.launch("postgres", "up")
        stream.mark("postgres back")

    stream = await stream_through(fault_stack, unique, tmp_path, tag="POSTGRES", duration_s=30.0,
                                  fault=postgres_restarted)
    refused = {a.outcome for a in stream.answers if a.outcome != "200"}
    assert refused <= {"HTTP 503"}, f"an outage is 503 with Retry-After (retry), never a 500: {refused}"
