"""`check` reports what an import would do with nothing written; `profile scaffold` writes a profile that
loads. Both through the real CLI, on small files and on the bundled Milwaukee export."""
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from services.intake.__main__ import cli
from services.intake.profile_files import load_profile

MILWAUKEE = Path(__file__).resolve().parents[3] / "services" / "intake" / "samples" / \
    "milwaukee_calls_2018-05-01_to_14.csv"
PROFILE = {
    "name": "town_cad", "version": 2, "format": "csv", "time_zone": "America/New_York",
    "fields": {"source": {"const": "TOWN"}, "incident_number": "Incident No",
               "received_at": {"path": "Call Time", "format": "%m/%d/%Y %H:%M"},
               "address_text": "Address", "category_code": "Call Type", "category_text": "Call Type"},
    "categories": {"FAMILY TROUBLE": "dispute.family", "THEFT": "crime.theft"},
}
ROWS = """Incident No,Call Time,Address,Call Type,Beat,
24-1,05/01/2024 10:00,12 MAIN ST,FAMILY TROUBLE,B1,x
24-2,05/01/2024 10:05,14 MAIN ST,DOMESTIC DISTURBANCE,B2,x
24-3,13/45/2024 10:10,16 MAIN ST,THEFT,B1,x
24-4,,18 MAIN ST,NOISE COMPLAINT,B2,x
24-1,05/01/2024 10:00,12 MAIN ST,FAMILY TROUBLE,B1,x
24-2,05/01/2024 10:05,99 ELM ST,DOMESTIC DISTURBANCE,B2,x
24-5,05/01/2024 10:20,20 MAIN ST,BUSINESS CHECK,B1,x
"""


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    profile = tmp_path / "town_cad.yaml"
    profile.write_text(yaml.safe_dump(PROFILE), encoding="utf-8")
    export = tmp_path / "town.csv"
    export.write_text(ROWS, encoding="utf-8")
    return export, profile


