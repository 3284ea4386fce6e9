"""Reading a gridded file's metadata: its grid, axes, time steps and variables.

:func:`read_header` (kept per process while the file is unchanged) gives a
:class:`GriddedFile`: the grid (:mod:`convml_tt.data.geometry.grids`), its
two horizontal :class:`Axis` in the order composites use (x west to east,
y north to south; 0..360 longitudes wrapped to -180..180 and reordered,
coordinates stored in float32 replaced by the regular lattice through them),
the time steps, the variables on the grid, platform and product. The rules
are in :mod:`convml_tt.data.sources.gridded`; errors are one
:class:`~convml_tt.data.sources.base.SourceFileError` line naming the file
and what it needs.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...geometry.grids import (GOES_PROJECTION_VARIABLE, KM_PER_DEGREE, FixedGrid, GridError, LatLonGrid,
                               ProjectedGrid, grid_from_cf)
from ..base import SceneMismatchError, SourceFileError

__all__ = ["Axis", "GriddedFile", "read_header", "open_dataset", "is_zarr", "NETCDF_SUFFIXES"]

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
#: global attributes that name the platform, in order of preference
PLATFORM_ATTRS = ("platform", "source_id", "model")
#: how far (in cells) a coordinate may be from the regular spacing fitted through a window's ends
REGULAR_TOLERANCE = 0.05
_LAT_UNITS = {"degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"}
_LON_UNITS = {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"}
_X_NAMES = {"projection_x_coordinate", "grid_longitude", "projection_x_angular_coordinate"}
_Y_NAMES = {"projection_y_coordinate", "grid_latitude", "projection_y_angular_coordinate"}
_NEEDS = ("1-D latitude/longitude coordinates (units degrees_north/degrees_east) or a grid_mapping variable "
          "(crs_wkt or the CF projection attributes) with 1-D x/y projection coordinates")


def is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" and path.is_dir()


def open_dataset(path: Path):
    """``path`` opened lazily with xarray (netCDF4 or zarr), CF-decoded but times left as numbers."""
    import xarray as xr

    kw = dict(decode_times=False, decode_timedelta=False)
    try:
        if is_zarr(path):
            try:
                import zarr  # noqa: F401
            except ImportError:
                raise SourceFileError(f"{path}: reading zarr stores needs the zarr package "
                                      f"(pip install 'convml_tt[zarr]')") from None
            consolidated = (path / ".zmetadata").exists() or (path / "zarr.json").exists()
            return xr.open_dataset(path, engine="zarr", consolidated=consolidated or None, chunks=None, **kw)
        return xr.open_dataset(path, engine="netcdf4", **kw)
    except SourceFileError:
        raise
    except Exception as err:  # a broken or foreign file: one line, whatever the backend raised
        raise SourceFileError(f"{path}: cannot be read as CF netCDF or zarr ({type(err).__name__}: {err})") from None


def _slug(text: Any) -> str:
    """A name usable as a platform id or in file names: lower case, runs of other characters as ``-``."""
    s = re.sub(r"[^a-z0-9_.-]+", "-", str(text).strip().lower()).strip("-_.")
    return s if re.match(r"[a-z]", s) else ""


def _kind(var) -> str | None:
    """``lat``, ``lon``, ``x``, ``y`` or None: what a coordinate variable is."""
    a = var.attrs
    sn = str(a.get("standard_name", "")).strip().lower()
    units = str(a.get("units", "")).replace(" ", "").lower()
    name = str(var.name).lower()
    if sn == "latitude" or units in _LAT_UNITS or (not sn and name in ("lat", "latitude", "nav_lat")):
        return "lat"
    if sn == "longitude" or units in _LON_UNITS or (not sn and name in ("lon", "longitude", "nav_lon")):
        return "lon"
    if sn in _X_NAMES or str(a.get("axis", "")).upper() == "X":
        return "x"
    if sn in _Y_NAMES or str(a.get("axis", "")).upper() == "Y":
        return "y"
    return None


def _degrees(var) -> np.ndarray:
    v = np.asarray(var.values, np.float64)
    return np.degrees(v) if str(var.attrs.get("units", "")).lower().startswith("rad") else v


def _decode_times(var, path: Path) -> list[dt.datetime]:
    """The time steps of a CF time variable as naive UTC datetimes, to the second."""
    units = str(var.attrs.get("units", ""))
    values = np.atleast_1d(np.asarray(var.values, np.float64))
    m = re.fullmatch(r"\s*day as %Y%m%d\.%f\s*", units)
    if m:  # ICON's absolute time axis: 20200202.5 is 2020-02-02 12:00
        out = []
        for v in values:
            day = dt.datetime.strptime(f"{int(v):08d}", "%Y%m%d")
            out.append(day + dt.timedelta(seconds=round((v - int(v)) * 86400)))
        return out
    if " since " not in units:
        raise SourceFileError(f"{path}: its time variable {var.name!r} has units {units!r}; a time coordinate "
                              f"needs CF units '<unit> since <date>' (or ICON's 'day as %Y%m%d.%f')")
    import cftime

    try:
        times = cftime.num2date(values, units, calendar=str(var.attrs.get("calendar", "standard")),
                                only_use_cftime_datetimes=False, only_use_python_datetimes=True)
    except (ValueError, TypeError) as err:
        raise SourceFileError(f"{path}: its time variable {var.name!r} cannot be read as dates ({err}); use a "
                              f"real calendar (standard, gregorian, proleptic_gregorian)") from None
    return [(t + dt.timedelta(microseconds=500000)).replace(microsecond=0, tzinfo=None) for t in times]


def _regularised(v: np.ndarray) -> np.ndarray:
    """``v`` with each run of evenly spaced values (split where the spacing
    jumps, e.g. the gap of a regional 0..360 grid moved to -180..180)
    replaced by the least-squares regular line through it, where no value
    is more than :data:`REGULAR_TOLERANCE` cells from it: coordinates
    stored in float32 (1e-5 degree steps near 360) become one exact lattice."""
    if v.size < 3:
        return v
    d = np.diff(v)
    step = np.median(d)
    cuts = np.flatnonzero(np.abs(d - step) > REGULAR_TOLERANCE * abs(step)) + 1
    out = v.copy()
    for seg in np.split(np.arange(v.size), cuts):
        if seg.size >= 3:
            i = np.arange(seg.size, dtype=np.float64)
            slope, icpt = np.polyfit(i, v[seg], 1)
            fit = icpt + slope * i
            if np.max(np.abs(fit - v[seg])) <= REGULAR_TOLERANCE * abs(slope):
                out[seg] = fit
    return out


@dataclass
class Axis:
    """One horizontal axis of a gridded file, in the order composites use
    (x west to east / increasing, y north to south / decreasing): ``values``
    (grid coordinates, float64), ``source`` (each value's index along the
    file's dimension ``dim``)."""

    dim: str
    values: np.ndarray
    source: np.ndarray

    @classmethod
    def normalised(cls, dim: str, values: np.ndarray, descending: bool, wrap: bool, what: str, path: Path) -> "Axis":
        v = np.asarray(values, np.float64)
        if wrap:
            v = (v + 180.0) % 360.0 - 180.0
        order = np.argsort(v, kind="stable")
        keep = np.concatenate([[True], np.diff(v[order]) > 0])  # a 360 that repeats 0: dropped
        order = order[keep]
        if not wrap and (keep.size != v.size or not (np.all(np.diff(v) > 0) or np.all(np.diff(v) < 0))):
            raise SourceFileError(f"{path}: its {what} coordinate {dim!r} is not strictly monotonic; a gridded "
                                  f"field needs a regular grid")
        if descending:
            order = order[::-1]
        return cls(dim, _regularised(v[order]), order)

    def fractional(self, v: np.ndarray) -> np.ndarray:
        """Fractional indices of coordinates ``v`` (NaN outside the axis)."""
        n = self.values.size
        if self.values[0] < self.values[-1]:
            return np.interp(v, self.values, np.arange(n), left=np.nan, right=np.nan)
        return n - 1 - np.interp(v, self.values[::-1], np.arange(n), left=np.nan, right=np.nan)

    def spacing(self) -> float:
        """The typical (median) spacing, in the axis's units (> 0)."""
        return float(np.median(np.abs(np.diff(self.values)))) if self.values.size > 1 else math.nan


@dataclass
class GriddedFile:
    """What :func:`read_header` learns from a gridded file's metadata."""

    path: Path
    grid: Any
    x: Axis
    y: Axis
    times: list
    time_dim: str | None
    #: ``{variable: {"dims", "units", "long_name", "extra": {dim: size}}}`` of the variables on the grid
    fields: dict
    platform: str
    product: str
    degrees: bool = field(default=False)

    def describe_fields(self) -> str:
        plain = [n for n, f in self.fields.items() if not f["extra"]]
        more = [f"{n} ({', '.join(f'{d}={s}' for d, s in f['extra'].items())})" for n, f in self.fields.items()
                if f["extra"]]
        text = ", ".join(plain) or "none"
        return text + (f"; with more dimensions (select one level first): {', '.join(more)}" if more else "")

    def spacing_km(self) -> tuple[float, float]:
        """``(dx, dy)``: the grid spacing in km (degrees count :data:`KM_PER_DEGREE`)."""
        k = KM_PER_DEGREE if self.degrees else 1e-3
        return self.x.spacing() * k, self.y.spacing() * k

    def time_index(self, start: dt.datetime) -> int:
        for i, t in enumerate(self.times):
            if abs((t - start).total_seconds()) < 1:
                return i
        raise SceneMismatchError(f"{self.path}: holds no time step at {start:%Y-%m-%dT%H:%M:%S} (it has "
                                 f"{', '.join(f'{t:%Y-%m-%dT%H:%M:%S}' for t in self.times[:5])}"
                                 f"{' ...' if len(self.times) > 5 else ''})")

    def extent(self) -> tuple[float, float, float, float]:
        """``(lon_min, lat_min, lon_max, lat_max)`` of the cell centres, degrees."""
        if isinstance(self.grid, LatLonGrid):
            return (float(self.x.values.min()), float(self.y.values.min()), float(self.x.values.max()),
                    float(self.y.values.max()))
        xs, ys = self.x.values, self.y.values
        ex = np.concatenate([xs, xs, np.full(ys.size, xs[0]), np.full(ys.size, xs[-1])])
        ey = np.concatenate([np.full(xs.size, ys[0]), np.full(xs.size, ys[-1]), ys, ys])
        lat, lon = self.grid.xy_to_latlon(ex, ey)
        with np.errstate(invalid="ignore"):
            return float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)), float(np.nanmax(lat))


