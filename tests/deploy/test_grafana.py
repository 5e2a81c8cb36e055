"""deploy/grafana: one provisioned dashboard per service, whose every query names metrics the services
export, with labels they have, filtered to that service's own label values (its HTTP service name, its
consumer group as its ConsumerRunner names it, its database)."""
import json

import pytest
import yaml

from tests.deploy.k8s import RESOURCES, ROOT, build_settings, filled, service_packages
from tests.deploy.operators import consumers
from tests.deploy.promql import expression_problems, label_values

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"


def dashboard(package: str) -> dict:
    return json.loads((DASHBOARDS / f"{package}.json").read_text("utf-8"))


def queries(board: dict) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def own_values(package: str) -> dict[str, set[str]]:
    """The label values that are this service's: service (HTTP), consumer (its group), database."""
    base = filled(RESOURCES)
    group = consumers(base)[package][0]
    settings = build_settings(package, {})  # the code's own names: service_name, fengqiao_<service>
    return {"service": {settings.service_name}, "consumer": {group}, "database": {settings.database_name}}


def test_one_dashboard_per_service() -> None:
    assert sorted(p.stem for p in DASHBOARDS.glob("*.json")) == service_packages()
    assert len({dashboard(p)["uid"] for p in service_packages()}) == len(service_packages())


def test_provisioning_points_at_the_dashboards() -> None:
    """A file provider for the folder the dashboards are mounted at, and a Prometheus data source."""
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards" / "fengqiao.yaml").read_text("utf-8"))["providers"]
    assert (provider["type"], provider["options"]["path"]) == ("file", "/var/lib/grafana/dashboards/fengqiao")
    (source,) = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text("utf-8"))["datasources"]
    assert source["type"] == "prometheus"


@pytest.mark.parametrize("package", service_packages())
def test_every_query_names_exported_metrics(package: str) -> None:
    board = dashboard(package)
    assert len(queries(board)) == {"intake": 11, "mediation": 12, "assessment": 11}[package]
    assert {expr: expression_problems(expr, external=False) for expr in queries(board)} == \
        {expr: [] for expr in queries(board)}


@pytest.mark.parametrize("package", service_packages())
def test_every_query_is_about_its_service(package: str) -> None:
    """Each label a query filters on with `=` (service, consumer, database) has this service's value."""
    wanted = own_values(package)
    for expr in queries(dashboard(package)):
        for label, values in wanted.items():
            assert label_values(expr, label) <= values, (expr, label)


@pytest.mark.parametrize("package", service_packages())
def test_panels_query_the_dashboards_data_source(package: str) -> None:
    board = dashboard(package)
    assert [v["name"] for v in board["templating"]["list"] if v["type"] == "datasource"] == ["datasource"]
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


@pytest.mark.parametrize("expr", [
    'sum(rate(fengqiao_http_requests_total{service="intake"}[5m]))',
    'sum by (route) (fengqiao_consumer_lag{consumer="intake-raw"})',
    'max(fengqiao_outbox_rows{service="intake"})',
    'kafka_consumergroup_lag{consumergroup="intake-raw"}',
])
def test_a_query_on_what_is_not_exported_fails(expr: str) -> None:
    """A misspelt metric, a label the metric lacks (in a matcher or a grouping), a broker-side series."""
    assert expression_problems(expr, external=False)


def test_a_query_about_another_service_fails() -> None:
    expr = 'sum by (topic) (fengqiao_consumer_lag{consumer="mediation-disputes"})'
    assert not label_values(expr, "consumer") <= own_values("intake")["consumer"]


