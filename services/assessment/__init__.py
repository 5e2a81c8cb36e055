"""Fengqiao assessment: scorecards and rankings."""
