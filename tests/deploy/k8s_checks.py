"""Cross-checks of the manifests against the code: each returns the problems it finds, so that the
negative tests can show it catches a deliberately broken copy."""
import os
import re
from collections import Counter
from collections.abc import Callable
from unittest import mock
from urllib.parse import urlsplit

import typer
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from shared import tracing
from shared.events.topics import topic as registered_topic
from tests.deploy.k8s import (
    EXTRA_WORKERS,
    KEDA_DEFAULT_MAX_REPLICAS,
    METRICS_PATH,
    OLDEST_KAFKA_PROTOCOL,
    OTEL_VARIABLES,
    OTEL_WITHOUT_EFFECT,
    PER_PROCESS_FIELDS,
    PRODUCTION_REPLICATION,
    Doc,
    build_settings,
    click_cli,
    command,
    consumer_of,
    container_env,
    containers,
    dockerfile_uid,
    env_names,
    kustomization,
    of_kind,
    otel_warnings,
    package_of,
    pod_spec,
    runs,
    selects,
    served_metrics,
    service_packages,
    where,
    workloads,
)
from tests.deploy.test_compose import settings_class

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
