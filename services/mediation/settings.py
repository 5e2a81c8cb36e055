"""Settings of the mediation service, read from MEDIATION_* environment variables."""
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import PhoneKeyedSettings


class MediationSettings(PhoneKeyedSettings):
    """The mediation service's settings; defaults match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="MEDIATION_", extra="ignore", frozen=True)

    service_name: str = "mediation"
    http_port: int = 8002
    outbox_relay_seconds: float = Field(default=0.25, gt=0, description="how often case events are published")
    queue_page_size: int = Field(default=50, ge=1, le=500)
    sla_sweep_seconds: float = Field(default=30.0, gt=0, description="how often the SLA worker sweeps")
    closed_case_retention_days: int = Field(
        default=365, ge=1, description="days after a case was closed or withdrawn (its last change) that it keeps "
                                       "its parties' names, phones and ID numbers and the free text of its casework; "
                                       "`fengqiao-mediation purge` erases them, the phone HMACs stay")
    audit_retention_months: int = Field(
        default=36, ge=13, description="calendar months the audit trail keeps a month of rows after it ended; "
                                       "`fengqiao-mediation purge` then drops the month whole (docs/mediation.md). "
                                       "36: the Civil Code's general limitation period (art. 188) is three years; "
                                       "at least 13, and at least as long as a closed case keeps its parties")
    audit_partitions_ahead: int = Field(default=3, ge=1, le=24,
                                        description="months of audit_log partitions the purge creates ahead")
    # The workbench's sign-in through the identity provider's login page (a public client: Authorization Code
    # with PKCE, no secret). All three set, or none: the page then takes a pasted token only.
    oidc_authorization_url: str = Field(default="", description="the provider's authorization endpoint (Keycloak: "
                                        ".../realms/<realm>/protocol/openid-connect/auth)")
    oidc_token_url: str = Field(default="", description="the provider's token endpoint; the workbench's CSP "
                                "lets the page fetch from its origin")
    oidc_client_id: str = Field(default="", description="the workbench's public client (PKCE S256, no secret)")
    oidc_scope: str = Field(default="openid", min_length=1, description="scopes the workbench asks for")

    @property
    def oidc_login(self) -> bool:
        """Whether the workbench offers the identity provider's login."""
        return bool(self.oidc_authorization_url)

    @model_validator(mode="after")
    def _oidc_whole_or_absent(self) -> "MediationSettings":
        given = {name: getattr(self, name) for name in ("oidc_authorization_url", "oidc_token_url", "oidc_client_id")}
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, value in given.items() if not value)
            raise ValueError(f"{missing} must be set with the other oidc_* settings")
        for name in ("oidc_authorization_url", "oidc_token_url"):
            url = urlsplit(given[name])
            if given[name] and not (url.scheme in ("http", "https") and url.netloc):
                raise ValueError(f"{name} must be an absolute http(s) URL")
            if given[name] and self.environment == "production" and url.scheme != "https":
                raise ValueError(f"{name} must be https in production (it carries codes and tokens)")
        return self

    @model_validator(mode="after")
    def _audit_outlives_party_data(self) -> "MediationSettings":
        # Who read a party's data stays on record at least as long as the data itself.
        if self.audit_retention_months * 28 < self.closed_case_retention_days:
            raise ValueError("audit_retention_months must cover closed_case_retention_days")
        return self
