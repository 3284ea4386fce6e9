"""Shared pieces of the embedding plots: checking the input, 2-D coordinates
(embedding dimensions or a projection) and reading tile images."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from ..._io import atomic_path
from ...data.dataset.packed import read_dataset_tile
from ..projections import PROJECTIONS, pca_2d, project  # noqa: F401  (pca_2d, PROJECTIONS: re-exported)


def check_tiles_array(da: xr.DataArray, what: str) -> xr.DataArray:
    """The embeddings as (tile_id, emb_dim); a clear error for other shapes."""
    if not isinstance(da, xr.DataArray):
        raise TypeError(f"{what} needs an xarray.DataArray of embeddings (get_embeddings / load_embeddings), "
                        f"got {type(da).__name__}")
    if "tile_type" in da.dims:
        raise ValueError(
            f"{what} plots one tile type, but the embeddings have a tile_type dimension "
            f"{list(da.tile_type.values)}; select one, e.g. da.sel(tile_type='anchor')"
        )
    if set(da.dims) != {"tile_id", "emb_dim"}:
        raise ValueError(f"{what} needs embeddings with dimensions (tile_id, emb_dim), got {da.dims}")
    return da.transpose("tile_id", "emb_dim")


def coords_2d(
    da: xr.DataArray,
    dims: Sequence[int] | None = None,
    method: str | None = None,
    n_neighbors: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, tuple[str, str]]:
    """2-D coordinates of every tile: two embedding dimensions (``dims``, e.g.
    ``(0, 1)``) or a projection (``method``: ``"pca"``, ``"isomap"``, ``"tsne"``
    or ``"umap"``, :func:`convml_tt.interpretation.projections.project`;
    ``seed`` seeds t-SNE and UMAP).

    Returns ``(xy (n_tiles, 2), (x_label, y_label))``.
    """
    x = np.asarray(da.values, dtype=np.float64)
    n_dim = x.shape[1]
    if method is not None:
        if dims is not None:
            raise ValueError("give either dims (two embedding dimensions) or method (a projection), not both")
        return project(x, method, n_neighbors=n_neighbors, seed=seed)
    dims = (0, 1) if dims is None else tuple(int(d) for d in dims)
    if len(dims) != 2:
        raise ValueError(f"dims must be two embedding dimensions, got {dims}")
    for d in dims:
        if not 0 <= d < n_dim:
            raise ValueError(
                f"embedding dimension {d} does not exist: the embeddings have emb_dim 0..{n_dim - 1}; "
                f"pick two of those or a projection (method one of {PROJECTIONS})"
            )
    return x[:, list(dims)], (f"embedding dim {dims[0]}", f"embedding dim {dims[1]}")


class TileImages:
    """Reads the tile images behind an embeddings array from its dataset folder.

    ``dataset_path`` overrides the embeddings' ``dataset_path`` attribute
    (e.g. after moving the dataset).
    """

    def __init__(self, da: xr.DataArray, dataset_path: str | Path | None = None) -> None:
        from ..embeddings import resolve_dataset_path

        self.root = resolve_dataset_path(da, dataset_path)
        self.stage = da.attrs.get("stage", "study")
        self.tile_type = da.attrs.get("tile_type", "anchor")
        if self.tile_type == "all":
            self.tile_type = "anchor"
        self.stages = da["stage"].values if "stage" in da.coords and da["stage"].dims == ("tile_id",) else None
        self.index = {int(t): i for i, t in enumerate(da.tile_id.values)}

    def __call__(self, tile_id: int) -> np.ndarray:
        stage = self.stage
        if self.stages is not None:
            stage = str(self.stages[self.index[int(tile_id)]])
        im = read_dataset_tile(self.root, stage, int(tile_id), self.tile_type)  # PNG or packed
        return im[:, :, 0] if im.shape[2] < 3 else im[:, :, :3]  # L, LA: the grey channel; RGB(A): RGB


def show_tile(ax, image: np.ndarray, edgecolor: str | None = None) -> None:
    """Draw a tile image on ``ax`` without ticks (greyscale for one channel)."""
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_edgecolor(edgecolor or "0.3")
        s.set_linewidth(1.5 if edgecolor else 0.8)


def spread_subset(xy: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` points spread over ``xy`` (n_points, 2): farthest-point
    sampling, starting from the point farthest from the centroid."""
    n = min(n, len(xy))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    scale = xy.std(axis=0)
    z = (xy - xy.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    chosen = [int(np.argmax(np.sum(z * z, axis=1)))]
    d = np.sum((z - z[chosen[0]]) ** 2, axis=1)
    for _ in range(n - 1):
        i = int(np.argmax(d))
        chosen.append(i)
        d = np.minimum(d, np.sum((z - z[i]) ** 2, axis=1))
    return np.array(chosen, dtype=np.int64)


def label_values(da: xr.DataArray, color_by: str | None) -> np.ndarray | None:
    """Labels to colour points by: coordinate ``color_by``, or the regime
    names/labels when present (``color_by=None``); ``""`` disables."""
    if color_by == "":
        return None
    if color_by is not None:
        if color_by not in da.coords:
            raise ValueError(f"color_by coordinate {color_by!r} not in the embeddings; available: {sorted(da.coords)}")
        return np.asarray(da[color_by].values)
    for name in ("regime_name", "regime", "label"):
        if name in da.coords and da[name].dims == ("tile_id",):
            return np.asarray(da[name].values)
    return None


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Save ``fig`` as PNG (or the format of ``path``'s suffix) via a temporary
    name and a rename, so a failure leaves no partial figure. Returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight")
    return path
