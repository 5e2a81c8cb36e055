"""Kafka round trip: Kafka's ProducerPerformance versus EventProducer and producer → Kafka → ConsumerRunner → PostgreSQL."""
