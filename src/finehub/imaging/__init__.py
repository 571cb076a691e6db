"""Image I/O, drawing and transforms, shared by the built-in modules and by data/ for training."""
