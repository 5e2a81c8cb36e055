"""Mediation's claim-next benchmark (see README.md beside this file)."""
