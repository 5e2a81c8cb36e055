"""docker-compose.yml agrees with the code: CLIs, settings fields, databases, Kafka listeners, ports.

Pure: reads files and builds settings objects; no Docker, no sockets.
"""
import hashlib
import importlib
import inspect
import json
import os
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PYPROJECT = ROOT / "pyproject.toml"
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
INIT_TARGET = "/docker-entrypoint-initdb.d"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$\$")


# ---- reading the compose file -------------------------------------------------------------------

def interpolate(value: Any) -> Any:
    """Compose's ${VAR:-default} with no .env: every variable must carry its default."""
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        if match[2] is None:
            raise AssertionError(f"${{{match[1]}}} in docker-compose.yml has no default; give it one")
        return match[2]

    return _VARIABLE.sub(replace, value)


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yml with anchors, merge keys and ${VAR:-default} resolved."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text("utf-8")))


def services() -> dict[str, dict[str, Any]]:
    """The compose services by name."""
    return compose()["services"]


def command(service: dict[str, Any]) -> list[str]:
    """A service's command as a list of words."""
    value = service.get("command") or []
    return shlex.split(value) if isinstance(value, str) else [str(word) for word in value]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either the map or the KEY=VALUE list form."""
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return {key: "" if item is None else str(item) for key, item in value.items()}


def published_targets(service: dict[str, Any]) -> set[int]:
    """The container ports a service publishes, from short ("[ip:]host:container") or long syntax."""
    targets = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            targets.add(int(port["target"]))
        else:
            targets.add(int(str(port).split("/")[0].rsplit(":", 1)[-1]))
    return targets


def memory_limit(service: dict[str, Any]) -> str | None:
    """deploy.resources.limits.memory, or mem_limit."""
    limits = (((service.get("deploy") or {}).get("resources") or {}).get("limits") or {})
    return limits.get("memory") or service.get("mem_limit")


def is_one_shot(service: dict[str, Any]) -> bool:
    """A job that runs once and exits (restart: "no")."""
    return str(service.get("restart", "no")) == "no"


def by_image(prefix: str) -> tuple[str, dict[str, Any]]:
    """The one compose service whose image starts with the prefix."""
    found = [(name, s) for name, s in services().items() if str(s.get("image", "")).startswith(prefix)]
    assert len(found) == 1, f"expected one service with image {prefix}*, found {[n for n, _ in found]}"
    return found[0]


# ---- what the code says -------------------------------------------------------------------------

def service_packages() -> list[str]:
    """Every service package under services/ (a folder with a settings.py)."""
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/settings.py"))


def cli_name(package: str) -> str:
    """The console script pyproject.toml installs for services.<package>.__main__:cli."""
    scripts = tomllib.loads(PYPROJECT.read_text("utf-8"))["project"]["scripts"]
    names = [name for name, target in scripts.items() if target == f"services.{package}.__main__:cli"]
    assert len(names) == 1, f"pyproject.toml should have one script for services.{package}, has {names}"
    return names[0]


def settings_class(package: str) -> type[ServiceSettings]:
    """The ServiceSettings subclass defined in services/<package>/settings.py."""
    module = importlib.import_module(f"services.{package}.settings")
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, ServiceSettings) and c.__module__ == module.__name__]
    assert len(classes) == 1, f"services.{package}.settings should define one settings class"
    return classes[0]


def env_prefix(package: str) -> str:
    """The settings class's environment prefix."""
    return settings_class(package).model_config["env_prefix"]


def env_names(package: str) -> set[str]:
    """Every environment variable the settings class reads: prefix + field name, upper-cased."""
    return {(env_prefix(package) + field).upper() for field in settings_class(package).model_fields}


def containers_of(package: str) -> dict[str, dict[str, Any]]:
    """The compose services that run the package's CLI (api, migrate, topics...)."""
    cli = cli_name(package)
    return {name: s for name, s in services().items() if command(s)[:1] == [cli]}


