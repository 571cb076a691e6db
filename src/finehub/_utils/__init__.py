"""Small helpers with no finehub dependencies: paths, hashing, atomic writes, locks, lazy imports."""
