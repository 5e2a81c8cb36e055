"""Intake's HTTP ingest benchmark (see README.md beside this file)."""
