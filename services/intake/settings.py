"""Settings of the intake service, read from INTAKE_* environment variables."""
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import PhoneKeyedSettings


class IntakeSettings(PhoneKeyedSettings):
    """The intake service's settings; defaults match deploy/local."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    service_name: str = "intake"
    http_port: int = 8001
    max_batch_records: int = Field(default=10_000, ge=1, description="largest batch the API accepts")
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="largest request body, by Content-Length")
    repeat_caller_days: int = Field(default=30, ge=1, description="earlier calls within this window flag a repeat caller")
    raw_profile: str = Field(default="fengqiao_json", description="profile of dispatch.raw.v1 messages without a header")
    profile_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="folders of more feed profiles (<name>.yaml), separated like PATH; searched before the "
                    "shipped ones, by the API's ?profile=, the dispatch.raw.v1 consumer and the CLI")
    # zstd, not lz4: aiokafka compresses lz4 at level 9 (its high-compression mode), 10.6 µs of the API's CPU
    # per 500-byte event against 2.3 for zstd's level 3, which also compresses better (6.5:1 against 4.6:1
    # on the sample feed's events). Every Kafka client here reads both.
    producer_compression: Literal["lz4", "gzip", "zstd", "snappy", "none"] = "zstd"
    outbox_relay_seconds: float = Field(default=5.0, gt=0, description="how often leftover events are republished")
    # Retention of personal data, enforced by `fengqiao-intake purge` (services/intake/retention.py).
    caller_details_retention_days: int = Field(
        default=90, ge=1, description="days after the call that a record keeps the caller's name, phone, address "
                                      "text, description and coordinates; the repeat keys (HMAC, address key) stay")
    rejected_input_retention_days: int = Field(
        default=30, ge=1, description="days a rejected input keeps its raw text (to inspect and replay); the reasons "
                                      "and where it came from stay")

    @field_validator("profile_dirs", mode="before")
    @classmethod
    def _split_dirs(cls, value: object) -> object:
        # One environment variable, folders separated as in PATH (":" here, ";" on Windows).
        if isinstance(value, str):
            return [Path(part) for part in value.split(os.pathsep) if part.strip()]
        return value
