"""What a dead letter carries: the original bytes, plus the error and its origin in headers."""
from dataclasses import dataclass

from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from shared.events.topics import dead_letter_topic

ERROR = "x-error"
ERROR_TYPE = "x-error-type"
ORIGINAL_TOPIC = "x-original-topic"
ORIGINAL_PARTITION = "x-original-partition"
ORIGINAL_OFFSET = "x-original-offset"
ATTEMPTS = "x-attempts"
CONSUMER = "x-consumer"

_MAX_ERROR_BYTES = 4000


def describe(error: BaseException) -> str:
    """What went wrong, without the input it went wrong on: a validation error's text quotes the
    event's data, personal data included, which must reach neither a log line nor a header."""
    if isinstance(error, ValidationError):
        problems = error.errors(include_input=False, include_url=False)
        return f"{len(problems)} validation error(s) for {error.title}: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in problems)
    return str(error) or type(error).__name__


@dataclass(frozen=True)
class DeadLetter:
    """A record that could not be processed, and why."""

    record: ConsumerRecord
    error: BaseException
    attempts: int

    @property
    def topic(self) -> str:
        """The dead-letter topic this letter goes to."""
        return dead_letter_topic(self.record.topic)

    def headers(self, consumer: str) -> list[tuple[str, bytes]]:
        """The original headers followed by the error and the record's origin."""
        message = describe(self.error)
        return [*(self.record.headers or ()),
                (ERROR, message.encode()[:_MAX_ERROR_BYTES]),
                (ERROR_TYPE, type(self.error).__name__.encode()),
                (ORIGINAL_TOPIC, self.record.topic.encode()),
                (ORIGINAL_PARTITION, str(self.record.partition).encode()),
                (ORIGINAL_OFFSET, str(self.record.offset).encode()),
                (ATTEMPTS, str(self.attempts).encode()),
                (CONSUMER, consumer.encode())]
