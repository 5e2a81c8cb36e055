"""The commands every service's CLI has: `migrate`, `topics`, `token`, `purge` and `api`."""
import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import prometheus_client
import typer
import uvicorn
from fastapi import FastAPI

from shared.auth import issue_token
from shared.db.migrations import Migration, migrate
from shared.db.pool import create_pool
from shared.db.provision import ensure_database
from shared.kafka.admin import ensure_registered_topics
from shared.kafka.ledger_horizon import purge_ledger
from shared.logging import configure_logging
from shared.settings import ServiceSettings

# A service's own part of `purge`: (connection in a transaction, settings, now, dry_run) -> rows per kind of data.
Purge = Callable[..., Awaitable[dict[str, int]]]
S = TypeVar("S", bound=ServiceSettings)  # the service's own settings class


def service_cli(*, settings_factory: Callable[[], S], package: str,
                app_factory: Callable[[S], FastAPI],
                consume: Callable[[S], Coroutine[Any, Any, None]] | None = None,
                consume_help: str = "Run the service's Kafka consumer until SIGTERM or Ctrl-C.",
                purge: Purge | None = None) -> typer.Typer:
    """A typer app with the shared subcommands; a service adds its own to it. `purge` erases the
    service's personal data past its retention (the ledger of processed events is always pruned)."""
    cli = typer.Typer(no_args_is_help=True, add_completion=False)

    @cli.command("purge")
    def purge_command(dry_run: bool = typer.Option(False, "--dry-run", help="count, change nothing")) -> None:
        """Erase what is past its retention (docs/design.md, "Personal data"); --dry-run prints the counts only."""
        settings = settings_factory()
        configure_logging(settings.service_name, settings.log_level)

        async def run() -> dict[str, int]:
            now = datetime.now(UTC)
            pool = await create_pool(settings.database_url, min_size=1, max_size=1)  # jsonb as Python objects
            try:
                async with pool.acquire() as conn, conn.transaction():  # all or nothing: never half erased
                    counts = await purge(conn, settings, now, dry_run=dry_run) if purge else {}
                    return counts | await purge_ledger(conn, settings, now, dry_run=dry_run)
            finally:
                await pool.close()

        counts = asyncio.run(run())
        verb = "past retention (dry run, nothing changed)" if dry_run else "erased"
        for kind, count in counts.items():
            typer.echo(f"{settings.service_name}: {kind}: {count} {verb}")

    if consume is not None:
        @cli.command("consume", help=consume_help)
        def consume_command() -> None:
            settings = settings_factory()
            configure_logging(settings.service_name, settings.log_level)
            if settings.metrics_port:  # consumer lag and batch metrics, for Prometheus to scrape
                prometheus_client.start_http_server(settings.metrics_port, addr=settings.http_host)
            asyncio.run(consume(settings))

    @cli.command("migrate")
    def migrate_command() -> None:
        """Create the service's database if missing and apply its migrations."""
        settings = settings_factory()
        configure_logging(settings.service_name, settings.log_level)

        async def run() -> list[Migration]:
            await ensure_database(settings.database_url)
            return await migrate(settings.database_url, package)

        applied = asyncio.run(run())
        typer.echo(f"{settings.service_name}: {len(applied)} migration(s) applied to {settings.database_name}")

    @cli.command("topics")
    def topics_command(replication_factor: int | None = typer.Option(
            None, help="default: one per broker, at most 3 (with min.insync.replicas=2 at 3)")) -> None:
        """Create every registered topic and its dead-letter topic."""
        settings = settings_factory()
        asyncio.run(ensure_registered_topics(settings.kafka_bootstrap_servers, replication_factor,
                                             settings.topic_prefix, settings.kafka_auth))
        typer.echo(f"{settings.service_name}: topics ready on {settings.kafka_bootstrap_servers}")

    @cli.command("token")
    def token_command(subject: str = typer.Option(..., help="who the token is for"),
                      role: list[str] = typer.Option(..., help="feed, mediator, lawyer, ..."),
                      station: list[str] = typer.Option([], help="station codes the holder acts for"),
                      channel: list[str] = typer.Option([], help="mediation channels, when narrower than the role"),
                      hours: int = typer.Option(12, help="lifetime, positive")) -> None:
        """Issue a signed bearer token for local use."""
        settings = settings_factory()
        try:
            token = issue_token(settings.jwt_secret.get_secret_value(), subject=subject, roles=role,
                                stations=station, channels=channel, ttl=timedelta(hours=hours))
        except ValueError as exc:  # a mistyped role or lifetime: one line, not a traceback
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(token)

    @cli.command("api")
    def api_command(host: str = typer.Option(None), port: int = typer.Option(None)) -> None:
        """Serve the HTTP API (docs at /docs, health at /healthz and /readyz, metrics at /metrics)."""
        settings = settings_factory()
        configure_logging(settings.service_name, settings.log_level)
        # uvloop's event loop and httptools' HTTP parser: the C implementations, a fraction of the CPU
        # of asyncio's loop and h11 per request.
        uvicorn.run(app_factory(settings), host=host or settings.http_host,
                    port=port or settings.http_port, log_config=None, access_log=False, loop="uvloop",
                    http="httptools")

    return cli
