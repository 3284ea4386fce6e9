"""Writing synthetic scenes: band files and label map of each scan time.

:func:`write_synthetic_scenes` generates each scene's fields
(:func:`~.fields.make_scene_fields`), writes one ABI L1b file per band
(:func:`~.l1b.write_abi_l1b`) into the source-cache layout and the regime
label map beside them (:func:`~.regimes.label_path_for`).
"""
from __future__ import annotations

import datetime as dt
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..._io import atomic_path
from ...config import SceneSettings
from ..sources.goes_abi import ABIKey
from .fields import DRIFT_KMH, SceneFields, day_to_day, held_out_codes, make_scene_fields
from .geometry import sector_geometry
from .l1b import _iso, _write_projection, CHUNK, SCAN_SECONDS, brightness_temperature_to_radiance, kappa0_for, write_abi_l1b
from .regimes import CLOUD_FRACTION, REGIMES, label_path_for

__all__ = ["SyntheticScene", "write_synthetic_scenes", "illumination"]


def illumination(geom, resolution_km: float, time: dt.datetime) -> np.ndarray:
    """``max(cos(SZA), 0)`` (float32 ``(ny, nx)``, NaN off the Earth's disk)
    on the grid of ``geom`` (a :class:`~.geometry.SectorGeometry`) at
    ``resolution_km``, for the solar zenith angle SZA at ``time`` (the scan
    start, naive UTC): the factor between a band's reflectance pattern (the
    reflectance factor with the Sun overhead) and what the satellite
    measures. Computed in blocks of rows (lat/lon of the fixed grid, float32,
    then :func:`convml_tt.data.geometry.solar.cos_solar_zenith`)."""
    from ..geometry.solar import cos_solar_zenith
    from ..sources.goes_abi.window import _grid_latlon, _row_blocks

    x, y = geom.xy(resolution_km)
    out = np.empty((y.size, x.size), np.float32)
    for r0, r1 in _row_blocks(y.size, 256):
        lat, lon = _grid_latlon(geom.grid, x, y[r0:r1])
        out[r0:r1] = np.maximum(cos_solar_zenith(time, lat, lon), 0.0)
    return out


@dataclass
class SyntheticScene:
    """One written synthetic scene.

    Attributes
    ----------
    time:
        scan start (naive UTC).
    files:
        band -> path of the L1b file written.
    labels:
        path of the regime label map (netCDF) beside the files.
    """

    time: dt.datetime
    files: dict[int, Path]
    labels: Path


