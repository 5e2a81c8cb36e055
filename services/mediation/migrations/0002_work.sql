-- Working a case: the agreement and its judicial confirmation, and handoffs between channels.
ALTER TABLE cases
    ADD COLUMN agreement          jsonb,
    ADD COLUMN confirmation_due   date,
    ADD COLUMN court_case_number  text,
    ADD COLUMN ruling_number      text;

CREATE TABLE handoffs (
    id                uuid        PRIMARY KEY,
    case_id           uuid        NOT NULL REFERENCES cases (id),
    from_channel      text        NOT NULL,
    to_channel        text        NOT NULL,
    to_organisation   text,
    court_case_number text,
    state             text        NOT NULL DEFAULT 'requested',
    reason            text,
    requested_by      text        NOT NULL,
    requested_at      timestamptz NOT NULL DEFAULT now(),
    decided_by        text,
    decided_at        timestamptz
);
-- At most one handoff of a case waits for an answer.
CREATE UNIQUE INDEX handoffs_one_pending ON handoffs (case_id) WHERE state = 'requested';