def _grid_of(ds, path: Path, kinds: dict) -> tuple[Any, Axis, Axis, bool]:
    """The grid and its two axes from a dataset's coordinates and grid mapping."""
    mapping = None
    for name in ds.data_vars:
        gm = str(ds[name].attrs.get("grid_mapping", "")).split(":")[0].strip()
        if gm and gm in ds.variables:
            mapping = gm
            break
    grid = None
    if mapping is not None:
        try:
            grid = grid_from_cf(mapping, ds[mapping].attrs, path)
        except GridError as err:
            raise SourceFileError(str(err)) from None
    one_d = {k: [n for n, kk in kinds.items() if kk == k and ds[n].ndim == 1] for k in ("lat", "lon", "x", "y")}
    if grid is not None and not isinstance(grid, LatLonGrid):
        if not (one_d["x"] and one_d["y"]):
            raise SourceFileError(f"{path}: has the grid mapping {mapping!r} but no 1-D x/y projection coordinates "
                                  f"(standard_name projection_x_coordinate/projection_y_coordinate or axis X/Y); "
                                  f"a gridded file needs {_NEEDS}")
        xv, yv = ds[one_d["x"][0]], ds[one_d["y"][0]]
        if isinstance(grid, FixedGrid):
            scale = 1.0 if str(xv.attrs.get("units", "m")).startswith("rad") else 1.0 / grid.perspective_point_height
        else:
            scale = 1e3 if str(xv.attrs.get("units", "m")).strip().lower() in ("km", "kilometre", "kilometer") else 1.0
        x = Axis.normalised(xv.dims[0], np.asarray(xv.values, np.float64) * scale, False, False, "x", path)
        y = Axis.normalised(yv.dims[0], np.asarray(yv.values, np.float64) * scale, True, False, "y", path)
        return grid, x, y, isinstance(grid, ProjectedGrid) and grid.rotated
    if one_d["lat"] and one_d["lon"]:
        lat, lon = ds[one_d["lat"][0]], ds[one_d["lon"][0]]
        if lat.dims == lon.dims:
            raise SourceFileError(f"{path}: latitude and longitude share the dimension {lat.dims[0]!r}: an "
                                  f"unstructured grid (e.g. ICON's native triangles), which the gridded source "
                                  f"cannot read; remap it to a regular lat/lon grid first (e.g. cdo remapcon)")
        x = Axis.normalised(lon.dims[0], _degrees(lon), False, True, "longitude", path)
        y = Axis.normalised(lat.dims[0], _degrees(lat), True, False, "latitude", path)
        return grid or LatLonGrid(), x, y, True
    if any(ds[n].ndim == 2 for n, k in kinds.items() if k in ("lat", "lon")):
        raise SourceFileError(f"{path}: its latitude/longitude are 2-D (a curvilinear grid) and no grid_mapping "
                              f"says its projection; the gridded source needs {_NEEDS}: regrid it first (e.g. "
                              f"xESMF, cdo remapbil)")
    raise SourceFileError(f"{path}: has no grid the gridded source can read: it needs {_NEEDS}")


