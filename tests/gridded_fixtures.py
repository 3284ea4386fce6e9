"""LES-like gridded fields written as producers write them, for the gridded-source tests.

:func:`write_les_field` writes a liquid-water-path field of drifting cloud
cells (and the cloud-top reflectance it implies) on a regular lat/lon grid
in the layout of a reanalysis or LES post-processing file: dimensions
``(time, latitude, longitude)``, latitudes *descending* (north first),
longitudes in *0..360*, increasing (a domain crossing the prime meridian
is stored ``0.00 .. 2.99, 357.00 .. 359.99``: its west half last), ``lwp`` packed as int16 with
``scale_factor``/``_FillValue`` (a few cells missing), ``refl`` float32,
time as ``hours since 1900-01-01`` (ERA5's netCDF from the CDS). The same
field can be written with -180..180 longitudes and ascending latitudes
(``producer=False``) or as a zarr store, cell for cell the same values.

The field: ``N_CELLS`` Gaussian cloud cells (radius 2-9 km, peak liquid
water path 0.05-0.4 kg m-2) drifting west at 8 m/s, plus a thin background;
cloud-top reflectance from the two-stream approximation of a
non-absorbing cloud (asymmetry factor 0.85) over a dark ocean::

    tau = 3 LWP / (2 rho_w r_e)        (r_e = 10 um, rho_w = 1000 kg m-3)
    R = 0.05 + 0.95 tau / (tau + 13.3)

Run as a script to write the example files into a folder::

    python tests/gridded_fixtures.py OUT_DIR
"""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np

#: the SE Atlantic stratocumulus domain of the default field: lat, lon ranges of the cell centres (degrees)
SE_ATLANTIC = dict(lat=(-12.0, -8.01), lon=(-3.0, 2.99))
#: spacing of the default field, degrees (about 1.1 km)
SPACING = 0.01
START = dt.datetime(2020, 2, 2, 12)
N_CELLS = 160


def cloud_fields(lat: np.ndarray, lon: np.ndarray, times: list[dt.datetime], seed: int = 0):
    """``(lwp, refl)``, each ``(time, lat, lon)`` float64, on the canonical grid
    (ascending ``lat``, ``lon`` in -180..180, degrees)."""
    rng = np.random.default_rng(seed)
    lat_c, lon_c = lat.mean(), lon.mean()
    km = 6371.0088 * np.pi / 180
    yy, xx = np.meshgrid((lat - lat_c) * km, (lon - lon_c) * km * np.cos(np.radians(lat_c)), indexing="ij")
    width, height = np.ptp(xx) + 60, np.ptp(yy) + 60
    cx = rng.uniform(-width / 2, width / 2, N_CELLS)
    cy = rng.uniform(-height / 2, height / 2, N_CELLS)
    radius = rng.uniform(2.0, 9.0, N_CELLS)
    peak = rng.uniform(0.05, 0.4, N_CELLS)
    lwp = np.zeros((len(times), lat.size, lon.size))
    for k, t in enumerate(times):
        shift = -8.0 * (t - times[0]).total_seconds() / 1e3  # km, westward drift at 8 m/s
        for x0, y0, r, p in zip(cx, cy, radius, peak):
            x0 = (x0 + shift + width / 2) % width - width / 2
            near = slice(max(0, int(np.searchsorted(yy[:, 0], y0 - 4 * r))), int(np.searchsorted(yy[:, 0], y0 + 4 * r)))
            lwp[k, near] += p * np.exp(-((xx[near] - x0) ** 2 + (yy[near] - y0) ** 2) / (2 * r * r))
        lwp[k] += 0.002
    tau = 3 * lwp / (2 * 1000.0 * 10e-6)
    return lwp, 0.05 + 0.95 * tau / (tau + 13.3)


