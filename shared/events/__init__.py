"""Integration events: the envelope, the topics and the event types, defined once for all services."""
from shared.events.envelope import Envelope, EnvelopeError
from shared.events.topics import TOPICS, TopicSpec, dead_letter_topic, topic

__all__ = ["Envelope", "EnvelopeError", "TOPICS", "TopicSpec", "dead_letter_topic", "topic"]
