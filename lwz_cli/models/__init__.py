"""Models: resolving what the user named, reading GGUF metadata."""
