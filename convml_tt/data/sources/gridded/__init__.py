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

The metadata of a file (grid, axes, times, variables) is read by
:mod:`~convml_tt.data.sources.gridded.header`; this module is the source,
its band table and its windows.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...geometry.grids import LatLonGrid, OffDiskError, check_bbox
from ..base import (Band, BandTable, Quality, Scene, SceneFile, SceneMismatchError, Source, SourceFileError,
                    UnknownBandError, Window, checked_quality)
from .header import NETCDF_SUFFIXES, REGULAR_TOLERANCE, GriddedFile, is_zarr, open_dataset, read_header

__all__ = ["GriddedSource", "GriddedWindow", "GriddedFile", "FieldTable", "read_header", "NETCDF_SUFFIXES"]

#: how far (relative) ``resolution_km`` may be from a whole multiple of the grid spacing
RESOLUTION_TOLERANCE = 0.1


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
        if path.name.startswith("OR_ABI-") or not (path.suffix.lower() in NETCDF_SUFFIXES or is_zarr(path)):
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
        if not (path.suffix.lower() in NETCDF_SUFFIXES or is_zarr(path)):
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
            self._open[path] = open_dataset(path)
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
