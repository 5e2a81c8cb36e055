"""Pure rules of intake: the record, feed profiles, classification, jurisdiction, keys, deduplication."""
