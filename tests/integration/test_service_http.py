"""Every service answers /healthz, /readyz and /metrics with its real Kafka and database."""
import httpx
import pytest
from aiokafka.errors import KafkaConnectionError

from services.assessment.api import create_app as assessment_app
from services.assessment.settings import AssessmentSettings
from services.intake.api import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.mediation.api import create_app as mediation_app
from services.mediation.settings import MediationSettings
from shared.db.migrations import migrate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SERVICES = [(IntakeSettings, intake_app), (MediationSettings, mediation_app),
            (AssessmentSettings, assessment_app)]


def package_of(settings_cls) -> str:
    return settings_cls.__module__.rsplit(".", 1)[0]


@pytest.mark.parametrize("settings_cls, app_factory", SERVICES)
async def test_operations_endpoints(settings_cls, app_factory, kafka_bootstrap, database_url):
    settings = settings_cls(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url)
    await migrate(database_url, package_of(settings_cls))
    app = app_factory(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
            metrics = await client.get("/metrics")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": True, "database": True}
    assert "fengqiao_http_request_seconds" in metrics.text
    assert f'service="{settings.service_name}"' in metrics.text


async def test_a_service_refuses_to_start_without_its_broker(database_url):
    # Port 9 (discard) on loopback: nothing listens there, so the producer cannot bootstrap.
    settings = IntakeSettings(kafka_bootstrap_servers="127.0.0.1:9", database_url=database_url)
    app = intake_app(settings)
    with pytest.raises(KafkaConnectionError):
        async with app.router.lifespan_context(app):
            pass
