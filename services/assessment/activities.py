"""Community activities into the facts: from the API and from community.activity.v1 alike."""
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from services.assessment import repository
from services.assessment.domain.months import reach
from shared.events.community import ActivityData


async def record(conn: asyncpg.Connection, activities: Sequence[tuple[UUID, ActivityData]], *, time_zone: str,
                 via: str, mark_revisions: bool = True) -> set[UUID]:
    """Insert (id, activity) pairs once each (inside the caller's transaction); returns the new ids.
    The months a new activity changes have their published rankings marked revised."""
    if not activities:
        return set()
    columns = zip(*[(activity_id, a.type, a.occurred_at, a.station_code, a.grid_code, a.officer_id,
                     a.case_id, a.satisfaction, a.household_key, a.participants, i)
                    for i, (activity_id, a) in enumerate(activities)])
    new = {row["activity_id"] for row in await conn.fetch(repository.INSERT_ACTIVITIES, *map(list, columns),
                                                          time_zone, via)}
    if mark_revisions and new:
        months = {m for activity_id, a in activities if activity_id in new for m in reach(a.occurred_at, time_zone,
                                                                                           a.type)}
        await conn.execute(repository.MARK_REVISED, sorted(months))
    return new
