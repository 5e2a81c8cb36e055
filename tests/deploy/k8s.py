"""deploy/k8s as data, what the code says about it, and the schemas it must pass.

Shared by the deployment tests (test_k8s_schemas.py, test_k8s_code.py, test_operators.py): the manifests of
the kustomize base, read through yaml; the code read through imports (settings classes, the typer CLIs,
the consumer runners, the topic registry); the Kubernetes 1.31 schemas of the kubernetes-validate package
(strict: an unknown field is an error, as with kubectl's server-side field validation) and the CRD schemas
vendored in deploy/k8s/schemas/ (see the README there).
"""
import asyncio
import contextlib
import copy
import hashlib
import importlib
import inspect
import json
import logging
import os
import re
import tomllib
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import jsonschema
import kubernetes_validate
import prometheus_client
import typer
import uvicorn
import yaml

from shared.kafka.consumer import ConsumerRunner
from shared.settings import ServiceSettings
from tests.deploy.test_compose import settings_class

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
KEDA_SCHEMA = K8S / "schemas" / "keda-2.16.1-scaledobject-v1alpha1.json"
SCHEMAS_README = K8S / "schemas" / "README.md"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"

# The Kubernetes minor whose schemas the manifests must pass: KEDA 2.16 supports 1.29 to 1.31.
KUBERNETES_VERSION = "1.31"
# docs/design.md, "Conventions": production topics have replication factor 3 (and min.insync.replicas=2 on the brokers).
PRODUCTION_REPLICATION = 3
# KEDA's maxReplicaCount when a ScaledObject does not set one.
KEDA_DEFAULT_MAX_REPLICAS = 100
# Kafka 4 serves no protocol older than Kafka 2.1's (KIP-896): KEDA's client must speak at least that.
OLDEST_KAFKA_PROTOCOL = (2, 1)
# Long-running commands beyond api and consume, by service package.
EXTRA_WORKERS = {"mediation": ("sla",)}
# Settings fields that only some kinds of process read (`consume` and mediation's `sla` serve /metrics on
# metrics_port; the API and the Jobs ignore it): the only fields a service's containers may set differently.
PER_PROCESS_FIELDS = frozenset({"metrics_port"})
# Where Prometheus scrapes: the API's route, and any path of prometheus_client's server in `consume`.
METRICS_PATH = "/metrics"
# The only variables a container may get beyond its settings' fields: OpenTelemetry's, as far as the
# code that runs reads them (shared/tracing.py itself, and the SDK parts it installs: TracerProvider and
# its sampler, Resource.create, BatchSpanProcessor, the OTLP/HTTP span exporter). An explicit list, so
# that a misspelt or ineffective OTEL_ name fails env_problems like a misspelt setting.
OTEL_VARIABLES = frozenset({
    "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",  # shared/tracing.py
    "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",  # TracerProvider's sampler
    "OTEL_RESOURCE_ATTRIBUTES",  # Resource.create (its service.name is overridden like OTEL_SERVICE_NAME)
    "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "OTEL_BSP_EXPORT_TIMEOUT",
    *(f"OTEL_EXPORTER_OTLP_{signal}{name}"  # the OTLP/HTTP exporter (the endpoint also in shared/tracing.py)
      for signal in ("", "TRACES_")
      for name in ("ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE", "CLIENT_CERTIFICATE",
                   "CLIENT_KEY")),
})
# Read by the SDK but without effect here, and why: setting one would mislead.
OTEL_WITHOUT_EFFECT = {
    "OTEL_SERVICE_NAME": "shared/tracing.py sets service.name from the settings' service_name, which overrides it",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "the exporter is OTLP over HTTP (protobuf) whatever it says",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "the exporter is OTLP over HTTP (protobuf) whatever it says",
}

Doc = dict[str, Any]


# ---- the manifests ------------------------------------------------------------------------------

@cache
def kustomization() -> Doc:
    """deploy/k8s/base/kustomization.yaml."""
    return yaml.safe_load((BASE / "kustomization.yaml").read_text("utf-8"))


