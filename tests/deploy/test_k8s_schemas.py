"""deploy/k8s/base against the Kubernetes and KEDA schemas, offline; and deliberately broken copies fail."""
import hashlib
import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable

import kubernetes_validate
import pytest
import yaml

from tests.deploy.k8s import (
    BASE,
    KEDA_SCHEMA,
    KUBERNETES_VERSION,
    PACKAGES,
    RESOURCES,
    SCHEMAS_README,
    Doc,
    api_container,
    containers,
    deployment,
    kustomization,
    named,
    pod_annotations,
    resources,
    scaled_object,
    schema_errors,
    where,
)

# ---- tests: the manifests -----------------------------------------------------------------------

def test_there_is_something_to_check() -> None:
    """The kustomization lists the expected kinds (guards against a wrong path making tests vacuous)."""
    kinds = Counter(doc["kind"] for doc in RESOURCES)
    assert PACKAGES == ["assessment", "intake", "mediation"]
    # Per service an API and a consumer Deployment (mediation also its SLA worker), each with a PDB; a
    # ConfigMap and a Secret each, and the shared tracing ConfigMap and auth Secret; a migrate Job each and
    # the topics Job; a Service, a purge CronJob and a ScaledObject each; the namespace.
    assert kinds == Counter({"Deployment": 7, "PodDisruptionBudget": 7, "ConfigMap": 4, "Secret": 4, "Job": 4,
                             "Service": 3, "CronJob": 3, "ScaledObject": 3, "Namespace": 1}), kinds


def test_kustomization_lists_every_manifest() -> None:
    """Every YAML file in base/ is a resource of the kustomization, and every resource a file."""
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization()["resources"]) == present


def test_names_are_unique() -> None:
    """No two resources of one kind share a name (kubectl apply would keep only the last)."""
    counts = Counter((doc["kind"], doc["metadata"]["name"]) for doc in RESOURCES)
    assert not [key for key, n in counts.items() if n > 1]


def test_the_pinned_kubernetes_version_is_bundled() -> None:
    """kubernetes-validate has the schemas of exactly the pinned minor (no silent fallback to another)."""
    assert any(v.startswith(KUBERNETES_VERSION + ".") for v in kubernetes_validate.utils.all_versions())


@pytest.mark.parametrize("doc", RESOURCES, ids=where)
def test_manifest_matches_its_schema(doc: Doc) -> None:
    """Kubernetes 1.31's schema (strict) for built-in kinds, KEDA 2.16.1's for ScaledObjects."""
    assert schema_errors(doc) == []


def test_kustomize_builds_the_same_resources() -> None:
    """`kubectl kustomize` builds the base into these resources in the namespace with the pinned image;
    the built output passes the schemas too."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the kustomize build itself is not checked")
    result = subprocess.run([kubectl, "kustomize", str(BASE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert sorted(map(where, built)) == sorted(map(where, RESOURCES))
    namespace, image = kustomization()["namespace"], kustomization()["images"][0]
    for doc in built:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, where(doc)
        assert schema_errors(doc) == []
    for _, container in containers(built):
        assert container["image"] == f"{image['newName']}:{image['newTag']}"


# ---- tests: the KEDA schema ---------------------------------------------------------------------

def test_keda_schema_is_the_vendored_crd() -> None:
    """The vendored file is the checksum the schemas README records, and a ScaledObject's schema."""
    digest = hashlib.sha256(KEDA_SCHEMA.read_bytes()).hexdigest()
    assert digest in SCHEMAS_README.read_text("utf-8"), "schema changed: update deploy/k8s/schemas/README.md"
    schema = json.loads(KEDA_SCHEMA.read_text("utf-8"))
    assert schema["description"] == "ScaledObject is a specification for a ScaledObject resource"
    assert schema["properties"]["spec"]["required"] == ["scaleTargetRef", "triggers"]
    assert schema["properties"]["spec"]["properties"]["triggers"]["items"]["required"] == ["metadata", "type"]


# ---- negative tests: a broken copy fails its schema ---------------------------------------------

SCHEMA_BREAKS: dict[str, Callable[[list[Doc]], Doc]] = {
    "port as a string": lambda d: (api_container(d)["ports"][0].update(containerPort="8001"), deployment(d))[1],
    "misspelt field": lambda d: (api_container(d).update(readinessprobe=api_container(d).pop("readinessProbe")),
                                 deployment(d))[1],
    "Deployment without selector": lambda d: (deployment(d)["spec"].pop("selector"), deployment(d))[1],
    "memory limit as a list": lambda d: (api_container(d)["resources"]["limits"].update(memory=["512Mi"]),
                                         deployment(d))[1],
    "PDB selector as a list": lambda d: (named(d, "PodDisruptionBudget", "intake-api")["spec"].update(
        selector=[{"app.kubernetes.io/name": "intake"}]), named(d, "PodDisruptionBudget", "intake-api"))[1],
    "ScaledObject misspelt maxReplicaCount": lambda d: (scaled_object(d)["spec"].update(
        maxReplicas=scaled_object(d)["spec"].pop("maxReplicaCount")), scaled_object(d))[1],
    "ScaledObject lagThreshold as a number": lambda d: (scaled_object(d)["spec"]["triggers"][0]["metadata"].update(
        lagThreshold=1000), scaled_object(d))[1],
    "ScaledObject without triggers": lambda d: (scaled_object(d)["spec"].pop("triggers"), scaled_object(d))[1],
    "ScaledObject with bad metadata": lambda d: (scaled_object(d)["metadata"].update(labels=["consumer"]), scaled_object(d))[1],
    "scrape port annotation as a number": lambda d: (pod_annotations(d, "intake-consumer").update(
        {"prometheus.io/port": 9100}), deployment(d, "intake-consumer"))[1],
}


@pytest.mark.parametrize("name", SCHEMA_BREAKS)
def test_a_broken_manifest_fails_its_schema(name: str) -> None:
    """Each deliberately broken copy is caught by the schema validation the manifests pass."""
    docs = resources()
    broken = SCHEMA_BREAKS[name](docs)
    assert schema_errors(broken), f"{name}: the schema accepted it"
