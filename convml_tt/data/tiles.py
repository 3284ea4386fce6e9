"""Tiles: small square images on a local equal-area grid, resampled from a composite.

A :class:`Tile` is a square of ``size`` metres with ``n`` x ``n`` pixels
centred at ``(lat0, lon0)`` on a Lambert azimuthal equal-area (LAEA)
projection centred on the tile (on the ellipsoid of the grid it is cut
from: GRS80 for the GOES-R fixed grid, WGS84 for a lat/lon grid). Pixel ``(i, j)`` (row ``i`` from the north,
column ``j`` from the west) has its centre at the local coordinates

    u_j = (j + 0.5) * size / n - size / 2          (metres east)
    v_i = size / 2 - (i + 0.5) * size / n          (metres north)

Resampling a composite (an image regular in the coordinates ``x``, ``y`` of
its grid, :mod:`convml_tt.data.geometry.grids`: scan angles of the ABI fixed
grid, longitude/latitude, or projected metres) onto a tile maps every tile
pixel *analytically* to fractional row/column indices of the composite (LAEA
-> geodetic -> grid coordinates -> indices), then interpolates (bilinear by
default, or nearest). There are no regridder objects and no weight files.

Speed: projecting all ``n * n`` pixels with PROJ costs ~20 ms at 256 px, so
the exact mapping is computed on a coarse ``coarse`` x ``coarse`` sub-grid of
the tile (default 17 x 17 points spanning the pixel centres, through one PROJ
pipeline ``inv laea | geos``, or the grid's own ``proj_step``) and the smooth fractional-index field is
interpolated to every pixel with a separable cubic spline (two small matrix
products). The error of this step against the exact per-pixel mapping is
below 1e-3 composite pixel for 200 km tiles anywhere within 70 degrees of the
sub-satellite point (tested in ``tests/test_tiles.py``; ``coarse=None``
projects every pixel exactly).
"""
from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyproj
import xarray as xr

from ..config import DEFAULT_TILE_PIXELS, DEFAULT_TILE_SIZE_M
from .geometry.grids import FixedGrid, Grid, OffDiskError, grid_from_dataset  # noqa: F401 (FixedGrid: re-export)

#: GRS80 axes (m), the ellipsoid of the GOES-R fixed grid
GRS80 = (6378137.0, 6356752.31414)


class InvalidTileError(ValueError):
    """A tile that touches masked, off-disk or outside-the-composite pixels."""


