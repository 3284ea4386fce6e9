"""Interpretation room: embeddings, plots and quality metrics.

* :mod:`.embeddings` -- ``get_embeddings`` (tiles -> DataArray (tile_id, emb_dim)),
  ``save_embeddings`` / ``load_embeddings`` (netCDF), ``nearest_tiles``;
* :mod:`.plots` -- dendrogram, annotated scatter, grid overview, inset placement;
* :mod:`.metrics` -- triplet accuracy, kNN label accuracy, cluster purity,
  adjusted Rand index (numpy);
* :mod:`.evaluate` -- the quality table with its baselines (untrained
  network, tile statistics);
* :mod:`.projections` -- PCA, Isomap, t-SNE, UMAP to 2-D; :mod:`.interactive`
  -- ``interactive_scatter`` (a standalone HTML page: hover shows the tile);
  :mod:`.projector` -- ``export_projector`` (TensorBoard's projector).

Importing this package does not import torch or matplotlib.
"""
from .embeddings import get_embeddings, load_embeddings, nearest_tiles, save_embeddings
from .interactive import interactive_scatter
from .projector import export_projector

__all__ = ["get_embeddings", "save_embeddings", "load_embeddings", "nearest_tiles", "interactive_scatter",
           "export_projector"]