def write_synthetic_scenes(
    data_root: str | os.PathLike,
    start: dt.datetime | None = None,
    count: int = 6,
    interval: dt.timedelta = dt.timedelta(days=1),
    seed: int = 0,
    satellite: int = 16,
    sector: str = "M1",
    center: tuple[float, float] = (15.0, -50.0),
    size_km: float = 1000.0,
    bands: Iterable[int] = (1, 2, 3),
    resolution_km: float | None = None,
    region_km: float | None = None,
    variability: float = 1.0,
    progress: bool = True,
    settings: SceneSettings | None = None,
    held_out: Sequence[str] = (),
    transitions=None,
    workers: int | None = None,
) -> list[SyntheticScene]:
    """Write ``count`` synthetic scenes into the source-cache layout.

    Each scene's band files go to ``{data_root}/sources/goes{satellite}/{key}``
    (``key`` as in the NOAA bucket, e.g.
    ``ABI-L1b-RadM/2020/002/14/OR_ABI-L1b-RadM1-M6C02_G16_s20200021400000_e..._c....nc``),
    exactly where :mod:`convml_tt.data.sources.goes_abi` puts fetched files, and the
    regime label map beside them (:func:`label_path_for`). Existing files of
    the same names are overwritten (every file is written to a temporary name
    first and renamed, so a crash never leaves a half-written file).

    Parameters
    ----------
    data_root:
        root of the data folder (``--data-root``).
    start:
        scan start of the first scene (naive UTC; an aware time is converted).
    count:
        number of scenes (>= 1), at ``start + i * interval``.
    interval:
        time between scenes (> 0).
    seed:
        random seed; the same seed gives byte-identical data arrays.
    satellite:
        16, 17, 18 or 19 (sets the sub-satellite longitude).
    sector:
        ``"M1"`` (default), ``"M2"``, ``"C"`` or ``"F"``; only the file names
        and ``scene_id`` change, the extent is always ``size_km``.
    center:
        ``(lat, lon)`` of the sector centre, degrees.
    size_km:
        side of the square sector, nominal km (1 km pixels).
    bands:
        bands to write (default 1, 2, 3): reflective 1-6, and 13 (brightness
        temperature, colder where cloudy).
    resolution_km:
        None for the real per-band resolutions, or 0.5/1/2 for all bands.
    region_km:
        spacing of the regime regions (default ``size_km / 2.85``).
    variability:
        strength of the day-to-day variability of cloud length scale, cloud
        fraction and brightness (see :func:`make_scene_fields`; 0: none).
    progress:
        show a tqdm progress bar over scenes.
    settings:
        all of ``start`` ... ``variability`` as one
        :class:`convml_tt.config.SceneSettings`, instead of the keywords
        (giving both is a ``TypeError``).
    held_out:
        regime names that do not occur in these scenes (their regions take
        the next regime; see :func:`~.fields.make_scene_fields`); the label
        maps record them (``held_out`` attribute).
    transitions:
        None (default), or a :class:`~.environment.Transitions`: regions
        change regime along the drift by its Markov chain
        (:func:`~.fields.make_scene_fields`).
    workers:
        processes writing scenes side by side (None or 1: in this process);
        each scene is the same bytes either way.

    Returns
    -------
    list of SyntheticScene, in time order.

    Raises
    ------
    OffDiskError
        if ``center`` is off the Earth's disk seen by the satellite.
    ValueError
        for a bad count, interval, sector, band or resolution.
    """
    from ...compute import run_tasks

    s = _settings(settings, dict(
        start=start, count=count, interval=interval, seed=seed, satellite=satellite, sector=sector,
        center=center, size_km=size_km, bands=bands, resolution_km=resolution_km,
        region_km=region_km, variability=variability,
    ))
    sector_geometry(s.center, s.size_km, s.satellite)  # fail early on a bad centre
    held_out = tuple(held_out)
    held_out_codes(held_out)  # an unknown name fails before any file is written
    root = Path(data_root) / "sources" / f"goes{s.satellite}"
    times = [s.start + i * s.interval for i in range(s.count)]
    tasks = [(time, s, str(root), held_out, transitions) for time in times]
    return run_tasks(_write_scene, tasks, workers=workers, progress=progress, desc="synthetic scenes",
                     unit="scene")


def _write_scene(task: tuple) -> SyntheticScene:
    """One scene of :func:`write_synthetic_scenes` (a task: ``(time, SceneSettings, root, held_out,
    transitions)``), its band files and label map written; the same bytes in any process."""
    time, s, root, held_out, transitions = task
    root = Path(root)
    geom = sector_geometry(s.center, s.size_km, s.satellite)
    fields = make_scene_fields(
        time, seed=s.seed, satellite=s.satellite, center=s.center, size_km=s.size_km,
        bands=s.bands, resolution_km=s.resolution_km, region_km=s.region_km,
        variability=s.variability, held_out=held_out, transitions=transitions,
    )
    end = time + dt.timedelta(seconds=SCAN_SECONDS[s.sector])
    created = end + dt.timedelta(seconds=0.6)
    files = {}
    for b in s.bands:
        key = ABIKey(start=time, satellite=s.satellite, product="Rad", sector=s.sector, band=b,
                     mode=6, end=end, created=created)
        if b in fields.brightness_temperature:  # emissive band: Planck radiance of its brightness temperature
            rad = brightness_temperature_to_radiance(fields.brightness_temperature[b], b)
        else:
            # the radiance of the reflectance pattern lit by the Sun at this
            # time and place: it carries cos(solar zenith angle), so a
            # sun-zenith-corrected composite gives back the pattern
            kappa0, _, _ = kappa0_for(b, time)
            rad = fields.reflectance[b].astype(np.float64) / float(kappa0)
            rad *= illumination(geom, fields.resolution_km[b], time)
        res = fields.resolution_km[b]
        p = geom.packed_xy(res)
        files[b] = write_abi_l1b(
            root / key.key, rad, b, p["x"], p["y"], time, end, created, geom.grid,
            satellite=s.satellite, sector=s.sector, resolution_km=res,
        )
    labels = _write_labels(label_path_for(files[s.bands[0]]), fields, held_out)
    return SyntheticScene(time=time, files=files, labels=labels)


