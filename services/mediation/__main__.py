"""fengqiao-mediation: the mediation service's command line (`fengqiao-mediation --help`)."""
import asyncio

from services.mediation import consumer
from services.mediation.api import create_app
from services.mediation.settings import MediationSettings
from shared.cli import service_cli
from shared.logging import configure_logging

cli = service_cli(settings_factory=MediationSettings, package="services.mediation", app_factory=create_app)


@cli.command("consume")
def consume_command() -> None:
    """Turn disputes from intake.dispute.v1 into cases until SIGTERM or Ctrl-C."""
    settings = MediationSettings()
    configure_logging(settings.service_name, settings.log_level)
    asyncio.run(consumer.consume(settings))


if __name__ == "__main__":
    cli()
