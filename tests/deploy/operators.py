"""deploy/k8s/strimzi and deploy/k8s/cnpg as data, the operators' CRD schemas, and the cross-checks.

The CRDs are vendored unchanged in deploy/k8s/schemas/ (source, version, licence and sha256 in the README
there). The CloudNativePG overlay is built here as kustomize builds it: the base, its own resources, then
its patches (only what it uses: targets by kind, name and label, JSON patch `add` and `remove`); where
kubectl is installed, a test compares this with `kubectl kustomize`.
"""
import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from shared.events.topics import TOPICS, dead_letter_topic
from shared.kafka.admin import with_dead_letters
from tests.deploy.k8s import (
    K8S,
    Doc,
    build_settings,
    command,
    consumer_of,
    container_env,
    containers,
    filled,
    kubernetes_errors,
    of_kind,
    package_of,
    pod_spec,
    resources,
    runs,
    service_packages,
    settings_class,
    strict,
    where,
)
from tests.deploy.k8s import (
    kustomization as k8s_kustomization,
)

STRIMZI = K8S / "strimzi"
CNPG = K8S / "cnpg"
SCHEMAS = K8S / "schemas"
STRIMZI_VERSION = "0.50.0"
CNPG_VERSION = "1.28.0"
# (apiVersion, kind) -> the vendored CRD file and its sha256 (also in deploy/k8s/schemas/README.md).
CRDS: dict[tuple[str, str], tuple[Path, str]] = {
    ("kafka.strimzi.io/v1", "Kafka"): (
        SCHEMAS / f"strimzi-{STRIMZI_VERSION}" / "040-Crd-kafka.yaml",
        "24cd90ffc2f7836818b6bda06ecc8ec5e6bd39f894f5f359aced0cb22f5d12bc"),
    ("kafka.strimzi.io/v1", "KafkaTopic"): (
        SCHEMAS / f"strimzi-{STRIMZI_VERSION}" / "043-Crd-kafkatopic.yaml",
        "36390f0731c699448076d4ee739e8b7f331d083e91a7fb71500aaa830ab1127e"),
    ("kafka.strimzi.io/v1", "KafkaUser"): (
        SCHEMAS / f"strimzi-{STRIMZI_VERSION}" / "044-Crd-kafkauser.yaml",
        "6f278324169ae433ea7a01c535c7db130d5ec42e64389188c4a20504c5f37467"),
    ("kafka.strimzi.io/v1", "KafkaNodePool"): (
        SCHEMAS / f"strimzi-{STRIMZI_VERSION}" / "045-Crd-kafkanodepool.yaml",
        "8e5fb2ff83f71ae7aa9ad97b200828bed8fcca6ae56d28fdbea3fc09870f5c57"),
    ("postgresql.cnpg.io/v1", "Cluster"): (
        SCHEMAS / f"cloudnative-pg-{CNPG_VERSION}" / "postgresql.cnpg.io_clusters.yaml",
        "51268ebddd087e77d91a0251da74176bae9814b6009b33efcf552b965e66b44c"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): (
        SCHEMAS / f"cloudnative-pg-{CNPG_VERSION}" / "postgresql.cnpg.io_scheduledbackups.yaml",
        "4c3c0747daae3c8664d7d4695b3f62f8fa921b87c28d7ce3169bdeb2411d5141"),
}
# docs/design.md, "Conventions": production topics have replication 3 and min.insync.replicas 2.
REPLICATION, MIN_INSYNC = 3, 2
# Topics a service writes beyond those named after it (issue 15: intake also writes the rejected input).
EXTRA_WRITES = {"intake": ("dispatch.rejected.v1",)}
# What each kind of access needs (Kafka's ACL operations); Write covers the idempotent producer (Kafka >= 3.0).
WRITE, READ, GROUP, LOOK = frozenset({"Write", "Describe"}), frozenset({"Read", "Describe"}), frozenset({"Read"}), \
    frozenset({"Describe"})
KEDA_USER = "fengqiao-keda"
# The owner's password CloudNativePG generates into <cluster>-app; any value serves the checks.
GENERATED_PASSWORD = "g" * 32


def user_name(package: str) -> str:
    """The KafkaUser (SCRAM username) of a service."""
    return f"fengqiao-{package}"


# ---- the manifests ------------------------------------------------------------------------------

