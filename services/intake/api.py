"""HTTP edge of the intake service."""
from fastapi import FastAPI

from services.intake.settings import IntakeSettings
from shared.app import create_service_app


def create_app(settings: IntakeSettings) -> FastAPI:
    """The intake API; resources open in its lifespan."""
    return create_service_app(settings, title="Fengqiao intake: 110 dispatch feeds")
