"""Dendrogram of the embeddings (Ward linkage, truncated to N leaves) with K
example tiles drawn under each leaf (the figure of the 2019 convml_tt README)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..metrics import leaf_members, ward_linkage
from ..regimes import regime_letters
from ._common import TileImages, check_tiles_array, show_tile

__all__ = ["dendrogram"]


def dendrogram(
    da: xr.DataArray,
    n_leaves: int = 10,
    n_examples: int = 4,
    letters: bool | Sequence[str] = True,
    examples: str = "central",
    dataset_path: str | Path | None = None,
    seed: int = 0,
    tile_size_inches: float = 1.0,
    title: str | None = None,
    regimes: Any = None,
):
    """Ward-linkage dendrogram truncated to ``n_leaves`` leaves, with
    ``n_examples`` tiles of each leaf's cluster drawn beneath it.

    Parameters
    ----------
    da : embeddings (tile_id, emb_dim) with a ``dataset_path`` attribute.
    n_leaves : leaves (clusters) of the truncated tree; at most the number of tiles.
    n_examples : tiles shown per leaf (fewer when a cluster is smaller); 0
        draws the tree only (no images needed).
    letters : ``True`` to name clusters A, B, C, ... (left to right), a
        sequence of ``n_leaves`` names, or ``False`` for numbers.
    examples : ``"central"`` (tiles nearest the cluster mean) or ``"random"``.
    dataset_path : where the tile images are, when the ``dataset_path``
        attribute is out of date.
    seed : for ``examples="random"``.
    tile_size_inches : size of each example tile in the figure.
    regimes : a :class:`~convml_tt.interpretation.regimes.Regimes` or its
        JSON path: the tree gets as many leaves as regimes (``n_leaves`` is
        ignored) and each leaf the name of the regime it shares most tiles
        with (each tile's nearest regime; Hungarian method), so the letters
        are those of the regime maps; the title says the share of tiles on
        which leaf and regime agree. Without it the letters name this
        tree's own leaves, which the title says.

    Returns
    -------
    (fig, labels): the matplotlib figure and a DataArray over ``tile_id``
    holding each tile's leaf cluster name (letters or ``"0"``, ``"1"``, ...)
    with a ``leaf`` coordinate (0-based position left to right).
    """
    import matplotlib.pyplot as plt
    from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram

    da = check_tiles_array(da, "dendrogram")
    n_tiles = da.sizes["tile_id"]
    tile_regime = None
    if regimes is not None:
        from ..grouping import as_regimes, tile_regimes

        reg = as_regimes(regimes)
        tile_regime, n_leaves, letters = tile_regimes(da, reg), reg.n_regimes, True
    if n_leaves > n_tiles or n_leaves < 1:
        raise ValueError(
            f"n_leaves={n_leaves} is not possible with {n_tiles} tiles: asking for more leaves than tiles; "
            f"use 1 <= n_leaves <= {n_tiles}"
        )
    if n_leaves < 2 and n_tiles >= 2:
        raise ValueError(f"n_leaves must be at least 2 to draw a tree, got {n_leaves}")
    if examples not in ("central", "random"):
        raise ValueError(f"examples must be 'central' or 'random', got {examples!r}")
    if isinstance(letters, bool):
        names = regime_letters(n_leaves) if letters else [str(i) for i in range(n_leaves)]
    else:
        names = [str(s) for s in letters]
        if len(names) != n_leaves:
            raise ValueError(f"letters has {len(names)} names but there are {n_leaves} leaves")
    x = da.values.astype(np.float64)
    z = ward_linkage(x)
    groups = leaf_members(z, n_leaves)
    grouping = "" if letters is False else "; letters: this tree's own leaves, not a regimes file's regimes"
    if tile_regime is not None:
        from ..grouping import describe, leaf_names

        names, agree = leaf_names(groups, tile_regime, reg.names)
        grouping = (f"; leaves named after the {describe(regimes)}, which {100 * agree:.0f} % of the tiles share "
                    f"with their leaf")
    labels = np.empty(n_tiles, dtype=object)
    leaf_of = np.empty(n_tiles, dtype=np.int64)
    for i, g in enumerate(groups):
        labels[g] = names[i]
        leaf_of[g] = i

    images = TileImages(da, dataset_path) if n_examples > 0 else None
    rng = np.random.default_rng(seed)
    ids = da.tile_id.values

    k = max(n_examples, 0)
    col_w = tile_size_inches * 1.08
    fig_w = max(6.0, n_leaves * col_w + 0.9)
    tree_h = 2.6
    fig_h = tree_h + k * tile_size_inches * 1.05 + 0.9
    fig = plt.figure(figsize=(fig_w, fig_h), layout=None)
    left, right = 0.7 / fig_w, 1 - 0.2 / fig_w
    top = 1 - (0.45 if title is not False else 0.15) / fig_h
    tree_bottom = 1 - (tree_h + 0.1) / fig_h
    ax = fig.add_axes([left, tree_bottom, right - left, top - tree_bottom])
    scipy_dendrogram(
        z, truncate_mode="lastp", p=n_leaves, ax=ax, color_threshold=0, above_threshold_color="0.25",
        no_labels=True,
    )
    ax.set_xlim(0, 10 * n_leaves)
    ax.set_ylabel("Ward distance")
    ax.spines[["top", "right", "bottom"]].set_visible(False)
    ax.set_xticks(10 * np.arange(n_leaves) + 5)
    ax.set_xticklabels([f"{names[i]}\n({len(g)})" for i, g in enumerate(groups)], fontsize=10)
    ax.tick_params(axis="x", length=0)
    if title is not False:
        ax.set_title(title or f"Ward dendrogram of {n_tiles} {da.attrs.get('tile_type', '')} tiles "
                     f"({da.attrs.get('stage', '')}), {n_leaves} leaves{grouping}", fontsize=12 if not grouping
                     else 10, wrap=True)

    if k > 0:
        width = (right - left) / n_leaves
        th = tile_size_inches / fig_h
        tw = tile_size_inches / fig_w
        y_top = tree_bottom - 0.55 / fig_h
        for i, g in enumerate(groups):
            if examples == "central":
                centre = x[g].mean(axis=0)
                pick = g[np.argsort(np.sum((x[g] - centre) ** 2, axis=1), kind="stable")[:k]]
            else:
                pick = rng.choice(g, size=min(k, len(g)), replace=False)
            cx = left + (i + 0.5) * width
            for j, t in enumerate(pick):
                tax = fig.add_axes([cx - tw / 2, y_top - (j + 1) * th * 1.05, tw, th])
                show_tile(tax, images(int(ids[t])))
    out = xr.DataArray(labels.astype(str), dims=("tile_id",), coords={"tile_id": ids, "leaf": ("tile_id", leaf_of)},
                       name="cluster")
    return fig, out
