"""deploy/k8s/base agrees with the code (k8s_checks.py), and each cross-check catches a broken copy."""
import importlib
from collections.abc import Callable

import opentelemetry.environment_variables
import opentelemetry.sdk.environment_variables
import pytest
from pydantic import ValidationError

from tests.deploy.k8s import (
    OTEL_VARIABLES,
    OTEL_WITHOUT_EFFECT,
    PACKAGES,
    RESOURCES,
    Doc,
    api_container,
    build_settings,
    consumer_container,
    container_env,
    containers,
    deployment,
    drop_env,
    filled,
    named,
    of_kind,
    package_of,
    pod_annotations,
    pod_spec,
    resources,
    runs,
    scaled_object,
    secret_values,
    set_command,
    tracing_config,
    where,
)
from tests.deploy.k8s_checks import (
    CHECKS,
    cli_problems,
    env_problems,
    metrics_problems,
    pdb_problems,
    probe_problems,
    scaledobject_problems,
    security_problems,
    service_problems,
    settings_problems,
    tracing_problems,
    workload_problems,
)

# ---- tests: the manifests against the code ------------------------------------------------------


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
        assert secret["metadata"].get("annotations", {}).get("fengqiao/template") == \
            "placeholder values: replace before applying", where(secret)


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
    assert used == {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"}, used
    assert used <= OTEL_VARIABLES


# ---- negative tests: a broken copy fails the cross-checks ----------------------------------------

CODE_BREAKS: dict[str, tuple[Callable[[list[Doc]], object], Callable[[list[Doc]], list[str]]]] = {
    "no such subcommand": (lambda d: set_command(d, "intake-consumer", ["fengqiao-intake", "consumer"]),
                           cli_problems),
    "no such option": (lambda d: set_command(d, "topics", ["fengqiao-intake", "topics", "--replicas", "3"]),
                       cli_problems),
    "not a service CLI": (lambda d: set_command(d, "intake-api", ["uvicorn", "services.intake.api:app"]),
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
    "readiness on /ready": (lambda d: api_container(d)["readinessProbe"]["httpGet"].update(path="/ready"),
                            probe_problems),
    "probe on another port": (lambda d: api_container(d)["livenessProbe"]["httpGet"].update(port=8002),
                              probe_problems),
    "port not the settings'": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(
        INTAKE_HTTP_PORT="9000"), probe_problems),
    "Service targets no port": (lambda d: named(d, "Service", "intake")["spec"]["ports"][0].update(targetPort="web"),
                                service_problems),
    "PDB blocks drains": (lambda d: named(d, "PodDisruptionBudget", "intake-api")["spec"].update(minAvailable=2),
                          pdb_problems),
    "Deployment without PDB": (lambda d: d.remove(named(d, "PodDisruptionBudget", "mediation-sla")), pdb_problems),
    "more replicas than partitions": (lambda d: scaled_object(d)["spec"].update(maxReplicaCount=7), scaledobject_problems),
    "no maxReplicaCount (KEDA's 100)": (lambda d: scaled_object(d)["spec"].pop("maxReplicaCount"), scaledobject_problems),
    "another group": (lambda d: scaled_object(d)["spec"]["triggers"][0]["metadata"].update(consumerGroup="intake"),
                      scaledobject_problems),
    "a topic the group does not read": (lambda d: scaled_object(d, "assessment-consumer")["spec"]["triggers"][1][
        "metadata"].update(topic="community.activity.v1"), scaledobject_problems),
    "another Kafka": (lambda d: scaled_object(d)["spec"]["triggers"][0]["metadata"].update(bootstrapServers="kafka:9092"),
                      scaledobject_problems),
    "topic prefix not followed": (lambda d: named(d, "ConfigMap", "mediation-config")["data"].update(
        MEDIATION_TOPIC_PREFIX="staging."), scaledobject_problems),
    "KEDA's default protocol": (lambda d: scaled_object(d)["spec"]["triggers"][0]["metadata"].pop("version"),
                                scaledobject_problems),
    "targets the API": (lambda d: scaled_object(d)["spec"]["scaleTargetRef"].update(name="intake-api"),
                        scaledobject_problems),
    "replicas on a scaled Deployment": (lambda d: deployment(d, "intake-consumer")["spec"].update(replicas=2),
                                        scaledobject_problems),
    "no migrate Job": (lambda d: d.remove(named(d, "Job", "assessment-migrate")), workload_problems),
    "no purge CronJob": (lambda d: d.remove(named(d, "CronJob", "mediation-purge")), workload_problems),
    "purge runs twice at once": (lambda d: named(d, "CronJob", "intake-purge")["spec"].update(
        concurrencyPolicy="Allow"), workload_problems),
    "purge with a misspelt option": (lambda d: pod_spec(named(d, "CronJob", "intake-purge"))["containers"][0].update(
        command=["fengqiao-intake", "purge", "--dryrun"]), cli_problems),
    "retention misspelt": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(
        INTAKE_CALLER_RETENTION_DAYS="90"), env_problems),
    "topics with replication 1": (lambda d: set_command(d, "topics", ["fengqiao-intake", "topics",
                                                                       "--replication-factor", "1"]),
                                  workload_problems),
    "runs as root": (lambda d: pod_spec(deployment(d))["securityContext"].update(runAsNonRoot=False, runAsUser=0),
                     security_problems),
    "no memory limit": (lambda d: api_container(d)["resources"]["limits"].pop("memory"), security_problems),
    "latest image": (lambda d: api_container(d).update(image="fengqiao:latest"), security_problems),
    "service links on": (lambda d: pod_spec(deployment(d)).update(enableServiceLinks=True), security_problems),
    "consumer without metrics port": (lambda d: drop_env(d, "mediation-consumer", "MEDIATION_METRICS_PORT"),
                                      metrics_problems),
    "metrics port only in the ConfigMap": (lambda d: (drop_env(d, "intake-consumer", "INTAKE_METRICS_PORT"),
                                                      named(d, "ConfigMap", "intake-config")["data"].update(
                                                          INTAKE_METRICS_PORT="9100")), metrics_problems),
    "metrics port misspelt": (lambda d: next(v for v in consumer_container(d)["env"]
                                             if v["name"] == "INTAKE_METRICS_PORT").update(name="INTAKE_METRIC_PORT"),
                              env_problems),
    "metrics port not opened": (lambda d: consumer_container(d, "assessment-consumer").pop("ports"), metrics_problems),
    "metrics port not the setting's": (lambda d: consumer_container(d)["ports"][0].update(containerPort=9101),
                                       metrics_problems),
    "consumer metrics on localhost": (lambda d: consumer_container(d)["env"].append(
        {"name": "INTAKE_HTTP_HOST", "value": "127.0.0.1"}), metrics_problems),
    "consumer without liveness": (lambda d: consumer_container(d).pop("livenessProbe"), metrics_problems),
    "consumer liveness on another path": (lambda d: consumer_container(d)["livenessProbe"]["httpGet"].update(
        path="/healthz", port=9100), metrics_problems),
    "consumer not annotated": (lambda d: pod_annotations(d, "intake-consumer").pop("prometheus.io/scrape"),
                               metrics_problems),
    "API scraped on the consumer's port": (lambda d: pod_annotations(d).update({"prometheus.io/port": "9100"}),
                                           metrics_problems),
    "SLA worker not annotated": (lambda d: pod_annotations(d, "mediation-sla").clear(), metrics_problems),
    "SLA worker without its metrics port": (lambda d: drop_env(d, "mediation-sla", "MEDIATION_METRICS_PORT"),
                                            metrics_problems),
    "misspelt OTEL variable": (lambda d: tracing_config(d).update(OTEL_EXPORTER_OTLP_ENDPIONT="http://collector:4318"),
                               env_problems),
    "OTEL_SERVICE_NAME (overridden)": (lambda d: tracing_config(d).update(OTEL_SERVICE_NAME="intake"), env_problems),
    "no collector endpoint": (lambda d: tracing_config(d).pop("OTEL_EXPORTER_OTLP_ENDPOINT"), tracing_problems),
    "unknown sampler": (lambda d: tracing_config(d).update(OTEL_TRACES_SAMPLER="parentbased_ratio"), tracing_problems),
    "sampler ratio in percent": (lambda d: tracing_config(d).update(OTEL_TRACES_SAMPLER_ARG="10%"), tracing_problems),
    "tracing off in one service": (lambda d: named(d, "ConfigMap", "assessment-config")["data"].update(
        ASSESSMENT_TRACING="false"), tracing_problems),
    "exporter none": (lambda d: named(d, "ConfigMap", "intake-config")["data"].update(INTAKE_TRACE_EXPORTER="none"),
                      tracing_problems),
    "one Deployment without the tracing ConfigMap": (lambda d: consumer_container(d)["envFrom"].pop(),
                                                     tracing_problems),
}


@pytest.mark.parametrize("name", CODE_BREAKS)
def test_a_broken_manifest_fails_the_cross_checks(name: str) -> None:
    """Each deliberately broken copy is caught by the cross-check that passes on the real manifests."""
    breaks, check = CODE_BREAKS[name]
    docs = filled(resources())
    breaks(docs)
    assert check(docs), f"{name}: {check.__name__} found nothing"
