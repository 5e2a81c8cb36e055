"""Settings of the intake service, read from INTAKE_* environment variables."""
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    """The intake service's settings; defaults match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    service_name: str = "intake"
    http_port: int = 8001
