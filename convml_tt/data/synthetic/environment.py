"""Synthetic truth for environment fields and trajectories.

The synthetic regimes (:mod:`.regimes`) live in regions that drift with a
uniform wind (:data:`~.fields.DRIFT_KMH`, ~7 m/s west-north-west). This
module gives them

* **an environment**: every regime has its own estimated inversion strength,
  10 m wind speed, 700 hPa humidity and SST (:data:`REGIME_ENVIRONMENT`,
  chosen after Bony et al. 2020, GRL 47, e2019GL085988, their Fig. 3: sugar
  with weak winds and a weak inversion, gravel with the strongest winds,
  flowers with a strong inversion, fish with a moist free troposphere;
  stratocumulus with the strongest inversion over the coolest water (Wood
  and Bretherton 2006); clear sky with a dry free troposphere). Each region
  carries its regime's values plus a smooth variation that drifts with it
  (:data:`ENVIRONMENT_SPREAD`), written as hourly ERA5 files in the CDS
  layout (:func:`write_synthetic_era5`): ``t2m``, ``d2m``, ``sp``,
  ``u10``, ``v10``, ``sst`` and ``t``, ``r``, ``u``, ``v``, ``w`` on 850,
  700 and 500 hPa, the 700 hPa temperature solved so that Wood and
  Bretherton's EIS (:func:`convml_tt.data.fields.derived.eis`) is the
  regime's value;
* **the wind that moves them**: ``u``, ``v`` on every pressure level are the
  drift (``u`` scaled by cos(lat) / cos(lat of the sector centre), so a
  region moves by a constant longitude rate as the generator's frame does);
  the 10 m wind is the regime's wind speed along the drift's direction;
* **regime changes along the drift** (:class:`Transitions`, an option of
  :func:`~.scenes.write_synthetic_scenes`): each region's regime follows a
  Markov chain with a known transition matrix (:data:`TRANSITIONS`: sugar
  -> gravel -> flowers over about a day and a half), one step every
  ``step_hours`` from ``start``;
* **the true trajectories** (:func:`true_trajectories`,
  :func:`write_true_trajectories`): the air moves with the frame, so a
  trajectory keeps its frame coordinates and its region; written as a CF
  trajectory file with lagtraj's variables (``lat``, ``lon``, ``u_traj``,
  ``v_traj``, ``origin_*``), and the true regime of each of its points
  (:func:`true_sequences`).
"""
from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from .era5 import write_cds
from .fields import DRIFT_KMH, _frame_coords, _regime_layout
from .geometry import _EARTH_RADIUS_KM
from .regimes import REGIMES
from .textures import _hash_uniform

__all__ = ["REGIME_ENVIRONMENT", "ENVIRONMENT_SPREAD", "TRANSITIONS", "Transitions", "regime_of",
           "environment_variables", "write_synthetic_era5", "drift_wind", "true_trajectories",
           "write_true_trajectories", "true_sequences"]

#: regime -> (EIS K, 10 m wind speed m s-1, 700 hPa relative humidity %, SST K) at the centre of its range
REGIME_ENVIRONMENT: dict[str, tuple[float, float, float, float]] = {
    "clear": (1.0, 5.0, 20.0, 300.5),
    "sugar": (1.5, 6.0, 30.0, 300.0),
    "gravel": (2.5, 9.5, 35.0, 299.5),
    "flowers": (5.0, 7.5, 45.0, 299.0),
    "fish": (3.5, 6.5, 60.0, 298.5),
    "stratocumulus": (8.0, 7.0, 25.0, 293.0),
}
#: half-range of the smooth variation within a region (EIS K, wind m s-1, RH700 %, SST K)
ENVIRONMENT_SPREAD = (0.4, 0.8, 5.0, 0.3)
#: P(regime j at the next step | regime i), rows and columns in :data:`~.regimes.REGIMES` order
TRANSITIONS: tuple[tuple[float, ...], ...] = (
    (0.70, 0.30, 0.00, 0.00, 0.00, 0.00),  # clear -> sugar
    (0.00, 0.60, 0.40, 0.00, 0.00, 0.00),  # sugar -> gravel
    (0.00, 0.00, 0.60, 0.40, 0.00, 0.00),  # gravel -> flowers
    (0.20, 0.00, 0.00, 0.60, 0.20, 0.00),  # flowers -> clear or fish
    (0.00, 0.00, 0.00, 0.00, 0.70, 0.30),  # fish -> stratocumulus
    (0.30, 0.00, 0.00, 0.00, 0.00, 0.70),  # stratocumulus -> clear
)
#: pressure levels written, hPa
LEVELS = (850, 700, 500)


