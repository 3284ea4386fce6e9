"""ERA5 files written in the Copernicus Climate Data Store's exact layouts.

:func:`write_cds` writes one file the way the CDS delivers it:

* ``layout="new"`` (CDS since 2024): netCDF4, dimensions ``valid_time``
  (int64 seconds since 1970-01-01), ``pressure_level`` (hPa, decreasing),
  ``latitude`` (90 -> -90), ``longitude`` (0..360), scalar ``number`` and
  ``expver(valid_time)`` coordinates, float32 variables with NaN fill;
* ``layout="old"`` (grib_to_netcdf, before 2024): dimensions ``time`` (int32
  hours since 1900-01-01), ``level`` (int32 millibars), ``latitude``,
  ``longitude``, int16 variables packed with ``scale_factor``/``add_offset``
  and ``_FillValue``/``missing_value`` -32767.

``ascending=True`` writes the same values with -180..180 longitudes and
ascending latitudes (not a CDS layout: a reference for equivalence tests).
Used by the synthetic environment (:mod:`.environment`) and the tests.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import netCDF4
import numpy as np

from ..._io import atomic_path

__all__ = ["write_cds", "ERA5_META", "T0"]

#: default first field time
T0 = np.datetime64("2020-02-01T00:00", "s")

#: ERA5 short name -> (units, long_name, standard_name) as the CDS writes them
ERA5_META = {
    "t2m": ("K", "2 metre temperature", None), "d2m": ("K", "2 metre dewpoint temperature", None),
    "sp": ("Pa", "Surface pressure", "surface_air_pressure"), "u10": ("m s**-1", "10 metre U wind component", None),
    "v10": ("m s**-1", "10 metre V wind component", None), "sst": ("K", "Sea surface temperature", None),
    "t": ("K", "Temperature", "air_temperature"), "r": ("%", "Relative humidity", "relative_humidity"),
    "w": ("Pa s**-1", "Vertical velocity", "lagrangian_tendency_of_air_pressure"),
    "u": ("m s**-1", "U component of wind", "eastward_wind"), "v": ("m s**-1", "V component of wind",
                                                                    "northward_wind"),
}


def write_cds(path: Path, variables: dict[str, np.ndarray], hours, lat, lon, levels=None, layout="new",
              ascending=False, units: dict[str, str] | None = None, t0: np.datetime64 = T0) -> Path:
    """One CDS file at ``path``: ``variables`` ``{short name: (time, [level,] lat, lon)}``
    (ERA5 units; names in :data:`ERA5_META`) on ascending ``lat``/``lon``
    (degrees, -180..180) at ``hours`` after ``t0``, ``levels`` hPa (None:
    a single-levels file), written in ``layout`` (``"new"`` or ``"old"``);
    ``units``: units attributes to write instead of ERA5's (tests of
    refusals). Written atomically."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    if ascending:
        ilat, ilon, flat, flon = np.arange(lat.size), np.arange(lon.size), lat, lon
    else:
        ilat = np.arange(lat.size)[::-1]
        lon360 = lon % 360.0
        ilon = np.argsort(lon360, kind="stable")
        flat, flon = lat[ilat], lon360[ilon]
    new = layout == "new"
    tdim, ldim = ("valid_time", "pressure_level") if new else ("time", "level")
    fmt = "NETCDF4" if new else "NETCDF3_64BIT_OFFSET"
    with atomic_path(Path(path)) as tmp, netCDF4.Dataset(tmp, "w", format=fmt) as nc:
        nc.createDimension(tdim, None if not new else len(hours))
        if levels is not None:
            nc.createDimension(ldim, len(levels))
        nc.createDimension("latitude", lat.size)
        nc.createDimension("longitude", lon.size)
        if new:
            nc.GRIB_centre, nc.Conventions = "ecmf", "CF-1.7"
            nc.institution = "European Centre for Medium-Range Weather Forecasts"
            v = nc.createVariable("number", "i8")
            v.long_name, v.units, v.standard_name = "ensemble member numerical id", "1", "realization"
            v.assignValue(0)
            v = nc.createVariable("valid_time", "i8", (tdim,))
            v.long_name, v.standard_name, v.units, v.calendar = ("time", "time", "seconds since 1970-01-01",
                                                                 "proleptic_gregorian")
            v[:] = (np.datetime64(t0, "s").astype("int64") + np.asarray(hours, np.int64) * 3600)
        else:
            nc.Conventions = "CF-1.6"
            nc.history = f"{dt.datetime(2021, 3, 1):%Y-%m-%d %H:%M:%S} GMT by grib_to_netcdf-2.16.0"
            v = nc.createVariable("time", "i4", (tdim,))
            v.units, v.long_name, v.calendar = "hours since 1900-01-01 00:00:00.0", "time", "gregorian"
            base = (np.datetime64(t0, "s") - np.datetime64("1900-01-01T00:00", "s")).astype("int64") // 3600
            v[:] = base + np.asarray(hours, np.int64)
        if levels is not None:
            v = nc.createVariable(ldim, "f8" if new else "i4", (ldim,))
            v.units = "hPa" if new else "millibars"
            v.long_name = "pressure" if new else "pressure_level"
            if new:
                v.standard_name, v.positive, v.stored_direction = "air_pressure", "down", "decreasing"
            v[:] = np.asarray(levels)
        for name, values, units_ in (("latitude", flat, "degrees_north"), ("longitude", flon, "degrees_east")):
            v = nc.createVariable(name, "f8" if new else "f4", (name,))
            v.units, v.long_name = units_, name
            if new:
                v.standard_name, v.stored_direction = name, ("decreasing" if name == "latitude" and not ascending
                                                             else "increasing")
            v[:] = values
        if new:
            v = nc.createVariable("expver", str, (tdim,))
            v.long_name = "expver"
            for k in range(len(hours)):
                v[k] = "0001"
        dims = (tdim,) + ((ldim,) if levels is not None else ()) + ("latitude", "longitude")
        for name, data in variables.items():
            data = np.asarray(data, float)[..., ilat, :][..., ilon]
            u, long_name, standard = ERA5_META[name]
            if units and name in units:
                u = units[name]
            if new:
                v = nc.createVariable(name, "f4", dims, fill_value=np.float32(np.nan), zlib=True)
                v.coordinates = "number expver" if levels is None else "number"
                v[:] = data.astype(np.float32)
            else:
                lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
                scale = (hi - lo) / (2**16 - 4) or 1.0  # the extremes pack to +-32766, never the fill value
                offset = (hi + lo) / 2
                v = nc.createVariable(name, "i2", dims, fill_value=np.int16(-32767))
                v.scale_factor, v.add_offset, v.missing_value = scale, offset, np.int16(-32767)
                v.set_auto_maskandscale(False)
                packed = np.round((data - offset) / scale)
                v[:] = np.where(np.isfinite(packed), packed, -32767).astype(np.int16)
            v.units, v.long_name = u, long_name
            if standard:
                v.standard_name = standard
    return path
