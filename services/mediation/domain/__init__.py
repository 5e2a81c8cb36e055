"""Pure rules of mediation: the case lifecycle and handoffs."""
