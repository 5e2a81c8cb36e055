"""The load's stored links checked against the service's own definition (`--check-links`).

The service's repository.RELINK, run over every key of the incidents table inside a transaction that is
rolled back, writes only rows whose links differ from the definition, so it must write none
(repeat_30d, repeat_90d and the civil-to-criminal dispute's ids of every incident). It visits every
incident through the indexes: minutes at national size, so run it on a small size to check the load.
"""
import time

import asyncpg

from services.assessment import repository
from services.assessment.domain.links import REPEAT_LONG_DAYS, REPEAT_SHORT_DAYS, LinkRules

# Every linking key and phone of the table, and its time span: RELINK's arguments for "all of it".
ALL_KEYS = """
SELECT array_agg(DISTINCT address_key) FILTER (WHERE address_precision = ANY($1::text[])) AS addresses,
       array_agg(DISTINCT phone_hmac) FILTER (WHERE phone_hmac IS NOT NULL) AS phones,
       min(received_at) AS first, max(received_at) AS last
FROM incidents
"""
# Incidents RELINK does not visit (no linking key, no phone) can link to nothing.
UNREACHABLE_LINKED = """
SELECT count(*) FROM incidents
WHERE (address_key IS NULL OR NOT address_precision = ANY($1::text[])) AND phone_hmac IS NULL
  AND (repeat_30d OR repeat_90d OR c2c_source IS NOT NULL)
"""
LINK_COUNTS = """
SELECT count(*) FILTER (WHERE repeat_30d) AS repeat_30d, count(*) FILTER (WHERE repeat_90d) AS repeat_90d,
       count(*) FILTER (WHERE c2c_source IS NOT NULL) AS civil_to_criminal, count(*) AS incidents
FROM incidents
"""


async def differing(conn: asyncpg.Connection, rules: LinkRules) -> int:
    """How many incidents' stored links differ from what the consumer's RELINK computes over the whole
    table (it writes only those); its writes are rolled back."""
    precisions = list(rules.linking_precisions)
    keys = await conn.fetchrow(ALL_KEYS, precisions)
    transaction = conn.transaction()
    await transaction.start()
    try:
        status = await conn.execute(repository.RELINK, keys["addresses"] or [], keys["phones"] or [], 0,
                                    keys["first"], keys["last"], [], [], precisions, list(rules.crime_types),
                                    rules.look_back_days, REPEAT_SHORT_DAYS, REPEAT_LONG_DAYS)
    finally:
        await transaction.rollback()
    return int(status.rsplit(" ", 1)[-1])


async def check(pool: asyncpg.Pool) -> bool:
    """Print how many stored links differ from RELINK's (and the link counts); True when none does."""
    rules = LinkRules.load()
    async with pool.acquire() as conn:
        started = time.perf_counter()
        changed = await differing(conn, rules)
        seconds = time.perf_counter() - started
        unreachable = await conn.fetchval(UNREACHABLE_LINKED, list(rules.linking_precisions))
        counts = await conn.fetchrow(LINK_COUNTS)
    ok = changed == 0 and unreachable == 0
    print(f"  RELINK over every incident in {seconds:.2f} s: {changed + unreachable:,} stored links differ "
          f"→ {'OK' if ok else 'MISMATCH'}")
    print(f"    of {counts['incidents']:,} incidents: {counts['repeat_30d']:,} repeat within 30 days, "
          f"{counts['repeat_90d']:,} within 90, {counts['civil_to_criminal']:,} civil-to-criminal", flush=True)
    return ok