def _times_of(ds, path: Path) -> tuple[list, str | None]:
    for name in ds.variables:
        v = ds[name]
        a = v.attrs
        if (str(a.get("standard_name", "")).lower() == "time" or str(a.get("axis", "")).upper() == "T"
                or str(name).lower() in ("time", "t", "valid_time")) and v.ndim <= 1:
            return _decode_times(v, path), (v.dims[0] if v.ndim == 1 else None)
    start = ds.attrs.get("time_coverage_start")
    if start:
        try:
            t = dt.datetime.fromisoformat(str(start).strip().rstrip("Z"))
        except ValueError:
            raise SourceFileError(f"{path}: time_coverage_start {start!r} is not an ISO 8601 time") from None
        return [t.replace(tzinfo=None, microsecond=0)], None
    raise SourceFileError(f"{path}: has no time: a gridded file needs a time coordinate (CF units '<unit> since "
                          f"<date>') or a time_coverage_start attribute")


def _header(path: Path) -> GriddedFile:
    ds = open_dataset(path)
    try:
        if GOES_PROJECTION_VARIABLE in ds.variables or "composite_variable" in ds.attrs:
            what = "a convml_tt composite" if "composite_variable" in ds.attrs else \
                f"on the GOES ABI fixed grid ({GOES_PROJECTION_VARIABLE})"
            raise SourceFileError(f"{path}: {what}, not a gridded field of model output (ABI files are read "
                                  f"by the goes_abi source; composite the original files)")
        kinds = {n: _kind(ds[n]) for n in ds.variables}
        grid, x, y, degrees = _grid_of(ds, path, kinds)
        times, time_dim = _times_of(ds, path)
        skip = {str(ds[n].attrs["bounds"]) for n in ds.variables if "bounds" in ds[n].attrs}
        fields = {}
        for name, v in ds.data_vars.items():
            if name in skip or x.dim not in v.dims or y.dim not in v.dims or kinds.get(name):
                continue
            extra = {d: int(s) for d, s in zip(v.dims, v.shape) if d not in (x.dim, y.dim, time_dim) and s > 1}
            fields[str(name)] = {"dims": tuple(map(str, v.dims)), "units": str(v.attrs.get("units", "1")),
                                 "long_name": str(v.attrs.get("long_name", name)), "extra": extra}
        if not fields:
            raise SourceFileError(f"{path}: no data variable on the grid's dimensions ({y.dim}, {x.dim})")
        platform = next((_slug(ds.attrs[a]) for a in PLATFORM_ATTRS if _slug(ds.attrs.get(a, ""))), "gridded")
        product = next((_slug(ds.attrs[a]) for a in ("experiment_id", "experiment") if _slug(ds.attrs.get(a, ""))),
                       "gridded")
        return GriddedFile(path, grid, x, y, times, time_dim, fields, platform, product, degrees)
    finally:
        ds.close()


_HEADERS: "OrderedDict[tuple, GriddedFile]" = OrderedDict()


def read_header(path: str | os.PathLike) -> GriddedFile:
    """The :class:`GriddedFile` of ``path`` (kept per process while the file is
    unchanged); :class:`SourceFileError` naming the file and what it needs."""
    path = Path(path)
    try:
        st = (path / ".zmetadata" if (path / ".zmetadata").exists() else path).stat()
    except OSError as err:
        raise SourceFileError(f"{path}: cannot be read ({err.strerror or err})") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    found = _HEADERS.get(key)
    if found is None:
        found = _HEADERS[key] = _header(path)
        while len(_HEADERS) > 64:
            _HEADERS.popitem(last=False)
    return found
