"""fengqiao-intake: the intake service's command line (`fengqiao-intake --help`)."""
import asyncio
import re
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from services.intake import check_report, consumer, feeder, retention, sample
from services.intake.api import create_app
from services.intake.bootstrap import intake_context
from services.intake.domain.classification import Classifier
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.dry_run import check_file
from services.intake.handlers import replay_rejected
from services.intake.importer import STATUSES, Summary, import_file
from services.intake.profile_files import ProfileError, load_profile
from services.intake.scaffold import detect_format, scaffold_profile
from services.intake.settings import IntakeSettings
from shared.auth import issue_token
from shared.cli import service_cli
from shared.logging import configure_logging

cli = service_cli(settings_factory=IntakeSettings, package="services.intake", app_factory=create_app,
                  consume=consumer.consume,
                  consume_help="Consume raw records from dispatch.raw.v1 until SIGTERM or Ctrl-C.",
                  purge=retention.purge)

console = Console(stderr=True)



@cli.command("import")
def import_command(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
                   profile: str = typer.Option(..., help="feed profile: a name (milwaukee_cad, cad_csv, ... or one in "
                                                         "INTAKE_PROFILE_DIRS) or the path of a profile file"),
                   batch_size: int = typer.Option(1000, min=1, max=10_000),
                   rejects: Path = typer.Option(None, help="where rejected records go [default: ./FILE.rejects.ndjson]"),
                   ) -> None:
    """Import a CSV or NDJSON export; rerun the same command to resume an interrupted import."""
    settings = IntakeSettings()
    chosen = _load_profile(profile, settings)
    configure_logging(settings.service_name, "WARNING")
    rejects = rejects or Path.cwd() / f"{file.name}.rejects.ndjson"
    summary = asyncio.run(_import(settings, file, chosen, batch_size, rejects))
    _print_summary(file, summary)