def test_check_reports_rows_codes_placement_and_duplicates_as_json(files):
    export, profile = files
    result = CliRunner().invoke(cli, ["check", str(export), "--profile", str(profile), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rows_read"], report["valid"], report["rejected"]) == (7, 5, 2)
    reasons = {r["reason"]: r["first_positions"] for r in report["rejection_reasons"]}
    assert reasons["received_at: expected a time as %m/%d/%Y %H:%M"] == ["line 4"]
    assert reasons["received_at: Field required"] == ["line 5"]
    assert (report["duplicates"], report["conflicts"]) == (1, 1)
    assert report["conflict_positions"] == [{"position": "line 7", "first": "line 3"}]
    codes = {c["code"]: c for c in report["codes"]}
    assert codes["FAMILY TROUBLE"]["mapped"] and codes["FAMILY TROUBLE"]["rules_decide"] is None
    assert codes["DOMESTIC DISTURBANCE"]["rules_decide"] == {"dispute.family +domestic_violence": 1}
    assert codes["BUSINESS CHECK"]["rules_decide"] == {"other": 1}
    assert report["kinds"] == {"dispute": 2, "other": 1}
    assert report["risk_flags"] == {"domestic_violence": 1}
    # No station column is mapped: every record goes unplaced, and check says which field fixes it.
    assert report["unplaced_share"] == 1.0
    assert any("station_code" in fix and "Beat" in fix for fix in report["placement_fixes"])
    assert not list(export.parent.glob("*.rejects.ndjson")), "check writes nothing"


def test_check_fails_past_the_integrators_thresholds(files):
    export, profile = files
    runner = CliRunner()
    failed = runner.invoke(cli, ["check", str(export), "--profile", str(profile), "--max-rejected", "0.01",
                                 "--max-unplaced", "0.2", "--max-conflicts", "0"])
    assert failed.exit_code == 1
    assert "rejected 28.57% of rows > --max-rejected 1.00%" in failed.stdout
    assert "--max-unplaced" in failed.stdout and "1 conflicts > --max-conflicts 0" in failed.stdout
    passed = runner.invoke(cli, ["check", str(export), "--profile", str(profile), "--max-rejected", "0.5"])
    assert passed.exit_code == 0 and "town_cad v2" in passed.stdout.replace("\n", " ")


def test_check_refuses_a_bad_profile_with_the_key(files, tmp_path):
    export, _ = files
    bad = tmp_path / "bad_cad.yaml"
    bad.write_text(yaml.safe_dump(PROFILE | {"name": "bad_cad", "time_zone": "Mars/Olympus"}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(export), "--profile", str(bad)])
    assert result.exit_code == 2 and "time_zone: unknown time zone 'Mars/Olympus'" in result.output


def test_the_milwaukee_export_checks_clean_with_its_profile():
    result = CliRunner().invoke(cli, ["check", str(MILWAUKEE), "--profile", "milwaukee_cad", "--json",
                                      "--max-rejected", "0", "--max-unplaced", "0.01"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rows_read"], report["valid"], len(report["codes"])) == (24_039, 24_039, 173)
    assert report["unmapped_codes"] == 57 and report["kinds"]["dispute"] > 4000


def test_a_scaffolded_profile_loads_and_maps_the_export(tmp_path):
    out = tmp_path / "mke.yaml"
    result = CliRunner().invoke(cli, ["profile", "scaffold", str(MILWAUKEE), "--name", "mke", "--out", str(out)])
    assert result.exit_code == 0, result.output
    profile = load_profile(str(out))
    assert profile.fields["incident_number"].path == "id"
    assert (profile.fields["received_at"].path, profile.fields["received_at"].format) == ("time", "%Y-%m-%d %H:%M:%S")
    assert profile.fields["station_code"].path == "district" and profile.fields["latitude"].drop_invalid
    assert len(profile.categories) == 173
    assert profile.categories["TRBL W/SUBJ-DV"].category == "dispute.family"
    assert profile.categories["TRBL W/SUBJ-DV"].risk == ("domestic_violence",)
    assert "# 1,527 rows" in out.read_text("utf-8")
    again = CliRunner().invoke(cli, ["profile", "scaffold", str(MILWAUKEE), "--name", "mke", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


def test_scaffold_reads_ndjson_paths_and_unnamed_columns(tmp_path):
    ndjson = tmp_path / "eido.ndjson"
    ndjson.write_text("\n".join(json.dumps({"incidentId": f"E{i}", "callTime": f"2024-05-01T10:0{i}:00+02:00",
                                            "incident": {"type": t}}) for i, t in enumerate(["NOISE", "THEFT"])))
    out = tmp_path / "eido.yaml"
    assert CliRunner().invoke(cli, ["profile", "scaffold", str(ndjson), "--out", str(out)]).exit_code == 0
    profile = load_profile(str(out))
    assert profile.format == "json" and profile.fields["category_code"].path == "incident.type"
    assert profile.fields["received_at"].format is None  # ISO 8601 with offsets needs none
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("id,,time\n1,TRBL,2024-05-01 10:00:00\n2,TRBL,2024-05-01 10:05:00\n", encoding="utf-8")
    out2 = tmp_path / "unnamed.yaml"
    assert CliRunner().invoke(cli, ["profile", "scaffold", str(unnamed), "--out", str(out2)]).exit_code == 0
    assert "column_2" in out2.read_text("utf-8")


@pytest.mark.parametrize("name", ["CallNo", "Call Number", "EVENT_NO", "ReportNumber", "inc_num", "CFS"])
def test_scaffold_finds_the_id_column_by_the_names_cad_exports_use(tmp_path, name):
    export = tmp_path / "calls.csv"
    export.write_text(f"{name},Received,Type\nA-1,03/02/2023 14:05,NOISE COMPLAINT\n"
                      "A-2,03/02/2023 14:10,DOMESTIC DISTURBANCE\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["profile", "scaffold", str(export), "--out", str(tmp_path / "p.yaml")])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((tmp_path / "p.yaml").read_text(encoding="utf-8"))["fields"]["incident_number"] == {
        "path": name}
