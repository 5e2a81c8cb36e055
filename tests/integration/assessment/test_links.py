"""Links kept at write time equal their definition (domain/links.py), whatever the order, batching and revisions;
street-level addresses never link, and a seeded civil-to-criminal chain always does."""
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.assessment.handlers import facts_handler
from services.assessment.settings import AssessmentSettings
from shared.db.migrations import migrate
from tests.integration.assessment.contexts import context
from tests.integration.assessment.test_facts import incident

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
START = datetime(2024, 3, 1, tzinfo=UTC)
PRECISE = "('room', 'building')"

# The definition, computed from scratch over the final rows, window by window (the write side finds the
# latest linking dispute once instead).
_LINKS_WITHIN = """EXISTS (SELECT 1 FROM incidents d
               WHERE d.kind = 'dispute' AND (d.source, d.incident_number) <> (i.source, i.incident_number)
                 AND d.received_at < i.received_at AND d.received_at >= i.received_at - interval '{days} days'
                 AND ((i.address_precision IN {precise} AND d.address_precision IN {precise}
                       AND d.address_key = i.address_key)
                      OR d.phone_hmac = i.phone_hmac))"""
READ_TIME = f"""
SELECT i.source, i.incident_number, i.repeat_30d, i.repeat_90d, i.c2c_source, i.c2c_incident_number,
       i.kind = 'dispute' AND {_LINKS_WITHIN.format(days=30, precise=PRECISE)} AS expected_30d,
       i.kind = 'dispute' AND {_LINKS_WITHIN.format(days=90, precise=PRECISE)} AS expected_90d,
       i.kind = 'crime' AND coalesce(i.crime_type IN ('homicide', 'injury'), false)
           AND {_LINKS_WITHIN.format(days=365, precise=PRECISE)} AS expected_c2c,
       -- the dispute named is one that links, and no later one does
       EXISTS (SELECT 1 FROM incidents d
               WHERE (d.source, d.incident_number) = (i.c2c_source, i.c2c_incident_number) AND d.kind = 'dispute'
                 AND d.received_at < i.received_at AND d.received_at >= i.received_at - interval '365 days'
                 AND ((i.address_precision IN {PRECISE} AND d.address_precision IN {PRECISE}
                       AND d.address_key = i.address_key) OR d.phone_hmac = i.phone_hmac)
                 AND NOT EXISTS (SELECT 1 FROM incidents e
                                 WHERE e.kind = 'dispute' AND e.received_at > d.received_at
                                   AND e.received_at < i.received_at
                                   AND ((i.address_precision IN {PRECISE} AND e.address_precision IN {PRECISE}
                                         AND e.address_key = i.address_key) OR e.phone_hmac = i.phone_hmac)))
           AS named_dispute_links
FROM incidents i
"""
# An address key always comes with the precision of the address behind it.
ADDRESSES = {"a1": "room", "a2": "building", "a3": "street", "a4": "area"}


def settings_for(database_url: str, kafka_bootstrap: str) -> AssessmentSettings:
    return AssessmentSettings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap, environment="test")


