-- The latest revision of every dispatch record intake accepted, deduplicated by
-- (source, incident_number). Personal data stays in this database (record jsonb);
-- other services see address_key and phone_hmac only.
CREATE TABLE dispatch_records (
    source              text        NOT NULL,
    incident_number     text        NOT NULL,
    revision            bigint      NOT NULL,
    received_at         timestamptz NOT NULL,
    station_code        text        NOT NULL,
    grid_code           text,
    kind                text        NOT NULL,
    dispute_type        text,
    risk_flags          text[]      NOT NULL DEFAULT '{}',
    address_key         text,
    phone_hmac          text,
    record              jsonb       NOT NULL,
    superseded_count    integer     NOT NULL DEFAULT 0,
    first_seen_at       timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, incident_number)
);
-- Repeat-caller lookups: the same phone within the last days.
CREATE INDEX dispatch_records_phone ON dispatch_records (phone_hmac, received_at) WHERE phone_hmac IS NOT NULL;

-- Input that could not be accepted, with the reasons, for an operator to inspect and replay.
CREATE TABLE rejected_records (
    id          bigserial   PRIMARY KEY,
    channel     text        NOT NULL,
    profile     text        NOT NULL,
    position    text        NOT NULL,
    raw         text        NOT NULL,
    errors      jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    replayed_at timestamptz
);
-- A Kafka message has one position (topic/partition/offset): a redelivery is not a second rejection.
CREATE UNIQUE INDEX rejected_records_kafka_position ON rejected_records (channel, position) WHERE channel = 'kafka';

-- File imports: how far each file got, committed with the records of each batch, so an
-- interrupted import resumes at the first line not yet committed.
CREATE TABLE import_runs (
    file_id     text        PRIMARY KEY,
    path        text        NOT NULL,
    profile     text        NOT NULL,
    next_record bigint      NOT NULL DEFAULT 0,  -- ordinal of the first record not yet committed
    counts      jsonb       NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
