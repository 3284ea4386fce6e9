"""ERA5 files read as their producers deliver them.

* **CDS netCDF** (``reanalysis-era5-single-levels`` and
  ``reanalysis-era5-pressure-levels``): the current layout (since 2024)
  with dimensions ``valid_time``, ``pressure_level``, ``latitude``,
  ``longitude`` (and ``number``/``expver`` coordinates), and the older one
  with ``time`` and ``level``. Longitudes 0..360, latitudes descending
  (90 -> -90); variables by their short names (``t``, ``r``, ``u``, ``v``,
  ``w``, ``z``, ``q`` on pressure levels; ``t2m``, ``d2m``, ``u10``,
  ``v10``, ``sst``, ``sp`` on single levels), often packed as int16 with
  ``scale_factor``/``add_offset`` (as the CDS delivered netCDF for years;
  unpacked on reading).
* **ARCO-ERA5** (Google's analysis-ready zarr stores,
  ``gs://gcp-public-data-arco-era5/ar/...``): dimensions ``time``,
  ``level``, ``latitude``, ``longitude`` and variables by their long names
  (``temperature``, ``2m_temperature``, ...), mapped to the short names
  (:data:`ARCO_NAMES`).

:func:`open_era5` returns one :class:`xarray.Dataset` whatever the layout:
dimensions ``time``, ``level`` (hPa, where there are pressure levels),
``latitude`` ascending and ``longitude`` in [-180, 180) ascending, the
variables under their short names, lazily read (a tile's window is read
when it is asked for).
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import xarray as xr

__all__ = ["open_era5", "expand_paths", "ARCO_NAMES", "WIND_UNITS", "check_wind_units"]

#: ARCO-ERA5 long variable names -> the CDS short names
ARCO_NAMES = {
    "temperature": "t", "relative_humidity": "r", "specific_humidity": "q", "geopotential": "z",
    "u_component_of_wind": "u", "v_component_of_wind": "v", "vertical_velocity": "w",
    "2m_temperature": "t2m", "2m_dewpoint_temperature": "d2m", "10m_u_component_of_wind": "u10",
    "10m_v_component_of_wind": "v10", "sea_surface_temperature": "sst", "surface_pressure": "sp",
}
_RENAME = {"valid_time": "time", "pressure_level": "level", "lat": "latitude", "lon": "longitude",
           "isobaricInhPa": "level"}
#: units attributes accepted for a wind component (m/s)
WIND_UNITS = ("m s**-1", "m s-1", "m/s", "m s^-1", "meter second-1", "metres per second", "m.s-1")
#: wind variables whose units are checked
WIND_VARIABLES = ("u", "v", "u10", "v10")


def expand_paths(files: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Files from a glob pattern, a path or several of them (sorted, each
    pattern matching at least one file; ``FileNotFoundError`` otherwise)."""
    items = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    out: list[Path] = []
    for item in items:
        text = os.fspath(item)
        found = sorted(glob.glob(text)) if glob.has_magic(text) else ([text] if os.path.exists(text) else [])
        if not found:
            raise FileNotFoundError(f"environment field files {text!r}: no such file (give netCDF files from the "
                                    f"CDS or an ARCO-ERA5 zarr store, e.g. --env-files 'era5/*.nc')")
        out += [Path(p) for p in found]
    return sorted(set(out))


def check_wind_units(ds: xr.Dataset, path: str) -> None:
    """``ValueError`` naming the variable, its units and the file when a
    wind component's ``units`` attribute is not metres per second."""
    for name in WIND_VARIABLES:
        if name in ds.variables:
            units = str(ds[name].attrs.get("units", "m s**-1")).strip()
            if units not in WIND_UNITS:
                raise ValueError(f"{path}: wind {name!r} has units {units!r}; expected metres per second "
                                 f"('m s**-1', as ERA5 delivers it); convert it or give ERA5's own file")


def _normalise(ds: xr.Dataset, path: str) -> xr.Dataset:
    ds = ds.rename({k: v for k, v in _RENAME.items() if k in ds.dims or k in ds.variables})
    ds = ds.rename({k: v for k, v in ARCO_NAMES.items() if k in ds.data_vars})
    for extra in ("number", "expver"):
        if extra in ds.variables and extra not in ds.dims:
            ds = ds.drop_vars(extra)
    for need in ("time", "latitude", "longitude"):
        if need not in ds.dims:
            raise ValueError(f"{path}: not an ERA5 field file: no {need!r} dimension (dimensions: "
                             f"{', '.join(map(str, ds.dims)) or 'none'}); expected valid_time/time, latitude, "
                             f"longitude as the CDS or ARCO-ERA5 deliver them")
    check_wind_units(ds, path)
    lon = ((ds["longitude"].values + 180.0) % 360.0) - 180.0
    ds = ds.assign_coords(longitude=lon).sortby("longitude").sortby("latitude")
    if "level" in ds.dims:
        ds = ds.assign_coords(level=ds["level"].values.astype(float))
    return ds


#: the open files, one handle per (path, modification time, size) in this process (see :func:`_open_shared`)
_OPEN: dict[tuple, xr.Dataset] = {}
_OPEN_MAX = 64


def _open_shared(p: Path) -> xr.Dataset:
    """``p`` opened once per process and version of the file, the handle shared by every caller.

    Each ``xarray.open_dataset`` makes its own netCDF-4 handle, and HDF5 can
    crash the process (a segmentation fault on the next open) when one of
    several handles of the same file is closed while the others stay open
    (xarray issue 8289, satpy PR 3460): an :class:`Environment` kept in a
    notebook while a map or plot opens and drops its own did that here. A
    file changed on disk gets a new handle; beyond :data:`_OPEN_MAX` files the
    longest unused is dropped (it is then the only handle of its file)."""
    try:
        st = p.stat()
    except OSError as err:
        raise ValueError(f"{p}: cannot be read as an ERA5 netCDF file or zarr store ({err})") from None
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key in _OPEN:
        _OPEN[key] = _OPEN.pop(key)  # most recently used last
        return _OPEN[key]
    try:
        ds = xr.open_zarr(p) if p.suffix == ".zarr" or p.is_dir() else xr.open_dataset(p)
    except (OSError, ValueError) as err:
        raise ValueError(f"{p}: cannot be read as an ERA5 netCDF file or zarr store ({err})") from None
    _OPEN[key] = ds
    while len(_OPEN) > _OPEN_MAX:
        _OPEN.pop(next(iter(_OPEN)))
    return ds


def open_era5(files: str | os.PathLike | Sequence[str | os.PathLike]) -> xr.Dataset:
    """One dataset of the ERA5 files ``files`` (paths, glob patterns; netCDF
    files or ``.zarr`` stores; single and pressure levels merged), in the
    normalised layout of the module docstring. Files of the same variables
    at other times are concatenated along ``time``.

    Raises
    ------
    FileNotFoundError, ValueError
        missing files; a file that is not an ERA5 layout (naming it and its
        dimensions); a wind in other units than m/s (naming the units).
    """
    parts, paths = [], expand_paths(files)
    for p in paths:
        parts.append(_normalise(_open_shared(p), str(p)))
    groups: dict[tuple, list[xr.Dataset]] = {}
    for ds in parts:
        groups.setdefault(tuple(sorted(ds.data_vars)), []).append(ds)
    merged = [xr.concat(g, "time").sortby("time") if len(g) > 1 else g[0] for g in groups.values()]
    out = xr.merge(merged, join="outer", compat="override", combine_attrs="drop_conflicts") if len(merged) > 1 \
        else merged[0]
    out.attrs["source_files"] = ", ".join(str(p) for p in paths)
    return out
