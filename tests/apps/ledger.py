"""A consumer used by the tests: it applies `ledger.entry` events to a table, and can be run as a
process (`python -m tests.apps.ledger ...`) so a test can SIGKILL it mid-batch.

The ledger table has no unique constraint on purpose: if the runner ever applied an event twice,
the table would show it. `poison: true` in an event's data makes the handler fail every time.
"""
import argparse
import asyncio
from collections.abc import Sequence

import asyncpg

from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.kafka.consumer import ConsumerRunner
from shared.kafka.producer import EventProducer
from shared.logging import configure_logging
from shared.runtime import on_stop_signals

CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS ledger (
    event_id uuid    NOT NULL,
    seq      integer NOT NULL,
    amount   integer NOT NULL,
    applied_by text  NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_total (id integer PRIMARY KEY, total bigint NOT NULL);
INSERT INTO ledger_total VALUES (1, 0) ON CONFLICT DO NOTHING;
"""


class PoisonEvent(ValueError):
    """Raised for events marked as poison, to exercise retries and dead-lettering."""


def ledger_handler(member: str, delay_s: float = 0.0):
    """A batch handler writing one ledger row per event and adding the amounts to a running total."""

    async def handle(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        if any(e.data.get("poison") for e in events):
            raise PoisonEvent("event marked as poison")
        await conn.executemany(
            "INSERT INTO ledger (event_id, seq, amount, applied_by) VALUES ($1, $2, $3, $4)",
            [(e.event_id, e.data["seq"], e.data["amount"], member) for e in events])
        await conn.execute("UPDATE ledger_total SET total = total + $1 WHERE id = 1",
                           sum(e.data["amount"] for e in events))
        if delay_s:
            await asyncio.sleep(delay_s)  # widens the window in which a SIGKILL lands mid-batch

    return handle


def ledger_event(seq: int, *, amount: int = 1, poison: bool = False) -> Envelope:
    """One test event, keyed so that events spread over the partitions."""
    data = {"seq": seq, "amount": amount} | ({"poison": True} if poison else {})
    return Envelope(type="ledger.entry", producer="tests", key=f"station-{seq % 17}", data=data)


class SlowCommitRunner(ConsumerRunner):
    """Holds each batch between its database commit and its offset commit, the window in which a
    crash makes Kafka redeliver events whose effects are already committed."""

    def __init__(self, *, commit_delay_s: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self._commit_delay_s = commit_delay_s

    async def _commit(self, records) -> None:
        await asyncio.sleep(self._commit_delay_s)
        await super()._commit(records)


async def prepare(pool: asyncpg.Pool) -> None:
    """Create the ledger tables."""
    async with pool.acquire() as conn:
        await conn.execute(CREATE_TABLES)


async def main(args: argparse.Namespace) -> None:
    configure_logging("ledger-test", "INFO")
    pool = await create_pool(args.database_url, max_size=3)
    await prepare(pool)
    async with EventProducer(bootstrap_servers=args.bootstrap, client_id=args.member) as producer:
        runner = SlowCommitRunner(
            commit_delay_s=args.commit_delay_ms / 1000, name=args.group, topics=[args.topic], bootstrap_servers=args.bootstrap, pool=pool,
            handler=ledger_handler(args.member, args.delay_ms / 1000), producer=producer,
            max_batch=args.max_batch, retry_backoff_ms=10)
        on_stop_signals(runner.stop)
        await runner.run()
    await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--bootstrap", "--topic", "--group", "--database-url", "--member"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--commit-delay-ms", type=int, default=0)
    parser.add_argument("--max-batch", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
