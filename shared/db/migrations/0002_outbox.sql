-- Transactional outbox of every service (shared/outbox.py): events are written with the state
-- they describe and published after the commit; the relay publishes what a crash left behind.
CREATE TABLE IF NOT EXISTS outbox (
    id          bigserial   PRIMARY KEY,
    topic       text        NOT NULL,
    key         bytea       NOT NULL,
    value       bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
