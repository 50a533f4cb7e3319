"""Clip memories, their on-disk store with a FAISS index, and selection for a question."""
