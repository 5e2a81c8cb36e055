-- audit_log partitioned by month (issue 14, item 3), so its retention can drop whole months instead of
-- deleting rows (docs/mediation.md, "Audit trail"). The rows already written are not copied: the table
-- becomes the first partition as it is, holding everything before next month, and is dropped as a whole
-- once all of it is past the retention. Months are calendar months in UTC.
--
-- Append-only still holds on every partition: the row triggers of the partitioned table are cloned to
-- each partition; TRUNCATE triggers and revoked privileges are not inherited, so audit_log_protect()
-- adds them to each partition it creates. Rows that arrive for a month without a partition (the purge,
-- which creates the months ahead, did not run for that long) go to audit_log_default: an insert never
-- fails for want of a partition.

ALTER TABLE audit_log RENAME TO audit_log_until_first_month;
-- Its key becomes (id, at), the partitioned table's, when it is attached below.
ALTER TABLE audit_log_until_first_month DROP CONSTRAINT audit_log_pkey;
DROP TRIGGER audit_log_no_update_or_delete ON audit_log_until_first_month;
DROP TRIGGER audit_log_no_truncate ON audit_log_until_first_month;
ALTER INDEX audit_log_case RENAME TO audit_log_until_first_month_case;
ALTER INDEX audit_log_actor RENAME TO audit_log_until_first_month_actor;
ALTER INDEX audit_log_at RENAME TO audit_log_until_first_month_at;

CREATE TABLE audit_log (
    id          bigint      NOT NULL DEFAULT nextval('audit_log_id_seq'),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    roles       text[]      NOT NULL,
    action      text        NOT NULL,
    case_id     uuid,
    outcome     text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    purpose     text,
    stations    text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id;

CREATE INDEX audit_log_case ON audit_log (case_id, at, id);
CREATE INDEX audit_log_actor ON audit_log (actor, at, id);
CREATE INDEX audit_log_at ON audit_log (at, id);

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- What a partition does not inherit from audit_log.
CREATE FUNCTION audit_log_protect(part regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()', part);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %s FROM PUBLIC', part);
END
$$;

-- The partitions of the month of `month_of` and the `ahead` months after it, those missing; returns how many
-- it made. A month whose rows already went to audit_log_default gets none (they stay there, see docs).
CREATE FUNCTION audit_log_add_partitions(ahead integer, month_of timestamptz DEFAULT now()) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    first timestamptz := date_trunc('month', month_of AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    start timestamptz;
    name  text;
    made  integer := 0;
BEGIN
    FOR i IN 0..ahead LOOP
        start := (first AT TIME ZONE 'UTC' + make_interval(months => i)) AT TIME ZONE 'UTC';
        name := 'audit_log_' || to_char(start AT TIME ZONE 'UTC', 'YYYY_MM');
        CONTINUE WHEN to_regclass(name) IS NOT NULL
            OR EXISTS (SELECT 1 FROM audit_log_default
                       WHERE at >= start AND at < (start AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC')
            -- the first partition already holds this month (the migration's own month)
            OR EXISTS (SELECT 1 FROM audit_log_partitions() p WHERE p.upper_bound > start);
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)', name, start,
                       (start AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC');
        PERFORM audit_log_protect(name::regclass);
        made := made + 1;
    END LOOP;
    RETURN made;
END
$$;

-- Every partition but the default, with the end of its range (exclusive).
CREATE FUNCTION audit_log_partitions() RETURNS TABLE (name text, upper_bound timestamptz) LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'audit_log'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
$$;

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
SELECT audit_log_protect('audit_log_default');

-- The rows written so far, up to the end of this month (UTC), as they are.
DO $$
DECLARE
    next_month timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    EXECUTE format('ALTER TABLE audit_log ATTACH PARTITION audit_log_until_first_month '
                   'FOR VALUES FROM (MINVALUE) TO (%L)', next_month);
END
$$;
SELECT audit_log_protect('audit_log_until_first_month');

SELECT audit_log_add_partitions(3);
