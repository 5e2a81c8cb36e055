"""Intake's personal-data retention against real PostgreSQL: past it nothing personal remains, every
non-personal column (what the figures, repeat keys and deduplication use) is unchanged, rows inside it
keep their details, and `fengqiao-intake purge --dry-run` counts without changing anything."""
import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest

from services.intake import retention
from services.intake.handlers import ingest, replay_rejected
from services.intake.profile_files import load_profile
from tests.integration.intake.helpers import inputs, record

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
JSON = load_profile("fengqiao_json")
OLD_CALLERS = [("张三", "13800000001"), ("李四", "13800000002"), ("王五", "13800000003")]
NON_PERSONAL = """source, incident_number, revision, received_at, station_code, grid_code, kind, dispute_type,
    crime_type, risk_flags, address_key, address_precision, phone_hmac, profile, profile_version, content_hash,
    needs_review, superseded_count, record - '{caller_name,caller_phone,address_text,description,longitude,latitude}'::text[]
    AS rest"""


async def rows(conn, sql: str) -> list[tuple]:
    return [tuple(r) for r in await conn.fetch(sql)]


async def purge_cli(settings, *args: str) -> str:
    env = os.environ | {"INTAKE_DATABASE_URL": settings.database_url, "INTAKE_ENVIRONMENT": "test"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "services.intake", "purge", *args, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_nothing_personal_remains_past_retention_and_nothing_else_changes(intake_ctx):
    recent_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    old = [record(f"R{i}", caller_name=name, caller_phone=phone, address_text=f"示例市北城区湖光路{i}号3栋501室",
                  description=f"{name}与邻居因噪音争吵", longitude=116.4 + i / 100, latitude=39.9)
           for i, (name, phone) in enumerate(OLD_CALLERS)]
    recent = record("R9", caller_name="周八", caller_phone="13800000009", received_at=recent_at)
    rejected = record("R8", caller_name="吴九", caller_phone="13800000008", longitude=116.41)  # no latitude
    results = await ingest(intake_ctx, inputs(*old, recent, rejected), profile=JSON, channel="http")
    assert [r.status for r in results] == ["accepted"] * 4 + ["rejected"]
    settings = intake_ctx.settings
    async with intake_ctx.pool.acquire() as conn:
        before = await rows(conn, f"SELECT {NON_PERSONAL} FROM dispatch_records ORDER BY incident_number")
        reasons_before = await conn.fetchval("SELECT errors FROM rejected_records")

    # A month on: the 2024 calls are past the 90 days of caller details, the rejection past its 30 days.
    now = datetime.now(UTC) + timedelta(days=31)
    counted = await purge_cli(settings, "--dry-run")
    assert "intake: caller_details: 3 past retention (dry run" in counted  # today's clock: the 2024 calls
    assert "intake: rejected_input: 0 past retention" in counted and "processed_events: 0" in counted
    async with intake_ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM dispatch_records WHERE personal_data_erased_at IS NULL") == 4
        async with conn.transaction():
            assert await retention.purge(conn, settings, now, dry_run=True) == {"caller_details": 3,
                                                                                 "rejected_input": 1}
        async with conn.transaction():
            assert await retention.purge(conn, settings, now, dry_run=False) == {"caller_details": 3,
                                                                                  "rejected_input": 1}
        after = await rows(conn, f"SELECT {NON_PERSONAL} FROM dispatch_records ORDER BY incident_number")
        everything = json.dumps([dict(r) for r in await conn.fetch(
            "SELECT d.record, d.phone_hmac, d.address_key FROM dispatch_records d WHERE incident_number <> 'R9'")],
            ensure_ascii=False, default=str)
        rejects = json.dumps([dict(r) for r in await conn.fetch("SELECT * FROM rejected_records")],
                             ensure_ascii=False, default=str)
        kept = await conn.fetchrow("SELECT record FROM dispatch_records WHERE incident_number = 'R9'")
        again = await retention.purge(conn, settings, now, dry_run=False)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0  # no event: assessment's facts stay as they are

    assert after == before  # every column the figures and keys use, and the rest of the record
    for name, phone in OLD_CALLERS + [("吴九", "13800000008")]:
        assert name not in everything + rejects and phone not in everything + rejects, name
    assert "湖光路" not in everything and "噪音" not in everything and "116.4" not in everything
    assert "吴九" not in rejects and json.loads(rejects)[0]["errors"] == reasons_before  # the reasons stay
    assert kept["record"]["caller_name"] == "周八" and kept["record"]["caller_phone"] == "13800000009"
    assert again == {"caller_details": 0, "rejected_input": 0}

    # Deduplication still knows the erased records; an erased rejection is no longer replayed.
    resent = await ingest(intake_ctx, inputs(old[0]), profile=JSON, channel="http")
    assert [r.status for r in resent] == ["duplicate"]
    assert await replay_rejected(intake_ctx) == []
    # The keys the figures link by survive: a later call from an erased caller's phone, at the same flat, is
    # still a repeat caller with the same address key (repeat disputes, civil-to-criminal links).
    later = record("R0b", caller_phone=OLD_CALLERS[0][1], address_text=old[0]["address_text"],
                   received_at="2024-06-05T10:00:00+08:00")
    assert [r.status for r in await ingest(intake_ctx, inputs(later), profile=JSON, channel="http")] == ["accepted"]
    async with intake_ctx.pool.acquire() as conn:
        keys = {r["incident_number"]: r for r in await conn.fetch(
            "SELECT incident_number, risk_flags, address_key, phone_hmac FROM dispatch_records "
            "WHERE incident_number IN ('R0', 'R0b')")}
    assert "repeat_caller" in keys["R0b"]["risk_flags"]
    assert (keys["R0b"]["address_key"], keys["R0b"]["phone_hmac"]) == (keys["R0"]["address_key"],
                                                                        keys["R0"]["phone_hmac"])


async def test_a_later_revision_of_an_erased_record_is_erased_again(intake_ctx):
    [first] = await ingest(intake_ctx, inputs(record("S1", caller_name="孙十")), profile=JSON, channel="http")
    now = datetime.now(UTC) + timedelta(days=1)
    async with intake_ctx.pool.acquire() as conn, conn.transaction():
        assert (await retention.purge(conn, intake_ctx.settings, now, dry_run=False))["caller_details"] == 1
    [second] = await ingest(intake_ctx, inputs(record("S1", 2, caller_name="孙十")), profile=JSON, channel="http")
    assert (first.status, second.status) == ("accepted", "accepted")
    async with intake_ctx.pool.acquire() as conn, conn.transaction():
        assert (await retention.purge(conn, intake_ctx.settings, now, dry_run=False))["caller_details"] == 1
        assert await conn.fetchval("SELECT record->>'caller_name' FROM dispatch_records") is None
