-- Idempotency ledger of the consumer runner: an event id is inserted in the same transaction
-- as the handler's writes, so a redelivered event (after a crash or a rebalance) is skipped.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    kafka_offset bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
