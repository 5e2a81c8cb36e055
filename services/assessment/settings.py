"""Settings of the assessment service, read from ASSESSMENT_* environment variables."""
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AssessmentSettings(ServiceSettings):
    """The assessment service's settings; defaults match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="ASSESSMENT_", extra="ignore", frozen=True)

    service_name: str = "assessment"
    http_port: int = 8003
    consumer_group: str = Field(default="assessment-facts", description="the facts consumers' group")
