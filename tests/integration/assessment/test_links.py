"""Links kept at write time equal the read-time definition, whatever the order, batching and revisions."""
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.db.migrations import migrate
from tests.integration.assessment.test_facts import incident

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
START = datetime(2024, 3, 1, tzinfo=UTC)

# The definition, computed from scratch over the final rows.
READ_TIME = """
SELECT i.source, i.incident_number, i.follows_dispute,
       EXISTS (SELECT 1 FROM incidents d
               WHERE d.kind = 'dispute' AND (d.source, d.incident_number) <> (i.source, i.incident_number)
                 AND d.received_at < i.received_at AND d.received_at >= i.received_at - interval '90 days'
                 AND ((i.address_key IS NOT NULL AND d.address_key = i.address_key)
                      OR (i.phone_hmac IS NOT NULL AND d.phone_hmac = i.phone_hmac))) AS expected
FROM incidents i
"""


def history(rng: random.Random) -> list:
    """Incidents over ~8 months on few keys, some re-sent with new keys, kinds or times."""
    events = []
    for n in range(160):
        at = START + timedelta(hours=rng.randint(0, 24 * 240))
        def fields(at=at):
            kind = rng.choice(["dispute", "dispute", "crime", "help"])
            return dict(kind=kind, dispute_type="neighbour" if kind == "dispute" else None,
                        address_key=rng.choice([None, "a1", "a2", "a3", "a4"]),
                        caller_phone_hmac=rng.choice([None, "p1", "p2", "p3"]))
        events.append(incident(f"L{n}", 1, at, **fields()))
        if rng.random() < 0.3:  # a later revision: other keys, maybe another kind and time
            moved = at + timedelta(days=rng.choice([0, 0, 40, -30]))
            events.append(incident(f"L{n}", 2, moved, **fields()))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_write_time_links_equal_the_definition_in_any_order(database_url, kafka_bootstrap, db_pool, seed):
    settings = AssessmentSettings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                                  environment="test")
    await migrate(database_url, "services.assessment")
    rng = random.Random(seed)
    events = history(rng)
    rng.shuffle(events)  # late events, revisions before their first version
    handle = facts_handler(settings)
    while events:
        size = rng.randint(1, 25)
        batch, events = events[:size], events[size:]
        async with db_pool.acquire() as conn, conn.transaction():
            await handle(conn, batch)
    rows = await db_pool.fetch(READ_TIME)
    wrong = [(r["incident_number"], r["follows_dispute"], r["expected"]) for r in rows
             if r["follows_dispute"] != r["expected"]]
    assert not wrong, f"links kept at write time differ from the definition: {wrong[:10]}"
    assert sum(r["expected"] for r in rows) > 20, "the history must link many incidents to mean anything"
