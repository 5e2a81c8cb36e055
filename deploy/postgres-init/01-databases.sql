-- One database per service: each service owns its own and never reads another's tables (docs/design.md, "Services").
-- The postgres image runs this once, when its data volume is first initialised; on an older volume
-- `fengqiao-<service> migrate` creates a missing database itself (shared/db/provision.py).
-- The names must match the *_DATABASE_URL values in docker-compose.yml (tests/deploy/test_compose.py checks).
CREATE DATABASE fengqiao_intake;
CREATE DATABASE fengqiao_mediation;
CREATE DATABASE fengqiao_assessment;
