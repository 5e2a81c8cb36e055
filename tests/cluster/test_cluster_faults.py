"""Node faults on the three-node cluster while disputes stream through intake, mediation and assessment.

Every service runs as its own process and authenticates as its own principal (ACLs derived from the topic
registry); topics have replication 3 and min.insync.replicas=2, producers acks=all with idempotence.
After each fault: every record intake answered `accepted` is one incident and one case in every service,
each event applied once, outboxes empty, no consumer lag, no under-replicated partition, and intake
answers again by itself (no process was restarted).
"""
import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from shared.events.topics import TOPICS, dead_letter_topic
from shared.kafka.acls import all_acls
from shared.kafka.admin import create_acls
from tests.cluster.conftest import ADMIN, Cluster
from tests.faults.pipeline import (
    DisputeStream,
    Pipeline,
    Services,
    assert_exactly_once,
    holdings,
    pipeline,
    wait_until_settled,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(180)]

RATE, BATCH = 50, 10  # records a second, records per POST: a steady stream, light on two busy cores
Fault = Callable[[Cluster, Pipeline, DisputeStream, Services], Awaitable[None]]


def topics_of(p: Pipeline) -> list[str]:
    """The pipeline's topics and their dead-letter topics, and the group offsets topic."""
    return [p.topic(n) for name in TOPICS for n in (name, dead_letter_topic(name))] + ["__consumer_offsets"]


def throughput(stream: DisputeStream) -> str:
    """Accepted records a second per phase of the stream, by when their POST was sent."""
    parts = []
    marks = stream.marks + [(max((a.sent_at for a in stream.answers), default=0.0) + stream.interval, "end")]
    for (start, phase), (end, _) in zip(marks, marks[1:], strict=False):
        accepted = sum(s == "accepted" for a in stream.answers if a.phase == phase for s in a.statuses.values())
        if end > start:
            parts.append(f"{phase}: {accepted / (end - start):.0f}/s over {end - start:.1f} s")
    return "; ".join(parts)


async def stream_through(cluster: Cluster, postgres_url: str, unique: str, tmp_path, *, tag: str,
                         duration_s: float, fault: Fault) -> DisputeStream:
    """Stream disputes through the three services while `fault` runs; then check nothing was lost or doubled."""
    async with pipeline(cluster.bootstrap, postgres_url, unique, auth=ADMIN,
                        service_settings=cluster.service_settings()) as p, Services(tmp_path / "logs") as services:
        try:
            await create_acls(cluster.bootstrap, all_acls(p.prefix), ADMIN)
            intake = services.start("intake", "api", p.env["intake"], port=p.ports["intake"])
            services.start("mediation", "consume", p.env["mediation"])
            services.start("assessment", "consume", p.env["assessment"])
            await services.wait_ready(intake)
            async with p.feed_client(intake.url) as cad:
                stream = DisputeStream(cad, tag, rate=RATE, batch=BATCH, duration_s=duration_s)
                async with stream.streaming() as streaming:
                    try:
                        await fault(cluster, p, stream, services)
                    finally:
                        await cluster.launch("up")  # whatever happened, every node runs for the checks
                    stream.mark("after the fault")
                    await streaming
                retried = await stream.post_again()
            print(stream.report())
            print(f"accepted per second: {throughput(stream)}")
            print(f"posted again after recovery: {sum(retried.values())} records, answered {dict(retried)}")
            posted = {r["incident_number"] for r in stream.records}
            # Settled means the outboxes are empty: the producers that failed delivered everything in the end,
            # in the processes that saw the fault (none was restarted; check_alive fails on an exit).
            settled_s = await wait_until_settled(p, posted, services, within_s=90.0)
            intake_log = services.processes[0].output()
            assert intake_log.count('"kafka.away"') <= intake_log.count('"kafka.back"'), \
                "intake's producer never reported Kafka back after reporting it away"
            counts = await assert_exactly_once(p, stream.accepted(), posted)
            replicated_s = await cluster.wait_fully_replicated(topics_of(p), within_s=60.0)
            print(f"settled {settled_s:.1f} s after the last answer, fully replicated {replicated_s:.1f} s later; "
                  f"{counts}")
            return stream
        except BaseException:
            print(services.logs(tail_chars=3000))
            print(cluster.server_logs())
            raise


async def leaders(cluster: Cluster, p: Pipeline, names: tuple[str, ...]) -> dict[tuple[str, int], int]:
    states = await cluster.partitions([p.topic(n) for n in names])
    return {key: state.leader for key, state in states.items()}


WRITTEN = ("intake.incident.v1", "intake.dispute.v1", "mediation.case.v1")


