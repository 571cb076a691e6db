"""finehub.hub."""