@dataclass(frozen=True)
class Transitions:
    """Regime changes along the drift: a Markov chain per region.

    ``matrix[i][j]``: probability that a region of regime ``i`` has regime
    ``j`` one step later (rows sum to 1; :data:`~.regimes.REGIMES` order);
    ``start``: naive UTC time of step 0 (each region has its fixed layout's
    regime then); ``step_hours``: hours per step. A region's draws are
    hashed from its lattice cell, the seed and the step, so every scene
    and field time agrees on them.
    """

    start: dt.datetime
    matrix: tuple[tuple[float, ...], ...] = TRANSITIONS
    step_hours: float = 6.0

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, float)
        n = len(REGIMES)
        if m.shape != (n, n) or (m < 0).any() or not np.allclose(m.sum(axis=1), 1.0):
            raise ValueError(f"transition matrix must be {n} x {n} (regimes {', '.join(REGIMES)}) with "
                             f"non-negative rows summing to 1; got shape {m.shape}")
        if not self.step_hours > 0:
            raise ValueError(f"step_hours {self.step_hours!r} must be > 0")
        object.__setattr__(self, "matrix", tuple(tuple(float(x) for x in row) for row in m))

    def step(self, time: dt.datetime) -> int:
        """The chain's step at ``time`` (0 before and at :attr:`start`)."""
        hours = (time - self.start).total_seconds() / 3600.0
        return max(0, int(math.floor(hours / self.step_hours + 1e-9)))

    def evolve(self, state: np.ndarray, i: np.ndarray, j: np.ndarray, seed: int, time: dt.datetime) -> np.ndarray:
        """Regimes at ``time`` of the lattice cells ``(i, j)`` whose regime at
        :attr:`start` is ``state`` (int arrays of one shape)."""
        cum = np.cumsum(np.asarray(self.matrix, float), axis=1)
        cum[:, -1] = 1.0
        shape = np.shape(state)
        state = np.asarray(state, np.int64).ravel()
        i, j = np.asarray(i).ravel(), np.asarray(j).ravel()
        for k in range(1, self.step(time) + 1):
            u = _hash_uniform(i, j, seed, 1000 + k)
            state = np.minimum((u[:, None] >= cum[state]).sum(axis=1), len(REGIMES) - 1)
        return state.reshape(shape)


def regime_of(lat, lon, time: dt.datetime, seed: int = 0, center: tuple[float, float] = (15.0, -50.0),
              region_km: float = 1000.0 / 2.85, transitions: Transitions | None = None) -> np.ndarray:
    """The true regime (int8, :data:`~.regimes.REGIMES` index) at ``lat``,
    ``lon`` (degrees, arrays of one shape) and ``time`` of the synthetic
    scenes with these parameters (as their label maps, everywhere)."""
    east, north = _frame_coords(np.asarray(lat, float), np.asarray(lon, float), center, time)
    return _regime_layout(np.atleast_1d(east), np.atleast_1d(north), region_km, seed, transitions,
                          time).reshape(np.shape(east))


def drift_wind(lat, center: tuple[float, float] = (15.0, -50.0)) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)`` m s-1 at ``lat`` (degrees) that moves air with the
    generator's drifting frame (a constant longitude and latitude rate)."""
    u0, v0 = (c / 3.6 for c in DRIFT_KMH)
    lat = np.asarray(lat, float)
    return u0 * np.cos(np.deg2rad(lat)) / math.cos(math.radians(center[0])), np.full(lat.shape, v0)


def _smooth(east: np.ndarray, north: np.ndarray, salt: int) -> np.ndarray:
    """A smooth field in [-1, 1] of the frame coordinates (km): it drifts with the regions."""
    ph = 2 * np.pi * _hash_uniform(np.array([salt]), np.array([salt + 1]), 0, 77)[0]
    return np.sin(2 * np.pi * east / 420.0 + ph) * np.cos(2 * np.pi * north / 310.0 - ph)


