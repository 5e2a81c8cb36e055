"""Settings of the mediation service, read from MEDIATION_* environment variables."""
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MediationSettings(ServiceSettings):
    """The mediation service's settings; defaults match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="MEDIATION_", extra="ignore", frozen=True)

    service_name: str = "mediation"
    http_port: int = 8002
