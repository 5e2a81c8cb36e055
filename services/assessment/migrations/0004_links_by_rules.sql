-- Links by the link rules (rules/links.v1.yaml): only room- and building-level address keys link, and
-- only crimes of the listed types after a dispute are civil-to-criminal, with the dispute named (ids only).
-- Rows from before this migration have no address precision and no crime type, so they link by caller
-- phone at best and start unlinked: `fengqiao-assessment rebuild --from-beginning` relinks them from the events.
ALTER TABLE incidents
    ADD COLUMN address_precision     text,
    ADD COLUMN crime_type            text,
    ADD COLUMN reported_station_code text,   -- the unknown station code a record named (data quality)
    ADD COLUMN repeat_30d            boolean NOT NULL DEFAULT false,  -- a dispute after one within 30 days
    ADD COLUMN repeat_90d            boolean NOT NULL DEFAULT false,  -- ... within 90 days
    ADD COLUMN c2c_source            text,   -- civil-to-criminal: the dispute this crime followed
    ADD COLUMN c2c_incident_number   text;
ALTER TABLE incidents DROP COLUMN follows_dispute;

-- Stations of similar kind (urban, rural, ...) are ranked against each other (reference data).
ALTER TABLE units ADD COLUMN cohort text;
