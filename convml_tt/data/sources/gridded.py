"""Gridded fields as a source: model output (LES, ICON, ...) and reanalysis.

Files: CF netCDF (``.nc``, ``.nc4``, ``.netcdf``, ``.cdf``) or zarr stores
(``.zarr`` folders), in any folder layout, as their producers write them.

The grid (:mod:`convml_tt.data.geometry.grids`), from the file's CF metadata:

- 1-D latitude and longitude coordinates (``standard_name`` latitude /
  longitude, units ``degrees_north`` / ``degrees_east``, or the names
  ``lat``/``latitude``/``lon``/``longitude``) on two dimensions: a
  :class:`~convml_tt.data.geometry.grids.LatLonGrid` (WGS84, or the
  ellipsoid of a ``latitude_longitude`` grid mapping). Longitudes in
  0..360 become -180..180 (columns reordered west to east, a duplicate 360
  dropped); ascending latitudes are flipped, so row 0 is north, as every
  composite has it.
- a grid mapping variable (named by a data variable's ``grid_mapping``; with
  ``crs_wkt`` or the CF projection attributes) with 1-D projection ``x``/``y``
  coordinates (``standard_name`` projection_x/y_coordinate or ``axis``
  X/Y; units m or km): a :class:`~convml_tt.data.geometry.grids.ProjectedGrid`
  (rotated-pole grids: rotated degrees), or a fixed grid for a
  ``geostationary`` mapping.

Refused with one line naming the file: 2-D lat/lon without a grid mapping (a
curvilinear grid: regrid it first), lat/lon on one shared dimension (an
unstructured grid such as ICON's native triangles: remap it first), neither
lat/lon nor a grid mapping, no time.

Bands: every data variable on the grid's two dimensions is a band (:class:`~convml_tt.data.sources.base.Band`
of kind ``field``, units from its ``units`` attribute), read with the CF
packing and fill values applied (and ``valid_range``/``valid_min``/``valid_max``
as NaN); other dimensions of size 1 are dropped, larger ones (levels) are
refused naming them. The gridded "band table" is therefore any variable
name (:class:`FieldTable`); a scene's files say which exist.

Scenes: a file with a time dimension (CF units ``<unit> since <date>``, any
calendar with real dates, or ICON's ``day as %Y%m%d.%f``) holds one scene per
time step (:attr:`SceneFile.times <convml_tt.data.sources.base.SceneFile.times>`,
which :func:`~convml_tt.data.sources.base.group_scenes` expands); a scalar time
coordinate or the ``time_coverage_start`` attribute gives one scene. Files of
one run and time (e.g. ``lwp.nc`` and ``iwp.nc``) make one scene. Platform:
the global attribute ``platform``, ``source_id`` or ``model`` (lower case,
e.g. ``icon-lam``), else ``gridded``; product: ``experiment_id`` /
``experiment``, else ``gridded``; sector ``""``.

Resolution: the window keeps the grid's own spacing, or block means of
``p x p`` cells when ``resolution_km`` is (within 10 %) a whole multiple
``p`` of the spacing in km (a degree counts :data:`~convml_tt.data.geometry.grids.KM_PER_DEGREE`
km, 111.2 km, in both directions); a ``resolution_km`` at or below the
spacing gives the grid's own spacing (fields are never upsampled: tiles
interpolate); any other value is refused, naming the spacing. The quality
policy does not apply: a model field has no flagged pixels.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..geometry.grids import (
    GOES_PROJECTION_VARIABLE,
    KM_PER_DEGREE,
    FixedGrid,
    GridError,
    LatLonGrid,
    OffDiskError,
    ProjectedGrid,
    check_bbox,
    grid_from_cf,
)
from .base import (Band, BandTable, Quality, Scene, SceneFile, SceneMismatchError, Source, SourceFileError,
                   UnknownBandError, Window, checked_quality)

__all__ = ["GriddedSource", "GriddedWindow", "GriddedFile", "FieldTable", "read_header", "NETCDF_SUFFIXES"]

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
#: global attributes that name the platform, in order of preference
PLATFORM_ATTRS = ("platform", "source_id", "model")
#: how far (relative) ``resolution_km`` may be from a whole multiple of the grid spacing
RESOLUTION_TOLERANCE = 0.1
#: how far (in cells) a coordinate may be from the regular spacing fitted through a window's ends
REGULAR_TOLERANCE = 0.05
_LAT_UNITS = {"degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"}
_LON_UNITS = {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"}
_X_NAMES = {"projection_x_coordinate", "grid_longitude", "projection_x_angular_coordinate"}
_Y_NAMES = {"projection_y_coordinate", "grid_latitude", "projection_y_angular_coordinate"}
_NEEDS = ("1-D latitude/longitude coordinates (units degrees_north/degrees_east) or a grid_mapping variable "
          "(crs_wkt or the CF projection attributes) with 1-D x/y projection coordinates")


def _is_zarr(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" and path.is_dir()


def _open(path: Path):
    import xarray as xr

    kw = dict(decode_times=False, decode_timedelta=False)
    try:
        if _is_zarr(path):
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
    ds = _open(path)
    try:
        if GOES_PROJECTION_VARIABLE in ds.variables or "composite_variable" in ds.attrs:
            raise SourceFileError(f"{path}: a GOES ABI file or a convml_tt composite, not a gridded field "
                                  f"(use the goes_abi source, or composite the original files)")
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


class FieldTable(BandTable):
    """The gridded band table: any variable name is a band (of kind
    ``field``); the files of a scene say which exist
    (:meth:`GriddedSource.band_table` with a scene lists them)."""

    def __init__(self, bands=()):
        super().__init__("gridded", bands)

    def find(self, key: Any) -> Band | None:
        found = super().find(key)
        if found is None and isinstance(key, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.+-]*", key.strip()):
            found = Band(key.strip(), None, "field", None, "")
        return found

    def describe(self) -> str:
        return super().describe() if self.bands else "any data variable of the file on its grid"


class GriddedSource(Source):
    """Model output and reanalysis on lat/lon or projected grids (CF netCDF, zarr)."""

    name = "gridded"
    sensor = "gridded"
    description = ("gridded fields (LES, ICON, reanalysis): CF netCDF or zarr on a lat/lon or projected grid, "
                   "a named variable as a band")
    patterns = tuple(f"*{s}" for s in NETCDF_SUFFIXES) + ("*.zarr",)

    def identify(self, path: Path) -> SceneFile | None:
        path = Path(path)
        if path.name.startswith("OR_ABI-") or not (path.suffix.lower() in NETCDF_SUFFIXES or _is_zarr(path)):
            return None
        try:
            h = read_header(path)
        except SourceFileError:
            return None
        return SceneFile(path, self.name, h.platform, h.product, "", h.times[0],
                         tuple(n for n, f in h.fields.items() if not f["extra"]), times=tuple(h.times))

    def explain(self, path: Path) -> str:
        """Why :meth:`identify` does not take the netCDF file or zarr store
        ``path`` (one line naming it and what it needs), or ``""`` when it
        does or ``path`` is neither (the description says what is read)."""
        path = Path(path)
        if not (path.suffix.lower() in NETCDF_SUFFIXES or _is_zarr(path)):
            return ""
        try:
            read_header(path)
        except SourceFileError as err:
            return str(err)
        return ""

    def band_table(self, platform: str | None = None, scene: Scene | None = None) -> BandTable:
        """Without ``scene``: a :class:`FieldTable` taking any variable name;
        with one: the variables of its files (units from the files)."""
        if scene is None:
            return FieldTable()
        bands = {}
        for p in scene.paths():
            h = read_header(p)
            for n, f in h.fields.items():
                dx, dy = h.spacing_km()
                bands.setdefault(n, Band(n, None, "field", round(max(dx, dy), 6), f["units"], None, f["long_name"]))
        return BandTable("gridded", bands.values())

    def open_window(self, scene: Scene, bands: Sequence, domain: Sequence[float], resolution_km: float | None,
                    margin: int = 2, quality: Quality = "keep-saturated") -> "GriddedWindow":
        checked_quality(quality)
        return GriddedWindow(scene, list(bands), domain, resolution_km, margin)


def _block_factor(resolution_km: float | None, spacing_km: float, what: str) -> int:
    if resolution_km is None:
        return 1
    if not (isinstance(resolution_km, (int, float, np.floating)) and resolution_km > 0):
        raise ValueError(f"resolution_km={resolution_km!r} must be a positive number of km (or None: the grid's own "
                         f"spacing)")
    ratio = float(resolution_km) / spacing_km
    if ratio <= 1 + RESOLUTION_TOLERANCE:
        return 1
    p = round(ratio)
    if abs(ratio / p - 1) > RESOLUTION_TOLERANCE:
        raise ValueError(
            f"{what}: resolution_km={resolution_km:g} is not a whole multiple of the grid spacing "
            f"({spacing_km:.4g} km): use the spacing itself or a multiple of it, e.g. "
            f"{', '.join(f'{k * spacing_km:.4g}' for k in (1, 2, 3, 4))} km (block means of k x k cells)")
    return int(p)


def _regular(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` (a copy) when they are regularly spaced (none further than
    :data:`REGULAR_TOLERANCE` cells from the line through the ends); ValueError
    otherwise (a gap in the longitudes, a stretched grid)."""
    n = values.size
    if n > 2:
        d = (values[-1] - values[0]) / (n - 1)
        worst = float(np.max(np.abs(values - (values[0] + d * np.arange(n)))) / abs(d))
        if worst > REGULAR_TOLERANCE:
            raise ValueError(f"{what} is not regularly spaced over the domain (a value is {worst:.2f} cells off "
                             f"the regular spacing {d:g}: a gap in the longitudes, or a stretched grid)")
    return values.copy()


