"""CERES SYN1deg-1Hour files in the layout NASA's CERES ordering tool delivers.

:func:`write_syn1deg_hourly` writes ``CERES_SYN1deg-1H_Terra-Aqua-MODIS_Ed4.1_Subset_{first}-{last}.nc``:
netCDF4, dimensions ``time`` (float64 days since 2000-03-01 00:00:00, at
the middle of each hour), ``lat`` (ascending, -89.5 ... 89.5 on whole
globes), ``lon`` (0.5 ... 359.5), float32 variables ``(time, lat, lon)``
with ``_FillValue`` -999, ``units``, ``long_name`` and ``valid_min``/
``valid_max``, as :data:`convml_tt.data.fields.ceres.CERES_VARIABLES`
names them. Values: smooth analytic functions of (hour, lat, lon)
(:func:`ceres_truth`); ``fill`` marks a box of missing values.
"""
from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

from convml_tt.data.fields.ceres import CERES_VARIABLES

EPOCH = np.datetime64("2000-03-01T00:00", "s")


def ceres_truth(hours, lat, lon, t0):
    """The variables on ``(time, lat, lon)``; ``hours`` after ``t0`` (hour starts), degrees."""
    h, la, lo = np.meshgrid(np.asarray(hours, float), lat, lon, indexing="ij")
    x = ((lo + 180.0) % 360.0 - 180.0 + 50.0) / 10.0
    solar = 1000.0 + 300.0 * np.cos(2 * np.pi * (h - 15.0) / 24.0) + 0 * la
    sw_clr = 0.09 * solar + 0.5 * np.cos(la / 10.0)
    sw_all = sw_clr + 80.0 + 30.0 * np.sin(x) + 2.0 * (la - 15.0)
    lw_clr = 290.0 - 0.5 * np.abs(la) + 2.0 * np.cos(x)
    lw_all = lw_clr - 20.0 - 5.0 * np.sin(x + la / 7.0)
    return {"toa_sw_all_1h": sw_all, "toa_sw_clr_1h": sw_clr, "toa_lw_all_1h": lw_all, "toa_lw_clr_1h": lw_clr,
            "toa_alb_all_1h": sw_all / solar, "toa_alb_clr_1h": sw_clr / solar, "toa_solar_all_1h": solar}


def write_syn1deg_hourly(folder: Path, t0: np.datetime64, hours=np.arange(0, 6), lat_range=(0.5, 29.5),
                         lon_range=(280.5, 319.5), fill: tuple | None = None) -> Path:
    """One SYN1deg-1Hour subset file (``lon_range`` in 0..360 as ordered);
    ``fill``: ``(lat_min, lat_max, lon_min, lon_max)`` of a box written as fill values."""
    lat = np.arange(lat_range[0], lat_range[1] + 0.5, 1.0)
    lon = np.arange(lon_range[0], lon_range[1] + 0.5, 1.0)
    hours = np.asarray(hours)
    tr = ceres_truth(hours, lat, lon, t0)
    t0 = np.datetime64(t0, "s")
    first, last = (t0 + np.timedelta64(int(h), "h") for h in (hours.min(), hours.max()))
    name = (f"CERES_SYN1deg-1H_Terra-Aqua-MODIS_Ed4.1_Subset_{str(first)[:10].replace('-', '')}-"
            f"{str(last)[:10].replace('-', '')}.nc")
    folder.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(folder / name, "w", format="NETCDF4") as nc:
        nc.title = "CERES SYN1deg-1Hour Ed4.1 Subset"
        nc.institution = "NASA Langley Research Center"
        nc.Conventions = "CF-1.4"
        nc.version = "Edition 4.1"
        nc.createDimension("time", None)
        nc.createDimension("lon", lon.size)
        nc.createDimension("lat", lat.size)
        v = nc.createVariable("time", "f8", ("time",))
        v.units, v.long_name, v.standard_name, v.calendar = "days since 2000-03-01 00:00:00", "time", "time", \
            "standard"
        mid = (t0 - EPOCH).astype("int64") / 86400.0 + (hours + 0.5) / 24.0
        v[:] = mid
        for dim, vals, units in (("lon", lon, "degrees_east"), ("lat", lat, "degrees_north")):
            v = nc.createVariable(dim, "f4", (dim,))
            v.units, v.long_name, v.standard_name = units, ("longitude" if dim == "lon" else "latitude"), \
                ("longitude" if dim == "lon" else "latitude")
            v.valid_range = np.array([0.0, 360.0] if dim == "lon" else [-90.0, 90.0], np.float32)
            v[:] = vals
        box = np.zeros((lat.size, lon.size), bool)
        if fill is not None:
            box = ((lat[:, None] >= fill[0]) & (lat[:, None] <= fill[1]) & (lon[None] >= fill[2])
                   & (lon[None] <= fill[3]))
        for name_, (units, long_name) in CERES_VARIABLES.items():
            v = nc.createVariable(name_, "f4", ("time", "lat", "lon"), fill_value=np.float32(-999.0), zlib=True)
            v.long_name, v.units = long_name, units
            v.valid_min, v.valid_max = np.float32(0.0), np.float32(1.0 if "alb" in name_ else 1400.0)
            v[:] = np.where(box[None], np.float32(-999.0), tr[name_].astype(np.float32))
    return folder / name
