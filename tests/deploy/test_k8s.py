"""deploy/k8s agrees with the Kubernetes and KEDA schemas and with the code.

Offline and pure: the Kubernetes 1.31 schemas come from the kubernetes-validate package (strict: an
unknown field is an error, as with kubectl's server-side field validation), KEDA's ScaledObject
schema from deploy/k8s/schemas/ (the CRD of KEDA 2.16.1, vendored; see the README there). The code is
read through imports: settings classes, the typer CLIs, the consumer runners, the topic registry.

Each cross-check is a function that returns the problems it finds, so that the negative tests at the
end can show it catches a deliberately broken copy; the schema checks get the same treatment.
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
import shutil
import subprocess
import tomllib
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import jsonschema
import kubernetes_validate
import opentelemetry.environment_variables
import opentelemetry.sdk.environment_variables
import prometheus_client
import pytest
import typer
import uvicorn
import yaml
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from shared import tracing
from shared.events.topics import topic as registered_topic
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
# Settings fields that only one kind of process reads (`consume` serves /metrics on metrics_port; the
# API, the SLA worker and the Jobs ignore it): the only fields a service's containers may set differently.
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
    server (`consume` with metrics_port set), uvicorn (`api`, whose app must have the /metrics route)
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
    """A CRD schema that refuses unknown fields, as the API server's strict field validation does."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "properties" in node:
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


# ---- cross-checks against the code: each returns its problems ------------------------------------

def cli_problems(docs: list[Doc]) -> list[str]:
    """Every container runs a service CLI's real subcommand with options that subcommand accepts."""
    problems = []
    for workload, container in containers(docs):
        words, package = command(container), package_of(container)
        if package is None:
            problems.append(f"{where(workload)}: {words[:1]} is not a service CLI of pyproject.toml")
            continue
        subcommand = click_cli(package).commands.get(words[1]) if len(words) > 1 else None
        if subcommand is None:
            problems.append(f"{where(workload)}: {words[:2]}: {words[0]} has no such command "
                            f"(it has {sorted(click_cli(package).commands)})")
            continue
        try:
            subcommand.make_context(words[1], words[2:])
        except (typer.TyperException, typer.Exit) as exc:
            problems.append(f"{where(workload)}: {words}: {exc}")
    return problems


def env_problems(docs: list[Doc]) -> list[str]:
    """Every variable a container gets is a field of its service's settings, and resolves."""
    problems = []
    for workload, container in containers(docs):
        package = package_of(container)
        if package is None:
            continue  # cli_problems says so
        env, unresolved = container_env(container, docs)
        problems += [f"{where(workload)}: {p}" for p in unresolved]
        problems += [f"{where(workload)}: {name} has no effect: {why}"
                     for name, why in OTEL_WITHOUT_EFFECT.items() if name in env]
        unknown = sorted(set(env) - env_names(package) - OTEL_VARIABLES - set(OTEL_WITHOUT_EFFECT))
        if unknown:
            problems.append(f"{where(workload)}: {unknown} are not fields of {settings_class(package).__name__} "
                            "nor OpenTelemetry variables the code reads (OTEL_VARIABLES)")
    return problems


def settings_problems(docs: list[Doc]) -> list[str]:
    """Every container's environment builds valid production settings, the same for a service's
    containers (but PER_PROCESS_FIELDS), and each service its own database."""
    problems, seen, databases = [], {}, {}
    for workload, container in containers(docs):
        package = package_of(container)
        if package is None:
            continue
        try:
            settings = build_settings(package, container_env(container, docs)[0])
        except ValidationError as exc:
            problems.append(f"{where(workload)}: settings refused: {exc}")
            continue
        if settings.environment != "production":
            problems.append(f"{where(workload)}: environment={settings.environment!r}, not production")
        view = settings.model_dump(mode="json", exclude={"jwt_secret", "phone_hmac_secret", *PER_PROCESS_FIELDS})
        first = seen.setdefault(package, (where(workload), view))
        if view != first[1]:
            problems.append(f"{where(workload)}: settings differ from {first[0]}'s")
        databases[package] = settings.database_name
    if len(set(databases.values())) != len(databases):
        problems.append(f"services share a database: {databases}")
    return problems


