"""Regime maps: the regime of every map cell over the scene's image (north
up, on latitude/longitude axes) beside the true regimes, and the regime
fractions of the domain through time."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..unassigned import GREY, UNASSIGNED, map_cut

__all__ = ["regime_map", "regime_fractions_plot", "regime_colours"]

#: opacity of the regime cells over the scene's image
CELL_ALPHA = 0.45


# --- colours ---------------------------------------------------------------------
def regime_colours(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinct RGBA colours (tab10, tab20, then evenly spaced hues)."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colormaps["hsv"](i / n) for i in range(n)]


def _true_colours(match: Sequence[int] | None, n_true: int, colours: list) -> list:
    """Colour of each true label: that of the (first) regime matched to it, else
    one not used by the regimes."""
    out: list = [None] * n_true
    for r, m in enumerate(match or []):
        if 0 <= m < n_true and out[m] is None:
            out[m] = colours[r]
    spare = [c for c in regime_colours(20) + regime_colours(40) if c not in colours]
    for j in range(n_true):
        if out[j] is None:
            out[j] = spare.pop(0) if spare else (0.5, 0.5, 0.5, 1.0)
    return out


# --- reading the map -------------------------------------------------------------
def _names(ds: xr.Dataset, key: str) -> list[str] | None:
    return [str(s) for s in json.loads(ds.attrs[key])] if key in ds.attrs else None


def _time_index(ds: xr.Dataset, time: Any) -> int:
    """Index of ``time`` (an index, or a datetime-like: the nearest scene within an hour)."""
    import pandas as pd

    times = ds["time"].values
    if isinstance(time, (int, np.integer)) and not isinstance(time, bool):
        if not -len(times) <= int(time) < len(times):
            raise ValueError(f"time index {time} is outside the map's {len(times)} scenes; use 0..{len(times) - 1}")
        return int(time) % len(times)
    try:
        if isinstance(time, bool):
            raise TypeError("a bool is not a time")
        t = pd.Timestamp(time)
        if t is pd.NaT:
            raise ValueError("not a time")
    except (TypeError, ValueError):
        raise ValueError(f"time {time!r} is neither a scene index (0..{len(times) - 1}) nor a date/time such as "
                         f"{pd.Timestamp(times[0]).isoformat()}") from None
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    gap = np.abs(times - np.datetime64(t, "ns"))
    i = int(np.argmin(gap))
    if gap[i] > np.timedelta64(1, "h"):
        raise ValueError(f"time {t} is more than an hour from every scene of the map ({pd.Timestamp(times[0])} .. "
                         f"{pd.Timestamp(times[-1])}, {len(times)} scenes); give one of those or an index")
    return i


def _edges_1d(c: np.ndarray, step: float) -> np.ndarray:
    if c.size == 1:
        return np.array([c[0] - step / 2, c[0] + step / 2])
    mid = (c[:-1] + c[1:]) / 2
    return np.concatenate([[c[0] - (c[1] - c[0]) / 2], mid, [c[-1] + (c[-1] - c[-2]) / 2]])


def cell_edges(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees, each ``(ny + 1, nx + 1)``) of the cell
    corners: midway between tile centres in the map's LAEA frame (from its
    ``crs``), or interpolated from the centres' lat/lon when it has none."""
    step = float(ds.attrs.get("stride") or ds.attrs.get("tile_size_m") or 1.0)
    xe = _edges_1d(np.asarray(ds["x"].values, float), step)
    ye = _edges_1d(np.asarray(ds["y"].values, float), -step)
    attrs = ds["crs"].attrs if "crs" in ds.variables else {}
    if attrs.get("grid_mapping_name") == "lambert_azimuthal_equal_area":
        import pyproj

        crs = pyproj.CRS.from_proj4(
            f"+proj=laea +lat_0={float(attrs['latitude_of_projection_origin'])!r} "
            f"+lon_0={float(attrs['longitude_of_projection_origin'])!r} +x_0={float(attrs.get('false_easting', 0))!r} "
            f"+y_0={float(attrs.get('false_northing', 0))!r} +a={float(attrs.get('semi_major_axis', 6378137.0))!r} "
            f"+b={float(attrs.get('semi_minor_axis', 6356752.31414))!r} +units=m +no_defs")
        tr = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
        xx, yy = np.meshgrid(xe, ye)
        lon, lat = tr.transform(xx, yy)
        lon0 = float(attrs["longitude_of_projection_origin"])
        return (np.asarray(lon) - lon0 + 180.0) % 360.0 - 180.0 + lon0, np.asarray(lat)
    out = []
    for name in ("lon", "lat"):
        a = np.asarray(ds[name].transpose("y", "x").values, float)
        for axis in (0, 1):
            a = np.moveaxis(a, axis, 0)
            a = (np.concatenate([[1.5 * a[0] - 0.5 * a[1]], (a[:-1] + a[1:]) / 2, [1.5 * a[-1] - 0.5 * a[-2]]])
                 if a.shape[0] > 1 else np.concatenate([a - 0.05, a + 0.05]))
            a = np.moveaxis(a, 0, axis)
        out.append(a)
    return out[0], out[1]


