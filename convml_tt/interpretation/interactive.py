"""An interactive scatter of embeddings: one standalone HTML page.

:func:`interactive_scatter` projects embeddings ``(tile_id, emb_dim)`` to 2-D
(two embedding dimensions, or PCA / Isomap / t-SNE / UMAP,
:mod:`convml_tt.interpretation.projections`) and writes a page on which

* hovering a point shows its tile (a PNG thumbnail) with its time, place
  (lat/lon), ``tile_id`` and every other per-tile coordinate (regime,
  organisation indices, co-located fields ...);
* a click selects or deselects a point; the selected tile ids are listed,
  ready to copy into ``da.sel(tile_id=[...])``;
* the points are coloured by any per-tile coordinate, chosen on the page:
  categories (strings, and whole numbers with at most 20 values) with a
  10-colour palette and a legend, numbers and times with viridis and a
  colour bar.

The page is one file: the thumbnails are embedded as base64 PNG, the data as
JSON, the drawing is a few hundred lines of plain JavaScript and SVG (no
library, nothing fetched), so it opens from disk in any browser without a
server and can be mailed or archived. In Jupyter the returned object shows
itself inline (:meth:`InteractiveScatter._repr_html_`, the page in an
``<iframe srcdoc>``). Size: about 1-6 kB per tile at ``thumb_px=64`` (the
page of 10 000 tiles is tens of MB; lower ``thumb_px`` or pass a subset).
"""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from .._io import write_text
from ._scatter_page import PAGE
from .plots._common import TileImages, check_tiles_array, coords_2d
from .projections import projection_name

__all__ = ["InteractiveScatter", "interactive_scatter", "thumbnail_image", "tile_fields"]

#: whole-number coordinates with at most this many distinct values are coloured as categories
MAX_INT_CATEGORIES = 20


