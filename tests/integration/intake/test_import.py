"""The import CLI on the real Milwaukee export and on a Chinese CAD CSV with bad rows."""
import asyncio
import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local.infrastructure import ROOT
from shared.events.intake import INCIDENT_TOPIC
from tests.integration.intake.helpers import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

MILWAUKEE = ROOT / "services" / "intake" / "samples" / "milwaukee_calls_2018-05-01_to_14.csv"
# The export's README names these call types as civil-dispute-like.
DISPUTE_LIKE = ("TRBL W/SUBJ", "NOISE NUISANCE", "FAMILY TROUBLE", "FAMILY TROUBL-DV", "LANDLORD/TEN TRB",
                "CHILD CUSTODY", "CONVEY PROPERTY", "PARKING TROUBLE", "PROPERTY DAMAGE")


def import_process(settings, file: Path, profile: str, rejects: Path, batch_size: int = 1000) -> subprocess.Popen:
    """`fengqiao-intake import` as its own process, configured for this test's database and topics."""
    env = os.environ | {"INTAKE_DATABASE_URL": settings.database_url,
                        "INTAKE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
                        "INTAKE_TOPIC_PREFIX": settings.topic_prefix}
    return subprocess.Popen([sys.executable, "-m", "services.intake", "import", str(file), "--profile", profile,
                             "--rejects", str(rejects), "--batch-size", str(batch_size)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def committed_records(ctx) -> int:
    async with ctx.pool.acquire() as conn:
        return await conn.fetchval("SELECT coalesce(max(next_record), 0) FROM import_runs")


async def test_milwaukee_export_survives_sigkill_and_every_row_is_accounted_for(
        intake_ctx, intake_settings, kafka_bootstrap, tmp_path):
    with MILWAUKEE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = import_process(intake_settings, MILWAUKEE, "milwaukee_cad", tmp_path / "rejects.ndjson", batch_size=500)
    try:
        deadline = asyncio.get_running_loop().time() + 120
        while await committed_records(intake_ctx) < 3000:
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            assert asyncio.get_running_loop().time() < deadline, "the import made no progress"
            await asyncio.sleep(0.05)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert await committed_records(intake_ctx) < len(rows), "the kill must land mid-import"

    second = import_process(intake_settings, MILWAUKEE, "milwaukee_cad", tmp_path / "rejects.ndjson")
    out, err = await asyncio.to_thread(second.communicate, timeout=300)
    assert second.returncode == 0, err.decode()[-2000:]
    assert "resumed after record" in err.decode()

    async with intake_ctx.pool.acquire() as conn:
        counts = await conn.fetchval("SELECT counts FROM import_runs")
        stored = await conn.fetchval("SELECT count(*) FROM dispatch_records")
        kinds = dict(await conn.fetch(
            "SELECT record->>'category_code', array_agg(DISTINCT kind) FROM dispatch_records "
            "WHERE record->>'category_code' = ANY($1::text[]) GROUP BY 1", list(DISPUTE_LIKE)))
    assert sum(counts.values()) == len(rows), counts
    assert counts.get("accepted", 0) + counts.get("duplicate", 0) + counts.get("rejected", 0) == len(rows)
    assert stored == counts["accepted"] == len({r["id"] for r in rows})
    assert set(kinds) == set(DISPUTE_LIKE) and all(v == ["dispute"] for v in kinds.values()), kinds

    incidents = await read_topic(kafka_bootstrap, intake_settings.topic(INCIDENT_TOPIC),
                                 expected=len(rows), timeout=60)
    event_ids = {e.event_id for e in incidents}
    numbers = [e.data["incident_number"] for e in {e.event_id: e for e in incidents}.values()]
    assert len(numbers) == len(set(numbers)) == stored, "each accepted record emitted once downstream"
    assert len(event_ids) == stored


async def test_a_chinese_cad_csv_with_bad_rows(intake_ctx, intake_settings, tmp_path):
    export = tmp_path / "cad.csv"
    header = "警情编号,版本号,报警时间,派警时间,到达时间,结束时间,报警人,联系电话,发案地址,经度,纬度,管辖单位代码,警情类别代码,警情类别,简要警情,处警结果"
    good = "JQ001,1,2024-05-01 08:00:00,2024-05-01 08:02:00,,2024-05-01 09:00:00,李四,13900001111,示例市南城区西山街道5号,116.41,39.91,,0603,劳资纠纷,工地拖欠工资三个月,已调解"
    rows = [header.encode(), good.encode(),
            "JQ002,1,2024-05-01 08:00:00,,,2024-05-01 07:00:00,,,,,,,06,纠纷,邻居吵架,".encode(),   # closed before received
            "JQ003,1,not a time,,,,,,,,,,06,纠纷,邻居吵架,".encode(),                                # unreadable time
            b"JQ004,1,2024-05-01 08:00:00,,,,\xe5\xbc\xa0\xff,,,,,,06,x,y,",                             # not UTF-8
            "JQ005,1,2024-05-01 08:00:00".encode(),                                                  # short row
            good.replace("JQ001", "JQ006").replace("116.41", "abc").encode()]                        # bad point: dropped
    export.write_bytes(b"\n".join(rows) + b"\n")
    process = import_process(intake_settings, export, "cad_csv", tmp_path / "rejects.ndjson")
    out, err = await asyncio.to_thread(process.communicate, timeout=120)
    assert process.returncode == 0, err.decode()
    rejects = (tmp_path / "rejects.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == 4
    reasons = "\n".join(rejects)
    for position, field in (("line 3", "closed_at"), ("line 4", "received_at"), ("line 5", "<encoding>"),
                            ("line 6", "<columns>")):
        assert f'"position": "{position}"' in reasons and f'"field": "{field}"' in reasons
    async with intake_ctx.pool.acquire() as conn:
        accepted = dict(await conn.fetch("SELECT incident_number, dispute_type FROM dispatch_records"))
        point = await conn.fetchval("SELECT record->>'longitude' FROM dispatch_records WHERE incident_number='JQ006'")
    assert accepted == {"JQ001": "labour", "JQ006": "labour"}
    assert point is None
    assert "rejected" in out.decode() and "4" in out.decode()


async def test_a_csv_with_a_byte_order_mark_and_blank_lines(intake_ctx, intake_settings, tmp_path):
    export = tmp_path / "bom.csv"
    export.write_bytes("\ufeff警情编号,报警时间,警情类别代码,简要警情\n\nB1,2024-05-01 08:00:00,0601,楼上漏水\n\n".encode())
    process = import_process(intake_settings, export, "cad_csv", tmp_path / "rejects.ndjson")
    _, err = await asyncio.to_thread(process.communicate, timeout=120)
    assert process.returncode == 0, err.decode()
    async with intake_ctx.pool.acquire() as conn:
        counts = await conn.fetchval("SELECT counts FROM import_runs")
    assert counts == {"accepted": 1}
