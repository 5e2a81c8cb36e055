-- The offence of a crime (homicide, injury, arson, poisoning, robbery, theft, fraud, sexual, other),
-- beside kind and dispute_type; NULL when the kind is not crime or the row predates crime types.
ALTER TABLE dispatch_records ADD COLUMN crime_type text;
