"""Kafka on Strimzi and PostgreSQL on CloudNativePG: the manifests pass the operators' own CRD schemas
(vendored, offline) and agree with the code: the topic registry, the consumers' groups and topics, the
settings (operators.py). Each cross-check also catches a deliberately broken copy."""
import hashlib
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable

import pytest
import yaml

from tests.deploy.k8s import K8S, RESOURCES, Doc, filled, named, of_kind, where
from tests.deploy.k8s_checks import env_problems, settings_problems
from tests.deploy.operators import (
    CNPG,
    CRDS,
    KEDA_USER,
    WRITE,
    cluster_problems,
    cnpg_overlay,
    crd,
    kafka_problems,
    operator_schema_errors,
    strimzi_resources,
    topic_problems,
    user_name,
    user_problems,
    wanted_acls,
    with_operator_secrets,
)

SCHEMAS_README = K8S / "schemas" / "README.md"
STRIMZI_DOCS = strimzi_resources()
CNPG_DOCS = cnpg_overlay()
OPERATOR_DOCS = STRIMZI_DOCS + [doc for doc in CNPG_DOCS if doc["kind"] in ("Cluster", "ScheduledBackup")
                                or where(doc) == "Secret/fengqiao-backup-s3"]


def test_the_manifests_are_there() -> None:
    """The expected resources, exactly (a wrong path would make every other test vacuous)."""
    assert Counter(doc["kind"] for doc in STRIMZI_DOCS) == Counter(
        {"Kafka": 1, "KafkaNodePool": 2, "KafkaTopic": 14, "KafkaUser": 4})
    added = Counter(doc["kind"] for doc in CNPG_DOCS) - Counter(doc["kind"] for doc in RESOURCES)
    assert added == Counter({"Cluster": 3, "ScheduledBackup": 3, "Secret": 1})


@pytest.mark.parametrize("key", CRDS, ids=lambda key: key[1])
def test_crd_is_the_vendored_file(key: tuple[str, str]) -> None:
    """Each vendored CRD has the checksum the constant and the schemas README record, and serves the
    version the manifests use."""
    path, sha256 = CRDS[key]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, f"{path.name} changed: update the README"
    assert sha256 in SCHEMAS_README.read_text("utf-8"), f"{path.name}: the README lacks its sha256"
    definition = crd(*key)
    group, version = key[0].split("/")
    assert (definition["spec"]["group"], definition["spec"]["names"]["kind"]) == (group, key[1])
    assert [v["served"] for v in definition["spec"]["versions"] if v["name"] == version] == [True]


@pytest.mark.parametrize("doc", OPERATOR_DOCS, ids=where)
def test_operator_manifest_matches_its_schema(doc: Doc) -> None:
    """Strimzi 0.50.0's and CloudNativePG 1.28.0's CRD schemas (strict) for their kinds; Kubernetes 1.31's
    for the rest."""
    assert operator_schema_errors(doc) == []


def test_the_overlay_still_passes_kubernetes_schemas() -> None:
    """The patched base resources of the overlay pass Kubernetes 1.31's schemas."""
    patched = [doc for doc in CNPG_DOCS if doc["kind"] in ("Deployment", "Job", "CronJob", "Secret")]
    assert Counter(doc["kind"] for doc in patched) == Counter({"Deployment": 7, "Job": 4, "CronJob": 3, "Secret": 5})
    assert [error for doc in patched for error in operator_schema_errors(doc)] == []


CHECKS: dict[str, Callable[[], list[str]]] = {
    "kafka": lambda: kafka_problems(STRIMZI_DOCS, filled(RESOURCES)),
    "topics": lambda: topic_problems(STRIMZI_DOCS, filled(RESOURCES)),
    "users": lambda: user_problems(STRIMZI_DOCS, filled(RESOURCES)),
    "clusters": lambda: cluster_problems(CNPG_DOCS),
    "overlay environment": lambda: env_problems(with_operator_secrets(CNPG_DOCS)),
    "overlay settings": lambda: settings_problems(with_operator_secrets(CNPG_DOCS)),
}


@pytest.mark.parametrize("name", CHECKS)
def test_operators_agree_with_the_code(name: str) -> None:
    """Kafka, topics, users and ACLs against the registry and the consumers; each service's database from
    its own Cluster, building valid production settings."""
    assert CHECKS[name]() == []


def test_acls_are_the_issues_rules() -> None:
    """The derivation gives what issue 15 states, spelt out: so that a change of the code that widens a
    service's access shows here as well as in the manifests."""
    acls = wanted_acls(filled(RESOURCES))
    writes = {user: sorted(name for kind, name, _, ops in rules if kind == "topic" and ops == WRITE)
              for user, rules in acls.items()}
    assert writes == {
        user_name("intake"): ["dispatch.raw.v1.dlq", "dispatch.rejected.v1", "intake.dispute.v1", "intake.incident.v1"],
        user_name("mediation"): ["intake.dispute.v1.dlq", "mediation.case.v1"],
        user_name("assessment"): ["assessment.ranking.v1", "community.activity.v1.dlq", "intake.incident.v1.dlq",
                                  "mediation.case.v1.dlq"],
        KEDA_USER: []}
    groups = {user: sorted(name for kind, name, _, _ in rules if kind == "group") for user, rules in acls.items()}
    assert groups == {user_name("intake"): ["intake-raw"], user_name("mediation"): ["mediation-disputes"],
                      user_name("assessment"): ["assessment-facts"],
                      KEDA_USER: ["assessment-facts", "intake-raw", "mediation-disputes"]}