def _documents(folder: Path, names: list[str]) -> list[Doc]:
    return [doc for name in names for doc in yaml.safe_load_all((folder / name).read_text("utf-8")) if doc]


def kustomization(folder: Path) -> Doc:
    """A folder's kustomization.yaml."""
    return yaml.safe_load((folder / "kustomization.yaml").read_text("utf-8"))


def strimzi_resources() -> list[Doc]:
    """deploy/k8s/strimzi's resources in its namespace."""
    docs = _documents(STRIMZI, kustomization(STRIMZI)["resources"])
    for doc in docs:
        doc["metadata"]["namespace"] = kustomization(STRIMZI)["namespace"]
    return docs


def _matches(target: Doc, doc: Doc) -> bool:
    if "kind" in target and not re.fullmatch(target["kind"], doc["kind"]):
        return False
    if "name" in target and not re.fullmatch(target["name"], doc["metadata"]["name"]):
        return False
    if "labelSelector" in target:
        key, value = target["labelSelector"].split("=")
        return (doc["metadata"].get("labels") or {}).get(key) == value
    return True


def json_patch(doc: Doc, operation: Doc) -> None:
    """RFC 6902 `add` and `remove`, the operations the overlay uses."""
    *parents, last = operation["path"].lstrip("/").split("/")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if operation["op"] == "add" and isinstance(node, list):
        node.insert(len(node) if last == "-" else int(last), copy.deepcopy(operation["value"]))
    elif operation["op"] == "add":
        node[last] = copy.deepcopy(operation["value"])
    elif operation["op"] == "remove":
        del node[int(last) if isinstance(node, list) else last]
    else:
        raise ValueError(f"JSON patch op {operation['op']!r}: only add and remove are built here")


def cnpg_overlay() -> list[Doc]:
    """deploy/k8s/cnpg as kustomize builds it: the base, the overlay's resources, its patches, its namespace."""
    overlay = kustomization(CNPG)
    own = [name for name in overlay["resources"] if not name.startswith("..")]
    assert [name for name in overlay["resources"] if name.startswith("..")] == ["../base"]
    docs = _with_base_images(resources()) + _documents(CNPG, own)
    for patch in overlay.get("patches", []):
        operations = yaml.safe_load(patch["patch"])
        hits = [doc for doc in docs if _matches(patch["target"], doc)]
        assert hits, f"patch target {patch['target']} matches nothing"
        for doc in hits:
            for operation in operations:
                json_patch(doc, operation)
    for doc in docs:
        if doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = overlay["namespace"]
    return docs


def _with_base_images(docs: list[Doc]) -> list[Doc]:
    """The base's own `images` transformation, which kustomize applies while building it."""
    for image in k8s_kustomization().get("images", []):
        for _, container in containers(docs):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return docs


def operator_secrets(docs: list[Doc]) -> list[Doc]:
    """The Secrets CloudNativePG writes for each Cluster (<name>-app), as it documents them: the owner's
    credentials and `uri`, postgresql://owner:password@<name>-rw.<namespace>:5432/database."""
    made = []
    for cluster in of_kind(docs, "Cluster"):
        initdb = cluster["spec"].get("bootstrap", {}).get("initdb", {})
        database, owner = initdb.get("database", "app"), initdb.get("owner", initdb.get("database", "app"))
        name, namespace = cluster["metadata"]["name"], cluster["metadata"].get("namespace", "default")
        made.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-app", "namespace": namespace},
                     "stringData": {"username": owner, "password": GENERATED_PASSWORD, "dbname": database,
                                    "uri": f"postgresql://{owner}:{GENERATED_PASSWORD}@{name}-rw.{namespace}:5432/{database}"}})
    return made


# ---- the schemas --------------------------------------------------------------------------------

