"""Settings: per-service prefixes, local defaults, and refusal of unsafe production values."""
import pytest
from pydantic import ValidationError

from services.assessment.settings import AssessmentSettings
from services.intake.settings import IntakeSettings
from services.mediation.settings import MediationSettings


def test_each_service_defaults_to_its_own_local_database():
    names = {cls().database_name for cls in (IntakeSettings, MediationSettings, AssessmentSettings)}
    assert names == {"fengqiao_intake", "fengqiao_mediation", "fengqiao_assessment"}


def test_environment_prefix_is_per_service(monkeypatch):
    monkeypatch.setenv("INTAKE_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("INTAKE_CONSUMER_MAX_BATCH", "50")
    assert IntakeSettings().kafka_bootstrap_servers == "kafka:9092"
    assert IntakeSettings().consumer_max_batch == 50
    assert MediationSettings().kafka_bootstrap_servers == "127.0.0.1:19092"


def test_production_refuses_local_credentials(monkeypatch):
    monkeypatch.setenv("INTAKE_ENVIRONMENT", "production")
    monkeypatch.setenv("INTAKE_KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    with pytest.raises(ValidationError, match="local development password"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_DATABASE_URL", "postgresql://intake:s3cret@db:5432/intake")
    with pytest.raises(ValidationError, match="jwt_secret is the local"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_JWT_SECRET", "a-production-signing-key")
    with pytest.raises(ValidationError, match="jwt_jwks_url, jwt_issuer, jwt_audience must be set in production"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_JWT_JWKS_URL", "https://sso.example/realms/f/protocol/openid-connect/certs")
    monkeypatch.setenv("INTAKE_JWT_ISSUER", "https://sso.example/realms/f")
    with pytest.raises(ValidationError, match="jwt_audience must be set in production"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_JWT_AUDIENCE", "fengqiao-intake")
    with pytest.raises(ValidationError, match="phone_hmac_secret is the local"):
        IntakeSettings()
    monkeypatch.setenv("INTAKE_PHONE_HMAC_SECRET", "a-production-hmac-key")
    assert IntakeSettings().database_name == "intake"


def test_bad_values_name_the_field(monkeypatch):
    monkeypatch.setenv("MEDIATION_CONSUMER_MAX_ATTEMPTS", "0")
    with pytest.raises(ValidationError, match="consumer_max_attempts"):
        MediationSettings()