def test_kustomize_builds_the_overlay_the_same() -> None:
    """`kubectl kustomize deploy/k8s/cnpg` builds what cnpg_overlay() builds."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlay is built by cnpg_overlay() only")
    result = subprocess.run([kubectl, "kustomize", str(CNPG)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    built = {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(result.stdout) if doc}
    ours = {(doc["kind"], doc["metadata"]["name"]): doc for doc in CNPG_DOCS}
    assert sorted(built) == sorted(ours)
    for key, doc in ours.items():
        if key[0] != "Secret":  # kustomize leaves stringData alone, but orders keys; compare the content
            assert yaml.safe_dump(built[key], sort_keys=True) == yaml.safe_dump(doc, sort_keys=True), key
        else:
            assert built[key].get("stringData") == doc.get("stringData"), key


# ---- negative tests: a broken copy fails ----------------------------------------------------------

def _first(docs: list[Doc], kind: str) -> Doc:
    return of_kind(docs, kind)[0]


def _acls(docs: list[Doc], user: str) -> list[Doc]:
    return named(docs, "KafkaUser", user)["spec"]["authorization"]["acls"]


SCHEMA_BREAKS: dict[str, Callable[[list[Doc]], Doc]] = {
    "Kafka listener misspelt": lambda d: (_first(d, "Kafka")["spec"]["kafka"]["listeners"][0].update(
        authentification={"type": "scram-sha-512"}), _first(d, "Kafka"))[1],
    "Kafka without listeners": lambda d: (_first(d, "Kafka")["spec"]["kafka"].pop("listeners"), _first(d, "Kafka"))[1],
    "node pool with an unknown role": lambda d: (_first(d, "KafkaNodePool")["spec"].update(roles=["voter"]),
                                                 _first(d, "KafkaNodePool"))[1],
    "partitions as a string": lambda d: (_first(d, "KafkaTopic")["spec"].update(partitions="6"),
                                         _first(d, "KafkaTopic"))[1],
    "ACL operation Kafka has not": lambda d: (_acls(d, user_name("intake"))[0].update(operations=["Produce"]),
                                              named(d, "KafkaUser", user_name("intake")))[1],
    "SCRAM-SHA-256 user": lambda d: (_first(d, "KafkaUser")["spec"]["authentication"].update(type="scram-sha-256"),
                                     _first(d, "KafkaUser"))[1],
    "instances as a string": lambda d: (_first(d, "Cluster")["spec"].update(instances="3"), _first(d, "Cluster"))[1],
    "backup field misspelt": lambda d: (_first(d, "Cluster")["spec"]["backup"].update(
        retention=_first(d, "Cluster")["spec"]["backup"].pop("retentionPolicy")), _first(d, "Cluster"))[1],
    "WAL compression unknown": lambda d: (_first(d, "Cluster")["spec"]["backup"]["barmanObjectStore"]["wal"].update(
        compression="zip"), _first(d, "Cluster"))[1],
    "ScheduledBackup without a cluster": lambda d: (_first(d, "ScheduledBackup")["spec"].pop("cluster"),
                                                    _first(d, "ScheduledBackup"))[1],
    "bad label value": lambda d: (_first(d, "KafkaTopic")["metadata"]["labels"].update(
        {"strimzi.io/cluster": ["fengqiao"]}), _first(d, "KafkaTopic"))[1],
}


@pytest.mark.parametrize("name", SCHEMA_BREAKS)
def test_a_broken_operator_manifest_fails_its_schema(name: str) -> None:
    """Each deliberately broken copy is caught by the CRD schema the manifests pass."""
    docs = strimzi_resources() + cnpg_overlay()
    assert operator_schema_errors(SCHEMA_BREAKS[name](docs)), f"{name}: the schema accepted it"


def _topic(docs: list[Doc], name: str) -> Doc:
    return named(docs, "KafkaTopic", name)


def _cluster(docs: list[Doc], name: str = "mediation-db") -> Doc:
    return named(docs, "Cluster", name)


def _strimzi(check: Callable[[list[Doc], list[Doc]], list[str]]) -> Callable[[list[Doc]], list[str]]:
    return lambda docs: check([d for d in docs if d["apiVersion"].startswith("kafka.strimzi.io/")],
                              with_operator_secrets([d for d in docs if not d["apiVersion"].startswith("kafka.")]))


CODE_BREAKS: dict[str, tuple[Callable[[list[Doc]], object], Callable[[list[Doc]], list[str]]]] = {
    "fewer partitions than the registry": (lambda d: _topic(d, "intake.dispute.v1")["spec"].update(partitions=3),
                                           _strimzi(topic_problems)),
    "a dead-letter topic missing": (lambda d: d.remove(_topic(d, "mediation.case.v1.dlq")), _strimzi(topic_problems)),
    "a topic not registered": (lambda d: _topic(d, "intake.dispute.v1").update(
        metadata={**_topic(d, "intake.dispute.v1")["metadata"], "name": "intake.disputes.v1"}), _strimzi(topic_problems)),
    "replication 2": (lambda d: _topic(d, "dispatch.raw.v1")["spec"].update(replicas=2), _strimzi(topic_problems)),
    "min.insync.replicas 1": (lambda d: _topic(d, "mediation.case.v1")["spec"]["config"].update(
        {"min.insync.replicas": 1}), _strimzi(topic_problems)),
    "retention beyond the ledger": (lambda d: _topic(d, "intake.incident.v1")["spec"]["config"].update(
        {"retention.ms": 30 * 24 * 3600 * 1000}), _strimzi(topic_problems)),
    "intake writes mediation's topic": (lambda d: _acls(d, user_name("intake")).append(
        {"resource": {"type": "topic", "name": "mediation.case.v1", "patternType": "literal"},
         "operations": ["Write", "Describe"]}), _strimzi(user_problems)),
    "a prefix instead of names": (lambda d: _acls(d, user_name("intake"))[0]["resource"].update(
        name="intake.", patternType="prefix"), _strimzi(user_problems)),
    "mediation cannot read its group": (lambda d: _acls(d, user_name("mediation")).pop(), _strimzi(user_problems)),
    "assessment reads a topic it does not consume": (lambda d: _acls(d, user_name("assessment")).append(
        {"resource": {"type": "topic", "name": "dispatch.raw.v1", "patternType": "literal"},
         "operations": ["Read", "Describe"]}), _strimzi(user_problems)),
    "no user for KEDA": (lambda d: d.remove(named(d, "KafkaUser", KEDA_USER)), _strimzi(user_problems)),
    "a listener without SCRAM": (lambda d: _first(d, "Kafka")["spec"]["kafka"]["listeners"][1].pop("authentication"),
                                 _strimzi(kafka_problems)),
    "two controllers": (lambda d: named(d, "KafkaNodePool", "controllers")["spec"].update(replicas=2),
                        _strimzi(kafka_problems)),
    "auto-created topics": (lambda d: _first(d, "Kafka")["spec"]["kafka"]["config"].update(
        {"auto.create.topics.enable": True}), _strimzi(kafka_problems)),
    "services on another Kafka": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(
        INTAKE_KAFKA_BOOTSTRAP_SERVERS="kafka-bootstrap.kafka.svc.cluster.local:9092"), _strimzi(kafka_problems)),
    "a bootstrap port no listener has": (lambda d: named(d, "ConfigMap", "mediation-config")["data"].update(
        MEDIATION_KAFKA_BOOTSTRAP_SERVERS="fengqiao-kafka-bootstrap.kafka.svc.cluster.local:9094"),
        _strimzi(kafka_problems)),
    "one instance": (lambda d: _cluster(d)["spec"].update(instances=1), cluster_problems),
    "no backup": (lambda d: _cluster(d)["spec"].pop("backup"), cluster_problems),
    "no nightly backup": (lambda d: d.remove(named(d, "ScheduledBackup", "assessment-db-nightly")), cluster_problems),
    "asynchronous standbys": (lambda d: _cluster(d)["spec"]["postgresql"].pop("synchronous"), cluster_problems),
    "backup credentials in no Secret": (lambda d: _cluster(d)["spec"]["backup"]["barmanObjectStore"]["s3Credentials"][
        "accessKeyId"].update(name="s3-creds"), cluster_problems),
    "a container with the template's URL": (lambda d: next(
        c for w in of_kind(d, "Job") if w["metadata"]["name"] == "mediation-migrate"
        for c in w["spec"]["template"]["spec"]["containers"])["env"].pop(0), cluster_problems),
    "another service's database": (lambda d: next(
        c for w in of_kind(d, "Deployment") if w["metadata"]["name"] == "assessment-api"
        for c in w["spec"]["template"]["spec"]["containers"])["env"][0]["valueFrom"]["secretKeyRef"].update(
        name="intake-db-app"), cluster_problems),
    "a database the settings do not name": (lambda d: _cluster(d)["spec"]["bootstrap"]["initdb"].update(
        database="mediation"), cluster_problems),
}


@pytest.mark.parametrize("name", CODE_BREAKS)
def test_a_broken_operator_manifest_fails_the_cross_checks(name: str) -> None:
    """Each deliberately broken copy is caught by the cross-check that passes on the real manifests."""
    breaks, check = CODE_BREAKS[name]
    docs = strimzi_resources() + cnpg_overlay()
    breaks(docs)
    assert check(docs), f"{name}: {check.__name__} found nothing"
