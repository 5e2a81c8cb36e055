"""Pure rules of assessment: the monthly figures of a unit and the scoring that ranks units."""
