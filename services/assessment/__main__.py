"""fengqiao-assessment: the assessment service's command line (`python -m services.assessment --help`)."""
from services.assessment.api import create_app
from services.assessment.settings import AssessmentSettings
from shared.cli import service_cli

cli = service_cli(settings_factory=AssessmentSettings, package="services.assessment", app_factory=create_app)

if __name__ == "__main__":
    cli()
