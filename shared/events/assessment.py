"""Events assessment publishes on assessment.ranking.v1, keyed by the scope (a county code or 'city')."""
from pydantic import BaseModel, ConfigDict, Field

RANKING_TOPIC = "assessment.ranking.v1"


class RankedUnit(BaseModel):
    """One unit's place in a published ranking (scores as exact decimal strings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unit: str
    county_code: str | None = None
    cohort: str | None = Field(default=None, description="the cohort of similar stations it is ranked in")
    rank: int | None
    score: str | None
    grade: str | None
    candidate: bool
    red_line: bool
    tied_with: list[str] = Field(default_factory=list)


class SourceOffset(BaseModel):
    """The next offset after the last event of a source partition that the facts included."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    partition: int
    next_offset: int


class RankingPublished(BaseModel):
    """A month's ranking as published, with what produced it: the rules version and the source offsets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    publication_id: str
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    kind: str
    scope: str
    rules_version: str
    published_by: str
    source_offsets: list[SourceOffset]
    items: list[RankedUnit]