def _t700_for_eis(target, t2m, d2m, p_hpa):
    """The 700 hPa temperature (K) at which Wood and Bretherton's EIS is ``target`` (bisection)."""
    from ..fields.derived import eis

    lo, hi = np.asarray(t2m, float) - 45.0, np.asarray(t2m, float) + 5.0
    for _ in range(50):  # EIS grows with T700: ~1.1 K per K
        mid = 0.5 * (lo + hi)
        high = eis(mid, t2m, d2m, p_hpa) > target
        hi, lo = np.where(high, mid, hi), np.where(high, lo, mid)
    return 0.5 * (lo + hi)


def environment_variables(lat: np.ndarray, lon: np.ndarray, time: dt.datetime, seed: int = 0,
                          center: tuple[float, float] = (15.0, -50.0), region_km: float = 1000.0 / 2.85,
                          transitions: Transitions | None = None) -> dict[str, np.ndarray]:
    """The ERA5 variables (short names; ``"t@700"`` on 700 hPa; ERA5 units)
    on the 2-D ``lat``, ``lon`` grid (degrees) at ``time``."""
    east, north = _frame_coords(lat, lon, center, time)
    regime = _regime_layout(east, north, region_km, seed, transitions, time)
    table = np.array([REGIME_ENVIRONMENT[r] for r in REGIMES])
    target = [table[regime, k] + s * _smooth(east, north, 3 * k) for k, s in enumerate(ENVIRONMENT_SPREAD)]
    eis_, ws, rh, sst = target
    t2m = sst - 1.0
    d2m = t2m - 2.0
    sp = np.full(lat.shape, 101500.0)
    t700 = _t700_for_eis(eis_, t2m, d2m, sp / 100.0)
    u, v = drift_wind(lat, center)
    speed = math.hypot(*DRIFT_KMH)
    out = {"t2m": t2m, "d2m": d2m, "sp": sp, "sst": sst,
           "u10": ws * DRIFT_KMH[0] / speed, "v10": ws * DRIFT_KMH[1] / speed,
           "t@850": 0.5 * (t2m + t700), "t@700": t700, "t@500": t700 - 18.0,
           "r@850": np.full(lat.shape, 75.0), "r@700": rh, "r@500": 0.6 * rh}
    for p in LEVELS:
        out[f"u@{p}"], out[f"v@{p}"], out[f"w@{p}"] = u, v, np.full(lat.shape, 0.03)
    return out