@cache
def _loaded() -> tuple[str, ...]:
    docs = []
    for name in kustomization()["resources"]:
        docs += [doc for doc in yaml.safe_load_all((BASE / name).read_text("utf-8")) if doc]
    return tuple(json.dumps(doc) for doc in docs)


def resources() -> list[Doc]:
    """A fresh copy of every resource the kustomization lists, as written (Secrets hold the template)."""
    return [json.loads(doc) for doc in _loaded()]


def filled(docs: list[Doc]) -> list[Doc]:
    """The resources as an operator applies them: every Secret placeholder replaced by a real value."""
    docs = copy.deepcopy(docs)
    for secret in of_kind(docs, "Secret"):
        values = secret.setdefault("stringData", {})
        for key, value in values.items():
            if key.endswith("DATABASE_URL"):
                url = urlsplit(value)  # keep the scheme and database, replace user, password and host
                values[key] = urlunsplit(url._replace(netloc="fengqiao_app:" + "p" * 32 + "@postgres.db.svc:5432"))
            else:
                values[key] = hashlib.sha256(key.encode()).hexdigest()
    return docs


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    """The resources of one kind."""
    return [doc for doc in docs if doc.get("kind") == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc | None:
    """The resource of that kind and name, if any."""
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    return found[0] if found else None


def where(doc: Doc) -> str:
    """kind/name, for messages."""
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_spec(workload: Doc) -> Doc:
    """The pod spec of a Deployment, Job or CronJob."""
    if workload.get("kind") == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def workloads(docs: list[Doc]) -> list[Doc]:
    """Deployments, Jobs and CronJobs."""
    return of_kind(docs, "Deployment") + of_kind(docs, "Job") + of_kind(docs, "CronJob")


def containers(docs: list[Doc]) -> list[tuple[Doc, Doc]]:
    """(workload, container) for every container of every Deployment, Job and CronJob."""
    return [(w, c) for w in workloads(docs)
            for c in pod_spec(w).get("initContainers", []) + pod_spec(w).get("containers", [])]


def command(container: Doc) -> list[str]:
    """What the container runs: command + args."""
    return [str(word) for word in container.get("command", []) + container.get("args", [])]


def runs(docs: list[Doc], kind: str, package: str, subcommand: str) -> list[Doc]:
    """The workloads of a kind whose container runs `<cli of package> <subcommand>`."""
    cli = {v: k for k, v in scripts().items()}[package]
    return [w for w in of_kind(docs, kind)
            if any(command(c)[:2] == [cli, subcommand] for c in pod_spec(w)["containers"])]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """matchLabels semantics."""
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def secret_values(secret: Doc) -> dict[str, str]:
    """A Secret's stringData and (decoded) data."""
    import base64
    values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return values | dict(secret.get("stringData") or {})


def container_env(container: Doc, docs: list[Doc]) -> tuple[dict[str, str], list[str]]:
    """The environment the container gets from envFrom and env, and what could not be resolved."""
    env: dict[str, str] = {}
    problems: list[str] = []
    for source in container.get("envFrom", []):
        if source.get("prefix"):
            problems.append(f"envFrom prefix {source['prefix']!r}: names would not be the settings' names")
        if "configMapRef" in source:
            found = named(docs, "ConfigMap", source["configMapRef"]["name"])
            values = None if found is None else dict(found.get("data") or {})
        else:
            found = named(docs, "Secret", source["secretRef"]["name"])
            values = None if found is None else secret_values(found)
        if values is None:
            problems.append(f"envFrom {source} names no resource of the kustomization")
        else:
            env |= {k: str(v) for k, v in values.items()}
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
            continue
        ref = (variable.get("valueFrom") or {})
        if "secretKeyRef" in ref:
            found, ref = named(docs, "Secret", ref["secretKeyRef"]["name"]), ref["secretKeyRef"]
            values = None if found is None else secret_values(found)
        elif "configMapKeyRef" in ref:
            found, ref = named(docs, "ConfigMap", ref["configMapKeyRef"]["name"]), ref["configMapKeyRef"]
            values = None if found is None else dict(found.get("data") or {})
        else:
            problems.append(f"{variable['name']}: only value, secretKeyRef and configMapKeyRef are checked")
            continue
        if values is None or ref["key"] not in values:
            problems.append(f"{variable['name']}: {ref['name']}/{ref['key']} does not exist")
        else:
            env[variable["name"]] = str(values[ref["key"]])
    return env, problems


# ---- what the code says -------------------------------------------------------------------------

def service_packages() -> list[str]:
    """Every service package under services/ (a folder with a settings.py)."""
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/settings.py"))


@cache
def scripts() -> dict[str, str]:
    """Console script -> service package, from pyproject.toml."""
    table = tomllib.loads(PYPROJECT.read_text("utf-8"))["project"]["scripts"]
    return {name: match[1] for name, target in table.items()
            if (match := re.fullmatch(r"services\.(\w+)\.__main__:cli", target))}


def package_of(container: Doc) -> str | None:
    """The service package whose CLI the container runs."""
    words = command(container)
    return scripts().get(words[0]) if words else None


@cache
def click_cli(package: str) -> Any:
    """The service's typer CLI as a click group (its subcommands and their options)."""
    return typer.main.get_command(importlib.import_module(f"services.{package}.__main__").cli)


def env_names(package: str) -> set[str]:
    """Every environment variable the settings class reads: prefix + field name, upper-cased."""
    cls = settings_class(package)
    return {(cls.model_config["env_prefix"] + field).upper() for field in cls.model_fields}


def build_settings(package: str, env: dict[str, str]) -> ServiceSettings:
    """The settings the container builds: its environment and nothing of ours."""
    with mock.patch.dict(os.environ, env, clear=True):
        return settings_class(package)()


def consumer_of(package: str, settings: ServiceSettings) -> tuple[str, list[str]]:
    """The consumer group and topics the service's `consume` joins under these settings.

    Calls the consumer module's runner factory (the function returning a ConsumerRunner) with a
    recording stand-in for ConsumerRunner: the names come from the code, no Kafka is touched.
    """
    module = importlib.import_module(f"services.{package}.consumer")
    factories = [f for _, f in inspect.getmembers(module, inspect.isfunction)
                 if f.__module__ == module.__name__
                 and inspect.signature(f).return_annotation in (ConsumerRunner, "ConsumerRunner")]
    assert len(factories) == 1, f"services.{package}.consumer should have one ConsumerRunner factory"
    recorded: dict[str, Any] = {}

    class Recorder:
        def __init__(self, **kwargs: Any) -> None:
            recorded.update(kwargs)

    arguments = {"ctx": SimpleNamespace(settings=settings, producer=None, pool=None),
                 "settings": settings, "pool": None, "producer": None}
    with mock.patch.object(module, "ConsumerRunner", Recorder):
        factories[0](**{name: arguments[name] for name in inspect.signature(factories[0]).parameters})
    return recorded["name"], list(recorded["topics"])


def served_metrics(package: str, words: list[str], env: dict[str, str]) -> tuple[str, int] | None:
    """(host, port) on which the command serves Prometheus /metrics under this environment, or None.

    Runs the CLI command itself with what it would start replaced by recorders: prometheus_client's
    server (`consume` or `sla` with metrics_port set), uvicorn (`api`, whose app must have the /metrics route)
    and asyncio.run (the coroutine is closed unstarted). Nothing listens, nothing connects.
    """
    command_ = click_cli(package).commands[words[1]]
    main = importlib.import_module(f"services.{package}.__main__")
    quiet = [mock.patch.object(module, "configure_logging")
             for module in (importlib.import_module("shared.cli"), main) if hasattr(module, "configure_logging")]
    with mock.patch.dict(os.environ, env, clear=True), \
            mock.patch.object(prometheus_client, "start_http_server") as metrics_server, \
            mock.patch.object(uvicorn, "run") as uvicorn_run, \
            mock.patch.object(asyncio, "run", side_effect=lambda coroutine: coroutine.close()):
        for patch in quiet:
            patch.start()
        try:
            command_.invoke(command_.make_context(words[1], words[2:]))
        finally:
            for patch in quiet:
                patch.stop()
    if metrics_server.called:
        call = metrics_server.call_args
        return call.kwargs.get("addr", "0.0.0.0"), call.kwargs.get("port", call.args[0] if call.args else None)
    if uvicorn_run.called:
        call = uvicorn_run.call_args
        if METRICS_PATH in call.args[0].openapi()["paths"]:
            return call.kwargs["host"], call.kwargs["port"]
    return None


@contextlib.contextmanager
def otel_warnings() -> Any:
    """The warnings the OpenTelemetry SDK logs meanwhile (an unknown sampler, a ratio that is no number, ...)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("opentelemetry")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)  # whatever the root logger's level (another test's logging set-up)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def dockerfile_uid() -> int:
    """The uid of the image's user (deploy/Dockerfile)."""
    return int(re.search(r"--uid (\d+)", DOCKERFILE.read_text("utf-8"))[1])


# ---- the schemas --------------------------------------------------------------------------------

def strict(node: Any) -> Any:
    """A CRD schema that refuses unknown fields, as the API server's strict field validation does (but where
    the CRD keeps them: x-kubernetes-preserve-unknown-fields, e.g. Kafka's free-form `config`)."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["properties"] = {name: strict(schema) for name, schema in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out[key] = strict(node[key])
    return out


@cache
def keda_validator() -> jsonschema.Draft4Validator:
    """ScaledObject validator from the vendored KEDA CRD schema (OpenAPI v3, a JSON Schema draft 4 subset)."""
    schema = strict(json.loads(KEDA_SCHEMA.read_text("utf-8")))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def kubernetes_errors(doc: Doc, label: str | None = None) -> list[str]:
    """What the Kubernetes schema of the pinned version finds wrong with the resource."""
    label = label or where(doc)
    if not isinstance(doc.get("apiVersion"), str) or not isinstance(doc.get("kind"), str):
        return [f"{label}: no apiVersion or kind"]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{label}: {'.'.join(map(str, exc.path))}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{label}: {exc.message}"]
    return []


def schema_errors(doc: Doc) -> list[str]:
    """Schema errors of one resource: KEDA's schema for a ScaledObject, Kubernetes' for the rest."""
    if (doc.get("apiVersion"), doc.get("kind")) == ("keda.sh/v1alpha1", "ScaledObject"):
        errors = [f"{where(doc)}: {'.'.join(map(str, e.path))}: {e.message}"
                  for e in keda_validator().iter_errors(doc)]
        # The CRD leaves metadata open; the API server checks it as ObjectMeta, and so do we.
        return errors + kubernetes_errors({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata")},
                                          label=where(doc))
    return kubernetes_errors(doc)


PACKAGES = service_packages()
RESOURCES = resources()


# ---- picking resources to break (the negative tests) --------------------------------------------

def deployment(docs: list[Doc], name: str = "intake-api") -> Doc:
    return named(docs, "Deployment", name)


def scaled_object(docs: list[Doc], name: str = "intake-consumer") -> Doc:
    return named(docs, "ScaledObject", name)


def api_container(docs: list[Doc]) -> Doc:
    return pod_spec(deployment(docs))["containers"][0]


def consumer_container(docs: list[Doc], name: str = "intake-consumer") -> Doc:
    return pod_spec(deployment(docs, name))["containers"][0]


def pod_annotations(docs: list[Doc], name: str = "intake-api") -> Doc:
    return deployment(docs, name)["spec"]["template"]["metadata"].setdefault("annotations", {})


def drop_env(docs: list[Doc], deployment: str, variable: str) -> None:
    container = consumer_container(docs, deployment)
    container["env"] = [v for v in container["env"] if v["name"] != variable]


def tracing_config(docs: list[Doc]) -> Doc:
    return named(docs, "ConfigMap", "fengqiao-tracing")["data"]


def set_command(docs: list[Doc], name: str, words: list[str]) -> None:
    pod_spec(deployment(docs, name) or named(docs, "Job", name))["containers"][0]["command"] = words
