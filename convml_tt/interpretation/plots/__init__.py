"""Plots of embeddings: dendrogram, annotated scatter, grid overview.

All plots take embeddings (tile_id, emb_dim) from
:func:`convml_tt.interpretation.embeddings.get_embeddings` and read the tile
images from the dataset folder named in its ``dataset_path`` attribute
(override with ``dataset_path=``). Each returns the matplotlib figure (save
with ``fig.savefig("figure.png", dpi=100)``) plus what it computed.
"""
from ._common import save_figure
from .dendrogram import dendrogram
from .grid import grid, grid_layout
from .insets import place_insets
from .scatter import scatter

__all__ = ["dendrogram", "scatter", "grid", "grid_layout", "place_insets", "save_figure"]