def _extent(ds: xr.Dataset, lon_e: np.ndarray, lat_e: np.ndarray) -> tuple[float, float, float, float]:
    """``(lon_min, lon_max, lat_min, lat_max)``: the domain and every cell."""
    lo = [np.nanmin(lon_e), np.nanmax(lon_e), np.nanmin(lat_e), np.nanmax(lat_e)]
    if "domain" in ds.attrs:
        d = [float(v) for v in np.atleast_1d(ds.attrs["domain"])]
        if len(d) == 4:
            lo = [min(lo[0], d[0]), max(lo[1], d[2]), min(lo[2], d[1]), max(lo[3], d[3])]
    return float(lo[0]), float(lo[1]), float(lo[2]), float(lo[3])


def background(composite: Any, extent: Sequence[float], max_pixels: int = 700) -> np.ndarray | None:
    """The display image of a composite (path or Dataset) resampled onto a
    regular lat/lon grid over ``extent = (lon_min, lon_max, lat_min,
    lat_max)`` (degrees): RGBA uint8 ``(ny, nx, 4)``, row 0 north, column 0
    west, transparent outside the composite; None when it does not overlap."""
    from scipy.ndimage import map_coordinates

    from ...data.composites.build import load_composite
    from ...data.composites.enhance import to_display
    from ...data.tiles import ScanGrid, composite_values

    ds = composite if isinstance(composite, xr.Dataset) else load_composite(composite)
    try:
        sg = ScanGrid.from_dataset(ds)
        lon0, lon1, lat0, lat1 = extent
        ratio = (lat1 - lat0) / ((lon1 - lon0) * np.cos(np.radians((lat0 + lat1) / 2)))
        nx = max(2, int(max_pixels if ratio <= 1 else max_pixels / ratio))
        ny = max(2, int(max_pixels * ratio if ratio <= 1 else max_pixels))
        lons = lon0 + (np.arange(nx) + 0.5) * (lon1 - lon0) / nx
        lats = lat1 - (np.arange(ny) + 0.5) * (lat1 - lat0) / ny  # north first
        lon2, lat2 = np.meshgrid(lons, lats)
        sx, sy = sg.grid.latlon_to_xy(lat2, lon2)
        rows, cols = (sy - sg.y0) / sg.dy, (sx - sg.x0) / sg.dx
        h, w = sg.shape
        with np.errstate(invalid="ignore"):
            inside = (np.isfinite(rows) & np.isfinite(cols) & (rows >= 0) & (rows <= h - 1)
                      & (cols >= 0) & (cols <= w - 1))
        if not inside.any():
            return None
        r0, r1 = int(np.floor(rows[inside].min())), int(np.ceil(rows[inside].max()))
        c0, c1 = int(np.floor(cols[inside].min())), int(np.ceil(cols[inside].max()))
        values, _ = composite_values(ds.isel(y=slice(r0, r1 + 1), x=slice(c0, c1 + 1)))
        var_attrs = ds[ds.attrs["composite_variable"]].attrs if ds.attrs.get("composite_variable") in ds else {}
        # one units string per channel shown (a band list may mix reflectance and K)
        units = str(var_attrs.get("units", "1"))
        units = str(var_attrs.get("channel_units", "")).split()[:min(values.shape[2], 3)] or units
        rr, cc = np.where(inside, rows - r0, -10.0), np.where(inside, cols - c0, -10.0)
        planes = [map_coordinates(values[:, :, k], [rr, cc], order=1, mode="constant", cval=np.nan)
                  for k in range(min(values.shape[2], 3))]
    finally:
        if not isinstance(composite, xr.Dataset):
            ds.close()
    img = np.stack(planes, axis=-1)
    ok = inside & np.isfinite(img).all(axis=-1)
    rgb = to_display(img, units)
    if rgb.shape[2] < 3:
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
    return np.dstack([rgb, np.where(ok, 255, 0).astype(np.uint8)])


