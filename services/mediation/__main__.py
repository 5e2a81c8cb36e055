"""fengqiao-mediation: the mediation service's command line (`fengqiao-mediation --help`)."""
import asyncio

import prometheus_client

from services.mediation import consumer, notifications, retention, sla
from services.mediation.api import create_app
from services.mediation.bootstrap import mediation_context
from services.mediation.settings import MediationSettings
from shared import outbox
from shared.cli import service_cli
from shared.db.pool import create_pool
from shared.logging import configure_logging

cli = service_cli(settings_factory=MediationSettings, package="services.mediation", app_factory=create_app,
                  consume=consumer.consume,
                  consume_help="Turn disputes from intake.dispute.v1 into cases until SIGTERM or Ctrl-C.",
                  purge=retention.purge)



@cli.command("sla")
def sla_command() -> None:
    """Sweep SLA timers and escalate (safe to run as several replicas) until Ctrl-C."""
    settings = MediationSettings()
    configure_logging(settings.service_name, settings.log_level)
    if settings.metrics_port:  # escalations and the outbox backlog, for Prometheus to scrape
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.http_host)

    async def run() -> None:
        async with mediation_context(settings) as ctx:
            async with outbox.relaying(ctx.pool, ctx.producer, settings.outbox_relay_seconds):
                await sla.run_forever(ctx, settings.sla_sweep_seconds)

    asyncio.run(run())


@cli.command("notify")
def notify_command() -> None:
    """Send new high-risk cases, escalations and what waits for the court to the webhooks of MEDIATION_WEBHOOKS
    (services/mediation/notifications.py) until Ctrl-C; safe to run as several replicas."""
    settings = MediationSettings()
    configure_logging(settings.service_name, settings.log_level)

    async def run() -> None:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            await notifications.run_forever(pool, notifications.NotificationSettings())
        finally:
            await pool.close()

    asyncio.run(run())


if __name__ == "__main__":
    cli()
