"""PostgreSQL: connection pools, per-service databases and numbered SQL migrations."""
