"""Plots of embeddings (dendrogram, annotated scatter, grid overview) and of
regime maps (regime_map, regime_fractions_plot).

The embedding plots take embeddings (tile_id, emb_dim) from
:func:`convml_tt.interpretation.embeddings.get_embeddings` and read the tile
images from the dataset folder named in its ``dataset_path`` attribute
(override with ``dataset_path=``). Each returns the matplotlib figure (save
with ``save_figure(fig, "figure.png")``) plus what it computed. The map
plots take a regime map (:func:`convml_tt.interpretation.regimes.assign_regimes`)
and return the figure. :func:`cluster_boxplots` and :func:`pc_correlation_heatmap`
show the organisation indices and co-located fields per cluster and against
the principal components (no tile images needed). :func:`environment_figure`
draws regime frequency against two environment fields, :func:`sequences_figure`
regimes along trajectories.
"""
from ._common import save_figure
from .dendrogram import dendrogram
from .environment import environment_figure
from .grid import grid, grid_layout
from .insets import place_insets
from .maps import regime_fractions_plot, regime_map
from .physical import cluster_boxplots, pc_correlation_heatmap
from .scatter import scatter
from .transitions import sequences_figure

__all__ = ["dendrogram", "scatter", "grid", "grid_layout", "place_insets", "regime_map", "regime_fractions_plot",
           "cluster_boxplots", "pc_correlation_heatmap", "save_figure",
           "environment_figure", "sequences_figure"]
