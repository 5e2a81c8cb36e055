"""Fengqiao intake: 110 dispatch feeds."""
