"""The notification relay's pure parts: the robots' formats, DingTalk's signature, the backoff."""
import base64
import hashlib
import hmac
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

from services.mediation.notifications import NotificationSettings, Webhook, backoff, payload, signed_url

ROW = {"id": 7, "kind": "high_risk_case", "case_id": uuid.UUID(int=1), "station_code": "990101001",
       "audience_channel": "station_officer", "details": {"risk_flags": ["threat"]}, "incident_number": "BJ1",
       "dispute_type": "family", "state": "pending", "channel": "station_officer", "high_risk": True,
       "escalations": [], "created_at": datetime(2026, 12, 6, tzinfo=UTC)}


def hook(fmt: str, **extra) -> Webhook:
    return Webhook(station="990101001", url="https://robot.example/send?key=k", format=fmt, **extra)


def test_wecom_and_dingtalk_get_the_group_robot_text_message():
    for fmt in ("wecom", "dingtalk"):
        body = payload(hook(fmt), ROW, "http://wb")
        assert body["msgtype"] == "text" and set(body) == {"msgtype", "text"}
        assert body["text"]["content"].splitlines() == [
            "【枫桥】新的高风险纠纷，请尽快认领", "警情编号：BJ1", "派出所：990101001", "纠纷类型：家庭纠纷", "风险标记：threat",
            "工作台：http://wb"]


def test_plain_json_carries_codes_and_ids_only():
    body = payload(hook("json"), ROW)
    assert body["kind"] == "high_risk_case" and body["case_id"] == str(uuid.UUID(int=1)) and body["id"] == 7
    assert not {"party", "parties", "caller_name", "caller_phone"} & set(body)


def test_dingtalk_signs_with_the_robots_secret_and_others_are_sent_as_configured():
    url = signed_url(hook("dingtalk", secret="SEC1"), now_ms=1700000000000)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    digest = hmac.new(b"SEC1", b"1700000000000\nSEC1", hashlib.sha256).digest()
    assert query["timestamp"] == ["1700000000000"] and query["sign"] == [base64.b64encode(digest).decode()]
    assert query["key"] == ["k"]
    assert signed_url(hook("wecom")) == "https://robot.example/send?key=k"


def test_backoff_doubles_up_to_its_cap():
    settings = NotificationSettings(notify_backoff_s=5, notify_backoff_max_s=30)
    assert [backoff(settings, n) for n in (1, 2, 3, 4, 5)] == [timedelta(seconds=s) for s in (5, 10, 20, 30, 30)]


def test_a_webhook_takes_its_station_and_channels_or_every_station():
    assert hook("json").wants("990101001", "court") and not hook("json").wants("990101002", "court")
    narrow = Webhook(station="*", channels=["court"], url="https://x.example/", format="json")
    assert narrow.wants("990199001", "court") and not narrow.wants("990199001", "lawyer")
