"""finehub.serving."""
