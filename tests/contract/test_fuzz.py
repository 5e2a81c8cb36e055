"""Contract fuzzing (issue 14, item 5): schemathesis holds each service to its committed OpenAPI document.

Each service runs as in production, uvicorn with its lifespan on the real Kafka and PostgreSQL (a
database and topics of its own), and is called over HTTP with a valid token that carries every role
the service knows, so the generated input gets past authentication. Each operation of
docs/openapi/<service>.json gets EXAMPLES cases, valid and invalid (schemathesis' positive and negative
modes), derandomised: the same cases on every run. Every answer goes through schemathesis' checks: no
5xx, a documented status, content type and headers, a body that matches its schema, invalid input
refused, valid input not refused for a reason the schema does not state.
"""
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import negative_data_rejection

from deploy.local.infrastructure import Infrastructure
from services.assessment import reference
from services.assessment.api import create_app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.intake.api import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.mediation.api import create_app as mediation_app
from services.mediation.settings import MediationSettings
from shared.auth import ROLES, issue_token
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from shared.db.provision import drop_database, ensure_database
from shared.kafka.admin import delete_topics_with_prefix, ensure_registered_topics
from tests.integration.mediation.conftest import STATION, many_cases

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
COVERAGE = os.environ.get("FUZZ_COVERAGE", "") == "1"
STATIONS = (STATION, "990101002", "990102001", "990102002")
# Valid input can still be refused by rules no schema states (a record from the future, an activity
# for a unit that is not registered, a month range past 36 months): 422, with the field's path.
ACCEPTED_WHEN_VALID = ["2xx", "3xx", "401", "403", "404", "409", "412", "413", "422"]
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
CASES = 8
SEEDED: list[str] = []
BATCH = "POST /v1/dispatch-records/batch"
CALLS: Counter[tuple[str, str]] = Counter()
STATUSES: Counter[int] = Counter()


@schemathesis.serializer("application/x-ndjson")
def _ndjson(context, value) -> bytes:
    """Intake's batch as NDJSON: one record per line (anything else, as generated, on one line)."""
    lines = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(v, ensure_ascii=False) for v in lines).encode()  # json: ints past 64 bits too


@contextmanager
def serving(app) -> Iterator[str]:
    """The app under uvicorn, lifespan included, on a free port of loopback; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.05)
    assert server.started, "the service did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


async def _service(infrastructure: Infrastructure, name: str, settings_class, create_app, roles) -> AsyncIterator:
    """A running service of the module's own, and a session whose token carries the roles."""
    unique = f"fz{name[:3]}{time.time_ns() % 10**8}"
    url = f"{infrastructure.postgres_url}/t_{unique}"
    service = settings_class(kafka_bootstrap_servers=infrastructure.kafka_bootstrap_servers, database_url=url,
                             topic_prefix=f"t{unique}.", environment="test")
    await ensure_database(url)
    await migrate(url)
    await migrate(url, f"services.{name}")
    await ensure_registered_topics(service.kafka_bootstrap_servers, prefix=service.topic_prefix)
    pool = await create_pool(url, max_size=2)
    try:
        await SEED[name](pool, service)
    finally:
        await pool.close()
    session = requests.Session()
    token = issue_token(service.jwt_secret.get_secret_value(), subject="fuzzer", roles=list(roles),
                        stations=list(STATIONS))
    session.headers["Authorization"] = f"Bearer {token}"
    try:
        with serving(create_app(service)) as base_url:
            session.base_url = base_url
            yield session
    finally:
        session.close()
        await delete_topics_with_prefix(service.kafka_bootstrap_servers, service.topic_prefix)
        await drop_database(url)


async def _no_seed(pool, service) -> None:
    return None


