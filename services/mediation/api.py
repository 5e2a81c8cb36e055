"""HTTP edge of the mediation service."""
from fastapi import FastAPI

from services.mediation.settings import MediationSettings
from shared.app import create_service_app


def create_app(settings: MediationSettings) -> FastAPI:
    """The mediation API; resources open in its lifespan."""
    return create_service_app(settings, title="Fengqiao mediation: dispute cases")
