"""Publishing a month's ranking: stored with what produced it, and announced on assessment.ranking.v1.

What produced it is the rules version plus, for every source partition, the offset after the last
event the facts include (read from the facts consumer's exactly-once ledger in the same transaction
as the ranking's facts). The publication and its event are written in one transaction (outbox).
"""
import uuid
from datetime import UTC, datetime

import asyncpg

from services.assessment.ranking import MonthRanking
from shared import outbox
from shared.events.assessment import RANKING_TOPIC, RankedUnit, RankingPublished, SourceOffset
from shared.events.envelope import envelope_bytes
from shared.kafka.producer import EventProducer

PRODUCER = "assessment"

SOURCE_OFFSETS = """
SELECT topic, partition, max(kafka_offset) + 1 AS next_offset
FROM processed_events WHERE consumer = $1
GROUP BY topic, partition ORDER BY topic, partition
"""

INSERT = """
INSERT INTO publications (publication_id, month, kind, scope, rules_version, published_at, published_by,
                          source_offsets, items)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""

LATEST = """
SELECT publication_id, published_at, published_by, rules_version, revised_at, source_offsets
FROM publications WHERE month = $1 AND kind = $2 AND scope = $3
ORDER BY published_at DESC LIMIT 1
"""


def month_text(ranking: MonthRanking) -> str:
    return ranking.month.strftime("%Y-%m")


async def source_offsets(conn: asyncpg.Connection, consumer: str) -> list[SourceOffset]:
    return [SourceOffset(topic=r["topic"], partition=r["partition"], next_offset=r["next_offset"])
            for r in await conn.fetch(SOURCE_OFFSETS, consumer)]


def published_event(ranking: MonthRanking, offsets: list[SourceOffset], *, by: str) -> RankingPublished:
    return RankingPublished(
        publication_id=str(uuid.uuid4()), month=month_text(ranking), kind=ranking.kind, scope=ranking.scope,
        rules_version=ranking.rules_version, published_by=by, source_offsets=offsets,
        items=[RankedUnit(unit=i.unit.code, county_code=i.unit.county_code, cohort=i.unit.cohort, rank=i.ranked.rank,
                          score=None if i.ranked.score is None else str(i.ranked.score), grade=i.ranked.grade,
                          candidate=i.ranked.candidate, red_line=i.ranked.red_line,
                          tied_with=list(i.ranked.tied_with)) for i in ranking.items])


async def publish(conn: asyncpg.Connection, ranking: MonthRanking, offsets: list[SourceOffset], *, by: str,
                  topic_prefix: str) -> tuple[RankingPublished, outbox.OutboxRow, int]:
    """Store the publication and its event in the caller's transaction; returns the event, its outbox
    row and the row's id (publish them after the commit)."""
    event = published_event(ranking, offsets, by=by)
    now = datetime.now(UTC)
    await conn.execute(INSERT, uuid.UUID(event.publication_id), ranking.month, ranking.kind, ranking.scope,
                       ranking.rules_version, now, by, [o.model_dump() for o in offsets],
                       [i.model_dump() for i in event.items])
    row = outbox.OutboxRow(topic_prefix + RANKING_TOPIC, ranking.scope.encode(), envelope_bytes(
        event_id=event.publication_id, type="ranking.published", occurred_at=now, producer=PRODUCER,
        key=ranking.scope, data=event.model_dump()))
    [row_id] = await outbox.write(conn, [row])
    return event, row, row_id


async def latest(conn: asyncpg.Connection, ranking: MonthRanking) -> dict | None:
    """The newest publication of the ranking's month, kind and scope, and whether facts changed since."""
    row = await conn.fetchrow(LATEST, ranking.month, ranking.kind, ranking.scope)
    if row is None:
        return None
    return {"publication_id": str(row["publication_id"]), "published_at": row["published_at"].isoformat(),
            "published_by": row["published_by"], "rules_version": row["rules_version"],
            "revised": row["revised_at"] is not None,
            "revised_at": row["revised_at"].isoformat() if row["revised_at"] else None,
            "source_offsets": row["source_offsets"]}


async def send(pool: asyncpg.Pool, producer: EventProducer, row: outbox.OutboxRow, row_id: int) -> bool:
    return await outbox.publish(pool, producer, [row], [row_id])
