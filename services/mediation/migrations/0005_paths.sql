-- The paths mediators walk: who worked a case keeps seeing it (worked_by), the sender sees the answer
-- to its latest handoff (last_handoff), a confirmation request is a handoff to the court (purpose),
-- cases are found by the incident's stable id and by phone HMAC, and parties are data.
ALTER TABLE cases
    ADD COLUMN worked_by    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN last_handoff jsonb,
    ADD COLUMN incident_id  uuid;
ALTER TABLE handoffs ADD COLUMN purpose text NOT NULL DEFAULT 'transfer';

CREATE INDEX cases_worked_by ON cases USING gin (worked_by);
CREATE INDEX cases_incident_id ON cases (incident_id);
CREATE INDEX cases_phone_hmac ON cases (phone_hmac);
-- Searches of a station's cases, newest first (the cursor order).
CREATE INDEX cases_station_received ON cases (station_code, received_at DESC, id DESC);
CREATE INDEX handoffs_requested_by ON handoffs (requested_by, requested_at DESC);

-- The parties of a case, the caller first (position 0). Personal data: shown by role, never in events
-- or logs; phones are found by their HMAC (the same key as intake's caller_phone_hmac).
CREATE TABLE case_parties (
    case_id     uuid        NOT NULL REFERENCES cases (id),
    position    integer     NOT NULL,
    role        text        NOT NULL,
    name        text,
    phone       text,
    phone_hmac  text,
    id_number   text,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, position)
);
CREATE INDEX case_parties_phone ON case_parties (phone_hmac);
