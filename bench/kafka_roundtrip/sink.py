"""The PostgreSQL side: the events table, a COPY batch handler, and waiting for and checking rows."""
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from shared.events.envelope import Envelope

TABLE = "bench_events"
COLUMNS = ("event_id", "seq", "key", "occurred_at", "data")
# No unique constraint on purpose: an event applied twice must show up in the check, not be hidden.
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    event_id    uuid        NOT NULL,
    seq         integer     NOT NULL,
    key         text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    data        jsonb       NOT NULL
)"""


@dataclass
class Progress:
    """Events handed to the handler so far (not yet committed), and the first handler error."""

    target: int
    handled: int = 0
    error: BaseException | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)


def copy_handler(progress: Progress):
    """A batch handler that writes one row per event with a single COPY."""

    async def handle(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
        try:
            # COPY beats executemany by far for hundreds of rows, and stays in the runner's transaction.
            await conn.copy_records_to_table(TABLE, columns=COLUMNS, records=[
                (e.event_id, e.data["seq"], e.key, e.occurred_at, e.data) for e in events])
        except Exception as exc:
            # Every event here is valid, so any failure is the bench's or the stack's: stop at
            # once instead of watching the runner retry and dead-letter the whole run.
            progress.error = progress.error or exc
            progress.reached.set()
            raise
        progress.handled += len(events)
        if progress.handled >= progress.target:
            progress.reached.set()

    return handle


async def prepare(pool: asyncpg.Pool) -> None:
    """Create the events table."""
    async with pool.acquire() as conn:
        await conn.execute(CREATE_TABLE)


async def wait_for_rows(pool: asyncpg.Pool, progress: Progress, stall_s: float = 60.0) -> float:
    """perf_counter() at which the table first holds `target` committed rows; raise on a stall."""
    # The handler's counter runs ahead of the commit, so it only says when to start polling the
    # table; polling count(*) all along would steal CPU from the runner on a small box.
    while not progress.reached.is_set():
        before = progress.handled
        try:
            await asyncio.wait_for(progress.reached.wait(), timeout=stall_s)
        except TimeoutError:
            if progress.handled == before:
                raise TimeoutError(f"no progress for {stall_s:.0f} s at {before} events") from None
    if progress.error:
        raise RuntimeError(f"the handler failed: {progress.error!r}") from progress.error
    deadline = time.perf_counter() + stall_s
    async with pool.acquire() as conn:
        while time.perf_counter() < deadline:
            if await conn.fetchval(f"SELECT count(*) FROM {TABLE}") >= progress.target:
                return time.perf_counter()
            await asyncio.sleep(0.005)
    raise TimeoutError(f"the table did not reach {progress.target} rows within {stall_s:.0f} s")


@dataclass(frozen=True)
class Check:
    """What the table holds after the run."""

    rows: int
    distinct_events: int
    distinct_seqs: int
    min_seq: int | None
    max_seq: int | None

    def exact(self, events: int) -> bool:
        """True when every event 0..events-1 is there exactly once."""
        return (self.rows == self.distinct_events == self.distinct_seqs == events
                and (events == 0 or (self.min_seq, self.max_seq) == (0, events - 1)))


async def check(pool: asyncpg.Pool) -> Check:
    """Count rows, distinct event ids and distinct sequence numbers."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT count(*) AS rows, count(DISTINCT event_id) AS ids, count(DISTINCT seq) AS seqs,"
            f" min(seq) AS lo, max(seq) AS hi FROM {TABLE}")
    return Check(row["rows"], row["ids"], row["seqs"], row["lo"], row["hi"])
