"""finehub.autotune."""
