-- The W3C trace context of the request or batch that wrote an outbox row: the relay publishes a
-- row later, from another context, and puts this on the record's `traceparent` header.
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text;
