"""Settings of the mediation service, read from MEDIATION_* environment variables."""
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MediationSettings(ServiceSettings):
    """The mediation service's settings; defaults match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="MEDIATION_", extra="ignore", frozen=True)

    service_name: str = "mediation"
    http_port: int = 8002
    outbox_relay_seconds: float = Field(default=0.25, gt=0, description="how often case events are published")
    queue_page_size: int = Field(default=50, ge=1, le=500)
    sla_sweep_seconds: float = Field(default=30.0, gt=0, description="how often the SLA worker sweeps")
