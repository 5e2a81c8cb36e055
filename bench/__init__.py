"""Benchmarks run against the real local stack (deploy/local); not part of the installed package."""
