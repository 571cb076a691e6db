"""finehub.nn."""
