"""Notifications where mediators already are: a station's WeCom or DingTalk group robot, or any
receiver of plain JSON, told of a new high-risk case, an escalation, a handoff or confirmation
request waiting for a court liaison, and an overdue confirmation.

The causes are written by a trigger on the case timeline (migration 0010) in the transaction of the
change, one row per cause in `notifications`: the notification outbox. This relay sends what is due
to every webhook configured for the case's station and the channel asked to act, retries with
exponential backoff, and records each webhook that took it, so a retry never repeats one that did
and a cause is never sent twice. (A crash between a receiver's answer and the commit of that record
sends once more; JSON receivers get the notification's id as `Idempotency-Key` to drop it.)

Messages carry the incident number, the station, the dispute type and what to do; never a party's
name or phone (they are not read).
"""
import asyncio
import base64
import hashlib
import hmac
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
import httpx
import orjson
import structlog
from pydantic import BaseModel, Field, HttpUrl, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.mediation import repository

log = structlog.get_logger(__name__)


class Webhook(BaseModel):
    """One receiver: a station's group robot (or any JSON endpoint), optionally only for some channels."""

    station: str = Field(description="a station code, or * for every station")
    channels: list[str] = Field(default_factory=list, description="the channels asked to act; empty: all")
    url: HttpUrl
    format: Literal["wecom", "dingtalk", "json"]
    secret: SecretStr | None = Field(default=None, description="DingTalk's signing secret, when the robot has one")

    def wants(self, station: str, channel: str) -> bool:
        return self.station in ("*", station) and (not self.channels or channel in self.channels)


class NotificationSettings(BaseSettings):
    """MEDIATION_WEBHOOKS (a JSON list of Webhook) and the relay's timing."""

    model_config = SettingsConfigDict(env_prefix="MEDIATION_", extra="ignore", frozen=True)

    webhooks: list[Webhook] = Field(default_factory=list)
    notify_period_s: float = Field(default=2.0, gt=0)
    notify_timeout_s: float = Field(default=5.0, gt=0)
    notify_backoff_s: float = Field(default=5.0, gt=0, description="the first retry's delay; doubled each time")
    notify_backoff_max_s: float = Field(default=600.0, gt=0)
    notify_max_attempts: int = Field(default=12, ge=1)
    workbench_url: str = Field(default="", description="the workbench's address, linked from messages when set")


_TYPES = {"neighbour": "邻里纠纷", "family": "家庭纠纷", "labour": "劳资纠纷（欠薪）", "property_management": "物业纠纷",
          "consumer": "消费纠纷", "debt": "债务纠纷", "land": "土地纠纷", "traffic_damage": "交通事故损害", "other": "其他纠纷"}
_REASONS = {"unclaimed": "超时未认领", "no_session": "认领后超时未调解", "confirmation_due": "司法确认申请期限将至",
            "fulfilment_check": "协议履行期限已到，需回访", "breach": "当事人报告协议未履行"}


def headline(row: Any) -> str:
    """What happened and what to do, in Chinese."""
    details = row["details"] or {}
    kind = row["kind"]
    if kind == "high_risk_case":
        return "新的高风险纠纷，请尽快认领"
    if kind == "escalation":
        reason = str(details.get("reason"))
        return f"案件已升级：{_REASONS.get(reason, reason)}"
    if kind == "confirmation_due":
        return "达成协议的案件司法确认申请期限将至"
    if kind == "court_waiting":
        what = "司法确认申请" if details.get("purpose") == "confirmation" else "移交"
        return f"有{what}等待法院联络员处理"
    if kind == "confirmation_overdue":
        return f"司法确认申请已超过30日期限（应于{details.get('due')}前申请）"
    return kind


def text(row: Any, workbench_url: str = "") -> str:
    """The message's text: no party names or phones, which this module never reads."""
    lines = [f"【枫桥】{headline(row)}", f"警情编号：{row['incident_number']}", f"派出所：{row['station_code']}",
             f"纠纷类型：{_TYPES.get(row['dispute_type'], row['dispute_type'] or '—')}"]
    if row["kind"] == "high_risk_case":
        lines.append(f"风险标记：{'、'.join(row['details'].get('risk_flags') or []) or '—'}")
    if workbench_url:
        lines.append(f"工作台：{workbench_url}")
    return "\n".join(lines)


