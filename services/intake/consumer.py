"""Kafka edge of intake: 110 centres that publish raw records to dispatch.raw.v1.

One JSON record per message; the feed profile is named by the message's `profile` header, else
by the `raw_profile` setting. Bad records become rejected input (table and dispatch.rejected.v1)
like bad HTTP input, so they neither crash the consumer nor block the partition. Redelivery is
harmless: an accepted record comes back as a duplicate, a rejected one keeps its first row.
"""
from aiokafka.structs import ConsumerRecord

from services.intake.bootstrap import IntakeContext, intake_context
from services.intake.domain.profiles import FieldError
from services.intake.handlers import ingest_safely, relay_outbox
from services.intake.parsing import RawInput, parse_one
from services.intake.profile_files import ProfileError
from services.intake.settings import IntakeSettings
from shared.events.intake import RAW_TOPIC
from shared.kafka.consumer import ConsumerRunner
from shared.kafka.dead_letter import DeadLetter
from shared.runtime import on_stop_signals

PROFILE_HEADER = "profile"


def _profile_name(record: ConsumerRecord, default: str) -> str:
    for key, value in record.headers or ():
        if key == PROFILE_HEADER:
            return value.decode("utf-8", errors="replace")
    return default


class RawDispatchBatches:
    """Runner processor: ingest each batch of raw records, grouped by feed profile."""

    def __init__(self, ctx: IntakeContext) -> None:
        self._ctx = ctx

    async def process(self, records: list[ConsumerRecord]) -> list[DeadLetter]:
        """Ingest the batch; nothing becomes a dead letter, bad input is rejected and kept."""
        default = self._ctx.settings.raw_profile
        groups: dict[str, list[RawInput]] = {}
        for record in records:
            position = f"{record.topic}/{record.partition}/{record.offset}"
            name = _profile_name(record, default)
            try:
                self._ctx.profile(name)
                groups.setdefault(name, []).append(parse_one(record.value or b"", position))
            except ProfileError as exc:
                text = (record.value or b"").decode("utf-8", errors="replace")
                groups.setdefault(default, []).append(
                    RawInput(position, text, parse_error=FieldError(f"headers.{PROFILE_HEADER}", str(exc))))
        for name, inputs in groups.items():
            await ingest_safely(self._ctx, inputs, profile=self._ctx.profile(name), channel="kafka")
        return []


def raw_runner(ctx: IntakeContext) -> ConsumerRunner:
    """A consumer-group member for dispatch.raw.v1."""
    settings = ctx.settings
    return ConsumerRunner(
        name=f"{settings.topic_prefix}intake-raw", topics=[settings.topic(RAW_TOPIC)],
        bootstrap_servers=settings.kafka_bootstrap_servers, producer=ctx.producer,
        processor=RawDispatchBatches(ctx), max_batch=settings.consumer_max_batch, auth=settings.kafka_auth)


async def consume(settings: IntakeSettings) -> None:
    """Run the raw-feed consumer until SIGTERM or Ctrl-C."""
    async with intake_context(settings) as ctx:
        await relay_outbox(ctx)
        runner = raw_runner(ctx)
        on_stop_signals(runner.stop)
        await runner.run()
