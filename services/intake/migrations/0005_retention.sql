-- Personal-data retention (services/intake/retention.py): when a record's caller details (name,
-- phone, address text, description, coordinates) were erased from its record jsonb, and when a
-- rejected input's raw text was. The keys the figures need (phone_hmac, address_key) stay.
ALTER TABLE dispatch_records ADD COLUMN personal_data_erased_at timestamptz;
ALTER TABLE rejected_records ADD COLUMN raw_erased_at timestamptz;
-- What the next purge has to look at: rows not yet erased, oldest first.
CREATE INDEX dispatch_records_to_erase ON dispatch_records (received_at) WHERE personal_data_erased_at IS NULL;
CREATE INDEX rejected_records_to_erase ON rejected_records (received_at) WHERE raw_erased_at IS NULL;
