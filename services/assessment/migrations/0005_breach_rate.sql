-- When a case's agreement is to be performed: breach_rate counts the agreements due in a month and,
-- of those, the ones reported breached (cases.breaches).
ALTER TABLE cases ADD COLUMN performance_date date;
