"""Scatter of two embedding dimensions (or a 2-D PCA / Isomap projection)
annotated with tile images placed around the points, joined to them by lines."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from ._common import TileImages, check_tiles_array, coords_2d, label_values, show_tile, spread_subset
from ..projections import projection_name
from .insets import connector_end, place_insets

__all__ = ["scatter", "is_continuous", "MAX_CATEGORIES"]

#: most distinct values of a numeric colour coordinate shown as categories (more: a colour bar)
MAX_CATEGORIES = 12


def is_continuous(values: np.ndarray) -> bool:
    """Whether per-tile ``values`` are a continuous quantity (numeric, more
    than :data:`MAX_CATEGORIES` distinct finite values) rather than categories."""
    v = np.asarray(values)
    if v.dtype.kind not in "fiu":
        return False
    finite = v[np.isfinite(v.astype(np.float64))]
    return len(np.unique(finite)) > MAX_CATEGORIES


def scatter(
    da: xr.DataArray,
    dims: Sequence[int] | None = None,
    method: str | None = None,
    n_insets: int = 12,
    tile_ids: Sequence[int] | None = None,
    inset_size: float = 0.9,
    color_by: str | None = None,
    dataset_path: str | Path | None = None,
    figsize: tuple[float, float] = (10.0, 8.0),
    point_size: float = 12.0,
    title: str | None = None,
    seed: int = 0,
):
    """Scatter plot of the tiles in 2-D with tile images as insets.

    Parameters
    ----------
    da : embeddings (tile_id, emb_dim) with a ``dataset_path`` attribute.
    dims : two embedding dimensions to plot, e.g. ``(0, 1)`` (default when
        ``method`` is None).
    method : ``"pca"``, ``"isomap"``, ``"tsne"`` or ``"umap"``: plot a 2-D
        projection instead (:mod:`convml_tt.interpretation.projections`).
    n_insets : how many tiles get an image (chosen spread over the plot);
        ignored when ``tile_ids`` is given. 0 draws points only.
    tile_ids : the tiles to show as images.
    inset_size : inset edge length in inches.
    color_by : coordinate to colour points by (default: regime names/labels
        when present; ``""`` for one colour): a legend of its values, or a
        colour bar for a numeric coordinate of more than
        :data:`MAX_CATEGORIES` distinct values (e.g. ``cloud_fraction``;
        tiles without a value grey).
    dataset_path : where the tile images are, when the ``dataset_path``
        attribute is out of date.

    Returns
    -------
    (fig, ax, placed): the figure, the scatter axes and a DataArray over the
    shown ``tile_id`` of the inset boxes ``(x0, y0, x1, y1)`` in inches
    relative to the axes' lower-left corner (NaN where no room was found).
    """
    import matplotlib.pyplot as plt

    da = check_tiles_array(da, "scatter")
    xy, (xlabel, ylabel) = coords_2d(da, dims=dims, method=method)
    ids = da.tile_id.values
    if tile_ids is not None:
        pos = {int(t): i for i, t in enumerate(ids)}
        missing = [int(t) for t in tile_ids if int(t) not in pos]
        if missing:
            raise ValueError(f"tile_ids {missing} are not in the embeddings")
        targets = np.array([pos[int(t)] for t in tile_ids], dtype=np.int64)
    else:
        targets = spread_subset(xy, n_insets, seed=seed) if n_insets > 0 else np.zeros(0, dtype=np.int64)
    images = TileImages(da, dataset_path) if len(targets) else None

    labels = label_values(da, color_by)
    fig = plt.figure(figsize=figsize)
    # axes fill the figure but for the labels (and the legend on the right);
    # the points occupy the central part, the insets the margins around them
    left, bottom, height = 0.75 / figsize[0], 0.6 / figsize[1], 1 - 1.0 / figsize[1]
    width = 1 - left - (1.7 if labels is not None else 0.25) / figsize[0]
    ax = fig.add_axes([left, bottom, width, height])
    ax_w, ax_h = figsize[0] * width, figsize[1] * height
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    # room for insets: margins of ~1.3 inset sizes (in data units) on every side
    mx = (inset_size * 1.35) / max(ax_w - 2 * inset_size * 1.35, 1e-3) * span[0]
    my = (inset_size * 1.35) / max(ax_h - 2 * inset_size * 1.35, 1e-3) * span[1]
    xlim = (lo[0] - mx, hi[0] + mx)
    ylim = (lo[1] - my, hi[1] + my)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)

    if labels is not None and is_continuous(labels):
        from ..physical import variable_label

        v = labels.astype(np.float64)
        ok = np.isfinite(v)
        ax.scatter(xy[~ok, 0], xy[~ok, 1], s=point_size, color="0.7", zorder=2, alpha=0.85, linewidths=0)
        sc = ax.scatter(xy[ok, 0], xy[ok, 1], c=v[ok], cmap="viridis", s=point_size, zorder=2, alpha=0.9,
                        linewidths=0)
        cax = fig.add_axes([left + width + 0.15 / figsize[0], bottom, 0.22 / figsize[0], height])
        fig.colorbar(sc, cax=cax).set_label(variable_label(da, color_by) + ("" if ok.all() else "; grey: none"))
    elif labels is not None:
        uniq = list(dict.fromkeys(labels.tolist()))
        if color_by is None and "regime" in da.coords and da["regime"].dims == ("tile_id",):
            # legend in regime-label order (clear, sugar, gravel, ...), not order of appearance
            first = {u: int(da["regime"].values[np.flatnonzero(labels == u)[0]]) for u in uniq}
            uniq.sort(key=lambda u: first[u])
        else:
            uniq.sort(key=str)
        cmap = plt.get_cmap("tab10" if len(uniq) <= 10 else "tab20")
        for j, u in enumerate(uniq):
            sel = labels == u
            ax.scatter(xy[sel, 0], xy[sel, 1], s=point_size, color=cmap(j % cmap.N), label=str(u), zorder=2,
                       alpha=0.85, linewidths=0)
        ax.legend(title=color_by or "regime", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9,
                  frameon=False, markerscale=1.8)
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=point_size, color="tab:blue", zorder=2, alpha=0.85, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    what = projection_name(method)
    ax.set_title(title or f"{what} of {len(ids)} {da.attrs.get('tile_type', '')} tiles "
                 f"({da.attrs.get('stage', '')})", fontsize=12)

    # positions in inches within the axes
    pts = np.stack([(xy[:, 0] - xlim[0]) / (xlim[1] - xlim[0]) * ax_w,
                    (xy[:, 1] - ylim[0]) / (ylim[1] - ylim[0]) * ax_h], axis=1)
    point_r = np.sqrt(point_size) / 72.0  # marker radius (pt -> inch), with some slack
    boxes = place_insets(pts, targets, inset_size, (0.0, 0.0, ax_w, ax_h), point_radius=point_r,
                         gap=0.06) if len(targets) else np.zeros((0, 4))
    for t, box in zip(targets, boxes):
        if np.isnan(box[0]):
            continue
        bounds = [box[0] / ax_w, box[1] / ax_h, (box[2] - box[0]) / ax_w, (box[3] - box[1]) / ax_h]
        iax = ax.inset_axes(bounds, transform=ax.transAxes, zorder=4)
        show_tile(iax, images(int(ids[t])))
        end = connector_end(pts[t], box)
        ax.plot([pts[t, 0] / ax_w, end[0] / ax_w], [pts[t, 1] / ax_h, end[1] / ax_h], transform=ax.transAxes,
                color="0.35", lw=0.8, zorder=3)
        ax.scatter([xy[t, 0]], [xy[t, 1]], s=point_size * 2.2, facecolor="none", edgecolor="k", lw=1.0, zorder=3)
    placed = xr.DataArray(boxes, dims=("tile_id", "corner"),
                          coords={"tile_id": ids[targets], "corner": ["x0", "y0", "x1", "y1"]}, name="inset_box",
                          attrs={"units": "inches from the lower-left corner of the axes"})
    return fig, ax, placed
