"""The user's own sources (`--source`): readers, a persistent BM25 index, passages."""
