-- Whether an incident follows a dispute of the same address key or caller-phone HMAC within the 90
-- days before (a repeat dispute, or a civil-to-criminal case when the incident is a crime), kept at
-- write time: linking at read time cost 118 s of a 134 s national ranking (bench/assessment).
ALTER TABLE incidents ADD COLUMN follows_dispute boolean NOT NULL DEFAULT false;
UPDATE incidents i SET follows_dispute = EXISTS (
    SELECT 1 FROM incidents d
    WHERE d.kind = 'dispute' AND (d.source, d.incident_number) <> (i.source, i.incident_number)
      AND d.received_at < i.received_at AND d.received_at >= i.received_at - interval '90 days'
      AND ((i.address_key IS NOT NULL AND d.address_key = i.address_key)
           OR (i.phone_hmac IS NOT NULL AND d.phone_hmac = i.phone_hmac)));
-- A month's closures are found by time, not by scanning every case.
CREATE INDEX cases_closed_at ON cases (closed_at) WHERE closed_at IS NOT NULL;