def api_container(package: str) -> tuple[str, dict[str, Any]]:
    """The one compose service that runs `<cli> api` for the package."""
    found = [(name, s) for name, s in containers_of(package).items() if command(s)[1:2] == ["api"]]
    assert len(found) == 1, f"expected one compose service running `{cli_name(package)} api`, found {found}"
    return found[0]


def compose_settings(package: str, service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    """The settings object the container would build: its environment only, nothing from ours."""
    prefix = env_prefix(package)
    for name in list(os.environ):
        if name.upper().startswith(prefix.upper()):
            monkeypatch.delenv(name)
    for name, value in environment(service).items():
        monkeypatch.setenv(name, value)
    return settings_class(package)()


def created_databases() -> set[str]:
    """Databases created by the init scripts mounted into the postgres container."""
    _, postgres = by_image("postgres:")
    sources = []
    for volume in postgres.get("volumes") or []:
        source, target = ((volume.get("source"), volume.get("target")) if isinstance(volume, dict)
                          else volume.split(":")[:2])
        if target == INIT_TARGET:
            sources.append(ROOT / source)
    assert sources, f"postgres mounts no init scripts at {INIT_TARGET}"
    text = "\n".join(f.read_text("utf-8") for d in sources for f in sorted(d.iterdir()) if f.is_file())
    return set(re.findall(r"CREATE\s+DATABASE\s+\"?([a-z_][a-z0-9_]*)", text, re.IGNORECASE))


def kafka_listeners(variable: str) -> dict[str, str]:
    """A Kafka listener list (NAME://host:port,...) as {name: "host:port"}."""
    _, kafka = by_image("apache/kafka:")
    value = environment(kafka).get(variable, "")
    return dict(item.split("://", 1) for item in value.split(",") if item)


def kafka_sh_properties() -> dict[str, str]:
    """The server.properties that deploy/local/kafka.sh writes, as written (variables unexpanded)."""
    body = KAFKA_SH.read_text("utf-8").split("<<PROPS", 1)[1].split("\nPROPS", 1)[0]
    return dict(line.split("=", 1) for line in body.splitlines() if "=" in line and not line.startswith("#"))


PACKAGES = service_packages()


# ---- tests --------------------------------------------------------------------------------------

def test_there_are_service_packages() -> None:
    """services/ has the three packages to check (guards against a wrong ROOT making every test vacuous)."""
    assert PACKAGES == ["assessment", "intake", "mediation"]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_service_package_has_an_api_container(package: str) -> None:
    """Every service package has exactly one compose service running `<cli> api`."""
    api_container(package)


@pytest.mark.parametrize("package", PACKAGES)
def test_environment_names_are_settings_fields(package: str) -> None:
    """Every variable set on a container of the service is a field its settings class reads."""
    known = env_names(package)
    for name, service in containers_of(package).items():
        unknown = sorted(set(environment(service)) - known)
        assert not unknown, f"{name}: {unknown} are not fields of {settings_class(package).__name__}"


@pytest.mark.parametrize("package", PACKAGES)
def test_compose_environment_builds_valid_settings(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The container's environment validates and every variable reaches its field."""
    name, service = api_container(package)
    settings = compose_settings(package, service, monkeypatch)
    prefix = env_prefix(package)
    for variable, value in environment(service).items():
        field = variable[len(prefix):].lower()
        assert str(getattr(settings, field)) == value, f"{name}: {variable}={value!r} did not reach {field}"


@pytest.mark.parametrize("package", PACKAGES)
def test_jobs_reach_the_same_kafka_and_database_as_the_api(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every container of the service sees the API's Kafka; its migrate job migrates the API's database."""
    _, api = api_container(package)
    expected = compose_settings(package, api, monkeypatch)
    for name, service in containers_of(package).items():
        got = compose_settings(package, service, monkeypatch)
        assert got.kafka_bootstrap_servers == expected.kafka_bootstrap_servers, name
        if command(service)[1:2] == ["migrate"]:
            assert got.database_url == expected.database_url, f"{name} migrates {got.database_name}"


def test_each_service_has_its_own_database_created_by_the_init_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each DATABASE_URL names a database the init script creates, and no two services share one."""
    created = created_databases()
    names = {}
    for package in PACKAGES:
        name, service = api_container(package)
        assert env_prefix(package) + "DATABASE_URL" in environment(service), f"{name} sets no DATABASE_URL"
        names[package] = compose_settings(package, service, monkeypatch).database_name
        assert names[package] in created, f"{name}: database {names[package]!r} is not in the init script {created}"
    assert len(set(names.values())) == len(names), f"services share a database: {names}"


def test_database_urls_reach_the_postgres_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each DATABASE_URL names the postgres service, its port and its user and password."""
    postgres_name, postgres = by_image("postgres:")
    env = environment(postgres)
    for package in PACKAGES:
        name, service = api_container(package)
        url = urlsplit(compose_settings(package, service, monkeypatch).database_url)
        assert (url.hostname, url.port or 5432) == (postgres_name, 5432), f"{name}: {url.netloc}"
        assert (url.username, url.password) == (env.get("POSTGRES_USER"), env.get("POSTGRES_PASSWORD")), name


def test_kafka_bootstrap_matches_an_advertised_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bootstrap address each container gets is a listener the broker advertises and listens on."""
    kafka_name, kafka = by_image("apache/kafka:")
    advertised, listening = kafka_listeners("KAFKA_ADVERTISED_LISTENERS"), kafka_listeners("KAFKA_LISTENERS")
    for package in PACKAGES:
        for name, service in containers_of(package).items():
            bootstrap = compose_settings(package, service, monkeypatch).kafka_bootstrap_servers
            for address in bootstrap.split(","):
                listener = [n for n, a in advertised.items() if a == address]
                assert listener, f"{name}: {address} is not advertised by {kafka_name}: {advertised}"
                assert address.split(":")[0] in (kafka_name, kafka.get("hostname")), f"{name}: {address}"
                port = listening.get(listener[0], "").rsplit(":", 1)[-1]
                assert port == address.rsplit(":", 1)[-1], f"{kafka_name} does not listen on {listener[0]}"


def test_kafka_is_single_node_with_explicit_topics() -> None:
    """Kafka runs as one broker+controller, every replication factor and min ISR is 1, no auto-create."""
    _, kafka = by_image("apache/kafka:")
    env = environment(kafka)
    assert set(env.get("KAFKA_PROCESS_ROLES", "").split(",")) == {"broker", "controller"}
    replication = {k: v for k, v in env.items() if k.endswith(("REPLICATION_FACTOR", "MIN_ISR", "MIN_INSYNC_REPLICAS"))}
    for required in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                     "KAFKA_DEFAULT_REPLICATION_FACTOR"):
        assert required in replication, f"kafka does not set {required}"
    assert set(replication.values()) == {"1"}, replication
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"


def test_kafka_matches_the_local_launcher() -> None:
    """Replication, ISR and auto-create settings equal those deploy/local/kafka.sh writes."""
    _, kafka = by_image("apache/kafka:")
    env = environment(kafka)
    wanted = {key: value for key, value in kafka_sh_properties().items()
              if re.search(r"replication\.factor|min\.isr|min\.insync|auto\.create", key)}
    assert wanted, "found no replication settings in deploy/local/kafka.sh"
    for key, value in wanted.items():
        variable = "KAFKA_" + key.upper().replace(".", "_")
        assert env.get(variable) == value, f"{variable}={env.get(variable)!r}, kafka.sh has {key}={value}"


@pytest.mark.parametrize("package", PACKAGES)
def test_http_port_matches_healthcheck_and_published_port(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API listens on all interfaces, on the port its health check asks and its mapping publishes."""
    name, service = api_container(package)
    settings = compose_settings(package, service, monkeypatch)
    assert settings.http_host == "0.0.0.0", f"{name} listens on {settings.http_host}: unreachable from outside"
    check = " ".join(map(str, (service.get("healthcheck") or {}).get("test") or []))
    url = re.search(r"://[^/:\s'\"]+:(\d+)(/[\w/]*)", check)
    assert url, f"{name}: health check has no http://host:port/path: {check!r}"
    assert (int(url[1]), url[2]) == (settings.http_port, "/healthz"), f"{name}: {check!r}"
    assert settings.http_port in published_targets(service), f"{name} does not publish {settings.http_port}"


def test_every_long_running_service_has_a_health_check() -> None:
    """Kafka, PostgreSQL and the APIs each have a health check (one-shot jobs need none)."""
    missing = [name for name, s in services().items()
               if not is_one_shot(s) and not (s.get("healthcheck") or {}).get("test")]
    assert not missing, f"no health check: {missing}"


def test_every_container_has_a_memory_limit() -> None:
    """Every service, jobs included, has a memory limit."""
    missing = [name for name, s in services().items() if not memory_limit(s)]
    assert not missing, f"no memory limit: {missing}"


def test_dependency_conditions_fit_their_targets() -> None:
    """service_healthy waits on a service with a health check; service_completed_successfully on a job."""
    for name, service in services().items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions (map form)"
        for target, rule in depends.items():
            condition = rule.get("condition")
            assert target in services(), f"{name} depends on unknown {target}"
            if condition == "service_healthy":
                assert services()[target].get("healthcheck"), f"{name} waits for {target}'s missing health check"
            elif condition == "service_completed_successfully":
                assert is_one_shot(services()[target]), f"{name} waits for {target} to exit; it restarts"
            else:
                pytest.fail(f"{name} -> {target}: condition {condition!r}")


@pytest.mark.parametrize("package", PACKAGES)
def test_api_waits_for_infrastructure_topics_and_its_migrations(package: str) -> None:
    """The API starts after Kafka and PostgreSQL are healthy and its migrate and topics jobs succeeded."""
    name, service = api_container(package)
    depends = {target: rule.get("condition") for target, rule in (service.get("depends_on") or {}).items()}
    for infra in (by_image("apache/kafka:")[0], by_image("postgres:")[0]):
        assert depends.get(infra) == "service_healthy", f"{name} does not wait for {infra} to be healthy"
    jobs = {target for target, condition in depends.items() if condition == "service_completed_successfully"}
    ran = {word for target in jobs for word in command(services()[target])[1:2]}
    assert {"migrate", "topics"} <= ran, f"{name} waits for jobs running {ran}, not migrate and topics"
    migrate_jobs = [t for t in jobs if command(services()[t])[:2] == [cli_name(package), "migrate"]]
    assert migrate_jobs, f"{name} does not wait for `{cli_name(package)} migrate`"


def test_app_image_is_built_from_the_project_dockerfile() -> None:
    """Every container running a service CLI is built from a Dockerfile that exists."""
    for package in PACKAGES:
        for name, service in containers_of(package).items():
            build = service.get("build") or {}
            dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


# ---- the Compose Specification's own schema --------------------------------------------------------

SCHEMA = ROOT / "deploy" / "compose-schema" / "compose-spec.json"
SCHEMA_SHA256 = "49eb9a1e1de41315949f302f8e6221bb42acd6038977f7c0974e38596ec4cdf6"  # compose-go v2.17.0


def compose_errors(document: dict) -> list[str]:
    raw = SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored schema changed: see its README"
    schema = json.loads(raw)
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(document))


def test_the_compose_file_is_valid_under_the_compose_specification():
    assert compose_errors(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d["services"][next(iter(d["services"]))].__setitem__("restartt", "always"), "restartt"),
    (lambda d: d["services"][next(iter(d["services"]))].__setitem__("ports", "8001:8001"), "ports"),
    (lambda d: d.__setitem__("servces", {}), "servces"),
])
def test_the_schema_refuses_what_compose_would(change, where):
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    change(document)
    errors = compose_errors(document)
    assert errors and any(where in error for error in errors), errors
