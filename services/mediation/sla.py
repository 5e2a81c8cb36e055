"""SLA timers: unclaimed too long, claimed with no session, an agreement nearing its confirmation
deadline, an agreement past its performance date (the fulfilment follow-up). Each raises a `case.escalated` event once per reason and widens the case to the station
chief (the chief's queue shows escalated cases); a claim with no session also goes back to the
queue (the lifecycle's `expire`).

Several replicas may sweep at once: each statement picks its rows with FOR UPDATE SKIP LOCKED and
records the reason in the same UPDATE, so a case is escalated for a reason exactly once.
"""
import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from services.mediation import repository
from services.mediation.bootstrap import MediationContext
from services.mediation.events import case_event
from services.mediation.handlers import SYSTEM
from services.mediation.repository import ESCALATION_REASONS, TimelineEntry
from shared import metrics, outbox

log = structlog.get_logger(__name__)


async def sweep(ctx: MediationContext, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Escalate every case past one of its limits at `now` (injectable for tests); counts per reason."""
    now = now or datetime.now(UTC)
    sla = ctx.router.sla
    limits = {"unclaimed": timedelta(0), "no_session": sla.session_within,
              "confirmation_due": timedelta(days=sla.confirmation_warning_days), "fulfilment_check": timedelta(0)}
    counts: dict[str, int] = {}
    for reason in ESCALATION_REASONS:
        while True:
            async with ctx.pool.acquire() as conn, conn.transaction():
                rows, expires = await repository.escalate(conn, reason, limit=limits[reason], now=now, batch=batch)
                await repository.add_timeline(conn, [
                    TimelineEntry(r["id"], SYSTEM, "escalated", "claimed" if expires else r["state"], r["state"],
                                  {"reason": reason}) for r in rows])
                await outbox.write(conn, [case_event(r, "case.escalated", actor=SYSTEM, details={"reason": reason},
                                                     prefix=ctx.settings.topic_prefix) for r in rows])
            counts[reason] = counts.get(reason, 0) + len(rows)
            metrics.SLA_ESCALATIONS.labels(reason).inc(len(rows))
            if len(rows) < batch:
                break
    return counts


async def run_forever(ctx: MediationContext, period_s: float, clock: Callable[[], datetime] | None = None) -> None:
    """Sweep every period until cancelled; a failed sweep is retried next period."""
    for reason in ESCALATION_REASONS:  # every reason's series from the start, so that increase() sees the first escalation
        metrics.SLA_ESCALATIONS.labels(reason)
    while True:
        try:
            counts = await sweep(ctx, clock() if clock else None)
            if any(counts.values()):
                log.info("sla.escalated", **counts)
        except Exception as exc:  # database away: the next period tries again
            log.warning("sla.sweep_failed", error=repr(exc))
        await asyncio.sleep(period_s)
