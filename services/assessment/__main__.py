"""fengqiao-assessment: the assessment service's command line (`fengqiao-assessment --help`)."""
import asyncio

import typer

from services.assessment import consumer, rebuild
from services.assessment.api import create_app
from services.assessment.settings import AssessmentSettings
from shared.cli import service_cli
from shared.logging import configure_logging

cli = service_cli(settings_factory=AssessmentSettings, package="services.assessment", app_factory=create_app,
                  consume=consumer.consume,
                  consume_help="Keep the facts from intake.incident.v1 and mediation.case.v1 until SIGTERM or Ctrl-C.")



@cli.command("rebuild")
def rebuild_command(from_beginning: bool = typer.Option(..., "--from-beginning",
                                                        help="required: the rebuild always starts at offset 0")) -> None:
    """Rebuild every fact from the topics into emptied tables (stop the live consumers first)."""
    settings = AssessmentSettings()
    configure_logging(settings.service_name, settings.log_level)
    typer.echo(f"rebuilt the facts from {asyncio.run(rebuild.rebuild(settings)):,} events")


if __name__ == "__main__":
    cli()
