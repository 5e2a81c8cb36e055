-- uuid_generate_v5 for the event ids of claims: claim-next writes the case, its timeline, its audit row and
-- its case.claimed event in one statement (repository.CLAIM_NEXT_RECORDED), so the event's id, uuid5 of the
-- case id and "<type>/<version>" as events.case_event derives it, is computed in the database. uuid-ossp
-- is a trusted extension (PostgreSQL 13+): the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
