-- The audit trail is evidence: once written, a row is never changed or removed by the service. A
-- trigger refuses UPDATE, DELETE and TRUNCATE for every role but a superuser who first disables it
-- (which itself needs ALTER TABLE, i.e. the table's owner, and shows in the server log). The table is
-- not converted to a partitioned one here: rewriting a live table under an append-only rule is a
-- separate, rehearsed step (docs/mediation.md, "Audit trail").
ALTER TABLE audit_log
    ADD COLUMN purpose  text,
    ADD COLUMN stations text[] NOT NULL DEFAULT '{}';

CREATE INDEX audit_log_case ON audit_log (case_id, at, id);
CREATE INDEX audit_log_actor ON audit_log (actor, at, id);
CREATE INDEX audit_log_at ON audit_log (at, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Privileges too, for roles that are granted the table rather than owning it.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
