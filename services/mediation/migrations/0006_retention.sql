-- Personal-data retention (services/mediation/retention.py): when the party data of a closed or
-- withdrawn case was last erased. A case that changes afterwards (a breach reopens it, a party is
-- added) has updated_at past it, and is erased again once it is closed for long enough.
ALTER TABLE cases ADD COLUMN personal_data_erased_at timestamptz;
CREATE INDEX cases_finished ON cases (updated_at) WHERE state IN ('closed', 'withdrawn');