def probe_problems(docs: list[Doc]) -> list[str]:
    """Each API listens on all interfaces on its settings' port; readiness asks /readyz and liveness
    /healthz on that port."""
    problems = []
    for workload, container in containers(docs):
        package = package_of(container)
        if package is None or command(container)[1:2] != ["api"]:
            continue
        settings = build_settings(package, container_env(container, docs)[0])
        ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
        if settings.http_port not in ports.values():
            problems.append(f"{where(workload)}: http_port {settings.http_port} is not a container port {ports}")
        if settings.http_host != "0.0.0.0":
            problems.append(f"{where(workload)}: listens on {settings.http_host}: unreachable from the kubelet")
        wanted = {"readinessProbe": "/readyz", "livenessProbe": "/healthz", "startupProbe": None}
        for probe, path in wanted.items():
            get = (container.get(probe) or {}).get("httpGet")
            if get is None:
                if path:
                    problems.append(f"{where(workload)}: no {probe} httpGet")
                continue
            port = ports.get(get.get("port"), get.get("port"))
            if (path and get.get("path") != path) or port != settings.http_port:
                problems.append(f"{where(workload)}: {probe} asks {get.get('path')} on {get.get('port')}, "
                                f"wanted {path or 'a path'} on {settings.http_port}")
    return problems