class GriddedWindow(Window):
    """A window of a gridded scene over a domain (see the module docstring);
    ``pixel_km``: ``(dx, dy)`` of its cells in km."""

    def __init__(self, scene: Scene, bands: list, domain: Sequence[float], resolution_km: float | None, margin: int):
        domain = check_bbox(domain)
        self.scene, self.flagged, self._open = scene, {}, {}
        self.files = {b: Path(self._file_of(scene, b)) for b in bands}
        self.headers = {b: read_header(p) for b, p in self.files.items()}
        h = self.headers[bands[0]]
        for b, hb in self.headers.items():
            f = hb.fields.get(b)
            if f is None:
                raise UnknownBandError(f"{hb.path.name} has no variable {b!r} on its grid; its variables are "
                                       f"{hb.describe_fields()}")
            if f["extra"]:
                raise ValueError(f"{hb.path.name}: variable {b!r} has dimensions {f['dims']}; a band must be 2-D "
                                 f"per time step: select one {', '.join(f['extra'])} first (e.g. xarray .isel) or "
                                 f"use a 2-D field")
            if hb.grid != h.grid or not (np.array_equal(hb.x.values, h.x.values)
                                         and np.array_equal(hb.y.values, h.y.values)):
                raise SceneMismatchError(f"{hb.path.name} and {h.path.name} are on different grids; the bands of "
                                         f"one scene must share one grid")
        self.grid = h.grid
        self.time_index = {b: hb.time_index(scene.start) if hb.time_dim else None for b, hb in self.headers.items()}
        rows, cols = self._window(h, domain, margin)
        dx_km, dy_km = h.spacing_km()
        px = _block_factor(resolution_km, dx_km, f"{h.path.name} (x)")
        py = _block_factor(resolution_km, dy_km, f"{h.path.name} (y)")
        self.rows, self.cols, self.block = _aligned(rows, py, h.y.values.size), _aligned(cols, px, h.x.values.size), (py, px)
        self.pixel_km = (dx_km * px, dy_km * py)
        xs = _regular(h.x.values[self.cols], f"{h.path.name}: x")
        ys = _regular(h.y.values[self.rows], f"{h.path.name}: y")
        self.x = xs.reshape(-1, px).mean(axis=1)
        self.y = ys.reshape(-1, py).mean(axis=1)

    @staticmethod
    def _file_of(scene: Scene, band) -> Path:
        if band in scene.files:
            return scene.files[band]
        low = {str(k).lower(): k for k in scene.files}
        if str(band).lower() in low:
            return scene.files[low[str(band).lower()]]
        raise UnknownBandError(f"{scene.describe()} has no variable {band!r}; its variables are "
                               f"{', '.join(map(str, scene.files))}")

    @staticmethod
    def _window(h: GriddedFile, domain, margin: int) -> tuple[slice, slice]:
        lon_min, lat_min, lon_max, lat_max = domain
        lon, lat = np.meshgrid(np.linspace(lon_min, lon_max, 64), np.linspace(lat_min, lat_max, 64))
        gx, gy = h.grid.latlon_to_xy(lat.ravel(), lon.ravel())
        c, r = h.x.fractional(gx), h.y.fractional(gy)
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(r))):
            e = h.extent()
            raise OffDiskError(f"{h.path.name}: the domain {tuple(domain)} is not wholly inside its grid, which "
                               f"covers lon {e[0]:.4g} to {e[2]:.4g}, lat {e[1]:.4g} to {e[3]:.4g} (cell centres); "
                               f"choose a domain inside it")
        c0, c1 = max(int(np.floor(c.min())) - margin, 0), min(int(np.ceil(c.max())) + margin + 1, h.x.values.size)
        r0, r1 = max(int(np.floor(r.min())) - margin, 0), min(int(np.ceil(r.max())) + margin + 1, h.y.values.size)
        return slice(r0, r1), slice(c0, c1)

    def _dataset(self, path: Path):
        if path not in self._open:
            self._open[path] = _open(path)
        return self._open[path]

    def read(self, band, out: np.ndarray) -> np.ndarray:
        b = next((k for k in self.files if k == band or str(k).lower() == str(band).lower()), None)
        if b is None:
            raise UnknownBandError(f"this window was opened for {list(self.files)}, not {band!r}")
        h, path = self.headers[b], self.files[b]
        da = self._dataset(path)[b]
        sel = {d: 0 for d in da.dims if d not in (h.x.dim, h.y.dim, h.time_dim)}
        if self.time_index[b] is not None and h.time_dim in da.dims:
            sel[h.time_dim] = self.time_index[b]
        rows, cols = h.y.source[self.rows], h.x.source[self.cols]
        r0, c0 = int(rows.min()), int(cols.min())
        sub = da.isel(sel).isel({h.y.dim: slice(r0, int(rows.max()) + 1), h.x.dim: slice(c0, int(cols.max()) + 1)})
        values = np.asarray(sub.transpose(h.y.dim, h.x.dim).values, np.float32)[np.ix_(rows - r0, cols - c0)]
        lo, hi = _valid_range(da)
        with np.errstate(invalid="ignore"):
            values[(values < lo) | (values > hi)] = np.nan
        py, px = self.block
        ny, nx = values.shape[0] // py, values.shape[1] // px
        out[...] = values.reshape(ny, py, nx, px).mean(axis=(1, 3)) if (py, px) != (1, 1) else values
        return out

    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.grid, LatLonGrid):
            shape = self.shape
            return (np.broadcast_to(self.y[:, None], shape).astype(np.float32),
                    np.broadcast_to(self.x[None, :], shape).astype(np.float32))
        lat, lon = self.grid.xy_to_latlon(*np.meshgrid(self.x, self.y))
        return lat.astype(np.float32), lon.astype(np.float32)

    @property
    def grid_mapping(self) -> tuple[str, dict]:
        return self.grid.to_cf()

    @property
    def x_attrs(self) -> dict:
        return self.grid.coordinate_attrs()[0]

    @property
    def y_attrs(self) -> dict:
        return self.grid.coordinate_attrs()[1]

    def units(self, band) -> str:
        """The ``units`` attribute of ``band``'s variable."""
        return self.headers[band].fields[band]["units"]

    def close(self) -> None:
        for ds in self._open.values():
            ds.close()
        self._open = {}


