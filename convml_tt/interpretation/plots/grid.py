"""Grid overview: tiles arranged in rows and columns ordered along two
embedding dimensions (or two projection axes)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from ._common import TileImages, check_tiles_array, coords_2d, show_tile

__all__ = ["grid", "grid_layout"]


def grid_layout(xy: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Choose and arrange ``n_rows * n_cols`` of the points ``xy`` (n, 2).

    Points are split into ``n_rows`` equal-count bands by their y value
    (highest y in the top row), and in each band ``n_cols`` points at evenly
    spaced ranks of x are picked and sorted by x (left to right). Returns
    indices into ``xy`` of shape (n_rows, n_cols).
    """
    n = len(xy)
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"the grid needs at least one row and column, got {n_rows} x {n_cols}")
    if n_rows * n_cols > n:
        raise ValueError(
            f"a {n_rows} x {n_cols} grid needs {n_rows * n_cols} tiles but the embeddings have {n}; "
            f"use fewer rows/columns"
        )
    by_y = np.argsort(-xy[:, 1], kind="stable")
    bands = np.array_split(by_y, n_rows)
    out = np.empty((n_rows, n_cols), dtype=np.int64)
    for r, band in enumerate(bands):
        band = band[np.argsort(xy[band, 0], kind="stable")]
        pick = np.round(np.linspace(0, len(band) - 1, n_cols)).astype(np.int64)
        # make picks unique when the band is only just big enough
        pick = np.maximum.accumulate(pick + np.arange(n_cols)) - np.arange(n_cols) if len(set(pick)) < n_cols else pick
        if len(set(pick)) < n_cols:
            pick = np.arange(n_cols)
        out[r] = band[pick]
    return out


def grid(
    da: xr.DataArray,
    dims: Sequence[int] | None = None,
    method: str | None = None,
    n_rows: int = 6,
    n_cols: int = 8,
    dataset_path: str | Path | None = None,
    tile_size_inches: float = 1.1,
    title: str | None = None,
):
    """Grid of tiles ordered along two embedding dimensions.

    Rows go from high to low values of the second dimension (top to bottom),
    columns from low to high values of the first (left to right); see
    :func:`grid_layout` for how tiles are picked.

    Parameters
    ----------
    da : embeddings (tile_id, emb_dim) with a ``dataset_path`` attribute.
    dims : two embedding dimensions (default ``(0, 1)``), or
    method : a projection (``"pca"``, ``"isomap"``, ``"tsne"``, ``"umap"``).
    n_rows, n_cols : grid shape; at most the number of tiles in total.
    dataset_path : where the tile images are, when the ``dataset_path``
        attribute is out of date.
    tile_size_inches : edge of each tile in the figure.

    Returns
    -------
    (fig, layout): the figure and a DataArray ``(row, col)`` of the tile ids shown.
    """
    import matplotlib.pyplot as plt

    da = check_tiles_array(da, "grid")
    xy, (xlabel, ylabel) = coords_2d(da, dims=dims, method=method)
    idx = grid_layout(xy, n_rows, n_cols)
    images = TileImages(da, dataset_path)
    ids = da.tile_id.values

    s = tile_size_inches
    fig_w, fig_h = n_cols * s * 1.04 + 0.9, n_rows * s * 1.04 + 1.1
    fig = plt.figure(figsize=(fig_w, fig_h))
    x0, y0 = 0.6 / fig_w, 0.55 / fig_h
    for r in range(n_rows):
        for c in range(n_cols):
            ax = fig.add_axes([x0 + c * s * 1.04 / fig_w, y0 + (n_rows - 1 - r) * s * 1.04 / fig_h, s / fig_w, s / fig_h])
            show_tile(ax, images(int(ids[idx[r, c]])))
    arrow = dict(arrowstyle="->", color="0.2", lw=1.2)
    fig.text(0.5, y0 * 0.45, f"{xlabel} →", ha="center", va="center", fontsize=11)
    fig.text(x0 * 0.45, 0.5 - 0.2 / fig_h, f"{ylabel} →", ha="center", va="center", rotation=90, fontsize=11)
    del arrow
    fig.suptitle(title or f"{n_rows * n_cols} of {len(ids)} {da.attrs.get('tile_type', '')} tiles "
                 f"({da.attrs.get('stage', '')}) ordered by {xlabel} and {ylabel}",
                 y=1 - 0.25 / fig_h, va="center", fontsize=12)
    layout = xr.DataArray(ids[idx], dims=("row", "col"), name="tile_id",
                          attrs={"x": xlabel, "y": ylabel})
    return fig, layout
