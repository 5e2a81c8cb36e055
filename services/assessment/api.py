"""HTTP edge of the assessment service."""
from fastapi import FastAPI

from services.assessment.settings import AssessmentSettings
from shared.app import create_service_app


def create_app(settings: AssessmentSettings) -> FastAPI:
    """The assessment API; resources open in its lifespan."""
    return create_service_app(settings, title="Fengqiao assessment: scorecards and rankings")
