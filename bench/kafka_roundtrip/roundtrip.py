"""Our side: EventProducer.publish_many into a topic while a ConsumerRunner copies it to PostgreSQL."""
import asyncio
import time
from dataclasses import dataclass

import asyncpg
from opentelemetry import trace

from bench.kafka_roundtrip import sink, workload
from shared.kafka.consumer import ConsumerRunner
from shared.kafka.producer import EventProducer

tracer = trace.get_tracer("bench.kafka_roundtrip")


@dataclass(frozen=True)
class Timings:
    """Seconds measured by one round trip, all from the first publish."""

    events: int
    build_s: float    # building envelopes, included in publish_s (the producer must build them)
    publish_s: float  # until the last chunk was acknowledged by Kafka
    end_to_end_s: float  # until the table held every event

    @property
    def producer_rate(self) -> float:
        """Events per second of the publish phase."""
        return self.events / self.publish_s

    @property
    def end_to_end_rate(self) -> float:
        """Events per second from first publish to the last row committed."""
        return self.events / self.end_to_end_s


async def _await_assignment(runner: ConsumerRunner, task: asyncio.Task, timeout_s: float = 30.0) -> None:
    # A deployed consumer is already in its group; joining is not part of the round trip.
    deadline = time.perf_counter() + timeout_s
    while not runner.assignment():
        if task.done():
            task.result()  # re-raises why the runner stopped
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the runner got no partitions within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


async def _publish(producer: EventProducer, topic: str, events: int, payload_bytes: int,
                   chunk: int) -> float:
    """Publish every event chunk by chunk; return the seconds spent building envelopes."""
    build_s = 0.0
    generator = workload.chunks(events, payload_bytes, chunk)
    while True:
        started = time.perf_counter()
        envelopes = next(generator, None)
        build_s += time.perf_counter() - started
        if envelopes is None:
            return build_s
        # With --tracing each chunk is a trace, as a request would be: its records carry its context.
        with tracer.start_as_current_span("publish chunk"):
            acks = await producer.publish_many(topic, envelopes)
        if len(acks) != len(envelopes):
            raise RuntimeError(f"{len(acks)} acknowledgements for {len(envelopes)} events")


async def run(*, bootstrap: str, pool: asyncpg.Pool, topic: str, group: str, events: int,
              payload_bytes: int, chunk: int, max_batch: int) -> Timings:
    """Start the runner, publish `events` events, and time until all of them are rows."""
    progress = sink.Progress(events)
    async with EventProducer(bootstrap_servers=bootstrap, client_id=f"{group}-producer") as producer:
        runner = ConsumerRunner(name=group, topics=[topic], bootstrap_servers=bootstrap, pool=pool,
                                handler=sink.copy_handler(progress), producer=producer,
                                max_batch=max_batch)
        task = asyncio.create_task(runner.run(), name="bench-runner")
        try:
            await _await_assignment(runner, task)
            started = time.perf_counter()
            build_s = await _publish(producer, topic, events, payload_bytes, chunk)
            published = time.perf_counter()
            waiter = asyncio.create_task(sink.wait_for_rows(pool, progress))
            # Whichever ends first: all rows are in, or the runner died (its error is the story).
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                waiter.cancel()
                task.result()
                raise RuntimeError("the runner stopped before the table held every event")
            finished = waiter.result()
        finally:
            runner.stop()
            # The runner finishes its in-flight batch; after a failure that batch may be retrying
            # event by event for minutes, so give it a grace period, then cancel it.
            await asyncio.wait({task}, timeout=30)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
    return Timings(events, build_s, published - started, finished - started)
