"""Structured JSON logs that never carry personal data (docs/design.md, "Non-negotiables"), with the
trace and span ids of the current span, so a line leads to its trace and the trace to its lines."""
import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace
from structlog.typing import Processor

# Fields whose values are personal data wherever they appear in a log event.
PERSONAL_FIELDS = frozenset({
    "caller_name", "caller_phone", "phone", "name", "party_name", "party_names", "parties",
    "id_number", "address_text", "description",
})
MASK = "***"
# Mainland mobile numbers and 7-12 digit landlines, e.g. 13812345678, 010-12345678.
_PHONE = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")


def mask_text(text: str) -> str:
    """Replace phone numbers inside free text."""
    return _PHONE.sub(MASK, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: MASK if k in PERSONAL_FIELDS else _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


def mask_personal_data(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: personal fields become ***, phone numbers in text are masked."""
    for key, value in list(event.items()):
        event[key] = MASK if key in PERSONAL_FIELDS else _mask_value(value)
    return event


def add_trace_ids(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: `trace_id` and `span_id` of the current span, when there is one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


class RepeatedWarnings(logging.Filter):
    """Lets the first warning or error of each kind through, then at most one a minute saying how many
    more there were: a broker outage makes every Kafka client retry many times a second, and one line
    per retry per process buried the lines that mattered (14,038 in 30 s across the local fleet).

    A kind is the logger and the message template (`record.msg`, before its arguments), so "Unable
    connect to node 1" and "... node 2" are one kind. A kind silent for a minute starts a new episode."""

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka", "kafka"), every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefixes, self.every_s, self.clock = prefixes, every_s, clock
        self.kinds: dict[tuple[str, str], list[float | int]] = {}  # kind -> [last let through, last seen, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefixes):
            return True
        now, kind = self.clock(), (record.name, str(record.msg))
        state = self.kinds.get(kind)
        if state is None or now - state[1] >= self.every_s:  # a new kind, or a new episode of it
            self.kinds[kind] = [now, now, 0]
            return True
        state[1] = now
        if now - state[0] < self.every_s:
            state[2] += 1
            return False
        held, state[0], state[2] = state[2], now, 0
        record.msg = f"{record.msg} (and {held} more like it in the last {self.every_s:.0f} s)"
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout, one per event, for structlog and stdlib loggers (uvicorn, aiokafka) alike."""
    shared_processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RepeatedWarnings())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_personal_data,
            add_trace_ids,  # after the masking, which would take a run of digits in a hex id for a phone
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own logging config (when a caller did not pass log_config=None) gives these loggers
        # handlers of their own that would print around the masking: every line goes through the root's.
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
