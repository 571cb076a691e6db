"""finehub.data."""
