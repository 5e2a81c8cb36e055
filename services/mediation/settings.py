"""Settings of the mediation service, read from MEDIATION_* environment variables."""
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

# The same local key as intake's: a party's phone must hash as intake hashes a caller's.
LOCAL_PHONE_SECRET = "fengqiao-local-phone-hmac-secret"


class MediationSettings(ServiceSettings):
    """The mediation service's settings; defaults match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="MEDIATION_", extra="ignore", frozen=True)

    service_name: str = "mediation"
    http_port: int = 8002
    outbox_relay_seconds: float = Field(default=0.25, gt=0, description="how often case events are published")
    queue_page_size: int = Field(default=50, ge=1, le=500)
    sla_sweep_seconds: float = Field(default=30.0, gt=0, description="how often the SLA worker sweeps")
    phone_hmac_secret: SecretStr = Field(
        default=SecretStr(LOCAL_PHONE_SECRET),
        description="key of the phone HMAC, intake's INTAKE_PHONE_HMAC_SECRET: cases are searched by a caller's "
                    "or party's phone through it, and party phones are stored with it")
    closed_case_retention_days: int = Field(
        default=365, ge=1, description="days after a case was closed or withdrawn (its last change) that it keeps "
                                       "its parties' names, phones and ID numbers and the free text of its casework; "
                                       "`fengqiao-mediation purge` erases them, the phone HMACs stay")

    @model_validator(mode="after")
    def _no_local_secret_in_production(self) -> "MediationSettings":
        if self.environment == "production" and self.phone_hmac_secret.get_secret_value() == LOCAL_PHONE_SECRET:
            raise ValueError("phone_hmac_secret is the local development secret in production")
        return self
