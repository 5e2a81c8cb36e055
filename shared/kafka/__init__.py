"""Kafka building blocks: an acks=all idempotent producer, topic creation and the consumer runner."""
