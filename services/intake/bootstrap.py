"""Wiring of the intake service: open resources plus the loaded rules and reference data."""
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from services.intake.domain.classification import Classifier
from services.intake.domain.jurisdiction import Jurisdictions
from services.intake.domain.profiles import FeedProfile
from services.intake.profile_files import load_profile
from services.intake.settings import IntakeSettings
from shared.kafka.producer import EventProducer
from shared.resources import Resources, open_resources


@dataclass
class IntakeContext:
    """What intake's handlers need: connections, rules, reference data and secrets."""

    settings: IntakeSettings
    pool: asyncpg.Pool
    producer: EventProducer
    classifier: Classifier
    jurisdictions: Jurisdictions
    phone_secret: bytes
    profiles: dict[str, FeedProfile]
    classifiers: dict[tuple[str, int], Classifier] = field(default_factory=dict)

    def profile(self, name: str) -> FeedProfile:
        """A feed profile by name, loaded once (ProfileError when unknown)."""
        if name not in self.profiles:
            self.profiles[name] = load_profile(name, self.settings.profile_dirs, allow_path=False)
        return self.profiles[name]

    def classifier_for(self, profile: FeedProfile) -> Classifier:
        """The rules plus the profile's own keywords, compiled once per profile version."""
        key = (profile.name, profile.version)
        if key not in self.classifiers:
            self.classifiers[key] = self.classifier.with_keywords(profile.keywords.model_dump())
        return self.classifiers[key]


def build_context(resources: Resources) -> IntakeContext:
    """An intake context over already-open resources."""
    settings = resources.settings
    assert isinstance(settings, IntakeSettings)
    return IntakeContext(
        settings=settings, pool=resources.pool, producer=resources.producer,
        classifier=Classifier.load(), jurisdictions=Jurisdictions.load(),
        phone_secret=settings.phone_hmac_secret.get_secret_value().encode(), profiles={})


@asynccontextmanager
async def intake_context(settings: IntakeSettings) -> AsyncIterator[IntakeContext]:
    """Open the pool and producer, load rules and reference data; close everything on exit."""
    async with open_resources(settings) as resources:
        yield build_context(resources)