@dataclass(frozen=True)
class Tile:
    """A square tile on a local Lambert azimuthal equal-area grid.

    Parameters
    ----------
    lat0, lon0:
        centre, degrees north / east.
    size:
        side length, metres (default 200 km).
    n:
        pixels along each side (default 256), so a pixel is ``size / n`` m.
    a, b:
        ellipsoid semi-major and semi-minor axes, metres (default GRS80).
    """

    lat0: float
    lon0: float
    size: float = DEFAULT_TILE_SIZE_M
    n: int = DEFAULT_TILE_PIXELS
    a: float = GRS80[0]
    b: float = GRS80[1]

    def __post_init__(self):
        if not (-90.0 < float(self.lat0) < 90.0) or not np.isfinite(self.lon0):
            raise ValueError(f"tile centre lat0={self.lat0!r} must be in (-90, 90) degrees")
        if not (self.size > 0 and np.isfinite(self.size)):
            raise ValueError(f"tile size {self.size!r} must be a positive number of metres")
        if int(self.n) != self.n or self.n < 2:
            raise ValueError(f"tile pixels n={self.n!r} must be an integer >= 2")

    # -- geometry ------------------------------------------------------------
    @property
    def proj4(self) -> str:
        """PROJ string of the tile's local LAEA projection (metres)."""
        return (
            f"+proj=laea +lat_0={float(self.lat0)!r} +lon_0={float(self.lon0)!r} "
            f"+a={self.a!r} +b={self.b!r} +units=m +no_defs"
        )

    @property
    def pixel_size(self) -> float:
        """Side of one pixel, metres."""
        return self.size / self.n

    def local_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Local coordinates of the pixel centres: ``u`` (n,) metres east
        (west to east) and ``v`` (n,) metres north (north to south)."""
        return _centres(self.size, self.n), -_centres(self.size, self.n)

    def _inverse(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        # a bare PROJ pipeline: ~6x cheaper to build than pyproj.Proj (a CRS)
        lon, lat = _inverse_pipeline(self.proj4).transform(
            np.asarray(u, float), np.asarray(v, float), errcheck=False
        )
        lon = (np.asarray(lon, float) + 180.0) % 360.0 - 180.0
        return np.asarray(lat, float), lon

    def latlon(self, u, v) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` in degrees of local coordinates ``u`` (metres east of
        the centre) and ``v`` (metres north), broadcastable arrays."""
        return self._inverse(u, v)

    def pixel_latlon(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` of every pixel centre, degrees, each shape ``(n, n)``."""
        u, v = self.local_coords()
        uu, vv = np.meshgrid(u, v)
        return self._inverse(uu, vv)

    def corners(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` of the outer corners NW, NE, SE, SW, degrees, shape ``(4,)``."""
        h = self.size / 2
        return self._inverse([-h, h, h, -h], [h, h, -h, -h])

    def outline(self, points_per_side: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Closed outline polygon ``(lat, lon)`` in degrees (``4 * points_per_side + 1``
        points, clockwise from the NW corner); its sides are straight in the
        tile's projection, so slightly curved in lat/lon."""
        h = self.size / 2
        t = np.linspace(-h, h, points_per_side, endpoint=False)
        u = np.concatenate([t, np.full_like(t, h), -t, np.full_like(t, -h), [-h]])
        v = np.concatenate([np.full_like(t, h), -t, np.full_like(t, -h), t, [h]])
        return self._inverse(u, v)

    # -- mapping to a grid ----------------------------------------------------
    def scan_angles(self, grid: Grid, coarse: int | None = 17) -> tuple[np.ndarray, np.ndarray]:
        """The grid coordinates ``(x, y)`` (each ``(n, n)``) of every pixel
        centre, in the grid's units (:mod:`convml_tt.data.geometry.grids`):
        scan angles in radians on a :class:`FixedGrid` (NaN where a pixel is
        off the Earth's disk), longitude/latitude in degrees on a
        ``LatLonGrid``, metres on a ``ProjectedGrid``. :meth:`grid_xy` is
        the same method.

        With ``coarse=K`` the exact mapping is computed on K x K points and
        interpolated (separable cubic spline); ``coarse=None`` maps every
        pixel exactly.
        """
        s = grid.coordinate_scale
        if coarse is None or coarse >= self.n:
            u, v = self.local_coords()
            uu, vv = np.meshgrid(u, v)
            px, py = self._project(grid, uu, vv)
            return px / s, py / s
        projected = self.coarse_projection(grid, coarse)
        if projected is None:
            # part of the tile is off the disk: exact mapping shows which pixels
            return self.scan_angles(grid, coarse=None)
        return self.upsample_projection(grid, *projected)

    grid_xy = scan_angles

    def _transformer(self, grid: Grid) -> pyproj.Transformer:
        """The PROJ pipeline tile metres -> the grid's projected coordinates (on the grid's ellipsoid)."""
        if grid.ellipsoid != (self.a, self.b):
            tile = Tile(self.lat0, self.lon0, self.size, self.n, *grid.ellipsoid)
        else:
            tile = self
        return _pipeline(tile.proj4, grid)

    def _project(self, grid: Grid, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The grid's projected coordinates of tile coordinates ``u``, ``v`` (m), NaN where undefined."""
        px, py = self._transformer(grid).transform(u, v, errcheck=False)
        return _finite(grid.wrap_x(px, self.lon0)), _finite(py)

    def coarse_projection(self, grid: Grid, coarse: int = 17) -> tuple[np.ndarray, np.ndarray] | None:
        """The exact mapping that :meth:`scan_angles` computes on its coarse
        sub-grid: the grid's projected coordinates ``(px, py)`` (for a fixed
        grid metres: scan angles times the perspective height), each
        ``(coarse, coarse)``, on points spanning the pixel centres; None when
        some of them are undefined (off the Earth's disk). It depends only on
        the tile and the grid, not on a composite's pixels, so callers cutting
        the same tile from many scenes can keep it and pass it to
        :meth:`upsample_projection`."""
        k = int(coarse)
        if k < 4:
            raise ValueError(f"coarse={coarse!r} must be >= 4 (or None for the exact mapping)")
        c = _centres(self.size, self.n)
        uc = np.linspace(c[0], c[-1], k)
        uu, vv = np.meshgrid(uc, -uc)
        px, py = self._project(grid, uu, vv)
        if not (np.isfinite(px).all() and np.isfinite(py).all()):
            return None
        return px, py

    def upsample_projection(self, grid: Grid, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid coordinates ``(x, y)`` (each ``(n, n)``) of every pixel from
        the coarse mapping of :meth:`coarse_projection` (separable cubic
        spline): exactly what :meth:`scan_angles` returns."""
        m = _spline_matrix(self.n, px.shape[0])
        s = grid.coordinate_scale
        return _upsample(m, px) / s, _upsample(m, py) / s


_SERIAL_BLAS = False


@contextlib.contextmanager
def serial_blas():
    """Context: BLAS limited to one thread (threadpoolctl), so the coarse-grid
    upsampling of :meth:`Tile.scan_angles` can use ``matmul`` (faster than
    einsum single-threaded; through a multi-threaded BLAS these small
    products are slower than einsum because of thread start-up). Used around
    loops that cut many tiles (triplet writing); results agree with the
    einsum path to ~1e-12 composite pixel."""
    global _SERIAL_BLAS
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    old = _SERIAL_BLAS
    with threadpool_limits(1, user_api="blas"):
        _SERIAL_BLAS = True
        try:
            yield
        finally:
            _SERIAL_BLAS = old


def _upsample(m: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``m @ f @ m.T``: with matmul under :func:`serial_blas`, else einsum
    (small products are slower through a multi-threaded BLAS)."""
    if _SERIAL_BLAS:
        return m @ (f @ m.T)
    return np.einsum("ik,kj->ij", m, np.einsum("kl,jl->kj", f, m))


def _finite(a) -> np.ndarray:
    a = np.asarray(a, float)
    a[~np.isfinite(a)] = np.nan
    return a


def _centres(size: float, n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) * (size / n) - size / 2


@functools.lru_cache(maxsize=64)
def _spline_matrix(n: int, k: int) -> np.ndarray:
    """(n, k) matrix interpolating k equally spaced samples spanning the n pixel
    centres to every pixel centre with a not-a-knot cubic spline."""
    from scipy.interpolate import CubicSpline

    t_coarse = np.linspace(0.0, n - 1.0, k)
    spline = CubicSpline(t_coarse, np.eye(k), axis=0, bc_type="not-a-knot")
    m = spline(np.arange(n, dtype=float))
    m.setflags(write=False)
    return m


@functools.lru_cache(maxsize=256)
def _inverse_pipeline(laea: str) -> pyproj.Transformer:
    """Tile LAEA metres -> geodetic (lon, lat) degrees."""
    laea_step = laea.replace(" +units=m +no_defs", "")
    return pyproj.Transformer.from_pipeline(
        f"+proj=pipeline +step +inv {laea_step} +step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )


@functools.lru_cache(maxsize=256)
def _pipeline(laea: str, grid: Grid) -> pyproj.Transformer:
    """Tile LAEA metres -> the grid's projected coordinates (``inv laea | grid.proj_step``)."""
    laea_step = laea.replace(" +units=m +no_defs", "")
    return pyproj.Transformer.from_pipeline(
        f"+proj=pipeline +step +inv {laea_step} +step {grid.proj_step}"
    )


# -----------------------------------------------------------------------------
# the composite's regular scan-angle grid
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ScanGrid:
    """A composite's regular raster: pixel ``(row, col)`` is centred at
    ``x = x0 + col * dx``, ``y = y0 + row * dy`` in the coordinates of
    ``grid`` (any grid of :mod:`convml_tt.data.geometry.grids`: scan angles in
    radians on a fixed grid, degrees on a lat/lon grid, metres on a projected
    grid; ``dy < 0`` when row 0 is north); ``shape = (rows, cols)``."""

    grid: Grid
    x0: float
    dx: float
    y0: float
    dy: float
    shape: tuple[int, int]

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "ScanGrid":
        """The raster of a composite (or any dataset with regular ``x``, ``y``
        coordinates and a grid mapping, :func:`~convml_tt.data.geometry.grids.grid_from_dataset`)."""
        x = np.asarray(ds["x"].values, float)
        y = np.asarray(ds["y"].values, float)
        if x.size < 2 or y.size < 2:
            raise ValueError(f"composite has {y.size} x {x.size} pixels; need at least 2 x 2")
        dx = (x[-1] - x[0]) / (x.size - 1)
        dy = (y[-1] - y[0]) / (y.size - 1)
        if np.abs(np.diff(x) - dx).max() > 1e-3 * abs(dx) or np.abs(np.diff(y) - dy).max() > 1e-3 * abs(dy):
            raise ValueError("composite x/y coordinates are not regularly spaced")
        return cls(grid_from_dataset(ds), float(x[0]), float(dx), float(y[0]), float(dy), (y.size, x.size))

    def indices(self, tile: Tile, coarse: int | None = 17) -> tuple[np.ndarray, np.ndarray]:
        """Fractional ``(row, col)`` indices (each ``(n, n)``) of every pixel of
        ``tile`` in this raster; NaN off the disk."""
        sx, sy = tile.scan_angles(self.grid, coarse=coarse)
        return self.angles_to_indices(sx, sy)

    def angles_to_indices(self, sx: np.ndarray, sy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional ``(row, col)`` indices of grid coordinates ``sx``, ``sy`` (scan angles: radians)."""
        return (sy - self.y0) / self.dy, (sx - self.x0) / self.dx


def index_window(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], pad: int = 1):
    """The index box ``(r0, r1, c0, c1)`` (end-exclusive) of an image of ``shape``
    that holds every pixel needed to interpolate at ``rows``, ``cols``, or None
    when some are off the disk or outside the image."""
    rmin, rmax = float(np.min(rows)), float(np.max(rows))
    cmin, cmax = float(np.min(cols)), float(np.max(cols))
    if not all(map(math.isfinite, (rmin, rmax, cmin, cmax))):
        return None
    r0, c0 = int(math.floor(rmin)) - pad + 1, int(math.floor(cmin)) - pad + 1
    r1, c1 = int(math.floor(rmax)) + pad + 1, int(math.floor(cmax)) + pad + 1
    r0, c0 = max(r0, 0), max(c0, 0)
    if rmin < 0 or cmin < 0 or rmax > shape[0] - 1 or cmax > shape[1] - 1:
        return None
    return r0, min(r1, shape[0]), c0, min(c1, shape[1])


def image_planes(values: np.ndarray) -> np.ndarray:
    """An image ``(H, W, C)`` (or ``(H, W)``) as contiguous float32 planes
    ``(C, H * W)``: the layout :func:`interpolate_planes` gathers from (one
    ``np.take`` per channel and corner). Make it once per image when many
    tiles are cut from it."""
    values = np.asarray(values)
    if values.ndim == 2:
        values = values[:, :, None]
    h, w, c = values.shape
    return np.ascontiguousarray(np.moveaxis(values, -1, 0), dtype=np.float32).reshape(c, h * w)


def interpolate_planes(
    planes: np.ndarray,
    hw: tuple[int, int],
    rows: np.ndarray,
    cols: np.ndarray,
    method: Literal["bilinear", "nearest"] = "bilinear",
) -> np.ndarray | None:
    """:func:`interpolate` on an image given as planes (:func:`image_planes`)
    of ``hw = (H, W)`` pixels.

    Returns ``(C, *rows.shape)`` float32 (channel first), or None when a
    point needs a pixel outside the image or a masked (NaN) pixel.
    """
    h, w = hw
    c = planes.shape[0]
    shape = np.shape(rows)
    r = np.asarray(rows, float).ravel()
    q = np.asarray(cols, float).ravel()
    with np.errstate(invalid="ignore"):
        rmin, rmax, qmin, qmax = r.min(), r.max(), q.min(), q.max()
    if not (math.isfinite(rmin) and math.isfinite(rmax) and math.isfinite(qmin) and math.isfinite(qmax)):
        return None
    if rmin < -0.5 or qmin < -0.5 or rmax > h - 0.5 or qmax > w - 0.5:
        return None
    out = np.empty((c, r.size), np.float32)
    if method == "nearest":
        i = np.clip(np.rint(r).astype(np.intp), 0, h - 1) * w
        i += np.clip(np.rint(q).astype(np.intp), 0, w - 1)
        for k in range(c):
            planes[k].take(i, out=out[k], mode="clip")  # in range: clipped above; no buffered copy
    elif method == "bilinear":
        if rmin < 0 or qmin < 0 or rmax > h - 1 or qmax > w - 1:
            return None
        r0 = r.astype(np.intp)
        q0 = q.astype(np.intp)
        np.minimum(r0, max(h - 2, 0), out=r0)
        np.minimum(q0, max(w - 2, 0), out=q0)
        fr = (r - r0).astype(np.float32)
        fq = (q - q0).astype(np.float32)
        w11 = fr * fq
        w10 = fr - w11
        w01 = fq - w11
        w00 = 1.0 - fr - fq + w11
        # flat index of the north-west corner, computed once for all channels;
        # the other corners are the same index into the plane shifted by
        # 1 (east), w (south) and w + 1 pixels. Every index is in range (the
        # bounds are checked above), so ``mode="clip"`` changes no value; it
        # spares the copy of ``out`` that take's default mode makes
        i00 = r0 * w
        i00 += q0
        tmp = np.empty(r.size, np.float32)
        for k in range(c):
            p, o = planes[k], out[k]
            # p00 * w00 + p01 * w01 + p10 * w10 + p11 * w11, evaluated left
            # to right in float32, without temporaries
            p.take(i00, out=o, mode="clip")
            o *= w00
            p[1:].take(i00, out=tmp, mode="clip")
            tmp *= w01
            o += tmp
            p[w:].take(i00, out=tmp, mode="clip")
            tmp *= w10
            o += tmp
            p[w + 1 :].take(i00, out=tmp, mode="clip")
            tmp *= w11
            o += tmp
    else:
        raise ValueError(f"method {method!r} must be 'bilinear' or 'nearest'")
    if np.isnan(out).any():
        return None
    return out.reshape(c, *shape)


def interpolate(
    values: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    method: Literal["bilinear", "nearest"] = "bilinear",
) -> np.ndarray | None:
    """Interpolate an image at fractional indices.

    Parameters
    ----------
    values:
        ``(H, W, C)`` (or ``(H, W)``) image, float; NaN = masked.
    rows, cols:
        fractional row/column indices, same shape ``S`` (e.g. ``(n, n)``).
    method:
        ``"bilinear"`` (the 4 surrounding pixels) or ``"nearest"``.

    Returns
    -------
    ``(*S, C)`` (or ``S``) float32 array, or None when any point needs a pixel
    outside the image or a masked (NaN) pixel: such a tile is invalid.

    To cut many tiles from one image, convert it once with
    :func:`image_planes` and call :func:`interpolate_planes`.
    """
    if method not in ("bilinear", "nearest"):
        raise ValueError(f"method {method!r} must be 'bilinear' or 'nearest'")
    squeeze = values.ndim == 2
    out = interpolate_planes(image_planes(values), values.shape[:2], rows, cols, method)
    if out is None:
        return None
    return out[0] if squeeze else np.ascontiguousarray(np.moveaxis(out, 0, -1))


def composite_values(ds: xr.Dataset) -> tuple[np.ndarray, list[str]]:
    """The image of a composite as ``(H, W, C)`` float32 and its channel names."""
    name = ds.attrs.get("composite_variable") or next(
        n for n, v in ds.data_vars.items() if v.dims[:2] == ("y", "x")
    )
    var = ds[name]
    if var.ndim == 2:
        return np.asarray(var.values, np.float32)[:, :, None], [name]
    return np.asarray(var.transpose("y", "x", ...).values, np.float32), [str(c) for c in var[var.dims[2]].values]


def resample(
    composite: xr.Dataset,
    tile: Tile,
    method: Literal["bilinear", "nearest"] = "bilinear",
    coarse: int | None = 17,
    raise_invalid: bool = True,
) -> np.ndarray | None:
    """Resample a composite onto a tile.

    Parameters
    ----------
    composite:
        a composite from :func:`convml_tt.data.composites.make_composite` or
        :func:`~convml_tt.data.composites.load_composite`.
    tile:
        the target tile.
    method:
        ``"bilinear"`` (default) or ``"nearest"``.
    coarse:
        sub-grid size of the analytic mapping (None: exact per pixel).
    raise_invalid:
        raise :class:`InvalidTileError` for a tile touching masked, off-disk
        or outside pixels (default) instead of returning None.

    Returns
    -------
    ``(n, n, C)`` float32 (row 0 north, column 0 west), in the composite's units.
    """
    sg = ScanGrid.from_dataset(composite)
    rows, cols = sg.indices(tile, coarse=coarse)
    win = index_window(rows, cols, sg.shape)
    out = None
    if win is not None:
        r0, r1, c0, c1 = win
        name = composite.attrs.get("composite_variable")
        sub = composite.isel(y=slice(r0, r1), x=slice(c0, c1))
        values, _ = composite_values(sub) if name else composite_values(sub)
        out = interpolate(values, rows - r0, cols - c0, method=method)
    if out is None and raise_invalid:
        raise InvalidTileError(
            f"{tile} touches masked (space, bad-quality) pixels or lies partly outside the "
            "composite; choose a centre further inside the domain"
        )
    return out


__all__ = [
    "Tile",
    "ScanGrid",
    "InvalidTileError",
    "OffDiskError",
    "interpolate",
    "interpolate_planes",
    "serial_blas",
    "image_planes",
    "index_window",
    "resample",
    "composite_values",
]
