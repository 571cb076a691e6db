"""finehub.modules."""
