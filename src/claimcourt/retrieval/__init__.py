"""Embeddings, the Chroma store of labelled claims, and searching it (indexing into it is `jobs.index`)."""