@cache
def crd(api_version: str, kind: str) -> Doc:
    """The vendored CustomResourceDefinition of that kind."""
    return yaml.load(CRDS[(api_version, kind)][0].read_text("utf-8"), Loader=yaml.CSafeLoader)


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    """The openAPIV3Schema of the CRD's version, strict (OpenAPI v3 is a JSON Schema draft 4 subset)."""
    group, version = api_version.split("/")
    definition = crd(api_version, kind)
    assert (definition["spec"]["group"], definition["spec"]["names"]["kind"]) == (group, kind)
    (served,) = [v for v in definition["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = strict(served["schema"]["openAPIV3Schema"])
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def operator_schema_errors(doc: Doc) -> list[str]:
    """The CRD's schema for a custom resource (and ObjectMeta for its metadata, which the CRD leaves open),
    Kubernetes 1.31's for the rest. CEL rules (x-kubernetes-validations) are not evaluated."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key not in CRDS:
        return kubernetes_errors(doc)
    errors = [f"{where(doc)}: {'.'.join(map(str, e.path))}: {e.message}" for e in crd_validator(*key).iter_errors(doc)]
    return errors + kubernetes_errors({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata")},
                                      label=where(doc))


# ---- what the code says -------------------------------------------------------------------------

def consumers(docs: list[Doc]) -> dict[str, tuple[str, list[str], Any]]:
    """package -> (consumer group, topics, settings) of its `consume` Deployment, from the consumer's code."""
    found = {}
    for package in service_packages():
        deployments = runs(docs, "Deployment", package, "consume")
        if len(deployments) != 1:
            continue
        (container,) = [c for c in pod_spec(deployments[0])["containers"] if command(c)[1:2] == ["consume"]]
        settings = build_settings(package, container_env(container, docs)[0])
        group, topics = consumer_of(package, settings)
        found[package] = (group, topics, settings)
    return found


def wanted_acls(base: list[Doc]) -> dict[str, set[tuple[str, str, str, frozenset[str]]]]:
    """user -> {(resource type, name, pattern, operations)}: what each service needs, derived from the topic
    registry and the consumers' code. A service writes the registered topics named after it (and
    EXTRA_WRITES), reads what its consumer reads, writes those topics' dead letters, reads its group; KEDA
    describes every consumed topic and group."""
    acls: dict[str, set[tuple[str, str, str, frozenset[str]]]] = {KEDA_USER: set()}
    groups = consumers(base)
    for package in service_packages():
        group, reads, settings = groups.get(package, (None, [], None))
        reads = [name.removeprefix(settings.topic_prefix) for name in reads] if settings else []
        writes = [name for name in TOPICS if name.startswith(package + ".")] + list(EXTRA_WRITES.get(package, ()))
        wanted = {("topic", name, "literal", WRITE) for name in writes}
        wanted |= {("topic", name, "literal", READ) for name in reads}
        wanted |= {("topic", dead_letter_topic(name), "literal", WRITE) for name in reads}
        acls[user_name(package)] = wanted | ({("group", group, "literal", GROUP)} if group else set())
        acls[KEDA_USER] |= {("topic", name, "literal", LOOK) for name in reads}
        acls[KEDA_USER] |= {("group", group, "literal", LOOK)} if group else set()
    return acls


# ---- cross-checks: each returns its problems ----------------------------------------------------

def kafka_problems(docs: list[Doc], base: list[Doc]) -> list[str]:
    """One KRaft Kafka: node pools of its cluster, a controller quorum of 3 or more (odd), 3 or more brokers;
    replication 3 and min.insync.replicas 2 by default, no auto-created topics, ACLs on, every listener
    SCRAM-SHA-512, kafka-exporter on; and each service's bootstrap address is its listener's."""
    problems = []
    kafkas = of_kind(docs, "Kafka")
    if len(kafkas) != 1:
        return [f"{len(kafkas)} Kafka resources, wanted 1"]
    kafka = kafkas[0]
    name, namespace, spec = kafka["metadata"]["name"], kafka["metadata"]["namespace"], kafka["spec"]["kafka"]
    pools = of_kind(docs, "KafkaNodePool")
    for pool in pools:
        if (pool["metadata"].get("labels") or {}).get("strimzi.io/cluster") != name:
            problems.append(f"{where(pool)} is not labelled strimzi.io/cluster={name}")
    voters = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    if voters < 3 or voters % 2 == 0:
        problems.append(f"{voters} controllers: a KRaft quorum that survives one loss needs 3 (or 5)")
    if brokers < REPLICATION:
        problems.append(f"{brokers} brokers cannot hold replication {REPLICATION}")
    config = spec.get("config") or {}
    wanted = {"default.replication.factor": REPLICATION, "min.insync.replicas": MIN_INSYNC,
              "auto.create.topics.enable": False}
    problems += [f"{where(kafka)}: config {key}={config.get(key)!r}, wanted {value!r}"
                 for key, value in wanted.items() if config.get(key) != value]
    if (spec.get("authorization") or {}).get("type") != "simple":
        problems.append(f"{where(kafka)}: no ACL authorization (authorization.type simple)")
    listeners = {listener["port"]: listener for listener in spec["listeners"]}
    problems += [f"{where(kafka)}: listener {listener['name']} without SCRAM-SHA-512"
                 for listener in listeners.values()
                 if (listener.get("authentication") or {}).get("type") != "scram-sha-512"]
    if "kafkaExporter" not in kafka["spec"]:
        problems.append(f"{where(kafka)}: no kafkaExporter (the alerts on lag and under-replication need it)")
    service = f"{name}-kafka-bootstrap.{namespace}.svc.cluster.local"
    for package, (_, _, settings) in consumers(base).items():
        host, _, port = settings.kafka_bootstrap_servers.partition(":")
        if host != service or int(port or 0) not in listeners:
            problems.append(f"{package}: bootstrap {settings.kafka_bootstrap_servers}, not {service}:<a listener port "
                            f"of {sorted(listeners)}>")
    return problems


def topic_problems(docs: list[Doc], base: list[Doc]) -> list[str]:
    """Exactly the registered topics and their dead-letter topics, with the registry's partitions (1 for
    dead letters), replication 3, min.insync.replicas 2, and a retention no longer than what the consuming
    service's ledger outlives (its topic_retention_days)."""
    problems = []
    cluster = [k["metadata"]["name"] for k in of_kind(docs, "Kafka")]
    topics = {t["spec"].get("topicName", t["metadata"]["name"]): t for t in of_kind(docs, "KafkaTopic")}
    registered = dict(with_dead_letters(TOPICS.values()))
    if set(topics) != set(registered):
        problems.append(f"KafkaTopics {sorted(set(topics) - set(registered))} are not registered; "
                        f"{sorted(set(registered) - set(topics))} are missing")
    horizon: dict[str, int] = {}  # topic -> days the shortest-lived consuming ledger keeps its events
    for _, reads, settings in consumers(base).values():
        for name in reads:
            name = name.removeprefix(settings.topic_prefix)
            horizon[name] = min(horizon.get(name, settings.topic_retention_days), settings.topic_retention_days)
    for name, topic in topics.items():
        spec, config = topic["spec"], topic["spec"].get("config") or {}
        if (topic["metadata"].get("labels") or {}).get("strimzi.io/cluster") not in cluster:
            problems.append(f"{where(topic)} is not labelled with the Kafka cluster {cluster}")
        if name in registered and spec.get("partitions") != registered[name]:
            problems.append(f"{where(topic)}: {spec.get('partitions')} partitions, the registry has {registered[name]}")
        if spec.get("replicas") != REPLICATION or int(config.get("min.insync.replicas", 0)) != MIN_INSYNC:
            problems.append(f"{where(topic)}: replicas {spec.get('replicas')}, min.insync.replicas "
                            f"{config.get('min.insync.replicas')}; wanted {REPLICATION} and {MIN_INSYNC}")
        retention = int(config.get("retention.ms", 7 * 24 * 3600 * 1000))  # Kafka's default: 168 hours
        if name in horizon and retention > horizon[name] * 24 * 3600 * 1000:
            problems.append(f"{where(topic)}: retention.ms {retention} outlives its consumer's ledger "
                            f"(topic_retention_days {horizon[name]}): a redelivery would be applied twice")
    return problems


def user_problems(docs: list[Doc], base: list[Doc]) -> list[str]:
    """One SCRAM-SHA-512 KafkaUser per service and one for KEDA, whose allow ACLs are exactly wanted_acls()."""
    problems = []
    wanted = wanted_acls(base)
    users = {u["metadata"]["name"]: u for u in of_kind(docs, "KafkaUser")}
    if set(users) != set(wanted):
        problems.append(f"KafkaUsers {sorted(users)}, wanted {sorted(wanted)}")
    for name, user in users.items():
        spec = user["spec"]
        if (spec.get("authentication") or {}).get("type") != "scram-sha-512":
            problems.append(f"{where(user)}: authentication {spec.get('authentication')}, not scram-sha-512")
        got = set()
        for acl in (spec.get("authorization") or {}).get("acls", []):
            if acl.get("type", "allow") != "allow" or acl.get("host", "*") != "*":
                problems.append(f"{where(user)}: {acl}: only allow rules from any host are expected")
            resource = acl["resource"]
            got.add((resource["type"], resource.get("name"), resource.get("patternType", "literal"),
                     frozenset(acl["operations"])))
        if name in wanted and got != wanted[name]:
            problems.append(f"{where(user)}: ACLs beyond what the code does {sorted(got - wanted[name], key=str)}; "
                            f"missing {sorted(wanted[name] - got, key=str)}")
    return problems


def cluster_problems(docs: list[Doc]) -> list[str]:
    """Per service one Cluster labelled with it: 3 instances on different nodes, a synchronous standby,
    backups to an object store with credentials in a Secret of the overlay, a nightly ScheduledBackup; every
    container of the service reads <SERVICE>_DATABASE_URL from that Cluster's <name>-app `uri`; no Secret
    keeps a database URL of its own."""
    problems = []
    clusters = {c["metadata"]["name"]: c for c in of_kind(docs, "Cluster")}
    secrets = {s["metadata"]["name"]: s for s in of_kind(docs, "Secret")}
    for package in service_packages():
        mine = [c for c in clusters.values() if (c["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == package]
        if len(mine) != 1:
            problems.append(f"{package}: {len(mine)} Clusters labelled with it, wanted 1")
            continue
        cluster = mine[0]
        spec = cluster["spec"]
        local = build_settings(package, {}).database_name  # the database the code names: fengqiao_<service>
        if (spec.get("bootstrap") or {}).get("initdb", {}).get("database") != local:
            problems.append(f"{where(cluster)}: initdb creates {spec.get('bootstrap')}, the service's database is {local}")
        if spec.get("instances") != 3:
            problems.append(f"{where(cluster)}: {spec.get('instances')} instances, wanted 3")
        affinity = spec.get("affinity") or {}
        if affinity.get("enablePodAntiAffinity") is not True or affinity.get("podAntiAffinityType") != "required":
            problems.append(f"{where(cluster)}: instances may share a node (affinity {affinity})")
        if ((spec.get("postgresql") or {}).get("synchronous") or {}).get("number", 0) < 1:
            problems.append(f"{where(cluster)}: no synchronous standby: a failover can lose committed outbox rows")
        store = (spec.get("backup") or {}).get("barmanObjectStore") or {}
        if not store.get("destinationPath") or not (spec.get("backup") or {}).get("retentionPolicy"):
            problems.append(f"{where(cluster)}: no backup to an object store with a retention policy")
        for ref in (store.get("s3Credentials") or {}).values():
            if isinstance(ref, dict) and ref.get("key") not in (secrets.get(ref.get("name")) or {}).get("stringData", {}):
                problems.append(f"{where(cluster)}: backup credential {ref} is not a key of a Secret of the overlay")
        scheduled = [b for b in of_kind(docs, "ScheduledBackup") if b["spec"]["cluster"]["name"] == cluster["metadata"]["name"]]
        if [b["spec"].get("method") for b in scheduled] != ["barmanObjectStore"]:
            problems.append(f"{where(cluster)}: {len(scheduled)} ScheduledBackups to its object store, wanted 1")
        variable = (settings_class(package).model_config["env_prefix"] + "database_url").upper()
        for workload, container in containers(docs):
            if package_of(container) != package:
                continue
            refs = [(v.get("valueFrom") or {}).get("secretKeyRef") for v in container.get("env", [])
                    if v["name"] == variable]
            if refs != [{"name": f"{cluster['metadata']['name']}-app", "key": "uri"}]:
                problems.append(f"{where(workload)}: {variable} from {refs}, not {cluster['metadata']['name']}-app/uri")
    for secret in secrets.values():
        kept = [key for key in (secret.get("stringData") or {}) if key.endswith("_DATABASE_URL")]
        if kept:
            problems.append(f"{where(secret)} still holds {kept}: the Cluster's Secret is the one source")
    return problems


def with_operator_secrets(docs: list[Doc]) -> list[Doc]:
    """The overlay as it runs: template Secrets filled in, the operator's <cluster>-app Secrets present."""
    return filled(docs) + operator_secrets(docs)
