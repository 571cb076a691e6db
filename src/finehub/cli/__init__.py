"""finehub.cli."""
