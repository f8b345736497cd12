"""Agent runtime: deliver reports and keep the acknowledged state."""
