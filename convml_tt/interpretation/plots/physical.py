"""Regimes in physical terms, as figures: per-cluster box plots of the
organisation indices and co-located fields (:func:`cluster_boxplots`) and
the correlation of the embedding's principal components with them
(:func:`pc_correlation_heatmap`). The numbers behind them come from
:mod:`convml_tt.interpretation.physical`."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..physical import (
    _check_variables,
    _order,
    _tiles,
    cluster_labels,
    cluster_medians,
    pc_correlations,
    variable_label,
    variable_values,
)

__all__ = ["cluster_boxplots", "pc_correlation_heatmap", "pc_correlations", "cluster_medians"]


def cluster_boxplots(
    da: xr.DataArray,
    clusters: Any = "ward",
    variables: Sequence[str] | None = None,
    n_clusters: int | None = None,
    ncols: int = 4,
    panel_size: tuple[float, float] = (3.2, 2.6),
    title: str | None = None,
):
    """One panel per physical variable, one box per cluster (median line,
    quartile box, whiskers at 1.5 IQR, outliers as dots), each box labelled
    with its cluster's tile count.

    Parameters
    ----------
    da : embeddings ``(tile_id, emb_dim)`` whose coordinates carry the
        organisation indices / field statistics (``get_embeddings`` of a
        dataset that stored them).
    clusters : ``"ward"`` (Ward clusters of the embeddings, A, B, ... as the
        dendrogram names its leaves), a label coordinate such as
        ``"regime_name"``, the regimes of a regimes file (``Regimes`` or its
        JSON path: the regime maps' grouping and letters), or one name per tile (e.g. the labels
        :func:`~convml_tt.interpretation.plots.dendrogram` returns).
    variables : which coordinates (default: every index and field statistic present).
    n_clusters : Ward clusters (default: the number of true regimes, or 6).
    ncols : panels per row.
    panel_size : inches per panel (width, height).
    title : figure title (``False``: none).

    Returns
    -------
    (fig, medians): the matplotlib figure and the ``(cluster, variable)``
    medians (:func:`~convml_tt.interpretation.physical.cluster_medians`).
    """
    import matplotlib.pyplot as plt

    da = _tiles(da, "cluster_boxplots")
    variables = _check_variables(da, variables)
    names = cluster_labels(da, clusters, n_clusters)
    order = _order(names, da, clusters)
    medians = cluster_medians(da, names, variables)
    medians = medians.sel(cluster=[c for c in order if c in medians.cluster.values])
    ncols = max(1, min(int(ncols), len(variables)))
    nrows = int(np.ceil(len(variables) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.6),
                             squeeze=False, layout="constrained")
    colours = plt.get_cmap("tab10")
    for j, v in enumerate(variables):
        ax = axes[j // ncols][j % ncols]
        y = variable_values(da, v)
        data = [y[(names == c) & np.isfinite(y)] for c in order]
        box = ax.boxplot(data, patch_artist=True, widths=0.6, showfliers=True,
                         flierprops={"marker": ".", "markersize": 3, "alpha": 0.5},
                         medianprops={"color": "k", "linewidth": 1.2})
        for k, patch in enumerate(box["boxes"]):
            patch.set_facecolor(colours(k % 10))
            patch.set_alpha(0.65)
        ax.set_xticks(np.arange(1, len(order) + 1))
        ax.set_xticklabels(order, rotation=30 if max(map(len, order)) > 3 else 0, fontsize=8,
                           ha="right" if max(map(len, order)) > 3 else "center")
        ax.set_title(variable_label(da, v), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="y", labelsize=8)
    for j in range(len(variables), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    if title is not False:
        from ..grouping import describe

        what = describe(clusters, len(order))
        counts = ", ".join(f"{c}: {int(n)}" for c, n in zip(medians.cluster.values, medians.n_tiles.values))
        fig.suptitle(title or f"physical variables per {what} ({counts} tiles)", fontsize=11)
    return fig, medians


def pc_correlation_heatmap(
    da_or_corr: xr.DataArray,
    n_components: int | None = None,
    variables: Sequence[str] | None = None,
    title: str | None = None,
):
    """Heatmap of the correlation of each principal component of the
    embeddings with each physical variable (values written in the cells,
    diverging colours from -1 to 1; each component labelled with its
    explained variance).

    ``da_or_corr``: embeddings (then :func:`pc_correlations` is computed with
    ``n_components`` and ``variables``) or its result ``(component, variable)``.

    Returns ``(fig, corr)``.
    """
    import matplotlib.pyplot as plt

    if isinstance(da_or_corr, xr.DataArray) and set(da_or_corr.dims) == {"component", "variable"}:
        corr = da_or_corr.transpose("component", "variable")
    else:
        corr = pc_correlations(da_or_corr, n_components=n_components, variables=variables)
    c = corr.values
    k, m = c.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * m, 1.2 + 0.5 * k), layout="constrained")
    im = ax.imshow(c, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(np.arange(m))
    ax.set_xticklabels([str(v) for v in corr["variable"].values], rotation=40, ha="right", fontsize=9)
    ratio = corr.coords["explained_variance_ratio"].values if "explained_variance_ratio" in corr.coords else None
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels([f"PC {int(p)}" + (f" ({100 * ratio[i]:.0f}%)" if ratio is not None else "")
                        for i, p in enumerate(corr.component.values)], fontsize=9)
    for i in range(k):
        for j in range(m):
            if np.isfinite(c[i, j]):
                ax.text(j, i, f"{c[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(c[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8, label="Pearson r")
    if title is not False:
        ax.set_title(title or "embedding principal components vs physical variables", fontsize=11)
    return fig, corr
