-- The SLA reasons a case was escalated for, each at most once (unclaimed, no_session, confirmation_due).
ALTER TABLE cases ADD COLUMN escalations text[] NOT NULL DEFAULT '{}';
