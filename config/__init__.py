"""Settings and unbound extensions: the leaf every other package may import."""
