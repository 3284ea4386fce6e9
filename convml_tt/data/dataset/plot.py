"""A picture of a triplet dataset: the domain over a composite with tile outlines."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..._io import atomic_open
from .format import TILE_TYPES, list_triplets, read_dataset_meta, read_triplet_meta

__all__ = ["plot_triplets"]


def plot_triplets(
    dataset: str | os.PathLike,
    stage: str = "train",
    ids: Iterable[int] | None = None,
    n: int = 5,
    ax=None,
    out: str | os.PathLike | None = None,
):
    """Plot the domain over the first chosen triplet's anchor composite, with
    the outlines of a few triplets' tiles (anchor solid, neighbour dashed,
    distant dotted; one colour per triplet). Axes are fixed-grid scan angles
    (mrad) with a lat/lon graticule; matplotlib only (no cartopy needed).

    Returns the matplotlib Figure (saved to ``out`` when given).
    """
    import matplotlib.pyplot as plt

    from ..composites.build import load_composite
    from ..composites.enhance import to_display
    from ..geometry.grids import FixedGrid
    from ..tiles import ScanGrid, Tile

    dataset = Path(dataset)
    dmeta = read_dataset_meta(dataset)
    if dmeta is None:
        raise FileNotFoundError(f"{dataset} has no meta.yaml; plot_triplets needs a dataset made by make_triplets")
    ids = list(ids) if ids is not None else list_triplets(dataset, stage)[:n]
    if not ids:
        raise ValueError(f"{dataset}/{stage} holds no triplets to plot")
    metas = [read_triplet_meta(dataset, stage, i) for i in ids]
    if any(m is None for m in metas):
        missing = [i for i, m in zip(ids, metas) if m is None]
        raise FileNotFoundError(f"{dataset}/{stage}: triplet(s) {missing} have no metadata file; "
                                f"re-run `convml_tt triplets` to complete the dataset")
    root = Path(dmeta["data_root"])
    comp = load_composite(root / metas[0].anchor.composite, load=True)
    sg = ScanGrid.from_dataset(comp)
    name = comp.attrs["composite_variable"]
    img = comp[name].values
    # the tiles' stretch (per channel); one grey channel unless it is three (RGB)
    attrs = comp[name].attrs
    stretches = [c.get("stretch") if c.get("units") == "K" else None for c in dmeta.get("channels") or []]
    img = to_display(img, str(attrs.get("channel_units", "")).split() or str(attrs.get("units", "1")),
                     stretches=stretches or None)
    if img.ndim == 3 and img.shape[2] != 3:
        img = img[:, :, 0] if img.shape[2] < 3 else img[:, :, :3]
    # axes in the composite's coordinates (scan angles in mrad on a fixed grid)
    k = 1e3 if isinstance(sg.grid, FixedGrid) else 1.0
    xlabel, ylabel = (("scan angle x (mrad)", "scan angle y (mrad)") if k == 1e3 else
                      tuple(f"{a.get('long_name', n)} ({a.get('units', '')})"
                            for a, n in zip(sg.grid.coordinate_attrs(), ("x", "y"))))
    x = comp["x"].values * k
    y = comp["y"].values * k
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 8 * len(y) / max(len(x), 1) + 0.5))
    else:
        fig = ax.figure
    ax.imshow(img, extent=(x[0], x[-1], y[-1], y[0]), origin="upper", cmap="gray", vmin=0, vmax=255)
    cs = ax.contour(x, y, comp["lat"].values, colors="w", linewidths=0.4, alpha=0.6)
    ax.clabel(cs, fontsize=6, fmt="%g°N")
    cs = ax.contour(x, y, comp["lon"].values, colors="w", linewidths=0.4, alpha=0.6)
    ax.clabel(cs, fontsize=6, fmt="%g°E")
    lon_min, lat_min, lon_max, lat_max = dmeta["params"]["domain"]
    t = np.linspace(0, 1, 50)
    blon = np.concatenate([lon_min + (lon_max - lon_min) * t, np.full(50, lon_max), lon_max - (lon_max - lon_min) * t, np.full(50, lon_min)])
    blat = np.concatenate([np.full(50, lat_min), lat_min + (lat_max - lat_min) * t, np.full(50, lat_max), lat_max - (lat_max - lat_min) * t])
    bx, by = sg.grid.latlon_to_xy(blat, blon)
    ax.plot(bx * k, by * k, "y-", lw=1.2, label="domain")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {"anchor": "-", "neighbor": "--", "distant": ":"}
    size, npx = dmeta["params"]["tile_size_m"], dmeta["params"]["tile_pixels"]
    for j, m in enumerate(metas):
        for kind in TILE_TYPES:
            tile = Tile(m.tile(kind).lat, m.tile(kind).lon, size, npx)
            lat, lon = tile.outline()
            tx, ty = sg.grid.latlon_to_xy(lat, lon)
            ax.plot(tx * k, ty * k, styles[kind], color=colors[j % len(colors)], lw=1.2,
                    label=f"{m.id:05d}" if kind == "anchor" else None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(f"{dataset.name} {stage}: anchor (-), neighbour (--), distant (:)\n"
                 f"scene {metas[0].anchor.time}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    if out is not None:
        out = Path(out)
        with atomic_open(out, "wb") as fh:
            fig.savefig(fh, format=out.suffix.lstrip(".") or "png", dpi=120)
    return fig