def _load_profile(profile: str, settings: IntakeSettings):
    try:
        return load_profile(profile, settings.profile_dirs)
    except ProfileError as exc:
        console.print(f"--profile: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(2) from exc


async def _import(settings: IntakeSettings, file: Path, profile, batch_size: int, rejects: Path) -> Summary:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TextColumn("{task.fields[records]:,} records ({task.fields[rate]:,.0f}/s)"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(file.name, total=file.stat().st_size, records=0, rate=0.0)
        state = {"records": 0}

        def on_batch(results) -> None:
            state["records"] += len(results)
            elapsed = bar.tasks[task].elapsed or 1e-9
            bar.update(task, records=state["records"], rate=state["records"] / elapsed)

        async with intake_context(settings) as ctx:
            return await import_file(ctx, file, profile, rejects_path=rejects, batch_size=batch_size,
                                     on_bytes=lambda n: bar.advance(task, n), on_batch=on_batch)


def _print_summary(file: Path, summary: Summary) -> None:
    table = Table(title=f"import of {file.name}" + (" (already complete)" if summary.already_done else ""))
    table.add_column("outcome")
    table.add_column("records", justify="right")
    for status in STATUSES:
        table.add_row(status, f"{summary.counts.get(status, 0):,}")
    table.add_row("rows read", f"{summary.rows_read:,}")
    Console().print(table)
    if summary.resumed_from and not summary.already_done:
        console.print(f"resumed after record {summary.resumed_from:,} of an interrupted run")
    if summary.counts.get("rejected"):
        console.print(f"rejected records with reasons: {summary.rejects_path}")


@cli.command("check")
def check_command(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
                  profile: str = typer.Option(..., help="a profile name or the path of a profile file"),
                  as_json: bool = typer.Option(False, "--json", help="print the report as JSON on stdout"),
                  top: int = typer.Option(10, min=1, help="how many rejection reasons and conflicts to list"),
                  max_rejected: float = typer.Option(None, min=0, max=1, help="fail past this share of rows rejected"),
                  max_unplaced: float = typer.Option(None, min=0, max=1,
                                                     help="fail past this share of records without a station"),
                  max_conflicts: int = typer.Option(None, min=0, help="fail past this many conflicts in the file"),
                  max_unmapped: float = typer.Option(None, min=0, max=1,
                                                     help="fail past this share of records whose code is unmapped"),
                  ) -> None:
    """Dry run: what an import of FILE would decide, row by row, with no database, no Kafka and nothing
    written. Exits 1 past a threshold (for the integrator's CI), 2 on a bad profile."""
    settings = IntakeSettings()
    chosen = _load_profile(profile, settings)
    report = check_file(file, chosen, Classifier.load(), Jurisdictions.load())
    limits = check_report.Thresholds(max_rejected, max_unplaced, max_conflicts, max_unmapped)
    failed = check_report.breaches(report, limits)
    if as_json:
        typer.echo(check_report.as_json(report, top, failed).decode())
    else:
        check_report.show(report, Console(), top, failed)
    if failed:
        raise typer.Exit(1)


profile_cli = typer.Typer(help="Feed profiles: write a starter profile for a new export.", no_args_is_help=True)
cli.add_typer(profile_cli, name="profile")


@profile_cli.command("scaffold")
def scaffold_command(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
                     name: str = typer.Option(None, help="the profile's name [default: from the file name]"),
                     out: Path = typer.Option(None, help="where to write it [default: ./NAME.yaml]"),
                     file_format: str = typer.Option(None, "--format", help="csv or json [default: detected]"),
                     force: bool = typer.Option(False, help="overwrite an existing file")) -> None:
    """Write a starter profile for a CSV or NDJSON export: columns found, a guessed mapping, and a code
    table of every distinct code with the classification rules' suggestion, for a person to review."""
    name = name or _profile_name(file)
    out = out or Path.cwd() / f"{name}.yaml"
    if out.exists() and not force:
        console.print(f"{out} exists; pass --force to overwrite it", style="red", markup=False)
        raise typer.Exit(2)
    text = scaffold_profile(file, name=name, classifier=Classifier.load(), fmt=file_format or detect_format(file))
    out.write_text(text, encoding="utf-8")
    try:
        loaded = load_profile(str(out))
    except ProfileError as exc:  # the scaffold's own promise: what it writes loads
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from exc
    console.print(f"wrote {out}: profile {loaded.name}, {len(loaded.fields)} fields, {len(loaded.categories)} codes; "
                  f"review it, then: fengqiao-intake check {file} --profile {out}", markup=False)


def _profile_name(file: Path) -> str:
    stem = re.sub(r"[^a-z0-9_]+", "_", file.stem.lower()).strip("_") or "feed"
    return stem if stem[0].isalpha() else f"feed_{stem}"[:63]


@cli.command("post")
def post_command(file: Path = typer.Argument(..., exists=True, dir_okay=False),
                 url: str = typer.Option(None, help="intake's base URL [default: this machine's intake]"),
                 profile: str = typer.Option("fengqiao_json"),
                 batch_size: int = typer.Option(1000, min=1, max=10_000)) -> None:
    """Post an NDJSON file to intake's HTTP batch endpoint, as a CAD system would."""
    settings = IntakeSettings()
    token = issue_token(settings.jwt_secret.get_secret_value(), subject="fengqiao-intake-post", roles=["feed"])
    totals = feeder.post_file(file, url=url or f"http://{settings.http_host}:{settings.http_port}",
                              token=token, profile=profile, batch_size=batch_size)
    console.print(f"posted {sum(totals.values()):,} records from {file}: "
                  + ", ".join(f"{status} {totals.get(status, 0):,}" for status in STATUSES))


@cli.command("replay-rejected")
def replay_command(ids: list[int] = typer.Argument(None, help="rejected_records ids [default: all not yet replayed]"),
                   profile: str = typer.Option(None, help="map with this profile instead of the original one"),
                   limit: int = typer.Option(1000, min=1)) -> None:
    """Ingest kept rejected records again, e.g. after fixing a feed profile."""
    settings = IntakeSettings()
    configure_logging(settings.service_name, "WARNING")

    async def run():
        async with intake_context(settings) as ctx:
            return await replay_rejected(ctx, ids=ids or None, profile_name=profile, limit=limit)

    results = asyncio.run(run())
    for result in results:
        reasons = "; ".join(f"{e.field}: {e.message}" for e in result.errors)
        console.print(f"{result.position}: {result.status} {result.incident_number or ''} {reasons}")
    console.print(f"replayed {len(results)} rejected record(s)")


@cli.command("sample")
def sample_command(n: int = typer.Option(1000, min=1), seed: int = typer.Option(1),
                   out: Path = typer.Option(Path("sample-110.ndjson"), help="NDJSON file to write"),
                   start: datetime = typer.Option(None, formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                                  help="first call's time, Beijing time [default: 2024-05-01]"),
                   days: float = typer.Option(30.0, min=0.0005, help="days the calls spread over from the start")
                   ) -> None:
    """Write a realistic sample 110 feed (fengqiao_json NDJSON) with repeats, revisions, bad records and a
    handful of civil-to-criminal chains, spread over `--days` from the start."""
    sample.write(out, n, seed, start=start, days=days)
    console.print(f"wrote {n:,} records to {out}")


if __name__ == "__main__":
    cli()
