"""The event assessment emits on assessment.ranking.v1: a month's ranking as published, as an outbox row.

What produced it is the rules version plus, for every source partition, the offset after the last
event the facts include (read from the facts consumer's exactly-once ledger in the same transaction
as the ranking's facts).
"""
import uuid
from datetime import datetime

from services.assessment.ranking import MonthRanking
from services.assessment.repository import PartitionOffset
from shared.events.assessment import RANKING_TOPIC, RankedUnit, RankingPublished, SourceOffset
from shared.events.envelope import envelope_bytes
from shared.outbox import OutboxRow

PRODUCER = "assessment"


def month_text(ranking: MonthRanking) -> str:
    return ranking.month.strftime("%Y-%m")


def ranking_published(ranking: MonthRanking, offsets: list[PartitionOffset], *, by: str) -> RankingPublished:
    """The event of a ranking published now, with a new publication id."""
    return RankingPublished(
        publication_id=str(uuid.uuid4()), month=month_text(ranking), kind=ranking.kind, scope=ranking.scope,
        rules_version=ranking.rules_version, published_by=by,
        source_offsets=[SourceOffset(topic=o.topic, partition=o.partition, next_offset=o.next_offset)
                        for o in offsets],
        items=[RankedUnit(unit=i.unit.code, county_code=i.unit.county_code, cohort=i.unit.cohort, rank=i.ranked.rank,
                          score=None if i.ranked.score is None else str(i.ranked.score), grade=i.ranked.grade,
                          candidate=i.ranked.candidate, red_line=i.ranked.red_line,
                          tied_with=list(i.ranked.tied_with)) for i in ranking.items])


def ranking_row(event: RankingPublished, *, at: datetime, prefix: str = "") -> OutboxRow:
    """The outbox row of ranking.published, keyed by the ranking's scope."""
    return OutboxRow(prefix + RANKING_TOPIC, event.scope.encode(), envelope_bytes(
        event_id=event.publication_id, type="ranking.published", occurred_at=at, producer=PRODUCER,
        key=event.scope, data=event.model_dump()))