async def test_leader_of_the_written_partitions_sigkilled_then_restarted(cluster, infrastructure, unique, tmp_path):
    async def kill_leader(cluster: Cluster, p: Pipeline, stream: DisputeStream, services: Services) -> None:
        await asyncio.sleep(6.0)
        led = await leaders(cluster, p, WRITTEN)
        victim = max(set(led.values()), key=list(led.values()).count)
        stream.mark(f"node {victim} killed")
        killed_at = time.monotonic()
        await cluster.launch("kill", victim)
        while victim in (await leaders(cluster, p, WRITTEN)).values():
            assert time.monotonic() - killed_at < 60, f"partitions still led by the killed node {victim}"
            await asyncio.sleep(0.5)
        failover = time.monotonic() - killed_at
        stream.mark("leaders moved")
        await asyncio.sleep(3.0)
        restarted_in = await cluster.launch("up", victim)
        stream.mark(f"node {victim} back")
        print(f"node {victim} led {list(led.values()).count(victim)} of {len(led)} written partitions; "
              f"new leaders elected {failover:.1f} s after SIGKILL; node answering {restarted_in:.1f} s after up")

    await stream_through(cluster, infrastructure.postgres_url, unique, tmp_path, tag="LEADER", duration_s=25.0,
                         fault=kill_leader)


async def test_rolling_restart_of_all_three_nodes(cluster, infrastructure, unique, tmp_path):
    async def rolling(cluster: Cluster, p: Pipeline, stream: DisputeStream, services: Services) -> None:
        await asyncio.sleep(4.0)
        for node in (1, 2, 3):
            stream.mark(f"node {node} restarting")
            stopped = await cluster.launch("down", node)
            started = await cluster.launch("up", node)
            # Only once every replica is back in sync is the next node taken down, as a rolling restart must.
            synced = await cluster.wait_fully_replicated(topics_of(p))
            print(f"node {node}: stopped in {stopped:.1f} s, answering {started:.1f} s after up, "
                  f"in sync {synced:.1f} s later")

    await stream_through(cluster, infrastructure.postgres_url, unique, tmp_path, tag="ROLLING", duration_s=40.0,
                         fault=rolling)


STOPPED_S = 15.0


async def test_one_node_stopped_isr_shrinks_to_two_and_grows_back(cluster, infrastructure, unique, tmp_path):
    async def one_stopped(cluster: Cluster, p: Pipeline, stream: DisputeStream, services: Services) -> None:
        await asyncio.sleep(5.0)
        stream.mark("node 3 stopped")
        await cluster.launch("down", 3)
        states = await cluster.partitions([p.topic(n) for n in WRITTEN])
        shrunk = {key: s.isr for key, s in states.items() if set(s.isr) != set(s.replicas)}
        assert shrunk and all(len(isr) == 2 and 3 not in isr for isr in shrunk.values()), \
            f"ISR did not shrink to the two running nodes: {states}"
        await asyncio.sleep(STOPPED_S)
        stream.mark("node 3 back")
        await cluster.launch("up", 3)
        grown = await cluster.wait_fully_replicated(topics_of(p))
        print(f"node 3 stopped {STOPPED_S:.0f} s; {len(shrunk)} written partitions ran on an ISR of 2; "
              f"all ISRs back to 3 within {grown:.1f} s of its start")

    await stream_through(cluster, infrastructure.postgres_url, unique, tmp_path, tag="ISR", duration_s=30.0,
                         fault=one_stopped)


async def test_two_nodes_down_producers_fail_loudly_and_the_outbox_delivers_later(cluster, infrastructure, unique,
                                                                                  tmp_path):
    async def two_down(cluster: Cluster, p: Pipeline, stream: DisputeStream, services: Services) -> None:
        await asyncio.sleep(5.0)
        stream.mark("nodes 2 and 3 killed")
        await asyncio.gather(cluster.launch("kill", 2), cluster.launch("kill", 3))
        await asyncio.sleep(12.0)
        held = (await holdings(p)).outboxes["intake"]
        log = services.processes[0].output()
        print(f"with one node of three: intake's outbox holds {held} events; "
              f"{log.count('outbox.publish_deferred')} deferred publishes logged")
        # No silent loss: the publishes failed (acks=all cannot be met by one node) and the events wait.
        assert held > 0, "intake's outbox is empty while two of three nodes are down: where did the events go?"
        assert "outbox.publish_deferred" in log or "kafka.away" in log, "intake logged no failed publish"
        stream.mark("node 2 back")
        await cluster.launch("up", 2)

    await stream_through(cluster, infrastructure.postgres_url, unique, tmp_path, tag="TWODOWN", duration_s=30.0,
                         fault=two_down)