def payload(hook: Webhook, row: Any, workbench_url: str = "") -> dict[str, Any]:
    """The body in the receiver's format: WeCom's and DingTalk's group-robot text message, or plain JSON."""
    if hook.format in ("wecom", "dingtalk"):
        return {"msgtype": "text", "text": {"content": text(row, workbench_url)}}
    return {"id": row["id"], "kind": row["kind"], "headline": headline(row), "case_id": str(row["case_id"]),
            "incident_number": row["incident_number"], "station_code": row["station_code"],
            "channel": row["audience_channel"], "case_channel": row["channel"], "state": row["state"],
            "dispute_type": row["dispute_type"], "high_risk": row["high_risk"],
            "escalations": list(row["escalations"]), "details": row["details"],
            "created_at": row["created_at"].isoformat()}


def signed_url(hook: Webhook, now_ms: int | None = None) -> str:
    """DingTalk's signed address (timestamp and HMAC-SHA256 of it with the robot's secret), else the URL."""
    url = str(hook.url)
    if hook.format != "dingtalk" or hook.secret is None:
        return url
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    secret = hook.secret.get_secret_value()
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"


async def send(client: httpx.AsyncClient, hook: Webhook, row: Any, workbench_url: str = "") -> str | None:
    """Deliver to one webhook; None when it took the message, else why not. The robots answer 200 with
    errcode 0 when they took it, and 200 with another errcode when not (a wrong key, a rate limit)."""
    headers = {"Content-Type": "application/json"}
    if hook.format == "json":
        headers["Idempotency-Key"] = f"fengqiao-notification-{row['id']}"
    try:
        answer = await client.post(signed_url(hook), content=orjson.dumps(payload(hook, row, workbench_url)),
                                   headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    if answer.status_code >= 300:
        return f"HTTP {answer.status_code}"
    if hook.format != "json":
        try:
            errcode = answer.json().get("errcode", 0)
        except ValueError:
            return "not JSON"
        if errcode != 0:
            return f"errcode {errcode}"
    return None


def backoff(settings: NotificationSettings, attempts: int) -> timedelta:
    """The delay after the n-th failed attempt: doubling from notify_backoff_s, at most notify_backoff_max_s."""
    return timedelta(seconds=min(settings.notify_backoff_s * 2 ** max(attempts - 1, 0), settings.notify_backoff_max_s))


async def deliver_due(pool: asyncpg.Pool, settings: NotificationSettings, client: httpx.AsyncClient,
                      batch: int = 50) -> dict[str, int]:
    """Send every notification that is due once; counts of sent, retried, failed and unaddressed ones.
    Each is held (FOR UPDATE SKIP LOCKED) while it is sent, so several relays never send one twice."""
    counts = {"sent": 0, "retry": 0, "failed": 0, "no_webhook": 0}
    async with pool.acquire() as conn, conn.transaction():
        rows = await repository.due_notifications(conn, batch)
        for row in rows:
            hooks = [h for h in settings.webhooks if h.wants(row["station_code"], row["audience_channel"])]
            if not hooks:
                await repository.notification_done(conn, row["id"], "no_webhook", row["delivered_to"])
                counts["no_webhook"] += 1
                continue
            delivered = list(row["delivered_to"])
            todo = [h for h in hooks if str(h.url) not in delivered]
            errors = await asyncio.gather(*(send(client, h, row, settings.workbench_url) for h in todo))
            delivered += [str(h.url) for h, error in zip(todo, errors, strict=True) if error is None]
            failed = [f"{h.url}: {error}" for h, error in zip(todo, errors, strict=True) if error is not None]
            if not failed:
                await repository.notification_done(conn, row["id"], "sent", delivered)
                counts["sent"] += 1
                continue
            attempts = row["attempts"] + 1
            await repository.notification_failed(conn, row["id"], delivered_to=delivered, error="; ".join(failed)[:1000],
                                                 retry_in=backoff(settings, attempts),
                                                 max_attempts=settings.notify_max_attempts)
            gave_up = attempts >= settings.notify_max_attempts
            counts["failed" if gave_up else "retry"] += 1
            log.warning("notification.failed" if gave_up else "notification.retry", notification=row["id"],
                        kind=row["kind"], attempts=attempts, errors=failed)
    return counts


async def run_forever(pool: asyncpg.Pool, settings: NotificationSettings) -> None:
    """Deliver every notify_period_s until cancelled; a failed round is tried again next period."""
    async with httpx.AsyncClient(timeout=settings.notify_timeout_s) as client:
        while True:
            try:
                counts = await deliver_due(pool, settings, client)
                if any(counts.values()):
                    log.info("notifications.delivered", **counts, at=datetime.now(UTC).isoformat())
            except Exception as exc:  # the database away: next period
                log.warning("notifications.round_failed", error=repr(exc))
            await asyncio.sleep(settings.notify_period_s)
