"""Fixed-grid navigation of GOES ABI images: scan angles, lat/lon and windows.

ABI images live on the *fixed grid*: pixel centres are given as scan angles
``x`` (east-west) and ``y`` (north-south) in radians, as seen from a
geostationary satellite at height ``h`` above the ellipsoid, with the sweep
angle axis ``x`` (GOES-R Product User Guide, PUG, vol. 3 section 4.2.8). The
file's ``goes_imager_projection`` variable carries ``perspective_point_height``
(m), the ellipsoid axes (m) and ``longitude_of_projection_origin`` (degrees
east); the satellite's nominal sub-point may differ slightly from the
projection origin (e.g. -75.2 vs -75.0): navigation always uses the
projection origin.

Navigation uses PROJ's ``geos`` projection through pyproj, whose projected
coordinates are the scan angles multiplied by ``h``. Points that are not on
the Earth's disk come back as NaN.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

# the fixed grid and the bbox check are shared by every source: they live in
# convml_tt.data.geometry.grids and are re-exported here for the names ABI code used
from ...geometry.grids import FixedGrid, check_bbox  # noqa: F401
from .reader import OffDiskError


# -----------------------------------------------------------------------------
# windows and pixel locations
# -----------------------------------------------------------------------------
def pixel_latlon(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """Geodetic latitude and longitude (degrees) of every pixel centre of
    ``ds`` (shape ``(y, x)``); NaN for pixels off the Earth's disk."""
    grid = FixedGrid.from_dataset(ds)
    xx, yy = np.meshgrid(ds["x"].values, ds["y"].values)
    lat, lon = grid.scan_to_latlon(xx, yy)
    coords = {"y": ds["y"], "x": ds["x"]}
    return (
        xr.DataArray(lat, dims=("y", "x"), coords=coords, attrs={"units": "degrees_north"}),
        xr.DataArray(lon, dims=("y", "x"), coords=coords, attrs={"units": "degrees_east"}),
    )


