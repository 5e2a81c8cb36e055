-- Which feed profile (name and version) mapped each record; a hash of the record's content, so
-- that a re-send of the same (source, incident_number, revision) with other content is told
-- apart from a duplicate (a conflict, kept in rejected_records); whether the classification asks
-- for a person's review; and, when the feed had no call-received time, the field it came from.
-- NULL (false) for rows written before: such a row never makes a conflict.
ALTER TABLE dispatch_records
    ADD COLUMN profile text,
    ADD COLUMN profile_version integer,
    ADD COLUMN content_hash text,
    ADD COLUMN needs_review boolean NOT NULL DEFAULT false,
    ADD COLUMN received_at_derived_from text;
