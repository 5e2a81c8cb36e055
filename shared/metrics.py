"""Prometheus metrics every service exposes on /metrics."""
from prometheus_client import Counter, Gauge, Histogram

EVENTS_HANDLED = Counter(
    "fengqiao_events_handled_total", "Events applied by a consumer", ["consumer", "topic"])
EVENTS_SKIPPED = Counter(
    "fengqiao_events_duplicate_total", "Redelivered events skipped by the idempotency ledger",
    ["consumer", "topic"])
EVENTS_FAILED = Counter(
    "fengqiao_events_failed_total", "Events sent to a dead-letter topic", ["consumer", "topic", "reason"])
CONSUMER_LAG = Gauge(
    "fengqiao_consumer_lag", "Records behind the partition's high watermark",
    ["consumer", "topic", "partition"])
BATCH_SECONDS = Histogram(
    "fengqiao_consumer_batch_seconds", "Time to apply and commit one consumer batch", ["consumer"])
HTTP_LATENCY = Histogram(
    "fengqiao_http_request_seconds", "HTTP request latency", ["service", "method", "route", "status"])
OUTBOX_ROWS = Gauge(
    "fengqiao_outbox_rows", "Events in the service's outbox that Kafka has not acknowledged yet", ["database"])
OUTBOX_OLDEST_SECONDS = Gauge(
    "fengqiao_outbox_oldest_seconds", "Age of the oldest event still in the outbox (0 when it is empty)", ["database"])
SLA_ESCALATIONS = Counter(
    "fengqiao_sla_escalations_total", "Cases escalated by mediation's SLA sweep, by the limit they passed", ["reason"])
