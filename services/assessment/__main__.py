"""fengqiao-assessment: the assessment service's command line (`fengqiao-assessment --help`)."""
import asyncio
from pathlib import Path

import asyncpg
import typer

from services.assessment import consumer, rebuild, reference
from services.assessment.api import create_app
from services.assessment.bootstrap import assessment_context
from services.assessment.settings import AssessmentSettings
from shared.cli import service_cli
from shared.logging import configure_logging

cli = service_cli(settings_factory=AssessmentSettings, package="services.assessment", app_factory=create_app,
                  consume=consumer.consume,
                  consume_help="Keep the facts from intake.incident.v1, mediation.case.v1 and community.activity.v1 "
                               "until SIGTERM or Ctrl-C.")


@cli.command("rebuild")
def rebuild_command(from_beginning: bool = typer.Option(..., "--from-beginning",
                                                        help="required: the rebuild always starts at offset 0")) -> None:
    """Rebuild every fact from the topics into emptied tables (stop the live consumers first)."""
    settings = AssessmentSettings()
    configure_logging(settings.service_name, settings.log_level)

    async def run() -> int:
        async with assessment_context(settings) as ctx:
            return await rebuild.rebuild(ctx)

    typer.echo(f"rebuilt the facts from {asyncio.run(run()):,} events")


@cli.command("load-reference")
def load_reference_command(path: Path = typer.Argument(reference.DEFAULT_FILE, help="a units file like the sample's")
                           ) -> None:
    """Replace the reference units (stations, grids, officers with county and population) with a file's."""
    try:
        units = reference.read(path)
    except ValueError as exc:
        typer.echo(f"fengqiao-assessment: {exc}", err=True)
        raise typer.Exit(2) from None
    settings = AssessmentSettings()

    async def load() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await reference.load(conn, units)
        finally:
            await conn.close()

    typer.echo(f"loaded {asyncio.run(load()):,} reference units from {path}")


if __name__ == "__main__":
    cli()
