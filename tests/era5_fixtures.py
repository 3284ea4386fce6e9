"""ERA5 files in the CDS's exact layouts, for the environment-field tests.

:func:`write_era5` writes a single-levels and a pressure-levels file of
:func:`truth` the way the Copernicus Climate Data Store delivers them
(:func:`convml_tt.data.synthetic.era5.write_cds`: the new and old CDS
layouts; ``ascending=True``: -180..180 and ascending latitudes, not a CDS
layout, the equivalence test's reference).
The fields are smooth analytic functions of (time, lat, lon) (:func:`truth`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from convml_tt.data.synthetic.era5 import ERA5_META as _META, T0, write_cds  # noqa: F401 (re-exported)


def truth(hours: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> dict[str, np.ndarray]:
    """The variables (ERA5 short names; ``t@700`` on 700 hPa) on the grid
    ``(time, lat, lon)`` (hours since :data:`T0`; degrees), in ERA5 units."""
    h, la, lo = np.meshgrid(hours, lat, lon, indexing="ij")
    x = (lo + 60.0) / 20.0
    t2m = 299.0 - 0.35 * (la - 10.0) + 0.5 * np.sin(2 * np.pi * h / 24.0) + 0.4 * np.sin(2 * x)
    d2m = t2m - 2.0 - 2.0 * (0.5 + 0.5 * np.cos(3 * x + 0.1 * la))
    t700 = 283.0 + 0.08 * (la - 10.0) + 1.5 * np.cos(x) + 0.02 * h
    return {
        "t2m": t2m, "d2m": d2m, "sp": 101000.0 + 200.0 * np.sin(la / 7.0) + 30.0 * x,
        "u10": -7.0 + 0.2 * (la - 10.0) + 0.3 * np.cos(x), "v10": -2.0 + 0.5 * np.sin(x + h / 12.0),
        "sst": t2m + 1.2,
        "t@850": 0.5 * (t2m + t700), "t@700": t700, "t@500": t700 - 18.0,
        "r@850": 70.0 + 5.0 * np.sin(x), "r@700": 35.0 + 20.0 * np.cos(x + la / 10.0), "r@500": 20.0 + 0 * x,
        "w@850": 0.02 * np.sin(x), "w@700": 0.03 * np.sin(x), "w@500": 0.05 * np.sin(x + la / 5.0),
    }


def grid(lat_range=(0.0, 25.0), lon_range=(-70.0, -40.0), step=0.25):
    lat = np.arange(lat_range[0], lat_range[1] + step / 2, step)
    lon = np.arange(lon_range[0], lon_range[1] + step / 2, step)
    return lat, lon


def write_era5(folder: Path, hours=np.arange(0, 25, 3), lat_range=(0.0, 25.0), lon_range=(-70.0, -40.0),
               step=0.25, layout="new", ascending=False, drop=(), units=None, t0=T0) -> dict[str, Path]:
    """A single-levels and a pressure-levels file of :func:`truth` in ``folder``
    (``drop``: variables to leave out, e.g. ``("d2m",)``)."""
    folder.mkdir(parents=True, exist_ok=True)
    lat, lon = grid(lat_range, lon_range, step)
    hours = np.asarray(hours)
    tr = truth(hours, lat, lon)
    levels = [850, 700, 500]
    single = {k: tr[k] for k in ("t2m", "d2m", "sp", "u10", "v10", "sst") if k not in drop}
    pressure = {var: np.stack([tr[f"{var}@{p}"] for p in levels], axis=1) for var in ("t", "r", "w")
                if var not in drop}
    tag = f"{layout}{'_asc' if ascending else ''}"
    return {"single": write_cds(folder / f"era5_single_levels_{tag}.nc", single, hours, lat, lon, None, layout,
                                ascending, units, t0),
            "pressure": write_cds(folder / f"era5_pressure_levels_{tag}.nc", pressure, hours, lat, lon, levels,
                                  layout, ascending, units, t0)}
