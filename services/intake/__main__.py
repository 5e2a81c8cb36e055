"""fengqiao-intake: the intake service's command line (`python -m services.intake --help`)."""
from services.intake.api import create_app
from services.intake.settings import IntakeSettings
from shared.cli import service_cli

cli = service_cli(settings_factory=IntakeSettings, package="services.intake", app_factory=create_app)

if __name__ == "__main__":
    cli()