def metrics_problems(docs: list[Doc]) -> list[str]:
    """Every Deployment that serves /metrics (as its command really does under its environment) serves it
    on all interfaces, on a port the container opens, and has the Prometheus scrape annotations for it;
    none that does not is annotated. Every consumer serves it: its container sets <PREFIX>_METRICS_PORT,
    opens it as the port `metrics` and has a liveness probe GET /metrics on it."""
    problems = []
    for workload in of_kind(docs, "Deployment"):
        annotations = workload["spec"]["template"]["metadata"].get("annotations") or {}
        for container in pod_spec(workload)["containers"]:
            package, words = package_of(container), command(container)
            if package is None or len(words) < 2 or words[1] not in click_cli(package).commands:
                continue  # cli_problems says so
            env = container_env(container, docs)[0]
            try:
                served = served_metrics(package, words, env)
            except (ValidationError, typer.TyperException, typer.Exit) as exc:
                problems.append(f"{where(workload)}: {words} does not start: {exc}")
                continue
            consumer = words[1] == "consume"
            if consumer:
                variable = (settings_class(package).model_config["env_prefix"] + "metrics_port").upper()
                if variable not in env_names(package):
                    problems.append(f"{where(workload)}: {variable} is not a settings field")
                elif variable not in {v["name"] for v in container.get("env", [])}:
                    problems.append(f"{where(workload)}: the consumer does not set {variable} in its env")
            if served is None:
                if consumer:
                    problems.append(f"{where(workload)}: the consumer serves no /metrics (no metrics port set)")
                if annotations.get("prometheus.io/scrape") == "true":
                    problems.append(f"{where(workload)}: annotated for scraping, but {words[:2]} serves no /metrics")
                continue
            host, port = served
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if host != "0.0.0.0":
                problems.append(f"{where(workload)}: /metrics on {host}: unreachable from Prometheus and the kubelet")
            if port not in ports.values():
                problems.append(f"{where(workload)}: /metrics port {port} is not a container port {ports}")
            if consumer and ports.get("metrics") != port:
                problems.append(f"{where(workload)}: no container port `metrics` = {port} ({ports})")
            wanted = {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": METRICS_PATH}
            problems += [f"{where(workload)}: pod annotation {key}={annotations.get(key)!r}, wanted {value!r}"
                         for key, value in wanted.items() if annotations.get(key) != value]
            if consumer:
                get = (container.get("livenessProbe") or {}).get("httpGet") or {}
                if get.get("path") != METRICS_PATH or ports.get(get.get("port"), get.get("port")) != port:
                    problems.append(f"{where(workload)}: liveness {get or 'none'}, wanted GET {METRICS_PATH} on {port}")
    return problems


def tracing_problems(docs: list[Doc]) -> list[str]:
    """Every Deployment's containers make spans and export them over OTLP to one collector: tracing on,
    the exporter `auto` resolving to otlp through the endpoint, a sampler the SDK accepts without
    falling back to its default; the same OpenTelemetry settings in every Deployment."""
    problems, seen = [], {}
    for workload in of_kind(docs, "Deployment"):
        for container in pod_spec(workload)["containers"]:
            package = package_of(container)
            if package is None:
                continue
            env = container_env(container, docs)[0]
            otel = {k: v for k, v in env.items() if k.startswith("OTEL_")}
            first = seen.setdefault("otel", (where(workload), otel))
            if otel != first[1]:
                problems.append(f"{where(workload)}: OpenTelemetry variables {otel} differ from {first[0]}'s")
            try:
                settings = build_settings(package, env)
            except ValidationError:
                continue  # settings_problems says so
            if settings.service_name != package:
                problems.append(f"{where(workload)}: service.name would be {settings.service_name!r}, not {package!r}")
            with mock.patch.dict(os.environ, env, clear=True), otel_warnings() as warnings:
                if not tracing.enabled(settings):
                    problems.append(f"{where(workload)}: tracing is off")
                exporter = tracing.exporter_name(settings.trace_exporter)
                endpoint = next((env[n] for n in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
                                 if env.get(n)), "")
                sampler = TracerProvider(shutdown_on_exit=False).sampler.get_description()
            if exporter != "otlp":
                problems.append(f"{where(workload)}: spans go to {exporter!r}, not otlp")
            url = urlsplit(endpoint)
            if url.scheme not in ("http", "https") or not url.hostname:
                problems.append(f"{where(workload)}: OTLP endpoint {endpoint!r} is not an http(s) URL")
            problems += [f"{where(workload)}: the SDK: {record.getMessage()} (sampler {sampler})" for record in warnings]
    return problems


def service_problems(docs: list[Doc]) -> list[str]:
    """Each Service selects one Deployment's pods and targets a port they open."""
    problems = []
    for service in of_kind(docs, "Service"):
        selector = service["spec"].get("selector") or {}
        chosen = [d for d in of_kind(docs, "Deployment")
                  if selects(selector, d["spec"]["template"]["metadata"].get("labels") or {})]
        if len(chosen) != 1:
            problems.append(f"{where(service)} selects {[where(d) for d in chosen]}, not one Deployment")
            continue
        ports = {p.get("name"): p["containerPort"] for c in pod_spec(chosen[0])["containers"]
                 for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if target not in ports and target not in ports.values():
                problems.append(f"{where(service)}: targetPort {target!r} is not a port of {where(chosen[0])}")
    return problems


def pdb_problems(docs: list[Doc]) -> list[str]:
    """Each Deployment has one PodDisruptionBudget, and none blocks every voluntary eviction."""
    problems, covered = [], Counter()
    deployments = of_kind(docs, "Deployment")
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        selector = pdb["spec"].get("selector", {}).get("matchLabels") or {}
        chosen = [d for d in deployments if selects(selector, d["spec"]["template"]["metadata"].get("labels") or {})]
        if len(chosen) != 1:
            problems.append(f"{where(pdb)} selects {[where(d) for d in chosen]}, not one Deployment")
            continue
        covered[chosen[0]["metadata"]["name"]] += 1
        replicas = chosen[0]["spec"].get("replicas")  # None: KEDA sets the count, from 1
        minimum = pdb["spec"].get("minAvailable")
        if isinstance(minimum, int) and minimum >= (replicas or 1):
            problems.append(f"{where(pdb)}: minAvailable {minimum} of {replicas or 1} replica(s) blocks every drain")
    for deployment in deployments:
        if covered[deployment["metadata"]["name"]] != 1:
            problems.append(f"{where(deployment)} has {covered[deployment['metadata']['name']]} PodDisruptionBudgets")
    return problems


def scaledobject_problems(docs: list[Doc]) -> list[str]:
    """Each consumer Deployment has one ScaledObject with a kafka trigger per topic on its group's lag,
    and maxReplicaCount <= the partitions of each topic the group consumes."""
    problems, targeted = [], Counter()
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    consumers = {name for name, d in deployments.items()
                 if any(command(c)[1:2] == ["consume"] for c in pod_spec(d)["containers"])}
    for scaled in of_kind(docs, "ScaledObject"):
        spec, ref = scaled["spec"], scaled["spec"]["scaleTargetRef"]
        target = deployments.get(ref["name"])
        if ref.get("kind", "Deployment") != "Deployment" or ref.get("apiVersion", "apps/v1") != "apps/v1" \
                or target is None:
            problems.append(f"{where(scaled)} targets {ref}: no such Deployment")
            continue
        targeted[ref["name"]] += 1
        if ref["name"] not in consumers:
            problems.append(f"{where(scaled)} scales {where(target)}, which runs no consumer")
            continue
        if "replicas" in target["spec"]:
            problems.append(f"{where(target)} sets replicas; KEDA's HPA owns the count (each apply would reset it)")
        (container,) = [c for c in pod_spec(target)["containers"] if command(c)[1:2] == ["consume"]]
        package = package_of(container)
        settings = build_settings(package, container_env(container, docs)[0])
        group, topics = consumer_of(package, settings)
        partitions = {name: registered_topic(name.removeprefix(settings.topic_prefix)).partitions for name in topics}
        maximum = spec.get("maxReplicaCount", KEDA_DEFAULT_MAX_REPLICAS)
        if maximum > min(partitions.values()):
            problems.append(f"{where(scaled)}: maxReplicaCount {maximum} > partitions {partitions}: "
                            "members beyond the partition count sit idle")
        if not 1 <= spec.get("minReplicaCount", 0) <= maximum:
            problems.append(f"{where(scaled)}: minReplicaCount {spec.get('minReplicaCount', 0)} not in 1..{maximum}")
        seen = []
        for trigger in spec["triggers"]:
            meta = trigger.get("metadata") or {}
            if trigger.get("type") != "kafka":
                problems.append(f"{where(scaled)}: trigger type {trigger.get('type')!r}, not kafka")
                continue
            seen.append(meta.get("topic"))
            expected = {"consumerGroup": group, "bootstrapServers": settings.kafka_bootstrap_servers,
                        "offsetResetPolicy": "earliest", "allowIdleConsumers": "false"}
            for key, value in expected.items():
                if meta.get(key) != value:
                    problems.append(f"{where(scaled)}: {key}={meta.get(key)!r}, the consumer has {value!r}")
            version = tuple(int(part) for part in re.findall(r"\d+", meta.get("version", "1.0.0"))[:2])
            if version < OLDEST_KAFKA_PROTOCOL:
                problems.append(f"{where(scaled)}: version {meta.get('version', '1.0.0 (default)')} is older "
                                "than the oldest protocol Kafka 4 serves (2.1)")
            if not int(meta.get("lagThreshold", "0")) > 0:
                problems.append(f"{where(scaled)}: lagThreshold {meta.get('lagThreshold')!r}")
        if sorted(seen) != sorted(topics):
            problems.append(f"{where(scaled)}: triggers on topics {seen}, the group {group} consumes {topics}")
    for name in sorted(consumers):
        if targeted[name] != 1:
            problems.append(f"Deployment/{name} runs a consumer and has {targeted[name]} ScaledObjects")
    return problems


def workload_problems(docs: list[Doc]) -> list[str]:
    """Per service: one API Deployment, one consumer Deployment when its CLI consumes, its extra
    workers, one migrate Job, one purge CronJob (retention, docs/design.md "Personal data") that never
    runs twice at once; and one topics Job with production's replication factor."""
    problems = []
    for cron in of_kind(docs, "CronJob"):
        if cron["spec"].get("concurrencyPolicy") != "Forbid":
            problems.append(f"{where(cron)}: concurrencyPolicy {cron['spec'].get('concurrencyPolicy')!r}, not Forbid")
    for package in service_packages():
        wanted = [("Deployment", "api"), ("Job", "migrate"), ("CronJob", "purge")]
        if "consume" in click_cli(package).commands:
            wanted.append(("Deployment", "consume"))
        wanted += [("Deployment", worker) for worker in EXTRA_WORKERS.get(package, ())]
        for kind, subcommand in wanted:
            found = runs(docs, kind, package, subcommand)
            if len(found) != 1:
                problems.append(f"{package}: {len(found)} {kind}s run `{subcommand}`, wanted 1")
    topic_jobs = [(w, c) for w, c in containers(docs) if command(c)[1:2] == ["topics"]]
    if len(topic_jobs) != 1 or topic_jobs[0][0]["kind"] != "Job":
        problems.append(f"{len(topic_jobs)} workloads run `topics`, wanted one Job")
    for workload, container in topic_jobs:
        words = command(container)
        package = package_of(container)
        if package is None or words[1] not in click_cli(package).commands:
            continue  # cli_problems says so
        try:
            params = click_cli(package).commands["topics"].make_context("topics", words[2:]).params
        except (typer.TyperException, typer.Exit):
            continue  # cli_problems says so
        if params.get("replication_factor") != PRODUCTION_REPLICATION:
            problems.append(f"{where(workload)}: --replication-factor {params.get('replication_factor')}, "
                            f"production has {PRODUCTION_REPLICATION} (docs/design.md, Conventions)")
    return problems


def security_problems(docs: list[Doc]) -> list[str]:
    """Every pod: the image's non-root user, the restricted Pod Security profile, no API token, no
    service links, requests and limits, the kustomization's image with a pinned tag."""
    problems = []
    uid = dockerfile_uid()
    image = kustomization()["images"][0]["name"]
    for workload in workloads(docs):
        spec = pod_spec(workload)
        pod = spec.get("securityContext") or {}
        wanted = {"runAsNonRoot": (pod.get("runAsNonRoot"), True),
                  "runAsUser": (pod.get("runAsUser"), uid),
                  "seccompProfile.type": ((pod.get("seccompProfile") or {}).get("type"), "RuntimeDefault"),
                  "automountServiceAccountToken": (spec.get("automountServiceAccountToken"), False),
                  "enableServiceLinks": (spec.get("enableServiceLinks"), False)}
        for container in spec.get("initContainers", []) + spec["containers"]:
            own = container.get("securityContext") or {}
            resources = container.get("resources") or {}
            name = container["name"]
            wanted |= {f"{name}.allowPrivilegeEscalation": (own.get("allowPrivilegeEscalation"), False),
                       f"{name}.readOnlyRootFilesystem": (own.get("readOnlyRootFilesystem"), True),
                       f"{name}.capabilities.drop": ((own.get("capabilities") or {}).get("drop"), ["ALL"]),
                       f"{name}.image": (container.get("image", "").split(":")[0], image)}
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(part) or {}):
                        problems.append(f"{where(workload)}: {name} has no {part}.{resource}")
            tag = container.get("image", "").partition(":")[2]
            if not tag or tag == "latest":
                problems.append(f"{where(workload)}: {name} image {container.get('image')!r} has no pinned tag")
        problems += [f"{where(workload)}: {key}={got!r}, wanted {expected!r}"
                     for key, (got, expected) in wanted.items() if got != expected]
    return problems


CHECKS: dict[str, Callable[[list[Doc]], list[str]]] = {
    check.__name__: check for check in (cli_problems, env_problems, settings_problems, probe_problems,
                                        metrics_problems, tracing_problems, service_problems, pdb_problems,
                                        scaledobject_problems, workload_problems, security_problems)
}
PACKAGES = service_packages()
RESOURCES = resources()


# ---- tests: the manifests -----------------------------------------------------------------------

def test_there_is_something_to_check() -> None:
    """The kustomization lists the expected kinds (guards against a wrong path making tests vacuous)."""
    kinds = Counter(doc["kind"] for doc in RESOURCES)
    assert PACKAGES
    assert kinds["Deployment"] >= 2 * len(PACKAGES) and kinds["ScaledObject"] >= 1, kinds
    assert {"ConfigMap", "Secret", "Service", "PodDisruptionBudget", "Job", "Namespace"} <= set(kinds), kinds


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


@pytest.mark.parametrize("name", CHECKS)
def test_manifests_agree_with_the_code(name: str) -> None:
    """Commands, environment, settings, probes, metrics, tracing, Services, PDBs, ScaledObjects, workloads,
    security."""
    assert CHECKS[name](filled(RESOURCES)) == []


def test_secret_template_fails_closed() -> None:
    """Applied unchanged, the Secret template's placeholders are refused by every service in production."""
    for workload, container in containers(RESOURCES):
        package = package_of(container)
        with pytest.raises(ValidationError, match="local development"):
            build_settings(package, container_env(container, RESOURCES)[0])
        assert container_env(container, RESOURCES)[0][f"{package.upper()}_ENVIRONMENT"] == "production", \
            where(workload)
    for secret in of_kind(RESOURCES, "Secret"):
        assert "replace" in secret["metadata"].get("annotations", {}).get("fengqiao/template", ""), where(secret)


def test_every_secret_and_config_value_is_used() -> None:
    """No ConfigMap key, Secret key or resource is left unread by every container."""
    used: set[tuple[str, str, str]] = set()
    for _, container in containers(RESOURCES):
        for source in container.get("envFrom", []):
            kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret", source["secretRef"])
            found = named(RESOURCES, kind, ref["name"]) or {}
            keys = (found.get("data") or {}) if kind == "ConfigMap" else secret_values(found)
            used |= {(kind, ref["name"], key) for key in keys}
        for variable in container.get("env", []):
            for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                ref = (variable.get("valueFrom") or {}).get(field)
                if ref:
                    used.add((kind, ref["name"], ref["key"]))
    defined = {("ConfigMap", d["metadata"]["name"], key) for d in of_kind(RESOURCES, "ConfigMap")
               for key in d.get("data") or {}}
    defined |= {("Secret", d["metadata"]["name"], key) for d in of_kind(RESOURCES, "Secret") for key in secret_values(d)}
    assert defined - used == set()


def test_one_jwt_secret_for_every_service() -> None:
    """All services verify bearer tokens with the same key (a token is checked by each service it calls)."""
    docs = filled(RESOURCES)
    secrets = {package_of(c): build_settings(package_of(c), container_env(c, docs)[0]).jwt_secret.get_secret_value()
               for _, c in containers(docs)}
    assert set(secrets) == set(PACKAGES) and len(set(secrets.values())) == 1


@pytest.mark.parametrize("package", PACKAGES)
def test_probe_paths_are_routes_of_the_app(package: str) -> None:
    """/healthz and /readyz, which the probes ask, are routes of the service's app."""
    (api,) = runs(RESOURCES, "Deployment", package, "api")
    (container,) = pod_spec(api)["containers"]
    settings = build_settings(package, container_env(container, filled(RESOURCES))[0])
    app = importlib.import_module(f"services.{package}.api").create_app(settings)
    paths = set(app.openapi()["paths"])
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in container:
            assert container[probe]["httpGet"]["path"] in paths, f"{package}: {probe}"
    assert api["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] in paths


def test_otel_variables_are_the_sdks() -> None:
    """Each name OTEL_VARIABLES allows, or OTEL_WITHOUT_EFFECT explains, is one OpenTelemetry defines
    (so the allow-list itself has no typo), and the manifests set only allowed ones."""
    defined = {name for module in (opentelemetry.environment_variables, opentelemetry.sdk.environment_variables)
               for name in dir(module) if name.startswith("OTEL_")}
    assert OTEL_VARIABLES | set(OTEL_WITHOUT_EFFECT) <= defined, sorted((OTEL_VARIABLES | set(OTEL_WITHOUT_EFFECT)) - defined)
    used = {name for _, c in containers(RESOURCES) for name in container_env(c, RESOURCES)[0] if name.startswith("OTEL_")}
    assert used and used <= OTEL_VARIABLES, used


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


# ---- negative tests: a broken copy fails --------------------------------------------------------

def _deployment(docs: list[Doc], name: str = "intake-api") -> Doc:
    return named(docs, "Deployment", name)


def _scaled(docs: list[Doc], name: str = "intake-consumer") -> Doc:
    return named(docs, "ScaledObject", name)


def _api_container(docs: list[Doc]) -> Doc:
    return pod_spec(_deployment(docs))["containers"][0]


def _consumer_container(docs: list[Doc], name: str = "intake-consumer") -> Doc:
    return pod_spec(_deployment(docs, name))["containers"][0]


def _annotations(docs: list[Doc], name: str = "intake-api") -> Doc:
    return _deployment(docs, name)["spec"]["template"]["metadata"].setdefault("annotations", {})


def _without_env(docs: list[Doc], deployment: str, variable: str) -> None:
    container = _consumer_container(docs, deployment)
    container["env"] = [v for v in container["env"] if v["name"] != variable]


def _tracing(docs: list[Doc]) -> Doc:
    return named(docs, "ConfigMap", "fengqiao-tracing")["data"]


SCHEMA_BREAKS: dict[str, Callable[[list[Doc]], Doc]] = {
    "port as a string": lambda d: (_api_container(d)["ports"][0].update(containerPort="8001"), _deployment(d))[1],
    "misspelt field": lambda d: (_api_container(d).update(readinessprobe=_api_container(d).pop("readinessProbe")),
                                 _deployment(d))[1],
    "Deployment without selector": lambda d: (_deployment(d)["spec"].pop("selector"), _deployment(d))[1],
    "memory limit as a list": lambda d: (_api_container(d)["resources"]["limits"].update(memory=["512Mi"]),
                                         _deployment(d))[1],
    "PDB selector as a list": lambda d: (named(d, "PodDisruptionBudget", "intake-api")["spec"].update(
        selector=[{"app.kubernetes.io/name": "intake"}]), named(d, "PodDisruptionBudget", "intake-api"))[1],
    "ScaledObject misspelt maxReplicaCount": lambda d: (_scaled(d)["spec"].update(
        maxReplicas=_scaled(d)["spec"].pop("maxReplicaCount")), _scaled(d))[1],
    "ScaledObject lagThreshold as a number": lambda d: (_scaled(d)["spec"]["triggers"][0]["metadata"].update(
        lagThreshold=1000), _scaled(d))[1],
    "ScaledObject without triggers": lambda d: (_scaled(d)["spec"].pop("triggers"), _scaled(d))[1],
    "ScaledObject with bad metadata": lambda d: (_scaled(d)["metadata"].update(labels=["consumer"]), _scaled(d))[1],
    "scrape port annotation as a number": lambda d: (_annotations(d, "intake-consumer").update(
        {"prometheus.io/port": 9100}), _deployment(d, "intake-consumer"))[1],
}


@pytest.mark.parametrize("name", SCHEMA_BREAKS)
def test_a_broken_manifest_fails_its_schema(name: str) -> None:
    """Each deliberately broken copy is caught by the schema validation the manifests pass."""
    docs = resources()
    broken = SCHEMA_BREAKS[name](docs)
    assert schema_errors(broken), f"{name}: the schema accepted it"


def _set_command(docs: list[Doc], name: str, words: list[str]) -> None:
    pod_spec(_deployment(docs, name) or named(docs, "Job", name))["containers"][0]["command"] = words


CODE_BREAKS: dict[str, tuple[Callable[[list[Doc]], object], Callable[[list[Doc]], list[str]]]] = {
    "no such subcommand": (lambda d: _set_command(d, "intake-consumer", ["fengqiao-intake", "consumer"]),
                           cli_problems),
    "no such option": (lambda d: _set_command(d, "topics", ["fengqiao-intake", "topics", "--replicas", "3"]),
                       cli_problems),
    "not a service CLI": (lambda d: _set_command(d, "intake-api", ["uvicorn", "services.intake.api:app"]),
                          cli_problems),
    "misspelt variable": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(
        INTAKE_KAFKA_BOOTSTRAP_SERVER="kafka:9092"), env_problems),
    "another service's variable": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(
        MEDIATION_LOG_LEVEL="INFO"), env_problems),
    "missing Secret": (lambda d: named(d, "Secret", "fengqiao-auth").update(metadata={"name": "auth"}), env_problems),
    "environment local": (lambda d: named(d, "ConfigMap", "mediation-config")["data"].update(
        MEDIATION_ENVIRONMENT="local"), settings_problems),
    "shared database": (lambda d: named(d, "Secret", "assessment-secrets")["stringData"].update(
        ASSESSMENT_DATABASE_URL=named(d, "Secret", "mediation-secrets")["stringData"]["MEDIATION_DATABASE_URL"]),
        settings_problems),
    "readiness on /ready": (lambda d: _api_container(d)["readinessProbe"]["httpGet"].update(path="/ready"),
                            probe_problems),
    "probe on another port": (lambda d: _api_container(d)["livenessProbe"]["httpGet"].update(port=8002),
                              probe_problems),
    "port not the settings'": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(
        INTAKE_HTTP_PORT="9000"), probe_problems),
    "Service targets no port": (lambda d: named(d, "Service", "intake")["spec"]["ports"][0].update(targetPort="web"),
                                service_problems),
    "PDB blocks drains": (lambda d: named(d, "PodDisruptionBudget", "intake-api")["spec"].update(minAvailable=2),
                          pdb_problems),
    "Deployment without PDB": (lambda d: d.remove(named(d, "PodDisruptionBudget", "mediation-sla")), pdb_problems),
    "more replicas than partitions": (lambda d: _scaled(d)["spec"].update(maxReplicaCount=7), scaledobject_problems),
    "no maxReplicaCount (KEDA's 100)": (lambda d: _scaled(d)["spec"].pop("maxReplicaCount"), scaledobject_problems),
    "another group": (lambda d: _scaled(d)["spec"]["triggers"][0]["metadata"].update(consumerGroup="intake"),
                      scaledobject_problems),
    "a topic the group does not read": (lambda d: _scaled(d, "assessment-consumer")["spec"]["triggers"][1][
        "metadata"].update(topic="community.activity.v1"), scaledobject_problems),
    "another Kafka": (lambda d: _scaled(d)["spec"]["triggers"][0]["metadata"].update(bootstrapServers="kafka:9092"),
                      scaledobject_problems),
    "topic prefix not followed": (lambda d: named(d, "ConfigMap", "mediation-config")["data"].update(
        MEDIATION_TOPIC_PREFIX="staging."), scaledobject_problems),
    "KEDA's default protocol": (lambda d: _scaled(d)["spec"]["triggers"][0]["metadata"].pop("version"),
                                scaledobject_problems),
    "targets the API": (lambda d: _scaled(d)["spec"]["scaleTargetRef"].update(name="intake-api"),
                        scaledobject_problems),
    "replicas on a scaled Deployment": (lambda d: _deployment(d, "intake-consumer")["spec"].update(replicas=2),
                                        scaledobject_problems),
    "no migrate Job": (lambda d: d.remove(named(d, "Job", "assessment-migrate")), workload_problems),
    "no purge CronJob": (lambda d: d.remove(named(d, "CronJob", "mediation-purge")), workload_problems),
    "purge runs twice at once": (lambda d: named(d, "CronJob", "intake-purge")["spec"].update(
        concurrencyPolicy="Allow"), workload_problems),
    "purge with a misspelt option": (lambda d: pod_spec(named(d, "CronJob", "intake-purge"))["containers"][0].update(
        command=["fengqiao-intake", "purge", "--dryrun"]), cli_problems),
    "retention misspelt": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(
        INTAKE_CALLER_RETENTION_DAYS="90"), env_problems),
    "topics with replication 1": (lambda d: _set_command(d, "topics", ["fengqiao-intake", "topics",
                                                                       "--replication-factor", "1"]),
                                  workload_problems),
    "runs as root": (lambda d: pod_spec(_deployment(d))["securityContext"].update(runAsNonRoot=False, runAsUser=0),
                     security_problems),
    "no memory limit": (lambda d: _api_container(d)["resources"]["limits"].pop("memory"), security_problems),
    "latest image": (lambda d: _api_container(d).update(image="fengqiao:latest"), security_problems),
    "service links on": (lambda d: pod_spec(_deployment(d)).update(enableServiceLinks=True), security_problems),
    "consumer without metrics port": (lambda d: _without_env(d, "mediation-consumer", "MEDIATION_METRICS_PORT"),
                                      metrics_problems),
    "metrics port only in the ConfigMap": (lambda d: (_without_env(d, "intake-consumer", "INTAKE_METRICS_PORT"),
                                                      named(d, "ConfigMap", "intake-config")["data"].update(
                                                          INTAKE_METRICS_PORT="9100")), metrics_problems),
    "metrics port misspelt": (lambda d: next(v for v in _consumer_container(d)["env"]
                                             if v["name"] == "INTAKE_METRICS_PORT").update(name="INTAKE_METRIC_PORT"),
                              env_problems),
    "metrics port not opened": (lambda d: _consumer_container(d, "assessment-consumer").pop("ports"), metrics_problems),
    "metrics port not the setting's": (lambda d: _consumer_container(d)["ports"][0].update(containerPort=9101),
                                       metrics_problems),
    "consumer metrics on localhost": (lambda d: _consumer_container(d)["env"].append(
        {"name": "INTAKE_HTTP_HOST", "value": "127.0.0.1"}), metrics_problems),
    "consumer without liveness": (lambda d: _consumer_container(d).pop("livenessProbe"), metrics_problems),
    "consumer liveness on another path": (lambda d: _consumer_container(d)["livenessProbe"]["httpGet"].update(
        path="/healthz", port=9100), metrics_problems),
    "consumer not annotated": (lambda d: _annotations(d, "intake-consumer").pop("prometheus.io/scrape"),
                               metrics_problems),
    "API scraped on the consumer's port": (lambda d: _annotations(d).update({"prometheus.io/port": "9100"}),
                                           metrics_problems),
    "SLA worker annotated": (lambda d: _annotations(d, "mediation-sla").update(
        {"prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "/metrics"}),
        metrics_problems),
    "misspelt OTEL variable": (lambda d: _tracing(d).update(OTEL_EXPORTER_OTLP_ENDPIONT="http://collector:4318"),
                               env_problems),
    "OTEL_SERVICE_NAME (overridden)": (lambda d: _tracing(d).update(OTEL_SERVICE_NAME="intake"), env_problems),
    "no collector endpoint": (lambda d: _tracing(d).pop("OTEL_EXPORTER_OTLP_ENDPOINT"), tracing_problems),
    "unknown sampler": (lambda d: _tracing(d).update(OTEL_TRACES_SAMPLER="parentbased_ratio"), tracing_problems),
    "sampler ratio in percent": (lambda d: _tracing(d).update(OTEL_TRACES_SAMPLER_ARG="10%"), tracing_problems),
    "tracing off in one service": (lambda d: named(d, "ConfigMap", "assessment-config")["data"].update(
        ASSESSMENT_TRACING="false"), tracing_problems),
    "exporter none": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(INTAKE_TRACE_EXPORTER="none"),
                      tracing_problems),
    "one Deployment without the tracing ConfigMap": (lambda d: _consumer_container(d)["envFrom"].pop(),
                                                     tracing_problems),
}


@pytest.mark.parametrize("name", CODE_BREAKS)
def test_a_broken_manifest_fails_the_cross_checks(name: str) -> None:
    """Each deliberately broken copy is caught by the cross-check that passes on the real manifests."""
    breaks, check = CODE_BREAKS[name]
    docs = filled(resources())
    breaks(docs)
    assert check(docs), f"{name}: {check.__name__} found nothing"
