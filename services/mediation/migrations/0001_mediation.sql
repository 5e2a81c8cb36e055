-- One case per dispute (source, incident_number). Parties' personal data (party jsonb) stays
-- in this database; events carry keys and HMACs only.
CREATE TABLE cases (
    id              uuid        PRIMARY KEY,
    source          text        NOT NULL,
    incident_number text        NOT NULL,
    revision        bigint      NOT NULL,
    station_code    text        NOT NULL,
    grid_code       text,
    officer_id      text,
    channel         text        NOT NULL,
    state           text        NOT NULL,
    dispute_type    text,
    risk_flags      text[]      NOT NULL DEFAULT '{}',
    high_risk       boolean     NOT NULL DEFAULT false,
    address_key     text,
    phone_hmac      text,
    party           jsonb       NOT NULL DEFAULT '{}',
    received_at     timestamptz NOT NULL,
    claim_due_at    timestamptz NOT NULL,
    claimed_by      text,
    claimed_at      timestamptz,
    sessions        integer     NOT NULL DEFAULT 0,
    had_agreement   boolean     NOT NULL DEFAULT false,
    handoff_pending boolean     NOT NULL DEFAULT false,
    escalated       boolean     NOT NULL DEFAULT false,
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, incident_number)
);
-- The claim queue: pending cases of a station and channel, high risk first, then oldest.
CREATE INDEX cases_queue ON cases (station_code, channel, high_risk DESC, received_at, id) WHERE state = 'pending';

-- Everything that happened to a case, in order.
CREATE TABLE case_timeline (
    id          bigserial   PRIMARY KEY,
    case_id     uuid        NOT NULL REFERENCES cases (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    from_state  text,
    to_state    text,
    details     jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX case_timeline_case ON case_timeline (case_id, id);

-- Who did what through the API, and when (writes only).
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    roles       text[]      NOT NULL,
    action      text        NOT NULL,
    case_id     uuid,
    outcome     text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}'
);