def write_les_field(path, producer: bool = True, fmt: str = "netcdf", n_times: int = 3, region: dict | None = None,
                    spacing: float = SPACING, seed: int = 0, start: dt.datetime = START,
                    interval: dt.timedelta = dt.timedelta(hours=1)) -> Path:
    """Write the LES-like field to ``path`` (netCDF, or a zarr store with
    ``fmt="zarr"``): in the producer's layout (0..360 longitudes, descending
    latitudes, packed ``lwp``) or, with ``producer=False``, with -180..180
    longitudes and ascending latitudes (same packing, same values)."""
    region = region or SE_ATLANTIC
    n_lat = int(round((region["lat"][1] - region["lat"][0]) / spacing)) + 1
    n_lon = int(round((region["lon"][1] - region["lon"][0]) / spacing)) + 1
    lat = np.round(region["lat"][0] + spacing * np.arange(n_lat), 6)
    lon = np.round(region["lon"][0] + spacing * np.arange(n_lon), 6)
    times = [start + k * interval for k in range(n_times)]
    lwp, refl = cloud_fields(lat, lon, times, seed)
    packed = np.round(lwp / 2e-5).astype(np.int16)
    packed[:, :4, :4] = -32767  # a few missing cells in the south-west corner
    if producer:
        lon_out = np.round(lon % 360.0, 6)
        order = np.argsort(lon_out, kind="stable")  # the producer stores 0..360 in increasing order
        lon_out, packed, refl = lon_out[order], packed[:, :, order], refl[:, :, order]
        lat_out, packed, refl = lat[::-1], packed[:, ::-1], refl[:, ::-1]
    else:
        lat_out, lon_out = lat, lon
    hours = np.array([(t - dt.datetime(1900, 1, 1)).total_seconds() / 3600 for t in times], np.int32)
    path = Path(path)
    if fmt == "zarr":
        _write_zarr(path, lat_out, lon_out, hours, packed, refl.astype(np.float32))
    else:
        _write_netcdf(path, lat_out, lon_out, hours, packed, refl.astype(np.float32))
    return path


_GLOBAL = {"Conventions": "CF-1.7", "title": "LES of stratocumulus cloud fields (2-D diagnostics)",
           "source_id": "UCLA-LES", "experiment_id": "SE-Atlantic-Sc", "institution": "convml_tt tests"}
_LWP = {"units": "kg m-2", "long_name": "liquid water path", "standard_name": "atmosphere_mass_content_of_cloud_liquid_water"}
_REFL = {"units": "1", "long_name": "cloud-top reflectance at 0.64 um (two-stream, r_e = 10 um)"}


def _write_netcdf(path: Path, lat, lon, hours, packed, refl) -> None:
    import netCDF4

    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.setncatts(_GLOBAL)
        nc.createDimension("time", None)
        nc.createDimension("latitude", lat.size)
        nc.createDimension("longitude", lon.size)
        v = nc.createVariable("longitude", "f4", ("longitude",))
        v.setncatts({"units": "degrees_east", "long_name": "longitude"})
        v[:] = lon
        v = nc.createVariable("latitude", "f4", ("latitude",))
        v.setncatts({"units": "degrees_north", "long_name": "latitude"})
        v[:] = lat
        v = nc.createVariable("time", "i4", ("time",))
        v.setncatts({"units": "hours since 1900-01-01 00:00:00.0", "long_name": "time", "calendar": "gregorian"})
        v[:] = hours
        v = nc.createVariable("lwp", "i2", ("time", "latitude", "longitude"), fill_value=np.int16(-32767), zlib=True)
        v.setncatts({**_LWP, "scale_factor": 2e-5, "add_offset": 0.0})
        v.set_auto_maskandscale(False)
        v[:] = packed
        v = nc.createVariable("refl", "f4", ("time", "latitude", "longitude"), zlib=True)
        v.setncatts(_REFL)
        v[:] = refl


def _write_zarr(path: Path, lat, lon, hours, packed, refl) -> None:
    import xarray as xr

    lwp = np.where(packed == -32767, np.nan, packed * 2e-5)  # xarray packs it back to the same int16
    ds = xr.Dataset(
        {"lwp": (("time", "latitude", "longitude"), lwp, _LWP),
         "refl": (("time", "latitude", "longitude"), refl, _REFL)},
        coords={"time": ("time", hours, {"units": "hours since 1900-01-01 00:00:00.0", "calendar": "gregorian"}),
                "latitude": ("latitude", lat.astype(np.float32), {"units": "degrees_north"}),
                "longitude": ("longitude", lon.astype(np.float32), {"units": "degrees_east"})},
        attrs=_GLOBAL)
    encoding = {"lwp": {"dtype": "int16", "scale_factor": 2e-5, "add_offset": 0.0, "_FillValue": np.int16(-32767)}}
    ds.to_zarr(path, mode="w", consolidated=True, zarr_format=2, encoding=encoding)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    print(write_les_field(out / "les_lwp_producer.nc"))
    print(write_les_field(out / "les_lwp_canonical.nc", producer=False))
