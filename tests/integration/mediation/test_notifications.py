"""Webhook notifications against real HTTP receivers this test runs (uvicorn), over real PostgreSQL and
Kafka: WeCom's and DingTalk's group-robot text messages and plain JSON, per station and channel, once per
cause however often the relay runs or the case changes, retried with backoff through a receiver that
fails and recovers, and never with a party's name or phone."""
import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from deploy.local.processes import free_port
from services.mediation import notifications, sla
from services.mediation.events import case_id
from services.mediation.notifications import NotificationSettings, Webhook
from tests.integration.mediation.conftest import STATION, dispute_event

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
OTHER = "990101002"
SECRET = "SEC-dingtalk-robot-secret"


class Receivers:
    """Three robots: WeCom, DingTalk (checks its signature), and a JSON endpoint that fails twice first."""

    def __init__(self) -> None:
        self.got: dict[str, list[dict]] = {"wecom": [], "dingtalk": [], "json": []}
        self.attempts = {"json": 0}
        self.bad_signatures = 0

    def app(self) -> Starlette:
        async def wecom(request: Request):
            self.got["wecom"].append(orjson.loads(await request.body()))
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        async def dingtalk(request: Request):
            timestamp, sign = request.query_params.get("timestamp", ""), request.query_params.get("sign", "")
            expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                                 hashlib.sha256).digest()).decode()
            if sign != expected:
                self.bad_signatures += 1
                return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
            self.got["dingtalk"].append(orjson.loads(await request.body()))
            return JSONResponse({"errcode": 0, "errmsg": "ok"})

        async def flaky(request: Request):
            self.attempts["json"] += 1
            if self.attempts["json"] <= 2:
                return JSONResponse({"error": "down for maintenance"}, status_code=503)
            self.got["json"].append(orjson.loads(await request.body()) | {
                "idempotency_key": request.headers.get("idempotency-key")})
            return JSONResponse({"ok": True})

        return Starlette(routes=[Route("/wecom", wecom, methods=["POST"]), Route("/dingtalk", dingtalk, methods=["POST"]),
                                 Route("/flaky", flaky, methods=["POST"])])


async def relay_until_quiet(ctx, settings: NotificationSettings, rounds: int = 8) -> list[dict[str, int]]:
    """Run the relay's round until nothing is due (the backoff in the test is short)."""
    seen = []
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(rounds):
            counts = await notifications.deliver_due(ctx.pool, settings, client)
            seen.append(counts)
            pending = await ctx.pool.fetchval("SELECT count(*) FROM notifications WHERE state = 'pending'")
            if not pending:
                break
            await asyncio.sleep(0.25)
    return seen


async def test_each_cause_reaches_its_stations_robots_once_in_their_format_and_a_failing_receiver_recovers(
        mediation_ctx, open_cases, api):
    receivers = Receivers()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(receivers.app(), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    settings = NotificationSettings(webhooks=[
        Webhook(station=STATION, channels=["station_officer", "peoples_mediator"], url=f"{base}/wecom", format="wecom"),
        Webhook(station=STATION, channels=["court"], url=f"{base}/dingtalk?access_token=t", format="dingtalk",
                secret=SECRET),
        Webhook(station=OTHER, url=f"{base}/flaky", format="json"),
    ], notify_backoff_s=0.2, notify_max_attempts=5, workbench_url="http://127.0.0.1:8002/workbench")
    try:
        # A high-risk case at each station, and an ordinary one (no message), then a revision of the first.
        await open_cases([dispute_event("N1", risk_flags=["threat"], caller_name="王小明", caller_phone="13812345678"),
                          dispute_event("N2"), dispute_event("N3", station=OTHER, risk_flags=["weapon"])])
        await open_cases([dispute_event("N1", revision=2, risk_flags=["threat", "weapon"], kind="dispute.updated")])
        first = await relay_until_quiet(mediation_ctx, settings)
        assert [m["text"]["content"].splitlines()[:2] for m in receivers.got["wecom"]] == [
            ["【枫桥】新的高风险纠纷，请尽快认领", "警情编号：N1"]], "once for N1, however often it changes"
        assert receivers.got["wecom"][0]["msgtype"] == "text"
        # The JSON receiver failed twice (503) and took it the third time: one delivery, three attempts.
        assert receivers.attempts["json"] == 3 and len(receivers.got["json"]) == 1
        sent = receivers.got["json"][0]
        assert (sent["kind"], sent["incident_number"], sent["station_code"]) == ("high_risk_case", "N3", OTHER)
        assert sent["idempotency_key"] == f"fengqiao-notification-{sent['id']}"
        row = await mediation_ctx.pool.fetchrow("SELECT state, attempts, last_error FROM notifications WHERE id = $1",
                                                sent["id"])
        assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 3, None)
        assert sum(c["retry"] for c in first) == 2

        # A handoff to the court and the confirmation request: DingTalk (signed), the court's channel, once each.
        ident = case_id("BJ-CAD", "N2")
        mediator = api(subject="m1")
        assert (await mediator.post(f"/v1/cases/{ident}/claim")).status_code == 200
        assert (await mediator.post(f"/v1/cases/{ident}/sessions", json={
            "at": "2026-12-01T10:00:00+08:00", "participants": ["王小明"]})).status_code == 200
        assert (await mediator.post(f"/v1/cases/{ident}/outcome", json={
            "type": "agreement", "terms": "赔偿2000元", "effective_date": "2026-10-01",
            "performance_date": "2026-12-20"})).status_code == 200
        assert (await mediator.post(f"/v1/cases/{ident}/confirmation-request")).status_code == 200
        await relay_until_quiet(mediation_ctx, settings)
        court = sorted(m["text"]["content"].splitlines()[0] for m in receivers.got["dingtalk"])
        assert court == ["【枫桥】司法确认申请已超过30日期限（应于2026-10-31前申请）",
                         "【枫桥】有司法确认申请等待法院联络员处理"]
        assert receivers.bad_signatures == 0

        # The SLA's escalations: unclaimed N1 (already told as high risk: a new cause, told once more),
        # swept twice, told once.
        later = datetime.now(UTC) + timedelta(days=3)
        await sla.sweep(mediation_ctx, later)
        await sla.sweep(mediation_ctx, later + timedelta(hours=1))
        await relay_until_quiet(mediation_ctx, settings)
        await relay_until_quiet(mediation_ctx, settings)
        escalations = [m["text"]["content"].splitlines()[:2] for m in receivers.got["wecom"][1:]]
        assert escalations == [["【枫桥】案件已升级：超时未认领", "警情编号：N1"]]
        assert [m["kind"] for m in receivers.got["json"]] == ["high_risk_case", "escalation"]

        # Nobody's name or phone, anywhere.
        everything = orjson.dumps(receivers.got).decode()
        assert "王小明" not in everything and "13812345678" not in everything
        causes = await mediation_ctx.pool.fetch("SELECT cause, state FROM notifications ORDER BY id")
        assert len({c["cause"] for c in causes}) == len(causes) and {c["state"] for c in causes} == {"sent"}
    finally:
        server.should_exit = True
        await task
