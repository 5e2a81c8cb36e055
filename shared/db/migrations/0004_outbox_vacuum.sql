-- The outbox is a queue: each event is inserted, published and deleted within a second or so, so the
-- table holds almost no live rows and gathers two dead ones per record intake accepts. PostgreSQL's
-- default vacuums a table at 50 dead rows plus 20% of its estimated size, an estimate the churn keeps
-- stale: in bench.intake.growth outbox was vacuumed once in 100,000 records and its dead rows grew to
-- 196,000, which every relay claim (ORDER BY id through outbox_pkey), insert and delete then walked.
-- By row count instead, without the cost-based pauses (the live table is tiny): every autovacuum round
-- (autovacuum_naptime, a minute by default) that finds a few thousand dead rows vacuums it.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);