# --- legend with example tiles ------------------------------------------------------
def _legend_handler():
    from matplotlib.colors import Normalize
    from matplotlib.image import BboxImage
    from matplotlib.legend_handler import HandlerBase
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import Bbox, TransformedBbox

    class HandlerRegime(HandlerBase):
        """A colour square and, when given, the regime's example tile."""

        def create_artists(self, legend, orig_handle, xdescent, ydescent, width, height, fontsize, trans):
            colour, image = orig_handle.colour, orig_handle.image
            x0, y0 = -xdescent, -ydescent
            height = min(height, width / 2.25) if image is not None else height  # two squares fit
            arts = [Rectangle((x0, y0), height, height, facecolor=colour, edgecolor="0.25", lw=0.6, transform=trans)]
            if image is not None:
                box = TransformedBbox(Bbox.from_bounds(x0 + 1.25 * height, y0, height, height), trans)
                im = BboxImage(box, cmap="gray" if image.ndim == 2 else None, norm=Normalize(0, 255),
                               interpolation="nearest")
                im.set_data(image)
                arts += [im, Rectangle((x0 + 1.25 * height, y0), height, height, fill=False, edgecolor=colour,
                                       lw=2.0, transform=trans)]
            return arts

    return HandlerRegime()


class _Swatch:
    """A legend handle of one regime: its colour and example tile (or None)."""

    def __init__(self, colour, image: np.ndarray | None) -> None:
        self.colour, self.image = colour, image


def _example_images(regimes, dataset_path: str | Path | None) -> list[np.ndarray | None]:
    from ...data.dataset.packed import read_dataset_tile

    root = dataset_path or regimes.dataset_path
    if not root or not regimes.example_tile_ids:
        return [None] * regimes.n_regimes
    root = Path(root)
    if not root.is_dir() and dataset_path is None:
        return [None] * regimes.n_regimes  # the fitting dataset moved: a legend without example tiles
    if not root.is_dir():
        raise FileNotFoundError(f"the dataset folder of the regimes' example tiles, {str(root)!r}, does not exist; "
                                f"pass dataset_path=... pointing at the triplet dataset the regimes were fitted to")
    out: list[np.ndarray | None] = []
    for t in regimes.example_tile_ids:
        im = read_dataset_tile(root, regimes.stage, int(t), regimes.tile_type)  # PNG or packed
        out.append(im[:, :, 0] if im.shape[2] < 3 else im[:, :, :3])  # L, LA: the grey channel
    return out