def history(rng: random.Random) -> list:
    """Incidents over ~16 months on few keys, some re-sent with new keys, kinds, crime types or times."""
    events = []
    for n in range(220):
        at = START + timedelta(hours=rng.randint(0, 24 * 480))

        def fields():
            kind = rng.choice(["dispute", "dispute", "crime", "crime", "help"])
            address = rng.choice([None, "a1", "a2", "a3", "a4"])
            return dict(kind=kind, dispute_type="neighbour" if kind == "dispute" else None,
                        crime_type=rng.choice(["injury", "homicide", "theft", None]) if kind == "crime" else None,
                        address_key=address, address_precision=ADDRESSES.get(address),
                        caller_phone_hmac=rng.choice([None, None, "p1", "p2", "p3"]))
        events.append(incident(f"L{n}", 1, at, **fields()))
        if rng.random() < 0.3:  # a later revision: other keys, maybe another kind and time
            moved = at + timedelta(days=rng.choice([0, 0, 40, -30, 200]))
            events.append(incident(f"L{n}", 2, moved, **fields()))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_write_time_links_equal_the_definition_in_any_order(database_url, kafka_bootstrap, db_pool, seed):
    await migrate(database_url, "services.assessment")
    rng = random.Random(seed)
    events = history(rng)
    rng.shuffle(events)  # late events, revisions before their first version
    handle = facts_handler(context(settings_for(database_url, kafka_bootstrap)))
    while events:
        size = rng.randint(1, 25)
        batch, events = events[:size], events[size:]
        async with db_pool.acquire() as conn, conn.transaction():
            await handle(conn, batch)
    rows = await db_pool.fetch(READ_TIME)
    wrong = [(r["incident_number"], name) for r in rows for name, kept, expected in (
        ("30d", r["repeat_30d"], r["expected_30d"]), ("90d", r["repeat_90d"], r["expected_90d"]),
        ("c2c", r["c2c_source"] is not None, r["expected_c2c"])) if kept != expected]
    assert not wrong, f"links kept at write time differ from the definition: {wrong[:10]}"
    assert all(r["named_dispute_links"] for r in rows if r["c2c_source"] is not None)
    # enough of each kind of link for the comparison to mean anything
    assert sum(r["expected_30d"] for r in rows) > 10 and sum(r["expected_90d"] for r in rows) > 20
    assert sum(r["expected_c2c"] for r in rows) > 5
    assert sum(r["expected_90d"] and not r["expected_30d"] for r in rows) > 3


async def test_street_level_addresses_never_link_and_a_seeded_chain_always_does(
        database_url, kafka_bootstrap, db_pool):
    await migrate(database_url, "services.assessment")
    day = START
    street = dict(address_key="street-1", address_precision="street")
    room = dict(address_key="room-501", address_precision="room")
    events = [
        # Unrelated calls on one street: a dispute, then an injury and a repeat dispute, other callers.
        incident("S1", 1, day, caller_phone_hmac="p-a", **street),
        incident("S2", 1, day + timedelta(days=10), kind="crime", crime_type="injury", dispute_type=None,
                 caller_phone_hmac="p-b", **street),
        incident("S3", 1, day + timedelta(days=12), caller_phone_hmac="p-c", **street),
        # A chain in one flat: a family dispute, a repeat 20 days on, an injury 6 weeks on, a homicide later.
        incident("R1", 1, day, dispute_type="family", caller_phone_hmac="p-r", **room),
        incident("R2", 1, day + timedelta(days=20), dispute_type="family", **room),
        incident("R3", 1, day + timedelta(days=62), kind="crime", crime_type="injury", dispute_type=None, **room),
        # A theft in the same flat is a crime, not a dispute turned criminal.
        incident("R4", 1, day + timedelta(days=70), kind="crime", crime_type="theft", dispute_type=None, **room),
        # The same caller, from another address: the same party.
        incident("P1", 1, day + timedelta(days=100), kind="crime", crime_type="homicide", dispute_type=None,
                 caller_phone_hmac="p-r", **street),
        # More than the 365-day look-back after the last dispute of the flat: no longer its dispute.
        incident("R5", 1, day + timedelta(days=20 + 366), kind="crime", crime_type="injury", dispute_type=None,
                 **room),
    ]
    async with db_pool.acquire() as conn, conn.transaction():
        await facts_handler(context(settings_for(database_url, kafka_bootstrap)))(conn, events)
    rows = {r["incident_number"]: r for r in await db_pool.fetch(
        "SELECT incident_number, repeat_30d, repeat_90d, c2c_incident_number FROM incidents")}
    assert {n: (r["repeat_30d"], r["repeat_90d"], r["c2c_incident_number"]) for n, r in rows.items()} == {
        "S1": (False, False, None), "S2": (False, False, None), "S3": (False, False, None),
        "R1": (False, False, None), "R2": (True, True, None), "R3": (False, False, "R2"),
        "R4": (False, False, None), "P1": (False, False, "R1"), "R5": (False, False, None)}
