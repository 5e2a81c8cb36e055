"""fengqiao-mediation: the mediation service's command line (`python -m services.mediation --help`)."""
from services.mediation.api import create_app
from services.mediation.settings import MediationSettings
from shared.cli import service_cli

cli = service_cli(settings_factory=MediationSettings, package="services.mediation", app_factory=create_app)

if __name__ == "__main__":
    cli()
