"""Interpretation room: embeddings, plots and quality metrics."""
