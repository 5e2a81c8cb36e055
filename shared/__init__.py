"""Fengqiao's common building blocks: settings, events, Kafka, PostgreSQL, logging, health, metrics."""
