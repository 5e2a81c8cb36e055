"""What the services export to Prometheus, and which metrics and labels a PromQL expression names.

The exported metrics are read from prometheus_client's registry after importing every service's app,
consumer and CLI (each registers its collectors at import), so a metric removed from the code, or a
label renamed, fails the alert and dashboard checks. The PromQL reading is just enough for this
project's expressions: selectors, functions, aggregations with by/without, binary operators.
"""
import importlib
import re
from dataclasses import dataclass
from functools import cache

import prometheus_client

from tests.deploy.k8s import service_packages

# Names the kinds of metric expand to in the exposition (prometheus_client, OpenMetrics off).
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("_count", "_sum", "_created", ""), "info": ("_info",), "stateset": ("",), "enum": ("",)}
# Labels Prometheus adds to every series of a scraped pod: the usual kubernetes_sd relabelling
# (docs/operations.md) and its own job/instance.
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod"})
# Series that come from outside the services, with where from: the alerts may use these and only these.
EXTERNAL = {
    "kafka_consumergroup_lag": ("kafka-exporter", {"consumergroup", "topic", "partition"}),
    "kafka_topic_partition_under_replicated_partition": ("kafka-exporter", {"topic", "partition"}),
    "kafka_topic_partition_in_sync_replica": ("kafka-exporter", {"topic", "partition"}),
    "kube_pod_status_ready": ("kube-state-metrics", {"namespace", "pod", "condition", "uid"}),
    "up": ("Prometheus", set()),
}
KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
                      "unless", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
                      "quantile", "count_values", "group", "inf", "nan"})


@dataclass(frozen=True)
class Selector:
    """One vector selector of an expression: the metric and the label names it matches on."""

    metric: str
    labels: frozenset[str]
    values: tuple[tuple[str, str, str], ...]  # (label, operator, value)


@cache
def exported() -> dict[str, frozenset[str]]:
    """Every series name the services expose -> its label names, from prometheus_client's registry."""
    for package in service_packages():
        for module in ("api", "consumer", "__main__"):
            importlib.import_module(f"services.{package}.{module}")
    names: dict[str, frozenset[str]] = {}
    for collector in list(prometheus_client.REGISTRY._collector_to_names):  # every registered collector
        labelnames = frozenset(getattr(collector, "_labelnames", ()))
        for family in collector.describe() if hasattr(collector, "describe") else collector.collect():
            for suffix in SUFFIXES[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                names[family.name + suffix] = labelnames | extra
    return {name: labels for name, labels in names.items() if name.startswith("fengqiao_")}


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of an expression (metric{matchers}[range] offset ...)."""
    found = []
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    for match in re.finditer(r'(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:])\s*(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})?(?!\s*\()', text):
        name, braces = match[1], match[2] or "{}"
        if name in KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        values = tuple(re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', braces))
        found.append(Selector(name, frozenset(label for label, _, _ in values), values))
    return found


def grouping_labels(expr: str) -> set[str]:
    """Label names in by (...), without (...), on (...) and ignoring (...)."""
    return {label.strip() for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr)
            for label in clause.split(",") if label.strip()}


def expression_problems(expr: str, *, external: bool) -> list[str]:
    """Metrics the services do not export (or, with external, that EXTERNAL does not list), and label names
    those metrics do not have."""
    problems = []
    known = exported()
    chosen = selectors(re.sub(r"\[[^\]]*\]", "", re.sub(r"\boffset\s+\d+[smhdwy]", "", expr)))
    if not chosen:
        return [f"{expr!r} names no metric"]
    labels_of: dict[str, set[str]] = {}
    for selector in chosen:
        if selector.metric in known:
            labels_of[selector.metric] = set(known[selector.metric])
        elif external and selector.metric in EXTERNAL:
            labels_of[selector.metric] = set(EXTERNAL[selector.metric][1])
        else:
            problems.append(f"{selector.metric}: not a metric the services export"
                            + (" nor a listed external series" if external else ""))
            continue
        unknown = selector.labels - labels_of[selector.metric] - TARGET_LABELS
        if unknown:
            problems.append(f"{selector.metric}: no label {sorted(unknown)} (it has {sorted(labels_of[selector.metric])})")
    unknown = grouping_labels(expr) - set().union(TARGET_LABELS, *labels_of.values())
    if labels_of and unknown:
        problems.append(f"grouping by {sorted(unknown)}, which none of {sorted(labels_of)} has")
    return problems


def label_values(expr: str, label: str) -> set[str]:
    """The values an expression's selectors match a label to with `=`."""
    return {value for selector in selectors(expr) for name, op, value in selector.values if name == label and op == "="}
