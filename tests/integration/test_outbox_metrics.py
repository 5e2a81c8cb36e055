"""The outbox backlog gauges the alerts watch (deploy/prometheus/alerts.yml), on a real database."""
import pytest
from prometheus_client import REGISTRY

from shared import outbox

pytestmark = pytest.mark.postgres


def gauge(name: str, database: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"database": database})


async def test_measure_reports_the_events_waiting_and_the_oldest_age(db_pool):
    database = await db_pool.fetchval("SELECT current_database()")
    await outbox.measure(db_pool)
    assert (gauge("fengqiao_outbox_rows", database), gauge("fengqiao_outbox_oldest_seconds", database)) == (0, 0)
    async with db_pool.acquire() as conn, conn.transaction():
        ids = await outbox.write(conn, [outbox.OutboxRow("t", b"k", b"v", None)] * 3)
        await conn.execute("UPDATE outbox SET created_at = now() - interval '1 hour' WHERE id = $1", ids[0])
    await outbox.measure(db_pool)
    assert gauge("fengqiao_outbox_rows", database) == 3
    # The oldest was made an hour old; measuring takes well under the 10 minutes allowed on top.
    assert 3600 <= gauge("fengqiao_outbox_oldest_seconds", database) < 3600 + 600
    await db_pool.execute(outbox.DELETE, ids)
    await outbox.measure(db_pool)
    assert (gauge("fengqiao_outbox_rows", database), gauge("fengqiao_outbox_oldest_seconds", database)) == (0, 0)
