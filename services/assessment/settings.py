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
    scoring_rules: str | None = Field(default=None, description="a scoring rules file; none: the shipped "
                                                                "rules/scoring.v2.yaml (rules/scoring.v1.yaml stays usable)")
    link_rules: str | None = Field(default=None, description="a link rules file; none: the shipped rules/links.v1.yaml")
