"""The registry of topics: names, partition counts, keys and the event types each carries.

Partition counts are chosen for the replica counts ops run (up to 6 consumers per group);
production uses replication 3 and min.insync.replicas=2, local runs use 1 and 1.
`writers` and `readers` name the services that produce and consume each topic: each service's
Kafka ACLs are derived from them (shared/kafka/acls.py). A topic others feed has no writer here.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    """One versioned topic: its partitions, what it is keyed by and which event types it carries."""

    name: str
    partitions: int
    key: str
    event_types: tuple[str, ...] = field(default=())
    description: str = ""
    writers: tuple[str, ...] = ()
    readers: tuple[str, ...] = ()


DEAD_LETTER_SUFFIX = ".dlq"

TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec("dispatch.raw.v1", 6, "station code or incident number",
                  ("dispatch.raw",), "raw CAD records pushed by 110 centres that publish to Kafka",
                  readers=("intake",)),
        TopicSpec("dispatch.rejected.v1", 3, "feed profile",
                  ("dispatch.rejected",), "rejected raw input with the reason, for inspection and replay",
                  writers=("intake",)),
        TopicSpec("intake.incident.v1", 6, "station code",
                  ("incident.accepted", "incident.updated"), "every accepted incident",
                  writers=("intake",), readers=("assessment",)),
        TopicSpec("intake.dispute.v1", 6, "station code",
                  ("dispute.opened", "dispute.updated"), "incidents classified as civil disputes",
                  writers=("intake",), readers=("mediation",)),
        TopicSpec("mediation.case.v1", 6, "station code",
                  tuple(f"case.{name}" for name in (
                      "created", "claimed", "released", "session_recorded", "agreement_reached",
                      "failed", "referred", "withdrawn", "handoff_requested", "handoff_accepted",
                      "handoff_rejected", "confirmation_requested", "confirmation_confirmed",
                      "confirmation_rejected", "escalated", "closed", "breach_reported")),
                  "case lifecycle of mediation", writers=("mediation",), readers=("assessment",)),
        TopicSpec("community.activity.v1", 3, "station code",
                  ("callback.recorded", "visit.recorded", "information.recorded", "patrol.recorded"),
                  "callbacks, household visits, information items and group-defence activities",
                  readers=("assessment",)),
        TopicSpec("assessment.ranking.v1", 3, "ranking scope: a county code or 'city'",
                  ("ranking.published",), "monthly rankings of stations, grids and officers",
                  writers=("assessment",)),
    )
}


def topic(name: str) -> TopicSpec:
    """The spec of a registered topic; an unknown name is a programming error."""
    try:
        return TOPICS[name]
    except KeyError:
        raise KeyError(f"unknown topic {name!r}; register it in shared/events/topics.py") from None


def dead_letter_topic(name: str) -> str:
    """The dead-letter topic of a topic: same name with the .dlq suffix."""
    return name + DEAD_LETTER_SUFFIX
