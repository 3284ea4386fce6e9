"""The common raster of a composite's bands, and its latitudes and longitudes.

Bands of different native resolution (band 2 at 0.5 km, bands 1, 3 and 5
at 1 km, the others at 2 km) are brought to one pixel size on the fixed
grid: finer bands are block-averaged (``p x p`` means, NaN if any input is
NaN), coarser bands are upsampled by pixel replication, on a raster aligned
with the bands' own pixels. Work is done in blocks of rows so that the
memory beyond the output stays about one block of the finest band.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Iterator

import numpy as np

from . import reader as abi
from .navigation import bbox_window
from .navigation import FixedGrid
from .reader import OffDiskError

#: scan-angle spacing of a 1 km ABI pixel, radians
_RAD_PER_KM = 28e-6


def _spacing(coord: np.ndarray) -> float:
    return float((coord[-1] - coord[0]) / (coord.size - 1))


def _factor(target: float, native: float, what: str) -> Fraction:
    ratio = abs(target / native)
    f = Fraction(ratio).limit_denominator(8)
    if abs(float(f) - ratio) > 1e-3 * ratio or (f.numerator != 1 and f.denominator != 1):
        raise ValueError(
            f"{what}: resolution {abs(target) / _RAD_PER_KM:.3g} km is not a whole multiple or "
            f"divisor of the band's {abs(native) / _RAD_PER_KM:.3g} km; choose e.g. 0.5, 1 or 2 km"
        )
    return f


def _target_axis(coord: np.ndarray, sl: slice, f: Fraction) -> tuple[float, float, int]:
    """Target raster (origin, step, size) along one axis from a window of the
    reference band and the reference's factor ``f`` (target step / band step)."""
    d = _spacing(coord)
    i0, i1 = sl.start, sl.stop
    if f.denominator == 1:  # block-average p x p
        p = f.numerator
        i0 = (i0 // p) * p
        i1 = i0 + max(1, -(-(i1 - i0) // p)) * p
        while i1 > coord.size:
            i1 -= p
        n = (i1 - i0) // p
        if n < 1:
            raise ValueError("the domain is smaller than one pixel at the chosen resolution")
        return coord[i0] + (p - 1) / 2 * d, p * d, n
    m = f.denominator  # upsample by m
    return coord[i0] - (m - 1) / (2 * m) * d, d / m, (i1 - i0) * m


def _source_index(coord: np.ndarray, t0: float, dt_: float, n: int, src: str):
    """Indices into ``coord`` (a band's x or y) for a target axis: returns
    (slice to read, how to reduce: ('block', p) or ('take', idx))."""
    d = _spacing(coord)
    f = _factor(dt_, d, src)
    if f.denominator == 1:
        p = f.numerator
        s = (t0 - coord[0]) / d - (p - 1) / 2
        i0 = int(round(s))
        if abs(s - i0) > 0.05:
            raise ValueError(f"{src}: pixels are not aligned with the other bands' (offset {s - i0:.2f} px)")
        i1 = i0 + n * p
        if i0 < 0 or i1 > coord.size:
            raise OffDiskError(f"{src}: the domain window is outside this file's sector")
        return slice(i0, i1), ("block", p)
    s = (t0 - coord[0]) / d + np.arange(n) * float(f)
    idx = np.rint(s).astype(int)
    if idx[0] < 0 or idx[-1] > coord.size - 1:
        raise OffDiskError(f"{src}: the domain window is outside this file's sector")
    return slice(int(idx[0]), int(idx[-1]) + 1), ("take", idx - idx[0])


def _reduce(a: np.ndarray, axis: int, how) -> np.ndarray:
    kind, arg = how
    if kind == "take":
        return np.take(a, arg, axis=axis)
    p = arg
    if p == 1:
        return a
    shape = list(a.shape)
    shape[axis : axis + 1] = [shape[axis] // p, p]
    return a.reshape(shape).mean(axis=axis + 1)


#: output rows per block when reading and reducing bands (bounds the memory
#: beyond the output to about one block of the finest band)
_BLOCK_ROWS = 64
#: output rows per block of the lat/lon computation (float64 temporaries,
#: a dozen per block, while the output is already held)
_LATLON_BLOCK_ROWS = 32


def _row_blocks(n: int, rows: int = _BLOCK_ROWS) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks of ``rows`` rows covering ``range(n)``."""
    for o0 in range(0, n, rows):
        yield o0, min(n, o0 + rows)


def _read_reduced(reader: abi.WindowReader, rsl: slice, rhow, csl: slice, chow, dqf_max: int, out: np.ndarray) -> np.ndarray:
    """Read the source rows ``rsl`` x columns ``csl`` of a band and reduce them
    to the target raster (``out``, ``(ny, nx)``), in blocks of
    :data:`_BLOCK_ROWS` output rows. Every output pixel depends only on its
    own source pixels, so the values are those of one whole-window read."""
    ny = out.shape[0]
    kind, arg = rhow
    for o0, o1 in _row_blocks(ny):
        if kind == "block":
            s0, s1, how = rsl.start + o0 * arg, rsl.start + o1 * arg, rhow
        else:
            idx = arg[o0:o1]
            s0, s1, how = rsl.start + int(idx[0]), rsl.start + int(idx[-1]) + 1, ("take", idx - idx[0])
        v = reader.read(slice(s0, s1), csl, dqf_max)
        out[o0:o1] = _reduce(_reduce(v, 0, how), 1, chow)
    return out


def _grid_latlon(grid: FixedGrid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geodetic ``(lat, lon)`` (degrees, float32, ``(y.size, x.size)``) of the
    raster of scan angles ``x`` (columns) and ``y`` (rows), NaN off the disk.

    The fixed-grid inverse of the GOES-R PUG (vol. 4, sect. 4.2.8), the same
    ellipsoidal geometry as PROJ's ``geos``: in float32 it gives the same
    values as :meth:`FixedGrid.scan_to_latlon` but for a handful of pixels
    per million that differ by one float32 step (<= 2e-6 degree); the
    per-column and per-row factors are computed once.
    """
    if grid.sweep_angle_axis != "x":
        lat, lon = grid.scan_to_latlon(*np.meshgrid(x, y))
        return lat.astype(np.float32), lon.astype(np.float32)
    req, rpol = grid.semi_major_axis, grid.semi_minor_axis
    H = grid.perspective_point_height + req
    e = (req / rpol) ** 2
    sx, cx = np.sin(x)[None, :], np.cos(x)[None, :]
    sy, cy = np.sin(y)[:, None], np.cos(y)[:, None]
    a = sx**2 + cx**2 * (cy**2 + e * sy**2)
    b = -2.0 * H * cx * cy
    with np.errstate(invalid="ignore"):
        rs = (-b - np.sqrt(b * b - 4.0 * a * (H * H - req * req))) / (2.0 * a)
    s_x = rs * cx * cy
    s_y = -rs * sx
    s_z = rs * cx * sy
    hx = H - s_x
    lat = np.degrees(np.arctan(e * s_z / np.hypot(hx, s_y)))
    lon = grid.longitude_of_projection_origin - np.degrees(np.arctan(s_y / hx))
    with np.errstate(invalid="ignore"):
        lon = (lon + 180.0) % 360.0 - 180.0
    return lat.astype(np.float32), lon.astype(np.float32)


def _latlon_raster(grid: FixedGrid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_grid_latlon` of the raster ``x`` x ``y``, in blocks of
    :data:`_LATLON_BLOCK_ROWS` rows: ``(lat, lon)``, float32 ``(y.size, x.size)``."""
    ny, nx = y.size, x.size
    lat = np.empty((ny, nx), np.float32)
    lon = np.empty((ny, nx), np.float32)
    for o0, o1 in _row_blocks(ny, _LATLON_BLOCK_ROWS):
        lat[o0:o1], lon[o0:o1] = _grid_latlon(grid, x, y[o0:o1])
    return lat, lon


Axis = tuple[float, float, int]


def _target_raster(header, domain, resolution_km: float, margin: int, src: str) -> tuple[Axis, Axis]:
    """The composite's raster from the coarsest band's header (an
    ``xarray.Dataset`` with ``x``, ``y``): ``((x0, dx, nx), (y0, dy, ny))``,
    scan angles in radians, covering the domain's window plus ``margin``
    pixels at ``resolution_km``. ``src`` names the band in errors."""
    xr_, yr_ = header["x"].values, header["y"].values
    rows, cols = bbox_window(header, domain, margin=margin, require_inside=True)
    target_dx = resolution_km * _RAD_PER_KM * np.sign(_spacing(xr_))
    f_ref = _factor(target_dx, _spacing(xr_), src)
    return _target_axis(xr_, cols, f_ref), _target_axis(yr_, rows, f_ref)


def _read_band(reader: abi.WindowReader, header, xaxis: Axis, yaxis: Axis, dqf_max: int,
               out: np.ndarray, src: str) -> np.ndarray:
    """One band's calibrated values on the raster ``xaxis`` x ``yaxis``,
    written into ``out`` (float32 ``(ny, nx)``); ``src`` names it in errors."""
    rsl, rhow = _source_index(header["y"].values, *yaxis, src)
    csl, chow = _source_index(header["x"].values, *xaxis, src)
    return _read_reduced(reader, rsl, rhow, csl, chow, dqf_max, out)
