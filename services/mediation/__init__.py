"""Fengqiao mediation: dispute cases."""
