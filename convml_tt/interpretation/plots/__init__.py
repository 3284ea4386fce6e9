"""Plots of embeddings: dendrogram, annotated scatter, grid overview."""