# --- the map -----------------------------------------------------------------------
def _draw_panel(ax, bg, extent, lon_e, lat_e, codes, colours, title):
    from matplotlib.colors import BoundaryNorm, ListedColormap

    lon0, lon1, lat0, lat1 = extent
    if bg is not None:
        ax.imshow(bg, extent=(lon0, lon1, lat0, lat1), origin="upper", interpolation="bilinear", zorder=0)
    else:
        ax.set_facecolor("0.85")
    n = len(colours)
    if n:
        data = np.ma.masked_less(codes, 0)
        ax.pcolormesh(lon_e, lat_e, data, cmap=ListedColormap(colours), norm=BoundaryNorm(np.arange(n + 1) - 0.5, n),
                      alpha=CELL_ALPHA, edgecolors="none", linewidth=0, antialiased=False, shading="flat", zorder=1)
    if (codes == UNASSIGNED).any():  # unassigned cells: grey (no regime)
        ax.pcolormesh(lon_e, lat_e, np.ma.masked_where(codes != UNASSIGNED, np.zeros(codes.shape)),
                      cmap=ListedColormap([GREY]), vmin=-0.5, vmax=0.5, alpha=CELL_ALPHA + 0.2, edgecolors="none",
                      linewidth=0, antialiased=False, shading="flat", zorder=1)
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)  # latitude increases upward: north up
    ax.set_aspect(1.0 / np.cos(np.radians((lat0 + lat1) / 2)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(title, fontsize=11)


def regime_map(regime_map: Any, time: Any = 0, composite: Any = None, regimes: Any = None, truth: bool = True,
               title: str | None = None, dataset_path: str | Path | None = None, panel_height: float = 4.5):
    """The regimes of one scene over its image, beside the true regimes.

    Parameters
    ----------
    regime_map : Dataset from :func:`convml_tt.interpretation.regimes.assign_regimes` (or its path).
    time : scene index, or a datetime-like (the nearest scene within an hour).
    composite : composite file (or Dataset) drawn underneath, north up on a
        regular lat/lon grid; default the map's ``composite`` of that scene
        when the file exists (else a grey background).
    regimes : :class:`~convml_tt.interpretation.regimes.Regimes` (or its
        JSON path): its example tiles are drawn in the legend.
    truth : add a panel of the true regimes when the map has ``true_regime``
        (colours of matched regimes and labels agree).
    dataset_path : where the example tiles are, when the regimes'
        ``dataset_path`` is out of date.
    panel_height : height of each map panel, inches.

    Returns
    -------
    The matplotlib Figure (save with ``plots.save_figure``).
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.legend import Legend
    from matplotlib.patches import Patch

    from ..regime_maps import map_name
    from ..regimes import Regimes, check_regime_map, check_regimes_of_map, open_map

    ds = open_map(regime_map, "regime map", load=True)
    if "regime" not in ds.variables:
        raise ValueError(f"the map has no 'regime' variable (has {sorted(ds.data_vars)}); assign regimes first "
                         f"(assign_regimes / `convml_tt regimes assign`)")
    src = map_name(regime_map if isinstance(regime_map, (str, Path)) else ds)
    check_regime_map(ds, src)
    if regimes is not None and not isinstance(regimes, Regimes):
        regimes = Regimes.load(regimes)
    if regimes is not None:
        # the legend's names and example tiles are those of the map's own regimes
        check_regimes_of_map(ds, regimes, src)
    t = _time_index(ds, time)
    scene = ds.isel(time=t)
    names = _names(ds, "regime_names") or (regimes.names if regimes is not None else None)
    codes = np.asarray(scene["regime"].transpose("y", "x").values).astype(np.int64)
    if names is None:
        names = [str(i) for i in range(int(codes.max()) + 1)]
    n = len(names)
    colours = regime_colours(n)
    match = json.loads(ds.attrs["regime_match"]) if "regime_match" in ds.attrs else None
    true_names = _names(ds, "true_regime_names")
    has_truth = truth and "true_regime" in ds.variables
    if composite is None and "composite" in scene.variables:
        p = str(scene["composite"].values)
        composite = p if p and Path(p).is_file() else None

    lon_e, lat_e = cell_edges(ds)
    extent = _extent(ds, lon_e, lat_e)
    bg = background(composite, extent) if composite is not None else None
    ratio = (extent[1] - extent[0]) * np.cos(np.radians((extent[2] + extent[3]) / 2)) / (extent[3] - extent[2])
    panel_w = float(np.clip(panel_height * ratio, 2.8, 8.0))
    n_panels = 2 if has_truth else 1
    images = _example_images(regimes, dataset_path) if regimes is not None else [None] * n
    legend_w = 2.6 if any(im is not None for im in images) else 1.9
    legend_h = 0.6 + n * (0.62 if any(im is not None for im in images) else 0.42)  # inches, two-line entries
    fig_h = max(panel_height + (1.6 if has_truth else 1.0), legend_h + 0.6)
    fig, axes = plt.subplots(1, n_panels + 1, figsize=(n_panels * panel_w + legend_w + 0.4, fig_h),
                             width_ratios=[panel_w] * n_panels + [legend_w], layout="constrained")
    when = pd.Timestamp(ds["time"].values[t]).strftime("%Y-%m-%d %H:%M UTC")
    method = ds.attrs.get("regimes_method", "")
    valid = codes[(codes >= 0) | (codes == UNASSIGNED)]
    share = [np.mean(valid == i) if valid.size else np.nan for i in range(n + 1)]
    share[n] = np.mean(valid == UNASSIGNED) if valid.size else np.nan  # the unassigned cells' share
    _draw_panel(axes[0], bg, extent, lon_e, lat_e, codes, colours, f"regimes ({method}, N={n})".replace("(, ", "("))
    lax = axes[-1]
    lax.axis("off")
    labels = []
    for i, name in enumerate(names):
        lab = f"{name}  {100 * share[i]:.0f} %" if np.isfinite(share[i]) else name
        if match is not None and true_names is not None and 0 <= match[i] < len(true_names):
            lab += f"\n→ {true_names[match[i]]}"
        labels.append(lab)
    big = any(im is not None for im in images)
    handles = [_Swatch(colours[i], images[i] if i < len(images) else None) for i in range(n)]
    if "unassigned_distance" in ds.attrs:  # a grey entry: cells beyond the unassigned distance
        handles.append(_Swatch(GREY, None))
        cut = map_cut(ds)
        labels.append(f"unassigned  {100 * share[n]:.0f} %\n" + (
            f"(> {cut[0]:.3g} from every centroid)" if np.all(cut == cut[0]) else
            f"(> {cut.min():.3g}-{cut.max():.3g} from the\nnearest centroid, per regime)"))
    leg = Legend(lax, handles, labels, loc="upper left", title="regime (share of cells)", frameon=False,
                 handler_map={_Swatch: _legend_handler()}, handlelength=6.4 if big else 1.6,
                 handleheight=4.0 if big else 1.2, labelspacing=0.6 if big else 0.4, fontsize=9, borderaxespad=0.0)
    lax.add_artist(leg)
    if has_truth:
        tcodes = np.asarray(scene["true_regime"].transpose("y", "x").values).astype(np.int64)
        n_true = max(len(true_names or []), int(tcodes.max()) + 1)
        tnames = (true_names or []) + [str(j) for j in range(len(true_names or []), n_true)]
        tcol = _true_colours(match, n_true, colours)
        sub = "true regimes"
        if match is not None:
            cells = (codes >= 0) & (tcodes >= 0)
            if cells.any():
                acc = np.mean(np.asarray(match)[codes[cells]] == tcodes[cells])
                sub += f" (regimes match {100 * acc:.0f} % of cells)"
        _draw_panel(axes[1], bg, extent, lon_e, lat_e, tcodes, tcol, sub)
        present = [j for j in range(n_true) if (tcodes == j).any()]
        axes[1].legend([Patch(facecolor=tcol[j], alpha=CELL_ALPHA + 0.2, edgecolor="0.25") for j in present],
                       [tnames[j] for j in present], loc="upper center", bbox_to_anchor=(0.5, -0.13),
                       ncol=min(3, max(1, len(present))), title="true regime", frameon=False, fontsize=9)
    fig.suptitle(title or f"regime map, {when}", fontsize=12)
    return fig


# --- fractions through time ------------------------------------------------------------
#: up to this many scenes the fractions are stacked bars, one per scene (daily or
#: irregular scenes: areas would interpolate between them); more, stacked areas
MAX_BARS = 60


def _bars(times) -> bool:
    return len(times) <= MAX_BARS


def _stack(ax, times, values, colours, labels, alpha=0.85):
    """Stacked bars (one per scene, at positions 0..n-1) or, for more than
    :data:`MAX_BARS` scenes, stacked areas over time of ``values`` (time, k)."""
    if _bars(times):
        x = np.arange(len(times))
        bottom = np.zeros(len(times))
        for k in range(values.shape[1]):
            v = np.nan_to_num(values[:, k])
            ax.bar(x, v, bottom=bottom, width=0.8, color=colours[k], alpha=alpha, label=labels[k])
            bottom = bottom + v
        ax.set_xlim(-0.6, len(times) - 0.4)
        return
    ax.stackplot(times, values.T, colors=colours, labels=labels, alpha=alpha)
    ax.set_xlim(times[0], times[-1])


def _level(ax, times, y, label) -> None:
    """A dashed level through time: a dashed segment across each bar, or a
    dashed line over the areas."""
    if _bars(times):
        x = np.arange(len(times))
        ax.hlines(y, x - 0.4, x + 0.4, linestyles="--", lw=1.4, color="0.1", label=label)
    else:
        ax.plot(times, y, ls="--", lw=1.2, color="0.1", label=label)


def _legend(ax, title: str) -> None:
    """Legend right of ``ax``: the areas top to bottom as stacked, then the lines."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    pairs = list(zip(*ax.get_legend_handles_labels()))
    is_line = [isinstance(h, (Line2D, LineCollection)) for h, _ in pairs]
    pairs = [p for p, ln in zip(pairs, is_line) if not ln][::-1] + [p for p, ln in zip(pairs, is_line) if ln]
    ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title=title, fontsize=9, frameon=False)


def _date_axis(ax, times) -> None:
    import matplotlib.dates as mdates

    if _bars(times):  # one labelled bar per scene
        stamps = [np.datetime_as_string(t, unit="m").replace("T", "\n") for t in np.asarray(times)]
        step = max(1, int(np.ceil(len(stamps) / 16)))
        ax.set_xticks(np.arange(len(stamps))[::step], stamps[::step], fontsize=8)
        return
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _true_boundaries(ax, times, frac: np.ndarray, true_frac: np.ndarray, match: np.ndarray) -> None:
    """Dashed lines on the stacked regime areas ``frac`` (time, N): at each
    boundary of the stack whose regimes below and above are matched to
    different labels, the true fraction of the labels below (``true_frac``
    (time, L), fractions of the labelled cells). A perfect map's area
    boundaries lie on the lines."""
    if len(times) < 2 and not _bars(times):
        return
    first = True
    for k in range(len(match) - 1):
        below, above = set(match[: k + 1].tolist()), set(match[k + 1:].tolist())
        if -1 in below or below & above:
            continue
        _level(ax, times, np.nansum(true_frac[:, sorted(below)], axis=1),
               "true fractions (matched labels)" if first else None)
        first = False


def regime_fractions_plot(regime_map: Any, bbox: Sequence[float] | None = None, truth: bool = True,
                          title: str | None = None, figsize: tuple[float, float] | None = None):
    """The regime fractions of each scene through time: stacked bars, one per
    scene (stacked areas for more than :data:`MAX_BARS` scenes).

    Parameters
    ----------
    regime_map : Dataset from ``assign_regimes`` (or its path).
    bbox : ``(lon_min, lat_min, lon_max, lat_max)`` degrees: only cells whose centre is inside.
    truth : when the map has true regimes and a regime match: on the regimes'
        areas, the true fractions as dashed lines (where the areas of the
        regimes matched to the labels below should end); and a second panel
        of the true fractions (same colours as the matched regimes) with the
        regimes' fractions summed per matched label as dashed lines.

    Returns
    -------
    The matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from ..regimes import open_map, regime_fractions

    ds = open_map(regime_map, "regime map", load=True)
    fr = regime_fractions(ds, bbox=bbox)
    names = [str(s) for s in fr["regime"].values]
    colours = regime_colours(len(names))
    times = fr["time"].values
    values = fr.values
    if "unassigned_distance" in ds.attrs:  # a grey band on top: the cells of no regime
        values = np.concatenate([values, fr["unassigned_fraction"].values[:, None]], axis=1)
    has_truth = truth and "true_regime" in ds.variables and "regime_match" in ds.attrs
    n_rows = 2 if has_truth else 1
    fig, axes = plt.subplots(n_rows, 1, sharex=True, squeeze=False, layout="constrained",
                             figsize=figsize or (9.0, 2.9 * n_rows + 0.7))
    ax = axes[0, 0]
    _stack(ax, times, values, colours + [GREY], names + ["unassigned"])
    ax.set_ylabel("fraction of valid cells")
    ax.set_ylim(0, 1)
    ax.set_title(f"regimes ({ds.attrs.get('regimes_method', '')}, N={len(names)})".replace("(, ", "("), fontsize=11)
    _legend(ax, "regime")
    if has_truth:
        match = np.asarray(json.loads(ds.attrs["regime_match"]), dtype=np.int64)
        tf = regime_fractions(ds, bbox=bbox, variable="true_regime")
        tnames = [str(s) for s in tf["regime"].values]
        tcol = _true_colours(match.tolist(), len(tnames), colours)
        # labels seen in the truth or matched to, in label order
        keep = [j for j in range(len(tnames)) if np.nansum(tf.values[:, j]) > 0 or j in match]
        tax = axes[1, 0]
        _stack(tax, times, tf.values[:, keep], [tcol[j] for j in keep], [tnames[j] for j in keep])
        via = np.stack([fr.values[:, match == j].sum(axis=1) for j in keep], axis=1)
        if len(times) > 1 or _bars(times):
            cum = np.cumsum(via, axis=1)
            for j in range(len(keep) - 1):
                _level(tax, times, cum[:, j], "regimes, summed per matched label" if j == 0 else None)
        tax.set_ylabel("fraction of labelled cells")
        tax.set_ylim(0, 1)
        tax.set_title("true regimes (dashed: the regimes' fractions through the match)", fontsize=11)
        _legend(tax, "true regime")
        _true_boundaries(ax, times, fr.values, tf.values, match)
        _legend(ax, "regime")
    axes[-1, 0].set_xlabel("scan time (UTC)" + (", one bar per scene" if _bars(times) else ""))
    _date_axis(axes[-1, 0], times)
    where = "" if bbox is None else " in lon {:g}..{:g}, lat {:g}..{:g}".format(bbox[0], bbox[2], bbox[1], bbox[3])
    fig.suptitle(title or f"regime fractions of the domain{where}", fontsize=12)
    return fig
