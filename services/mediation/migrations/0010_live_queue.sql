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
