"""Report contract (schema v1) and its writers."""
