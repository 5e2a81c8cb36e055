"""deploy/prometheus/alerts.yml: promtool accepts the rules and passes their unit tests (alerts_test.yml), and
every series they use is one the services export (with its labels) or a listed broker-side one.

promtool comes from Debian's prometheus package (deploy/local/promtool.sh, which `./fengqiao test` runs)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.k8s import ROOT
from tests.deploy.promql import EXTERNAL, exported, expression_problems, selectors

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES, RULE_TESTS = PROMETHEUS / "alerts.yml", PROMETHEUS / "alerts_test.yml"
# What issue 15 asks to page on -> the alerts that do.
WANTED = {
    "consumer lag growing": {"FengqiaoConsumerLagGrowing", "KafkaConsumerGroupLagGrowing"},
    "dead letters arriving": {"FengqiaoDeadLetters"},
    "outbox backlog": {"FengqiaoOutboxBacklog", "FengqiaoOutboxGrowing"},
    "under-replicated partitions": {"KafkaUnderReplicatedPartitions", "KafkaPartitionBelowMinInsyncReplicas"},
    "SLA breaches piling up": {"FengqiaoSlaBreachesPilingUp"},
    "a service not ready": {"FengqiaoPodNotReady", "FengqiaoTargetDown"},
}


def promtool() -> str:
    """promtool on PATH or where deploy/local/promtool.sh unpacks it; the test fails (not skips) without it."""
    unpacked = Path(os.environ.get("FENGQIAO_CACHE_DIR", ROOT / ".cache")) / "prometheus" / "usr" / "bin" / "promtool"
    found = shutil.which("promtool") or (str(unpacked) if unpacked.is_file() else None)
    if found is None:
        pytest.fail("promtool missing: run deploy/local/promtool.sh (./fengqiao test runs it)", pytrace=False)
    return found


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *map(str, args)], capture_output=True, text=True, timeout=120, cwd=PROMETHEUS)


def rules(path: Path = RULES) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text("utf-8"))["groups"] for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_rules_pass_their_unit_tests() -> None:
    result = run_promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing() -> None:
    """Each alert has a test case where it fires (exp_alerts not empty) and every alert is one of WANTED's."""
    cases = yaml.safe_load(RULE_TESTS.read_text("utf-8"))["tests"]
    fired = {check["alertname"] for case in cases for check in case.get("alert_rule_test", []) if check["exp_alerts"]}
    alerts = {rule["alert"] for rule in rules()}
    assert fired == alerts
    assert set().union(*WANTED.values()) == alerts


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_alerts_use_series_that_exist(rule: dict) -> None:
    """fengqiao_* names are metrics the services export, with their labels; the rest are kafka-exporter's,
    kube-state-metrics' or Prometheus' own (EXTERNAL); every alert has a severity and a summary."""
    assert expression_problems(rule["expr"], external=True) == []
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"]


def test_the_alerts_watch_the_service_metrics_meant_for_paging() -> None:
    """Lag, dead letters, the outbox and escalations page; latency, batches and events applied are dashboard
    material."""
    used = {s.metric for rule in rules() for s in selectors(rule["expr"]) if s.metric.startswith("fengqiao_")}
    assert used == {"fengqiao_consumer_lag", "fengqiao_events_failed_total", "fengqiao_outbox_oldest_seconds",
                    "fengqiao_outbox_rows", "fengqiao_sla_escalations_total"}
    assert used <= set(exported())


@pytest.mark.parametrize("name", ["a misspelt metric", "a label the metric lacks", "a broken expression",
                                  "a wrong expectation"])
def test_a_broken_rule_fails(name: str, tmp_path: Path) -> None:
    """promtool and the series check catch broken copies of the rules and of their tests."""
    text = RULES.read_text("utf-8")
    broken = {
        "a misspelt metric": text.replace("fengqiao_outbox_oldest_seconds)", "fengqiao_outbox_oldest_second)"),
        "a label the metric lacks": text.replace("max by (database) (fengqiao_outbox_rows)",
                                                 "max by (database) (fengqiao_outbox_rows{service=\"intake\"})"),
        "a broken expression": text.replace("> 120", "> > 120"),
        "a wrong expectation": text.replace("increase(fengqiao_sla_escalations_total[1h])) > 20",
                                            "increase(fengqiao_sla_escalations_total[1h])) > 30"),
    }[name]
    assert broken != text
    (tmp_path / "alerts.yml").write_text(broken, "utf-8")
    (tmp_path / "alerts_test.yml").write_text(RULE_TESTS.read_text("utf-8"), "utf-8")
    checked = subprocess.run([promtool(), "check", "rules", "alerts.yml"], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)
    tested = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    series = [p for rule in rules(tmp_path / "alerts.yml") if checked.returncode == 0
              for p in expression_problems(rule["expr"], external=True)]
    assert checked.returncode != 0 or tested.returncode != 0 or series, name


def test_external_series_are_named_with_their_source() -> None:
    assert {source for source, _ in EXTERNAL.values()} == {"kafka-exporter", "kube-state-metrics", "Prometheus"}
