-- Intake marks a dispute it decided on weak evidence (one keyword, no code) as needing review
-- (DisputeData.needs_review); the case keeps the latest revision's mark and the queue shows it, so
-- a mediator checks that the call is a dispute at all before working it.
ALTER TABLE cases ADD COLUMN needs_review boolean NOT NULL DEFAULT false;
