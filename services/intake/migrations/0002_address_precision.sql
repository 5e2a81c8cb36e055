-- How precise the address behind address_key is (room, building, street, area, none; see
-- services/intake/domain/address_precision.py). NULL for rows written before it was computed.
ALTER TABLE dispatch_records ADD COLUMN address_precision text;