class InteractiveScatter:
    """A standalone interactive scatter page (:func:`interactive_scatter`).

    ``html``: the whole document; ``n_points``: tiles on it. ``save(path)``
    writes it (atomically); in Jupyter it displays inline.
    """

    def __init__(self, page: str, n_points: int, height_px: int = 600) -> None:
        self.html = page
        self.n_points = int(n_points)
        self.height_px = int(height_px)

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` (e.g. ``scatter.html``); returns the path."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{str(path)!r} is a folder; give a file name such as scatter.html")
        return write_text(path, self.html)

    def _repr_html_(self) -> str:
        # an iframe keeps the page's script and styles apart from the notebook's
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;'
                f'height:{self.height_px}px;border:0" title="interactive scatter of {self.n_points} tiles">'
                f"</iframe>")

    def __repr__(self) -> str:
        return f"InteractiveScatter({self.n_points} tiles, {len(self.html) / 1e6:.2f} MB)"


def thumbnail_image(image: np.ndarray, max_px: int):
    """A tile image ``(H, W)`` or ``(H, W, 3)`` uint8 as a PIL image whose
    longer side is at most ``max_px`` pixels (reduced with a box filter;
    smaller tiles are kept as they are)."""
    from PIL import Image

    im = Image.fromarray(image)
    if max(im.size) > max_px:
        scale = max_px / max(im.size)
        im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))), Image.Resampling.BOX)
    return im


def _thumbnail(image: np.ndarray, thumb_px: int) -> str:
    """A tile image as base64 PNG of at most ``thumb_px`` pixels a side."""
    buf = io.BytesIO()
    thumbnail_image(image, thumb_px).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _field(name: str, c: xr.DataArray) -> dict | None:
    """One per-tile coordinate as the page's field: kind ``time`` (ISO
    strings), ``number`` or ``category``; missing values as null."""
    v = np.asarray(c.values)
    units = str(c.attrs.get("units", ""))
    units = "" if units == "1" else units  # dimensionless: nothing to print after the value
    if v.dtype.kind == "M":
        t = v.astype("datetime64[s]")
        values = [None if np.isnat(x) else str(x) for x in t]
        return {"name": name, "kind": "time", "units": "UTC", "values": values}
    if v.dtype.kind == "b" or v.dtype.kind in "USO":
        values = [None if (x is None or x == "") else str(x) for x in v.tolist()]
        return {"name": name, "kind": "category", "units": "", "values": values}
    if v.dtype.kind in "iu":
        values = [int(x) for x in v]
        kind = "category" if len(set(values)) <= MAX_INT_CATEGORIES else "number"
        return {"name": name, "kind": kind, "units": units, "values": values}
    if v.dtype.kind == "f":
        values = [None if not np.isfinite(x) else float(np.format_float_positional(x, precision=6, trim="-"))
                  for x in v.astype(np.float64)]
        return {"name": name, "kind": "number", "units": units, "values": values}
    return None


def tile_fields(da: xr.DataArray) -> list[dict]:
    """Every per-tile coordinate of ``da`` (dims ``("tile_id",)``, other than
    ``tile_id``) as ``{"name", "kind", "units", "values"}``: kind ``"time"``
    (ISO strings, UTC), ``"number"`` or ``"category"``; None where a tile has
    no value."""
    fields = []
    for name, c in da.coords.items():
        if name in ("tile_id", "emb_dim") or c.dims != ("tile_id",):
            continue
        f = _field(str(name), c)
        if f is not None:
            fields.append(f)
    return fields


def _default_colour(fields: list[dict]) -> str | None:
    names = [f["name"] for f in fields]
    return next((n for n in ("regime_name", "regime", "label") if n in names), None)


def interactive_scatter(
    da: xr.DataArray,
    method: str | None = "pca",
    dims: Sequence[int] | None = None,
    color_by: str | None = None,
    dataset_path: str | Path | None = None,
    thumb_px: int = 64,
    images: bool = True,
    title: str | None = None,
    point_radius: float = 4.0,
    seed: int = 0,
) -> InteractiveScatter:
    """An interactive scatter page of embeddings ``da`` (tile_id, emb_dim).

    Parameters
    ----------
    da : embeddings of one tile type (``get_embeddings`` / ``load_embeddings``;
        select one ``tile_type`` first when they hold all three).
    method : projection to 2-D: ``"pca"`` (default), ``"isomap"``, ``"tsne"``,
        ``"umap"``; None with ``dims`` for two embedding dimensions.
    dims : two embedding dimensions to plot instead of a projection.
    color_by : the coordinate the points are coloured by when the page opens
        (default: the regime names or labels when present, else one colour);
        any other can be chosen on the page.
    dataset_path : where the tile images are, when the embeddings'
        ``dataset_path`` attribute is out of date.
    thumb_px : longest side of the hover thumbnails, in pixels (tiles larger
        than this are reduced; smaller ones kept as they are).
    images : False: no thumbnails (no dataset needed; a much smaller page).
    title : page title (default: what is shown, how many tiles).
    point_radius : circle radius, in screen pixels.
    seed : seeds the t-SNE and UMAP projections.
    """
    da = check_tiles_array(da, "interactive_scatter")
    if dims is not None:
        method = None
    if thumb_px < 4:
        raise ValueError(f"thumb_px must be at least 4 pixels, got {thumb_px}")
    xy, (xlabel, ylabel) = coords_2d(da, dims=dims, method=method, seed=seed)
    ids = [int(t) for t in da.tile_id.values]
    fields = tile_fields(da)
    if color_by is not None and color_by not in [f["name"] for f in fields]:
        raise ValueError(f"color_by coordinate {color_by!r} is not a per-tile coordinate of the embeddings; "
                         f"available: {[f['name'] for f in fields]}")
    thumbs: list[str | None] = [None] * len(ids)
    if images:
        read = TileImages(da, dataset_path)
        thumbs = [_thumbnail(read(t), thumb_px) for t in ids]
    what = projection_name(method)
    tile_type = da.attrs.get("tile_type", "")
    if "tile_type" in da.coords and da["tile_type"].ndim == 0:  # one type selected from all three
        tile_type = str(da["tile_type"].values)
    title = title or f"{what} of {len(ids)} {tile_type} tiles ({da.attrs.get('stage', '')})"
    data = {
        "xlabel": xlabel, "ylabel": ylabel,
        "x": [round(float(v), 5) for v in xy[:, 0]], "y": [round(float(v), 5) for v in xy[:, 1]],
        "tile_id": ids, "images": thumbs, "fields": fields, "radius": float(point_radius),
        "color_by": color_by if color_by is not None else _default_colour(fields),
    }
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = PAGE.replace("__TITLE__", html.escape(title)).replace("__DATA__", text)
    return InteractiveScatter(page, len(ids))