def _bbox_samples(bbox: Sequence[float], n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    lon_min, lat_min, lon_max, lat_max = bbox
    lons = np.linspace(lon_min, lon_max, n)
    lats = np.linspace(lat_min, lat_max, n)
    lon2, lat2 = np.meshgrid(lons, lats)
    return lat2.ravel(), lon2.ravel()


def bbox_window(
    ds: xr.Dataset,
    bbox: Sequence[float],
    margin: int = 2,
    require_inside: bool = True,
) -> tuple[slice, slice]:
    """Index window ``(rows, cols)`` of ``ds`` that covers a lat/lon box.

    Parameters
    ----------
    ds:
        an ABI dataset (from :func:`open_abi`; only coordinates are used).
    bbox:
        ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.
    margin:
        extra pixels on every side (clipped at the file's edge).
    require_inside:
        if True, a box that is not wholly inside the file's sector is an
        error; otherwise the window is clipped to the sector.

    Raises
    ------
    OffDiskError
        when the box is wholly off the Earth's disk, or outside the sector.
    """
    bbox = check_bbox(bbox)
    grid = FixedGrid.from_dataset(ds)
    src = ds.attrs.get("convml_tt_source", ds.encoding.get("source", "<dataset>"))
    lat, lon = _bbox_samples(bbox)
    x = ds["x"].values
    y = ds["y"].values
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    dy = float(y[1] - y[0]) if y.size > 1 else -1.0
    fast = _window_ends_without_proj(grid, lat, lon, x[0], dx, y[0], dy)
    if fast is not None:
        (c0, c1, r0, r1), ok = fast, np.ones(lat.shape, bool)
    else:
        c0, c1, r0, r1, ok = _window_ends(grid, bbox, lat, lon, x[0], dx, y[0], dy)
    inside = c0 >= 0 and r0 >= 0 and c1 <= x.size - 1 and r1 <= y.size - 1 and ok.all()
    overlaps = c1 >= 0 and r1 >= 0 and c0 <= x.size - 1 and r0 <= y.size - 1
    if not overlaps or (require_inside and not inside):
        lat_e, lon_e = _sector_latlon_extent(ds, grid)
        what = "outside" if not overlaps else "not wholly inside"
        off = "" if ok.all() else " (part of it is off the Earth's disk)"
        within = lon_e[0] <= bbox[0] and bbox[2] <= lon_e[1] and lat_e[0] <= bbox[1] and bbox[3] <= lat_e[1]
        why = ("; the sector is a rectangle of scan angles, not of latitude and longitude, so its edges "
               "are not lines of constant lat or lon and a box within those ranges can still cross them"
               if within else "")
        raise OffDiskError(
            f"bbox {bbox}{off} is {what} the sector of {src}, which covers about "
            f"lon {lon_e[0]:.2f} to {lon_e[1]:.2f}, lat {lat_e[0]:.2f} to {lat_e[1]:.2f}{why}: "
            f"choose a domain inside it{_fitting_hint(grid, bbox, x, y)}"
        )
    c0, r0 = max(c0 - margin, 0), max(r0 - margin, 0)
    c1, r1 = min(c1 + margin, x.size - 1), min(r1 + margin, y.size - 1)
    return slice(r0, r1 + 1), slice(c0, c1 + 1)


def _window_ends(grid: FixedGrid, bbox, lat, lon, x0, dx, y0, dy):
    """First/last (fractional, floored/ceiled) column and row of the box
    samples, through PROJ; raises :class:`OffDiskError` when none is on the disk."""
    sx, sy = grid.latlon_to_scan(lat, lon)
    ok = np.isfinite(sx)
    if not ok.any():
        raise OffDiskError(
            f"bbox {bbox} (lon_min, lat_min, lon_max, lat_max) is wholly off the Earth's "
            f"disk seen from {grid.longitude_of_projection_origin}E; choose a domain "
            "within ~75 degrees of the sub-satellite point"
        )
    cols = (sx[ok] - x0) / dx
    rows = (sy[ok] - y0) / dy
    c0, c1 = int(np.floor(cols.min())), int(np.ceil(cols.max()))
    r0, r1 = int(np.floor(rows.min())), int(np.ceil(rows.max()))
    return c0, c1, r0, r1, ok


def _window_ends_without_proj(grid: FixedGrid, lat, lon, x0, dx, y0, dy):
    """What :func:`_window_ends` gives, from the fixed-grid forward formula
    (PROJ's ``geos`` ellipsoidal forward, same operations, float64), so that
    a composite needs no PROJ; None whenever the result could differ: a
    sweep-y grid, a sample off the disk or near the limb, or an end within
    1e-6 pixel of a whole pixel index (the two computations agree to ~1e-10
    pixel, so the floors and ceilings are the same)."""
    if grid.sweep_angle_axis != "x":
        return None
    a, b = grid.semi_major_axis, grid.semi_minor_axis
    radius_g = 1.0 + grid.perspective_point_height / a
    one_es = (b / a) ** 2
    radius_p = np.sqrt(one_es)
    phi = np.arctan(one_es * np.tan(np.radians(lat)))
    lam = np.radians(lon) - np.radians(grid.longitude_of_projection_origin)
    lam = np.where(np.abs(lam) > np.pi, (lam + np.pi) % (2 * np.pi) - np.pi, lam)
    r = radius_p / np.hypot(radius_p * np.cos(phi), np.sin(phi))
    vx = r * np.cos(lam) * np.cos(phi)
    vy = r * np.sin(lam) * np.cos(phi)
    vz = r * np.sin(phi)
    visible = (radius_g - vx) * vx - vy * vy - vz * vz / one_es
    if not np.all(visible > 1e-6):
        return None
    tmp = radius_g - vx
    sx = np.arctan(vy / np.hypot(vz, tmp))
    sy = np.arctan(vz / tmp)
    cols = (sx - x0) / dx
    rows = (sy - y0) / dy
    ends = np.array([cols.min(), cols.max(), rows.min(), rows.max()])
    if not np.all(np.isfinite(ends)) or np.any(np.abs(ends - np.rint(ends)) < 1e-6):
        return None
    return int(np.floor(ends[0])), int(np.ceil(ends[1])), int(np.floor(ends[2])), int(np.ceil(ends[3]))


def _fits(grid: FixedGrid, bbox, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``bbox`` passes :func:`bbox_window`'s inside test for a sector
    of pixel centres ``x``, ``y`` (every sample on the disk, within the
    first and last pixel centre)."""
    lat, lon = _bbox_samples(bbox)
    sx, sy = grid.latlon_to_scan(lat, lon)
    if not (np.all(np.isfinite(sx)) and np.all(np.isfinite(sy))):
        return False
    dx = float(x[1] - x[0]) if x.size > 1 else 1.0
    dy = float(y[1] - y[0]) if y.size > 1 else -1.0
    cols, rows = (sx - x[0]) / dx, (sy - y[0]) / dy
    return bool(cols.min() >= 0 and rows.min() >= 0 and cols.max() <= x.size - 1 and rows.max() <= y.size - 1)


def fitting_bbox(grid: FixedGrid, bbox: Sequence[float], x: np.ndarray, y: np.ndarray):
    """A lat/lon box inside the sector with pixel centres ``x``, ``y``
    (radians) near ``bbox``: the largest one with ``bbox``'s centre and
    proportions, or, when that centre is not in the sector, a box of those
    proportions (at most ``bbox``'s size) at the sector's centre; rounded
    inwards to a few decimals. Returns ``(box, where)`` with ``where``
    ``"centre"`` or ``"sector"``, or None when no such box fits."""
    lon_min, lat_min, lon_max, lat_max = check_bbox(bbox)
    hw, hh = (lon_max - lon_min) / 2, (lat_max - lat_min) / 2
    slat, slon = grid.scan_to_latlon((x[0] + x[-1]) / 2, (y[0] + y[-1]) / 2)
    for where, clon, clat in (("centre", lon_min + hw, lat_min + hh), ("sector", float(slon), float(slat))):
        if not (np.isfinite(clon) and np.isfinite(clat)):
            continue

        def box(s: float) -> tuple[float, float, float, float]:
            return clon - s * hw, clat - s * hh, clon + s * hw, clat + s * hh

        if not _fits(grid, box(1e-6), x, y):
            continue
        lo, hi = 1e-6, 1.0
        if _fits(grid, box(hi), x, y):
            lo = hi
        else:
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if _fits(grid, box(mid), x, y) else (lo, mid)
        decimals = max(2, int(np.ceil(-np.log10(max(lo * min(hw, hh), 1e-9) / 10))))
        step = 10.0 ** -decimals
        for shrink in (1.0, 0.99, 0.95, 0.9):
            a, b, c, d = box(lo * shrink)
            rounded = (np.ceil(a / step) * step, np.ceil(b / step) * step,
                       np.floor(c / step) * step, np.floor(d / step) * step)
            rounded = tuple(round(float(v), decimals) for v in rounded)
            if rounded[0] < rounded[2] and rounded[1] < rounded[3] and _fits(grid, rounded, x, y):
                return rounded, where
    return None


def _fitting_hint(grid: FixedGrid, bbox, x: np.ndarray, y: np.ndarray) -> str:
    """``", e.g. the domain A B C D (...)"`` for the error of a box that does
    not fit, or ``""`` when none is found."""
    try:
        found = fitting_bbox(grid, bbox, x, y)
    except ValueError:
        found = None
    if found is None:
        return ""
    box, where = found
    why = ("the largest box with this domain's centre and proportions that fits" if where == "centre"
           else "this domain's centre is not in the sector: a box of its proportions at the sector's centre")
    return f", e.g. the domain {' '.join(f'{v:g}' for v in box)} (lon_min lat_min lon_max lat_max; {why})"


def _sector_latlon_extent(ds: xr.Dataset, grid: FixedGrid):
    x = ds["x"].values
    y = ds["y"].values
    n = 50
    xs = np.concatenate([x[:: max(1, x.size // n)], x[-1:]])
    ys = np.concatenate([y[:: max(1, y.size // n)], y[-1:]])
    xx, yy = np.meshgrid(xs, ys)
    lat, lon = grid.scan_to_latlon(xx, yy)
    with np.errstate(invalid="ignore"):
        return (np.nanmin(lat), np.nanmax(lat)), (np.nanmin(lon), np.nanmax(lon))
