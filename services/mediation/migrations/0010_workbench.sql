-- The live queue (services/mediation/live_queue.py): every change of a case writes its timeline in the
-- transaction that makes it, so the timeline's ids are the queue's event ids. Each insert statement
-- announces the range of ids it wrote; PostgreSQL delivers the notification at the commit (never for a
-- rolled-back change), so open workbenches hear of a change once it is visible, without polling.
CREATE FUNCTION case_timeline_announce() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    low bigint;
    high bigint;
BEGIN
    SELECT min(id), max(id) INTO low, high FROM written;
    IF low IS NOT NULL THEN
        PERFORM pg_notify('mediation_case_changes', low || ' ' || high);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER case_timeline_announce AFTER INSERT ON case_timeline
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION case_timeline_announce();

-- Notifications (services/mediation/notifications.py): the causes a station's group chat is told of, one
-- row per cause, written by the same statement-level trigger in the transaction of the change, so a
-- cause is recorded exactly when its change commits and never twice (the cause is the primary key).
-- audience_channel: whose channel is asked to act (the case's, or the court for what waits for it).
CREATE TABLE notifications (
    id               bigserial   PRIMARY KEY,
    cause            text        NOT NULL UNIQUE,
    kind             text        NOT NULL,
    case_id          uuid        NOT NULL REFERENCES cases (id),
    station_code     text        NOT NULL,
    audience_channel text        NOT NULL,
    details          jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    state            text        NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_to     text[]      NOT NULL DEFAULT '{}',
    last_error       text,
    finished_at      timestamptz
);
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';

CREATE FUNCTION case_timeline_notifications() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notifications (cause, kind, case_id, station_code, audience_channel, details)
    SELECT found.cause, found.kind, found.case_id, found.station_code, found.audience_channel, found.details
    FROM (
        -- A new high-risk case (or one that turned high-risk): once per case.
        SELECT c.id || '/high_risk' AS cause, 'high_risk_case' AS kind, c.id AS case_id, c.station_code,
               c.channel AS audience_channel, jsonb_build_object('risk_flags', to_jsonb(c.risk_flags)) AS details, w.id
        FROM written w JOIN cases c ON c.id = w.case_id
        WHERE w.action IN ('created', 'updated', 'reclassified') AND c.high_risk
        UNION ALL
        -- An escalation, once per case and reason; the SLA's confirmation deadline is its own kind.
        SELECT c.id || '/escalated/' || coalesce(w.details->>'reason', 'breach'),
               CASE WHEN w.details->>'reason' = 'confirmation_due' THEN 'confirmation_due' ELSE 'escalation' END,
               c.id, c.station_code, c.channel,
               jsonb_build_object('reason', coalesce(w.details->>'reason', 'breach')), w.id
        FROM written w JOIN cases c ON c.id = w.case_id
        WHERE w.action IN ('escalated', 'report_breach')
        UNION ALL
        -- A handoff or a confirmation request waiting for a court liaison: once per handoff.
        SELECT c.id || '/handoff/' || (w.details->>'handoff_id'), 'court_waiting', c.id, c.station_code, 'court',
               jsonb_build_object('handoff_id', w.details->>'handoff_id', 'purpose',
                                  CASE WHEN w.action = 'request_confirmation' THEN 'confirmation' ELSE 'transfer' END,
                                  'overdue', coalesce((w.details->>'overdue')::boolean, false)), w.id
        FROM written w JOIN cases c ON c.id = w.case_id
        WHERE (w.action = 'handoff_requested' AND w.details->>'to_channel' = 'court')
           OR (w.action = 'request_confirmation' AND w.details ? 'handoff_id')
        UNION ALL
        -- A confirmation asked for after its 30 days: overdue, once per case.
        SELECT c.id || '/confirmation_overdue', 'confirmation_overdue', c.id, c.station_code, 'court',
               jsonb_build_object('due', w.details->>'due'), w.id
        FROM written w JOIN cases c ON c.id = w.case_id
        WHERE w.action = 'request_confirmation' AND (w.details->>'overdue')::boolean
    ) AS found
    ORDER BY found.id
    ON CONFLICT (cause) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER case_timeline_notifications AFTER INSERT ON case_timeline
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION case_timeline_notifications();