def _aligned(sl: slice, p: int, n: int) -> slice:
    """``sl`` widened to whole blocks of ``p`` cells counted from index 0 (the
    last partial block at the axis's end dropped), so that windows of
    different domains share their blocks."""
    i0 = (sl.start // p) * p
    i1 = i0 + max(1, -(-(sl.stop - i0) // p)) * p
    while i1 > n:
        i1 -= p
    if i1 <= i0:
        raise ValueError("the domain is smaller than one block of cells at the chosen resolution")
    return slice(i0, i1)


def _valid_range(da) -> tuple[float, float]:
    """``(lo, hi)`` of the variable's valid range in its unpacked units (±inf when none)."""
    a = da.attrs
    lo, hi = -np.inf, np.inf
    if "valid_range" in a:
        lo, hi = (float(v) for v in np.asarray(a["valid_range"]).ravel()[:2])
    lo = float(a.get("valid_min", lo))
    hi = float(a.get("valid_max", hi))
    scale, offset = float(da.encoding.get("scale_factor", 1.0)), float(da.encoding.get("add_offset", 0.0))
    if ("scale_factor" in da.encoding or "add_offset" in da.encoding) and (np.isfinite(lo) or np.isfinite(hi)):
        lo, hi = sorted((lo * scale + offset, hi * scale + offset))
    return lo, hi
