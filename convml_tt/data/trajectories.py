"""Lagrangian trajectories: read from files, or integrated through a wind field.

**Files** (:func:`read_trajectories`): CF trajectory netCDF
(``featureType = "trajectory"``) with ``lat``/``lon`` on dimensions
``(trajectory, time)``, and the files lagtraj writes (one trajectory:
``lat``/``lon`` on ``time`` only, with ``u_traj``/``v_traj`` and
``origin_*`` beside them; lagtraj's swapped ``units`` attributes of lat and
lon are not relied on). :func:`write_trajectories` writes the CF layout.

**Integration** (:func:`integrate_trajectories`): the horizontal wind of an
ERA5 file (:func:`~convml_tt.data.fields.era5.open_era5`; ``u``/``v`` on a
pressure level, their mean over a layer of levels, or ``u10``/``v10``),
bilinear in latitude/longitude and linear in time, moves each point with
the classic fourth-order Runge-Kutta scheme on a sphere of radius
:data:`EARTH_RADIUS_M`::

    dlat/dt = v / R,   dlon/dt = u / (R cos(lat))      (radians per second)

with a fixed time step ``dt`` (default :data:`DEFAULT_DT_S` = 600 s: with
ERA5's 0.25 degrees and hourly fields the RK4 error is far below the
interpolation error; positions are written every ``output_every`` steps).
A trajectory whose next step would need the wind outside the field's
latitude/longitude range or times stops there, with ``end_reason`` saying
which; it is never extrapolated.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from .._io import atomic_path

__all__ = ["EARTH_RADIUS_M", "DEFAULT_DT_S", "read_trajectories", "write_trajectories", "WindField",
           "integrate_trajectories"]

#: radius of the sphere trajectories move on, m
EARTH_RADIUS_M = 6371000.0
#: default RK4 time step, s
DEFAULT_DT_S = 600.0


# -----------------------------------------------------------------------------
# files
# -----------------------------------------------------------------------------
def read_trajectories(path: str | os.PathLike) -> xr.Dataset:
    """A trajectory file as ``lat``, ``lon`` (degrees, longitude in
    [-180, 180)) on ``(trajectory, time)``, ``time`` a coordinate
    (datetime64); other variables kept.

    Raises
    ------
    ValueError
        a file without ``lat``/``lon`` or a ``time`` dimension (naming it).
    """
    path = Path(path)
    try:
        ds = xr.load_dataset(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot be read as a trajectory netCDF file ({err})") from None
    ds = ds.rename({k: v for k, v in {"latitude": "lat", "longitude": "lon"}.items() if k in ds.variables
                    and v not in ds.variables})
    if "lat" not in ds or "lon" not in ds or "time" not in ds["lat"].dims:
        raise ValueError(f"{path}: not a trajectory file: expected lat and lon variables on a time dimension "
                         f"(CF trajectory netCDF or lagtraj output); found {', '.join(map(str, ds.variables))}")
    if "trajectory" not in ds["lat"].dims:  # lagtraj: one trajectory
        ds = ds.expand_dims("trajectory")
    ds["lat"] = ds["lat"].transpose("trajectory", "time")
    ds["lon"] = ((ds["lon"].transpose("trajectory", "time") + 180.0) % 360.0) - 180.0
    ds["lat"].attrs.update(units="degrees_north", standard_name="latitude")
    ds["lon"].attrs.update(units="degrees_east", standard_name="longitude")
    return ds


def write_trajectories(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` (as :func:`integrate_trajectories` returns) as CF
    trajectory netCDF, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp)
    return path


# -----------------------------------------------------------------------------
# wind
# -----------------------------------------------------------------------------
class WindField:
    """Horizontal wind (m s-1) of ERA5 files, interpolated in space and time.

    ``level``: a pressure level, hPa (``u``/``v``); a ``(bottom, top)``
    pair: the mean over the levels between them (inclusive); ``"10m"``:
    ``u10``/``v10``. The whole window is read once (float64 arrays
    ``(time, lat, lon)``).
    """

    def __init__(self, files: Any, level: float | tuple[float, float] | str = 850.0) -> None:
        from .fields.era5 import open_era5

        ds = files if isinstance(files, xr.Dataset) else open_era5(files)
        where = ds.attrs.get("source_files", "the wind field")
        names = ("u10", "v10") if level == "10m" else ("u", "v")
        missing = [n for n in names if n not in ds.data_vars]
        if missing:
            raise ValueError(f"{where}: no {' or '.join(missing)} (ERA5 wind components) to integrate "
                             f"trajectories with; variables there: {', '.join(map(str, ds.data_vars))}")
        u, v = ds[names[0]], ds[names[1]]
        if level != "10m":
            levels = ds["level"].values
            if isinstance(level, (tuple, list)):
                lo, hi = sorted(float(x) for x in level)
                pick = (levels >= lo) & (levels <= hi)
                if not pick.any():
                    raise ValueError(f"{where}: no pressure level between {lo:g} and {hi:g} hPa (levels: "
                                     f"{', '.join(f'{x:g}' for x in levels)})")
                u, v = u.isel(level=np.flatnonzero(pick)).mean("level"), v.isel(level=np.flatnonzero(pick)).mean("level")
            else:
                if not np.isclose(levels, float(level)).any():
                    raise ValueError(f"{where}: no {float(level):g} hPa level (levels: "
                                     f"{', '.join(f'{x:g}' for x in levels)})")
                k = int(np.argmin(np.abs(levels - float(level))))
                u, v = u.isel(level=k), v.isel(level=k)
        self.level = level
        self.times = ds["time"].values.astype("datetime64[s]")
        self.t = (self.times - self.times[0]).astype(float)  # s since the first time
        self.lat = ds["latitude"].values.astype(float)
        lon = ds["longitude"].values.astype(float)
        self.u = np.asarray(u.transpose("time", "latitude", "longitude").values, float)
        self.v = np.asarray(v.transpose("time", "latitude", "longitude").values, float)
        gaps = np.flatnonzero(np.diff(lon) > 1.5 * np.median(np.diff(lon))) if lon.size > 2 else []
        if len(gaps):  # a regional grid across the dateline: its columns in one increasing run
            k = int(gaps[0]) + 1
            lon = np.concatenate([lon[k:], lon[:k] + 360.0])
            self.u, self.v = np.roll(self.u, -k, axis=2), np.roll(self.v, -k, axis=2)
        self.lon = lon
        step = float(np.diff(self.lon).mean()) if self.lon.size > 1 else 360.0
        self.periodic = abs(self.lon.size * step - 360.0) < 1e-6

    def _frame(self, lon: np.ndarray) -> np.ndarray:
        """Longitudes in the frame of :attr:`lon` (``lon[0]`` to ``lon[0] + 360``)."""
        return self.lon[0] + (np.asarray(lon, float) - self.lon[0]) % 360.0

    def inside(self, t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(in_space, in_time)`` boolean arrays of points (``t_s``: s since the first field time)."""
        lon = self._frame(lon)
        in_time = (t_s >= self.t[0]) & (t_s <= self.t[-1])
        in_space = (lat >= self.lat[0]) & (lat <= self.lat[-1]) & np.isfinite(lat)
        if not self.periodic:
            in_space &= (lon >= self.lon[0]) & (lon <= self.lon[-1])
        return in_space, in_time

    def __call__(self, t_s: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(u, v)`` m s-1 at points (inside the field: see :meth:`inside`)."""
        def bracket(axis, x):
            k = np.clip(np.searchsorted(axis, x, side="right") - 1, 0, max(axis.size - 2, 0))
            w = (x - axis[k]) / (axis[k + 1] - axis[k]) if axis.size > 1 else np.zeros_like(x)
            return k, np.clip(w, 0.0, 1.0)

        kt, wt = bracket(self.t, t_s)
        ky, wy = bracket(self.lat, lat)
        lon = self._frame(lon)
        if self.periodic:
            step = self.lon[1] - self.lon[0]
            pos = (lon - self.lon[0]) % 360.0 / step
            kx = np.floor(pos).astype(int) % self.lon.size
            wx, kx1 = pos - np.floor(pos), (np.floor(pos).astype(int) + 1) % self.lon.size
        else:
            kx, wx = bracket(self.lon, lon)
            kx1 = kx + 1
        out = []
        for f in (self.u, self.v):
            def at(k):
                return ((1 - wy) * ((1 - wx) * f[k, ky, kx] + wx * f[k, ky, kx1])
                        + wy * ((1 - wx) * f[k, ky + 1, kx] + wx * f[k, ky + 1, kx1]))
            out.append((1 - wt) * at(kt) + wt * at(np.minimum(kt + 1, self.t.size - 1)))
        return out[0], out[1]


# -----------------------------------------------------------------------------
# integration
# -----------------------------------------------------------------------------
def _tendency(wind: WindField, t, lat, lon):
    u, v = wind(t, lat, lon)
    k = 180.0 / np.pi / EARTH_RADIUS_M
    return v * k, u * k / np.cos(np.deg2rad(lat))


def integrate_trajectories(
    wind: WindField | Any,
    lat0: float | Sequence[float],
    lon0: float | Sequence[float],
    t0: Any,
    duration: np.timedelta64 | float,
    dt: float = DEFAULT_DT_S,
    direction: str = "forward",
    output_every: int = 1,
    level: float | tuple[float, float] | str = 850.0,
) -> xr.Dataset:
    """Trajectories from start points through a wind field (RK4; module docstring).

    Parameters
    ----------
    wind:
        a :class:`WindField`, or ERA5 files / an :func:`open_era5` dataset
        (read at ``level``).
    lat0, lon0:
        start points, degrees (scalars or ``(N,)``).
    t0:
        start time (datetime64, ISO text or datetime).
    duration:
        how long, a ``numpy.timedelta64`` or seconds.
    dt:
        RK4 time step, s (> 0).
    direction:
        ``"forward"`` or ``"backward"`` in time.
    output_every:
        keep every k-th step.

    Returns
    -------
    ``xarray.Dataset``: ``lat``, ``lon`` (degrees) on ``(trajectory,
    time)`` (times ascending; NaN after a trajectory ended),
    ``end_reason`` ``(trajectory,)`` ("completed", or why it stopped),
    ``origin_lat``, ``origin_lon``, attributes ``featureType="trajectory"``,
    ``dt_s``, ``direction``, ``level``.
    """
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction {direction!r} must be 'forward' or 'backward'")
    if not dt > 0:
        raise ValueError(f"dt={dt!r} must be a positive number of seconds")
    if not isinstance(wind, WindField):
        wind = WindField(wind, level)
    lat = np.atleast_1d(np.asarray(lat0, float)).copy()
    lon = np.atleast_1d(np.asarray(lon0, float)).copy()
    lon = (lon + 180.0) % 360.0 - 180.0
    origin_lat, origin_lon = lat.copy(), lon.copy()
    total = duration / np.timedelta64(1, "s") if isinstance(duration, np.timedelta64) else float(duration)
    n_steps = int(np.ceil(total / dt - 1e-9))
    sign = 1.0 if direction == "forward" else -1.0
    start = np.datetime64(t0, "s")
    t = np.full(lat.shape, float((start - wind.times[0]) / np.timedelta64(1, "s")))
    reason = np.array(["completed"] * lat.size, dtype=object)
    active = np.ones(lat.size, bool)
    lats, lons = [lat.copy()], [lon.copy()]
    for step in range(n_steps):
        h = sign * min(dt, total - step * dt)
        for probe in (0.0, 0.5, 1.0):  # the step's times must lie within the field's
            _, ok_t = wind.inside(t + probe * h, lat, lon)
            stop = active & ~ok_t
            reason[stop] = (f"reached the {'end' if sign > 0 else 'start'} of the wind field's times "
                            f"({wind.times[-1 if sign > 0 else 0]}) after {step * dt / 3600:.4g} h")
            active &= ~stop
        ok_s, _ = wind.inside(t, lat, lon)
        stop = active & ~ok_s
        reason[stop] = f"left the wind field's domain after {step * dt / 3600:.4g} h"
        active &= ~stop
        if not active.any():
            lats.append(np.full_like(lat, np.nan)), lons.append(np.full_like(lon, np.nan))
            break
        a = active.copy()
        k1 = _tendency(wind, t[a], lat[a], lon[a])
        stages = [k1]
        for c in (0.5, 0.5, 1.0):
            prev = stages[-1]
            y, x = lat[a] + c * h * prev[0], lon[a] + c * h * prev[1]
            ok, _ = wind.inside(t[a] + c * h, y, (x + 180.0) % 360.0 - 180.0)
            if not ok.all():
                idx = np.flatnonzero(a)[~ok]
                reason[idx] = f"left the wind field's domain after {(step + c) * dt / 3600:.4g} h"
                active[idx] = False
                y, x = np.where(ok, y, lat[a]), np.where(ok, x, lon[a])
            stages.append(_tendency(wind, t[a] + c * h, y, (x + 180.0) % 360.0 - 180.0))
        dlat = h / 6 * (stages[0][0] + 2 * stages[1][0] + 2 * stages[2][0] + stages[3][0])
        dlon = h / 6 * (stages[0][1] + 2 * stages[1][1] + 2 * stages[2][1] + stages[3][1])
        moved = active[a]
        idx = np.flatnonzero(a)[moved]
        lat[idx] += dlat[moved]
        lon[idx] = (lon[idx] + dlon[moved] + 180.0) % 360.0 - 180.0
        t += h
        lats.append(np.where(active, lat, np.nan)), lons.append(np.where(active, lon, np.nan))
    keep = list(range(0, len(lats), max(1, int(output_every))))
    if keep[-1] != len(lats) - 1:
        keep.append(len(lats) - 1)
    steps = np.asarray(keep, float) * dt
    steps[-1] = min(steps[-1], total)
    times = start + (sign * steps * 1e3).astype("timedelta64[ms]")
    lat_out, lon_out = np.stack([lats[k] for k in keep], 1), np.stack([lons[k] for k in keep], 1)
    order = np.argsort(times)
    ds = xr.Dataset(
        {"lat": (("trajectory", "time"), lat_out[:, order], {"units": "degrees_north", "standard_name": "latitude"}),
         "lon": (("trajectory", "time"), lon_out[:, order], {"units": "degrees_east", "standard_name": "longitude"}),
         "end_reason": (("trajectory",), np.asarray(reason, str)),
         "origin_lat": (("trajectory",), origin_lat, {"units": "degrees_north"}),
         "origin_lon": (("trajectory",), origin_lon, {"units": "degrees_east"})},
        coords={"time": times[order].astype("datetime64[ns]"), "trajectory": np.arange(lat.size)},
        attrs={"featureType": "trajectory", "Conventions": "CF-1.8", "dt_s": float(dt), "direction": direction,
               "level": str(wind.level), "method": "RK4, bilinear in space, linear in time"})
    return ds
