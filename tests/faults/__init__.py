"""Fault tests: broker stopped, PostgreSQL restarted, a consumer SIGKILLed, poison messages."""
