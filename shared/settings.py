"""Settings shared by every service; each service subclasses with its own env prefix."""
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.kafka.security import KafkaAuth

LOCAL_KAFKA = "127.0.0.1:19092"
LOCAL_POSTGRES = "postgresql://fengqiao:fengqiao@127.0.0.1:15432"
LOCAL_PASSWORD = "fengqiao"
LOCAL_JWT_SECRET = "fengqiao-local-development-only-secret"
LOCAL_PHONE_SECRET = "fengqiao-local-phone-hmac-secret"


class ServiceSettings(BaseSettings):
    """What every service reads from its environment, with defaults that match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="FENGQIAO_", extra="ignore", frozen=True)

    service_name: str = "fengqiao"
    environment: Literal["local", "test", "production"] = "local"
    kafka_bootstrap_servers: str = LOCAL_KAFKA
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="SASL_SSL in production; SASL_PLAINTEXT on the local cluster with ACLs")
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = Field(default="", description="this service's principal (User:<name> in the ACLs)")
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str = Field(default="", description="CA of the brokers' certificates (SASL_SSL); none: the system's")
    database_url: str = ""
    database_pool_size: int = Field(default=10, ge=1, le=500,
                                    description="database connections the process keeps: about what PostgreSQL's "
                                                "cores can run at once; more only queue inside the server")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    metrics_port: int = Field(default=0, ge=0, le=65535,
                              description="port of /metrics for a process that serves no API (`consume`, "
                                          "mediation's `sla`); 0: none")
    time_zone: str = "Asia/Shanghai"
    jwt_secret: SecretStr = Field(default=SecretStr(LOCAL_JWT_SECRET),
                                  description="HS256 key of local and test tokens; refused in production")
    jwt_jwks_url: str = Field(default="", description="the identity provider's JWKS: tokens are then RS256/ES256 "
                                                      "signed by one of its keys (by kid); required in production")
    jwt_issuer: str = Field(default="", description="the required iss claim; none: not checked (required in "
                                                    "production)")
    jwt_audience: str = Field(default="", description="the required aud claim, this service's client id; none: not "
                                                      "checked (required in production)")
    jwt_max_lifetime_seconds: int = Field(default=12 * 3600, ge=60,
                                          description="longest token accepted: exp - iat, and exp from now")
    jwt_roles_claim: str = Field(default="roles", min_length=1,
                                 description="claim of the roles, a dotted path (Keycloak: realm_access.roles)")
    jwt_stations_claim: str = Field(default="stations", min_length=1, description="claim of the station codes")
    jwt_channels_claim: str = Field(default="channels", min_length=1, description="claim of the mediation channels")
    jwt_jwks_cache_seconds: float = Field(default=300.0, gt=0, description="how long fetched keys are used")
    jwt_jwks_refetch_seconds: float = Field(default=10.0, ge=0,
                                            description="least time between fetches for an unknown kid")
    topic_prefix: str = Field(default="", pattern=r"^[a-z0-9._-]*$",
                              description="prefix of every topic name: isolates tests and tenants on one cluster")

    producer_linger_ms: int = Field(default=10, ge=0)
    producer_compression: Literal["lz4", "gzip", "zstd", "snappy", "none"] = "lz4"
    producer_max_batch_bytes: int = Field(default=256 * 1024, ge=16 * 1024)

    tracing: bool = Field(default=True, description="make spans: W3C trace context in Kafka headers and trace "
                                                    "ids in logs (also off with OTEL_SDK_DISABLED=true)")
    trace_exporter: Literal["auto", "none", "otlp", "console"] = Field(
        default="auto", description="where spans go: auto is OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set "
                                    "(or OTEL_TRACES_EXPORTER's choice), else nowhere; console is JSON lines on stderr")

    outbox_relay_seconds: float = Field(default=1.0, gt=0, description="how often the outbox relay runs")

    consumer_max_batch: int = Field(default=500, ge=1)
    consumer_max_attempts: int = Field(default=3, ge=1)
    consumer_retry_backoff_ms: int = Field(default=200, ge=0)

    # The idempotency ledger is pruned by `purge` past these (shared/kafka/ledger_horizon.py).
    topic_retention_days: int = Field(
        default=7, ge=1, description="retention of the topics the service consumes (Kafka's log.retention.hours, "
                                     "168 by default): processed_events rows must outlive it")
    ledger_margin_days: int = Field(
        default=7, ge=1, description="kept beyond topic_retention_days: Kafka deletes whole segments, which can "
                                     "outlive the retention by segment.ms (7 days by default)")

    @model_validator(mode="after")
    def _local_defaults_and_production_safety(self) -> "ServiceSettings":
        if not self.database_url:
            # frozen model: fill the derived default through object.__setattr__ once, at validation.
            object.__setattr__(self, "database_url", f"{LOCAL_POSTGRES}/fengqiao_{self.service_name}")
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(f"kafka_sasl_username and kafka_sasl_password must be set with {self.kafka_security_protocol}")
        if self.environment == "production":
            if urlsplit(self.database_url).password == LOCAL_PASSWORD:
                raise ValueError("database_url uses the local development password in production")
            if self.jwt_secret.get_secret_value() == LOCAL_JWT_SECRET:
                raise ValueError("jwt_secret is the local development secret in production")
            # HS256 with a shared secret is for local use: production trusts only the identity provider's keys.
            missing = [name for name in ("jwt_jwks_url", "jwt_issuer", "jwt_audience") if not getattr(self, name)]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set in production (tokens are verified against "
                                 "the identity provider's JWKS; HS256 is refused)")
            if self.kafka_bootstrap_servers == LOCAL_KAFKA:
                raise ValueError("kafka_bootstrap_servers is the local default in production")
        return self

    @property
    def kafka_auth(self) -> KafkaAuth:
        """How this service's Kafka clients authenticate."""
        return KafkaAuth(self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_sasl_username,
                         self.kafka_sasl_password.get_secret_value(), self.kafka_ssl_cafile)

    def topic(self, name: str) -> str:
        """The deployed name of a registered topic."""
        return self.topic_prefix + name

    @property
    def database_name(self) -> str:
        """The database this service owns, taken from its URL."""
        return urlsplit(self.database_url).path.lstrip("/")


class PhoneKeyedSettings(ServiceSettings):
    """Settings of a service that hashes phones (intake and mediation): both must hold the same key, so that
    a phone hashes alike in both and a case can be found by its caller's phone."""

    phone_hmac_secret: SecretStr = Field(
        default=SecretStr(LOCAL_PHONE_SECRET),
        description="key of the phone HMAC, the same in intake and mediation: repeat callers are found, cases "
                    "searched by a caller's or party's phone, and party phones stored through it")

    @model_validator(mode="after")
    def _no_local_phone_secret_in_production(self) -> "PhoneKeyedSettings":
        if self.environment == "production" and self.phone_hmac_secret.get_secret_value() == LOCAL_PHONE_SECRET:
            raise ValueError("phone_hmac_secret is the local development secret in production")
        return self