def write_synthetic_era5(folder: str | os.PathLike, start: dt.datetime, hours: int | Sequence[int], seed: int = 0,
                         center: tuple[float, float] = (15.0, -50.0), region_km: float = 1000.0 / 2.85,
                         transitions: Transitions | None = None, lat_range: tuple[float, float] | None = None,
                         lon_range: tuple[float, float] | None = None, step: float = 0.25,
                         layout: str = "new") -> dict[str, Path]:
    """Hourly ERA5 files of the synthetic environment from ``start`` (naive
    UTC, a whole hour) for ``hours`` + 1 field times (or at the whole hours
    after ``start`` listed in ``hours``), in the CDS layout
    (:func:`~.era5.write_cds`; 0..360 longitudes, descending latitudes):
    ``{"single": era5_single_levels_synthetic.nc, "pressure":
    era5_pressure_levels_synthetic.nc}`` in ``folder``. The domain
    (``lat_range``, ``lon_range`` degrees; default: 10 degrees north and south
    of ``center``, 25 west and 10 east, room for two days of drift) is on a
    ``step``-degree grid."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lat_range = lat_range or (center[0] - 10.0, center[0] + 10.0)
    lon_range = lon_range or (center[1] - 25.0, center[1] + 10.0)
    lat = np.arange(lat_range[0], lat_range[1] + step / 2, step)
    lon = np.arange(lon_range[0], lon_range[1] + step / 2, step)
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    hrs = np.arange(hours + 1) if np.ndim(hours) == 0 else np.asarray(sorted(set(int(h) for h in hours)))
    per_time = [environment_variables(lat2, lon2, start + dt.timedelta(hours=int(h)), seed, center, region_km,
                                      transitions) for h in hrs]
    single = {k: np.stack([v[k] for v in per_time]) for k in ("t2m", "d2m", "sp", "u10", "v10", "sst")}
    pressure = {var: np.stack([np.stack([v[f"{var}@{p}"] for p in LEVELS]) for v in per_time])
                for var in ("t", "r", "u", "v", "w")}
    t0 = np.datetime64(start, "s")
    return {"single": write_cds(folder / "era5_single_levels_synthetic.nc", single, hrs, lat, lon, None, layout,
                                t0=t0),
            "pressure": write_cds(folder / "era5_pressure_levels_synthetic.nc", pressure, hrs, lat, lon,
                                  list(LEVELS), layout, t0=t0)}


def true_trajectories(lat0: Sequence[float], lon0: Sequence[float], times: Sequence[np.datetime64],
                      t0: np.datetime64, center: tuple[float, float] = (15.0, -50.0)) -> xr.Dataset:
    """The trajectories through ``(lat0, lon0)`` (degrees) at ``t0``, at
    ``times``: the synthetic air moves with the generator's frame, a
    constant rate in latitude and longitude (:func:`drift_wind`). A CF
    trajectory Dataset: ``lat``, ``lon`` (degrees), ``u_traj``, ``v_traj``
    (m s-1) on ``(trajectory, time)``, ``origin_lat``, ``origin_lon``,
    ``origin_datetime`` per trajectory (lagtraj's names)."""
    k = math.pi / 180 * _EARTH_RADIUS_KM
    times = np.asarray(times, "datetime64[ns]")
    h = (times - np.datetime64(t0, "ns")) / np.timedelta64(1, "h")
    lat0, lon0 = np.asarray(lat0, float)[:, None], np.asarray(lon0, float)[:, None]
    lat = lat0 + DRIFT_KMH[1] * h / k
    lon = (lon0 + DRIFT_KMH[0] * h / (k * math.cos(math.radians(center[0]))) + 180.0) % 360.0 - 180.0
    u, v = drift_wind(lat, center)
    n = lat.shape[0]
    dims = ("trajectory", "time")
    ds = xr.Dataset(
        {"lat": (dims, lat, {"units": "degrees_north", "standard_name": "latitude"}),
         "lon": (dims, lon, {"units": "degrees_east", "standard_name": "longitude"}),
         "u_traj": (dims, u, {"units": "m/s", "long_name": "zonal velocity of the trajectory"}),
         "v_traj": (dims, v, {"units": "m/s", "long_name": "meridional velocity of the trajectory"}),
         "origin_lat": ("trajectory", lat0[:, 0], {"units": "degrees_north"}),
         "origin_lon": ("trajectory", lon0[:, 0], {"units": "degrees_east"}),
         "origin_datetime": ("trajectory", np.full(n, np.datetime64(t0, "ns")))},
        coords={"time": times, "trajectory_id": ("trajectory", np.array([f"synthetic_{i}" for i in range(n)]),
                                                 {"cf_role": "trajectory_id"})},
        attrs={"featureType": "trajectory", "Conventions": "CF-1.8",
               "title": "convml_tt synthetic true trajectories (the drift of the synthetic scenes' regions)",
               "drift_kmh_east_north": np.array(DRIFT_KMH, float)})
    return ds


def write_true_trajectories(path: str | os.PathLike, traj: xr.Dataset) -> Path:
    """Write :func:`true_trajectories` as a CF trajectory netCDF file, atomically."""
    from ..trajectories import write_trajectories

    return write_trajectories(traj, path)


def true_sequences(traj: xr.Dataset, seed: int = 0, center: tuple[float, float] = (15.0, -50.0),
                   region_km: float = 1000.0 / 2.85, transitions: Transitions | None = None) -> xr.Dataset:
    """The true regime (int16 ``regime(trajectory, time)``) of every point of
    ``traj`` (:func:`true_trajectories` or a file of them), with
    ``regime_names`` as :func:`convml_tt.interpretation.transitions.transition_statistics`
    reads them."""
    import json

    times = traj["time"].values
    reg = np.stack([regime_of(traj["lat"].values[:, k], traj["lon"].values[:, k],
                              dt.datetime.fromisoformat(str(np.datetime_as_string(t, "s"))), seed, center,
                              region_km, transitions) for k, t in enumerate(times)], axis=1)
    return xr.Dataset({"regime": (("trajectory", "time"), reg.astype(np.int16)),
                       "lat": traj["lat"], "lon": traj["lon"]}, coords={"time": times},
                      attrs={"regime_names": json.dumps(list(REGIMES))})
