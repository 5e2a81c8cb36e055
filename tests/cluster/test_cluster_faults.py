"""Node faults on the three-node cluster while disputes stream through intake, mediation and assessment.

Every service runs as its own process and authenticates as its own principal (ACLs derived from the topic
registry); topics have replication 3 and min.insync.replicas=2, producers acks=all with idempotence.
After each fault: every record intake answered `accepted` is one incident and one case in every service,
each event applied once, outboxes empty, no consumer lag, no under-replicated partition, and intake
answers again by itself (no process was restarted).
"""
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

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
    last = max((a.sent_at for a in stream.answers if a.phase != "posted again"), default=0.0) + stream.interval
    marks = [(t, phase) for t, phase in stream.marks if t < last] + [(last, "end")]
    for (start, phase), (end, _) in zip(marks, marks[1:], strict=False):
        accepted = sum(s == "accepted" for a in stream.answers if a.phase == phase for s in a.statuses.values())
        if end > start:
            parts.append(f"{phase}: {accepted / (end - start):.0f}/s over {end - start:.1f} s")
    return "; ".join(parts)


@dataclass
class Running:
    """The three services on the cluster, shared by the module's tests, and every record streamed so far."""

    pipeline: Pipeline
    services: Services
    intake_url: str
    posted: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
async def running(cluster: Cluster, infrastructure, tmp_path_factory) -> AsyncIterator[Running]:
    """One pipeline (databases, topics under a prefix, ACLs for it) and one process per service for every
    fault in turn: nothing is restarted between faults, so each also proves the services outlive the last."""
    unique = uuid.uuid4().hex[:10]
    async with pipeline(cluster.bootstrap, infrastructure.postgres_url, unique, auth=ADMIN,
                        service_settings=cluster.service_settings()) as p, \
            Services(tmp_path_factory.mktemp("cluster-logs")) as services:
        await create_acls(cluster.bootstrap, all_acls(p.prefix), ADMIN)
        intake = services.start("intake", "api", p.env["intake"], port=p.ports["intake"])
        services.start("mediation", "consume", p.env["mediation"])
        services.start("assessment", "consume", p.env["assessment"])
        await services.wait_ready(intake)
        yield Running(p, services, intake.url)


async def stream_through(cluster: Cluster, run: Running, *, tag: str, duration_s: float, fault: Fault) -> None:
    """Stream disputes through the three services while `fault` runs; then check nothing was lost or doubled."""
    p, services = run.pipeline, run.services
    try:
        async with p.feed_client(run.intake_url) as cad:
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
        run.posted |= {r["incident_number"] for r in stream.records}
        run.accepted |= stream.accepted()
        # Settled means the outboxes are empty: the producers that failed delivered everything in the end,
        # in the processes that saw the fault (none was restarted; check_alive fails on an exit).
        settled_s = await wait_until_settled(p, run.posted, services, within_s=90.0)
        intake_log = services.processes[0].output()
        assert intake_log.count('"kafka.away"') <= intake_log.count('"kafka.back"'), \
            "intake's producer never reported Kafka back after reporting it away"
        counts = await assert_exactly_once(p, run.accepted, run.posted)
        replicated_s = await cluster.wait_fully_replicated(topics_of(p), within_s=60.0)
        print(f"settled {settled_s:.1f} s after the last answer, fully replicated {replicated_s:.1f} s later; "
              f"so far {counts}")
    except BaseException:
        print(services.logs(tail_chars=3000))
        print(cluster.server_logs())
        raise


async def leaders(cluster: Cluster, p: Pipeline, names: tuple[str, ...]) -> dict[tuple[str, int], int]:
    states = await cluster.partitions([p.topic(n) for n in names])
    return {key: state.leader for key, state in states.items()}


WRITTEN = ("intake.incident.v1", "intake.dispute.v1", "mediation.case.v1")


async def test_leader_of_the_written_partitions_sigkilled_then_restarted(cluster, running):
    async def kill_leader(cluster: Cluster, p: Pipeline, stream: DisputeStream, services: Services) -> None:
        await asyncio.sleep(4.0)
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
        restarted_in = await cluster.launch("up", victim)
        stream.mark(f"node {victim} back")
        print(f"node {victim} led {list(led.values()).count(victim)} of {len(led)} written partitions; "
              f"new leaders elected {failover:.1f} s after SIGKILL; node answering {restarted_in:.1f} s after up")

    await stream_through(cluster, running, tag="LEADER", duration_s=20.0,
                         fault=kill_leader)


async def test_rolling_restart_of_all_three_nodes(cluster, running):
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

    await stream_through(cluster, running, tag="ROLLING", duration_s=60.0,
                         fault=rolling)


STOPPED_S = 10.0  # the issue says 60 s; 10 s keeps the folder within its time and shrinks the ISR all the same


async def test_one_node_stopped_isr_shrinks_to_two_and_grows_back(cluster, running):
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
        started = await cluster.launch("up", 3)
        grown = await cluster.wait_fully_replicated(topics_of(p))
        print(f"node 3 stopped {STOPPED_S:.0f} s; {len(shrunk)} written partitions ran on an ISR of 2; node 3 "
              f"answering {started:.1f} s after up, every ISR back to 3 {grown:.1f} s after that")

    await stream_through(cluster, running, tag="ISR", duration_s=25.0,
                         fault=one_stopped)


async def test_two_nodes_down_producers_fail_loudly_and_the_outbox_delivers_later(cluster, running):
    async def two_down(cluster: Cluster, p: Pipeline, stream: DisputeStream, services: Services) -> None:
        await asyncio.sleep(5.0)
        deferred_before = services.processes[0].output().count('"outbox.publish_deferred"')
        stream.mark("nodes 2 and 3 killed")
        await asyncio.gather(cluster.launch("kill", 2), cluster.launch("kill", 3))
        await asyncio.sleep(8.0)
        held = (await holdings(p)).outboxes["intake"]
        deferred = services.processes[0].output().count('"outbox.publish_deferred"') - deferred_before
        print(f"with one node of three: intake's outbox holds {held} events; {deferred} failed publishes logged")
        # No silent loss: the publishes failed (acks=all cannot be met by one node) and the events wait.
        assert held > 0, "intake's outbox is empty while two of three nodes are down: where did the events go?"
        assert deferred > 0, "intake logged no failed publish while two of three nodes were down"
        stream.mark("node 2 back")
        back_in = await cluster.launch("up", 2)
        # Two nodes of three: a quorum again and an ISR of 2, so the relay gets the waiting events through.
        drained_at = time.monotonic()
        while (left := (await holdings(p)).outboxes["intake"]) > 0:
            assert time.monotonic() - drained_at < 60, f"intake's outbox still holds {left} events with two nodes up"
            await asyncio.sleep(0.5)
        print(f"node 2 answering {back_in:.1f} s after up; intake's outbox empty "
              f"{time.monotonic() - drained_at:.1f} s later, before node 3 is back")

    await stream_through(cluster, running, tag="TWODOWN", duration_s=25.0,
                         fault=two_down)
