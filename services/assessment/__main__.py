"""fengqiao-assessment: the assessment service's command line (`fengqiao-assessment --help`)."""
import asyncio

from services.assessment import consumer
from services.assessment.api import create_app
from services.assessment.settings import AssessmentSettings
from shared.cli import service_cli
from shared.logging import configure_logging

cli = service_cli(settings_factory=AssessmentSettings, package="services.assessment", app_factory=create_app)


@cli.command("consume")
def consume_command() -> None:
    """Keep the facts from intake.incident.v1 and mediation.case.v1 until SIGTERM or Ctrl-C."""
    settings = AssessmentSettings()
    configure_logging(settings.service_name, settings.log_level)
    asyncio.run(consumer.consume(settings))


if __name__ == "__main__":
    cli()
