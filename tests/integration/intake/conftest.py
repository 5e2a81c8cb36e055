"""An intake service of the test's own: its database, migrations and topics under a unique prefix."""
from collections.abc import AsyncIterator

import pytest

from services.intake.bootstrap import IntakeContext, intake_context
from services.intake.settings import IntakeSettings
from shared.db.migrations import migrate
from shared.kafka.admin import ensure_registered_topics


@pytest.fixture
async def intake_settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> IntakeSettings:
    """Settings pointing at this test's database and topics."""
    settings = IntakeSettings(kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url,
                              topic_prefix=topic_prefix, environment="test")
    await migrate(database_url, "services.intake")
    await ensure_registered_topics(kafka_bootstrap, prefix=settings.topic_prefix)
    return settings


@pytest.fixture
async def intake_ctx(intake_settings: IntakeSettings) -> AsyncIterator[IntakeContext]:
    """Intake's handlers' context with open connections."""
    async with intake_context(intake_settings) as ctx:
        yield ctx
