"""Embeddings, the Chroma store of labelled claims, and indexing into it."""