async def _mediation_cases(pool, service) -> None:
    """Cases at the token's station, so the queue, searches and claim-next have something to answer, and
    the case routes reach their handlers for half the generated ids (see _seeded_cases)."""
    from services.mediation.bootstrap import mediation_context
    from services.mediation.handlers import dispute_handler

    async with mediation_context(service) as ctx, ctx.pool.acquire() as conn, conn.transaction():
        await dispute_handler(ctx)(conn, many_cases(CASES))
    SEEDED[:] = [str(row["id"]) for row in await pool.fetch("SELECT id FROM cases ORDER BY received_at")]


async def _assessment_units(pool, service) -> None:
    """The sample city's reference units, so activities for its stations are recorded."""
    async with pool.acquire() as conn:
        await reference.load(conn, reference.read())


SEED = {"intake": _no_seed, "mediation": _mediation_cases, "assessment": _assessment_units}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intake_session(infrastructure):
    async for session in _service(infrastructure, "intake", IntakeSettings, intake_app, ["feed"]):
        yield session


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mediation_session(infrastructure):
    roles = [r for r in ROLES if r != "feed"]
    async for session in _service(infrastructure, "mediation", MediationSettings, mediation_app, roles):
        yield session


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def assessment_session(infrastructure):
    roles = ["station_chief", "auditor", "feed"]
    async for session in _service(infrastructure, "assessment", AssessmentSettings, assessment_app, roles):
        yield session


def _committed(service: str):
    config = schemathesis.Config.from_dict({
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_WHEN_VALID}},
        # The token is the session's (a valid one, to get past authentication; refusals of missing and bad
        # tokens are tests/unit/test_identity_tokens.py's). Unknown query parameters are ignored, as
        # HTTP APIs do, so adding one does not make a request invalid.
        "generation": {"with-security-parameters": False, "allow-extra-parameters": False},
        "phases": {"coverage": {"enabled": COVERAGE}}})
    return schemathesis.openapi.from_path(ROOT / f"docs/openapi/{service}.json", config=config)


intake = _committed("intake")
mediation = _committed("mediation")


@mediation.hook("map_path_parameters")
def _seeded_cases(context, path_parameters):
    """Half of the generated case ids become a seeded case's (chosen by the id, so runs repeat)."""
    value = (path_parameters or {}).get("case_id")
    if SEEDED and isinstance(value, str) and len(value) == 36 and value[-1] in "02468ace":
        path_parameters["case_id"] = SEEDED[int(value[-2:], 16) % len(SEEDED) if value[-2:].isalnum() else 0]
    return path_parameters
assessment = _committed("assessment")


def _call(service: str, case, session: requests.Session) -> None:
    CALLS[(service, case.operation.label)] += 1
    # A batch answers 200 with a result per record, rejected ones included: an invalid record is not an
    # invalid request, so the batch is not held to "invalid input is refused".
    excluded = [negative_data_rejection] if case.operation.label == BATCH else []
    response = case.call_and_validate(base_url=session.base_url, session=session, excluded_checks=excluded)
    STATUSES[response.status_code] += 1


@intake.parametrize()
@FUZZ
def test_intake(case, intake_session):
    _call("intake", case, intake_session)


@mediation.parametrize()
@FUZZ
def test_mediation(case, mediation_session):
    _call("mediation", case, mediation_session)


@assessment.parametrize()
@FUZZ
def test_assessment(case, assessment_session):
    _call("assessment", case, assessment_session)


def test_the_run_reached_every_operation_with_cases():
    """Last in the module: every operation was called (none skipped or left without a case)."""
    operations = {(s, f"{m.upper()} {p}") for s in ("intake", "mediation", "assessment")
                  for p, ops in orjson.loads((ROOT / f"docs/openapi/{s}.json").read_bytes())["paths"].items()
                  for m in ops}
    print(f"\nschemathesis: {len(CALLS)} operations, {sum(CALLS.values())} cases, answers by status: "
          f"{dict(sorted(STATUSES.items()))}")
    assert operations <= set(CALLS), sorted(operations - set(CALLS))