def _settings(settings: SceneSettings | None, keywords: dict) -> SceneSettings:
    """``settings``, or the :class:`SceneSettings` of the keywords of
    :func:`write_synthetic_scenes` (checked there)."""
    if settings is None:
        if keywords["start"] is None:
            raise TypeError("write_synthetic_scenes() needs start (the first scan time, UTC) or settings")
        return SceneSettings(**keywords)
    defaults = inspect.signature(write_synthetic_scenes).parameters
    given = sorted(k for k, v in keywords.items() if v is not defaults[k].default)
    if given:
        raise TypeError(f"write_synthetic_scenes() got settings and also {given}; pass one or the other")
    if not isinstance(settings, SceneSettings):
        raise TypeError(f"settings must be a SceneSettings, got {type(settings).__name__}")
    return settings


def _write_labels(path: Path, fields: SceneFields, held_out: tuple[str, ...] = ()) -> Path:
    """Write the regime label map of ``fields`` to ``path`` (netCDF, atomically);
    ``held_out``: the regimes left out of the scene (an attribute when any)."""
    import netCDF4

    geom = fields.geometry
    grid = geom.grid
    day = fields.day or day_to_day(fields.seed, fields.time, 0.0)
    p = geom.packed_xy(fields.label_resolution_km)
    x, y = fields.xy()
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            nc.createDimension("y", y.size)
            nc.createDimension("x", x.size)
            for name, vals in (("y", y), ("x", x)):
                c = nc.createVariable(name, "f8", (name,))
                c.units = "rad"
                c.long_name = f"GOES fixed grid projection {name}-coordinate (scan angle)"
                c.standard_name = f"projection_{name}_coordinate"
                c[:] = vals
            r = nc.createVariable(
                "regime", "i1", ("y", "x"), zlib=True, complevel=1, shuffle=True,
                chunksizes=(min(CHUNK, y.size), min(CHUNK, x.size)),
            )
            r.long_name = "synthetic cloud-organisation regime label"
            r.flag_values = np.arange(len(REGIMES), dtype=np.int8)
            r.flag_meanings = " ".join(REGIMES)
            r.regime_names = ",".join(REGIMES)
            r.missing_label = np.int8(-1)
            r.grid_mapping = "goes_imager_projection"
            r.resolution_km = np.float64(fields.label_resolution_km)
            r.x_scale_factor, r.x_add_offset = p["x"]
            r.y_scale_factor, r.y_add_offset = p["y"]
            r.perspective_point_height = np.float64(grid.perspective_point_height)
            r.semi_major_axis = np.float64(grid.semi_major_axis)
            r.semi_minor_axis = np.float64(grid.semi_minor_axis)
            r.longitude_of_projection_origin = np.float64(grid.longitude_of_projection_origin)
            r.sweep_angle_axis = grid.sweep_angle_axis
            r[:] = fields.labels
            _write_projection(nc, grid)
            nc.setncatts({
                "title": "convml_tt synthetic scene regime labels",
                "time_coverage_start": _iso(fields.time),
                "regime_names": ",".join(REGIMES),
                "cloud_fractions": ",".join(f"{n}={day.regime_cloud_fraction(n):.4f}" for n in REGIMES),
                "nominal_cloud_fractions": ",".join(f"{n}={CLOUD_FRACTION[n]}" for n in REGIMES),
                "brightness_factors": ",".join(f"{n}={day.brightness[n]:.4f}" for n in REGIMES),
                "length_scale_factor": np.float64(day.length_scale),
                "seed": np.int64(fields.seed),
                "region_km": np.float64(fields.region_km),
                "drift_kmh_east_north": np.array(DRIFT_KMH, np.float64),
                "center_lat_lon": np.array(geom.center, np.float64),
                **({"held_out": ",".join(held_out)} if held_out else {}),
                "platform_ID": f"G{geom.satellite}",
                "comment": "labels of the synthetic ABI L1b files beside this one (same scan start)",
            })
    return path
