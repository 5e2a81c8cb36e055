-- Facts kept from the event stream, one row per incident and per case in their latest state;
-- the monthly figures are aggregates over these rows (services/assessment/facts.py), so a late
-- event lands in the month it belongs to and a replay rebuilds the same numbers.
CREATE TABLE incidents (
    source          text        NOT NULL,
    incident_number text        NOT NULL,
    revision        bigint      NOT NULL,
    month           date        NOT NULL,   -- first day of the month, in the station's time zone
    received_at     timestamptz NOT NULL,
    station_code    text        NOT NULL,
    grid_code       text,
    officer_id      text,
    kind            text        NOT NULL,
    dispute_type    text,
    risk_flags      text[]      NOT NULL DEFAULT '{}',
    address_key     text,
    phone_hmac      text,
    PRIMARY KEY (source, incident_number)
);
CREATE INDEX incidents_month ON incidents (month, station_code);
CREATE INDEX incidents_address ON incidents (address_key, received_at) WHERE address_key IS NOT NULL;
CREATE INDEX incidents_phone ON incidents (phone_hmac, received_at) WHERE phone_hmac IS NOT NULL;

CREATE TABLE cases (
    case_id           uuid        PRIMARY KEY,
    source            text        NOT NULL,
    incident_number   text        NOT NULL,
    month             date        NOT NULL,
    received_at       timestamptz NOT NULL,
    station_code      text        NOT NULL,
    grid_code         text,
    officer_id        text,
    channel           text        NOT NULL,
    state             text        NOT NULL,
    sequence          integer     NOT NULL,   -- the case's version in its latest applied event
    created_at        timestamptz,
    first_claimed_at  timestamptz,
    closed_at         timestamptz,
    agreement         boolean     NOT NULL DEFAULT false,
    referred          boolean     NOT NULL DEFAULT false,
    confirmation_requested boolean NOT NULL DEFAULT false,
    confirmed         boolean     NOT NULL DEFAULT false,
    breaches          integer     NOT NULL DEFAULT 0,
    sla_breaches      integer     NOT NULL DEFAULT 0
);
CREATE INDEX cases_month ON cases (month, station_code);
