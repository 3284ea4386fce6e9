"""The fields of a synthetic scene: regime layout, day-to-day weather,
reflectance.

Regions are cells of a warped, jittered lattice (spacing ``region_km``,
default ``size_km / 2.85``, i.e. ~350 km for a 1000 km mesoscale sector, so a
region holds several 200 km tiles) laid out in a frame that drifts with the
trade winds (:data:`DRIFT_KMH`, ~7 m/s towards the west-north-west) relative
to the sector centre; regime of lattice cell ``(i, j)`` is
``(i + 3 j + offset(seed)) mod 6``, so any 3x2 block of cells holds all six
regimes and a default sector shows (almost always) all of them. The cloud
textures (:mod:`.textures`) are drawn afresh for every scan time.

Each scene also has its own weather (:func:`day_to_day`, on by default,
``variability=0`` turns it off): a scene-wide factor 0.70-1.42 on every
horizontal length (deeper or shallower boundary layer: larger or smaller
cells, clumps and bands) and per-regime factors 0.78-1.28 on the cloud
fraction and 0.89-1.13 on the cloud brightness. Within its region, each
regime's cloud fraction (band-2 pixels with reflectance factor above
:data:`~.regimes.CLOUD_REFLECTANCE_THRESHOLD`) is the scene's value exactly.

Reflectance factors are not divided by the cosine of the solar zenith angle
(as ``kappa0 * Rad`` in real files): ocean 0.045 at 0.64 um, 0.02 at 0.86 um
and 0.085 at 0.47 um (Rayleigh scattering); clouds are bright and grey in
all three bands. The finest band (band 2, 0.5 km) is generated and the
coarser bands are block means of the same fields. Small-scale noise is
shared between regimes (their regions are disjoint) and only the regimes
present are generated.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ...config import SceneSettings
from .geometry import _EARTH_RADIUS_KM, SectorGeometry, _latlon_on_grid, _pixel_km, sector_geometry
from .l1b import _J2000, BAND_CONSTANTS, EMISSIVE_CONSTANTS
from .regimes import _BRIGHTNESS, CLOUD_FRACTION, CLOUD_REFLECTANCE_THRESHOLD, REGIMES
from .textures import _block_mean, _hash_uniform, _shade, _texture, _Texturer

__all__ = [
    "DRIFT_KMH",
    "DRIFT_EPOCH",
    "OCEAN_REFLECTANCE",
    "CLOUD_GAIN",
    "DAY_TO_DAY",
    "DayToDay",
    "day_to_day",
    "SceneFields",
    "make_scene_fields",
    "held_out_codes",
    "cloud_fraction_by_regime",
]

#: drift of the regime layout (east, north) in km/h (~7 m/s west-north-west)
DRIFT_KMH = (-24.0, 4.0)
#: reference time of the drifting frame (naive UTC)
DRIFT_EPOCH = dt.datetime(2000, 1, 1, 12)

#: ocean reflectance factor by band (0.47 um includes Rayleigh scattering)
OCEAN_REFLECTANCE = {1: 0.085, 2: 0.045, 3: 0.020, 4: 0.005, 5: 0.012, 6: 0.008}
#: multiplier of the cloud reflectance by band (clouds are nearly grey)
CLOUD_GAIN = {1: 0.97, 2: 1.0, 3: 0.98, 4: 0.02, 5: 0.70, 6: 0.45}
#: band-13 brightness temperature of the clear-sky tropical ocean, K (SST ~300 K
#: seen through the moist boundary layer)
CLEAR_SKY_BT = 296.0
#: band-13 brightness temperature of opaque shallow-cloud tops (~2 km), K
CLOUD_TOP_BT = 282.0
#: cloud reflectance at which a cloud is opaque at 10.3 um
OPAQUE_CLOUD_REFLECTANCE = 0.6


# -----------------------------------------------------------------------------
# regime layout
# -----------------------------------------------------------------------------
def _regime_layout(
    east: np.ndarray, north: np.ndarray, region_km: float, seed: int,
    transitions=None, time: dt.datetime | None = None,
) -> np.ndarray:
    """Regime label (int8) at frame coordinates ``east``, ``north`` (km).

    Cells of a jittered square lattice (spacing ``region_km``), Voronoi
    cells of the jittered points, with boundaries warped by a few sinusoids;
    the regime of cell ``(i, j)`` is ``(i + 3 j + offset) mod 6``, or, with
    ``transitions`` (a :class:`~.environment.Transitions`), that regime at
    its start evolved by its Markov chain to ``time``
    (:meth:`~.environment.Transitions.evolve`).
    """
    rng = np.random.default_rng([seed, 7])
    L = region_km
    px, py = east.astype(np.float64), north.astype(np.float64)
    wx = np.zeros_like(px)
    wy = np.zeros_like(py)
    for wavelength, amp in ((1.3 * L, 0.16 * L), (0.55 * L, 0.07 * L), (0.27 * L, 0.03 * L)):
        for target in (wx, wy):
            ang = rng.uniform(0, 2 * np.pi)
            k = 2 * np.pi / wavelength
            target += amp * np.sin(k * (np.cos(ang) * px + np.sin(ang) * py) + rng.uniform(0, 2 * np.pi))
    qx = (px + wx) / L
    qy = (py + wy) / L
    ci = np.floor(qx).astype(np.int64)
    cj = np.floor(qy).astype(np.int64)
    # jittered points of the few lattice cells in view, as a small table;
    # distances relative to the cell corner in float32 (fast, exact enough)
    i0, j0 = int(ci.min()) - 1, int(cj.min()) - 1
    ti, tj = np.meshgrid(np.arange(i0, int(ci.max()) + 2), np.arange(j0, int(cj.max()) + 2))
    width = ti.shape[1]
    tab_x = (0.5 + 0.6 * (_hash_uniform(ti, tj, seed, 1) - 0.5)).astype(np.float32).ravel()
    tab_y = (0.5 + 0.6 * (_hash_uniform(ti, tj, seed, 2) - 0.5)).astype(np.float32).ravel()
    fx = (qx - ci).astype(np.float32)
    fy = (qy - cj).astype(np.float32)
    base = ((cj - j0) * width + (ci - i0)).astype(np.int64)
    best = np.full(qx.shape, np.inf, np.float32)
    bidx = np.zeros(qx.shape, np.int64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            idx = base + (dj * width + di)
            d = (fx - (di + tab_x.take(idx))) ** 2 + (fy - (dj + tab_y.take(idx))) ** 2
            closer = d < best
            np.copyto(best, d, where=closer)
            np.copyto(bidx, idx, where=closer)
    bi = ti.ravel()[bidx]
    bj = tj.ravel()[bidx]
    offset = int(rng.integers(0, len(REGIMES)))
    if transitions is None:
        return ((bi + 3 * bj + offset) % len(REGIMES)).astype(np.int8)
    table = transitions.evolve((ti.ravel() + 3 * tj.ravel() + offset) % len(REGIMES), ti.ravel(), tj.ravel(),
                               seed, time)
    return table[bidx].astype(np.int8)


def _frame_coords(
    lat: np.ndarray, lon: np.ndarray, center: tuple[float, float], time: dt.datetime
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (km) in the drifting frame: local east/north distances from
    the sector centre minus the drift since :data:`DRIFT_EPOCH`."""
    lat0, lon0 = center
    hours = (time - DRIFT_EPOCH).total_seconds() / 3600.0
    k = math.pi / 180 * _EARTH_RADIUS_KM
    dlon = (lon - lon0 + 180.0) % 360.0 - 180.0
    east = k * math.cos(math.radians(lat0)) * dlon - DRIFT_KMH[0] * hours
    north = k * (lat - lat0) - DRIFT_KMH[1] * hours
    return east, north


# -----------------------------------------------------------------------------
# day-to-day variability
# -----------------------------------------------------------------------------
#: half-widths of the day-to-day variability at ``variability=1`` (natural
#: logarithms): the scene-wide length scale of all cloud objects (~ boundary-
#: layer depth) varies by a factor exp(+-0.35) = 0.70-1.42, each regime's
#: cloud fraction by exp(+-0.25) = 0.78-1.28 and its cloud brightness by
#: exp(+-0.12) = 0.89-1.13, drawn uniformly in the logarithm
DAY_TO_DAY = {"length_scale": 0.35, "cloud_fraction": 0.25, "brightness": 0.12}


@dataclass(frozen=True)
class DayToDay:
    """The weather of one scene: factors applied to the regimes' nominal
    parameters (all 1 when ``variability=0``).

    Attributes
    ----------
    length_scale:
        multiplies every horizontal length of every regime's texture (object
        sizes, cell and band spacings): the clouds of the whole scene are
        larger or smaller, as with a deeper or shallower boundary layer.
    cloud_fraction:
        regime name -> factor on its nominal :data:`CLOUD_FRACTION` (the
        result is clipped to 0.005-0.97).
    brightness:
        regime name -> factor on its cloud reflectance.
    """

    length_scale: float
    cloud_fraction: dict[str, float]
    brightness: dict[str, float]

    def regime_cloud_fraction(self, name: str) -> float:
        """Cloud fraction of regime ``name`` in this scene."""
        return float(min(0.97, max(0.005, CLOUD_FRACTION[name] * self.cloud_fraction[name])))


def day_to_day(seed: int, time: dt.datetime, variability: float = 1.0) -> DayToDay:
    """The day-to-day factors of scene ``(seed, time)`` (see :data:`DAY_TO_DAY`);
    ``variability`` scales the log-ranges (0: every factor 1)."""
    variability = SceneSettings.checked_variability(variability)
    rng = _scene_rng(seed, time, 99)
    u = rng.uniform(-1.0, 1.0, size=1 + 2 * len(REGIMES))
    f = np.exp(u * variability * np.array(
        [DAY_TO_DAY["length_scale"]] + [DAY_TO_DAY["cloud_fraction"]] * len(REGIMES)
        + [DAY_TO_DAY["brightness"]] * len(REGIMES)))
    n = len(REGIMES)
    return DayToDay(
        length_scale=float(f[0]),
        cloud_fraction={name: float(f[1 + k]) for k, name in enumerate(REGIMES)},
        brightness={name: float(f[1 + n + k]) for k, name in enumerate(REGIMES)},
    )


# -----------------------------------------------------------------------------
# scene fields
# -----------------------------------------------------------------------------
@dataclass
class SceneFields:
    """The fields of one synthetic scene, in memory.

    Attributes
    ----------
    time:
        scan start (naive UTC).
    geometry:
        the sector.
    reflectance:
        band -> reflectance factor, float32 ``(ny, nx)`` on the band's grid
        (NaN off the Earth's disk).
    resolution_km:
        band -> nominal resolution (km) of its grid.
    labels:
        regime labels (int8, ``-1`` off disk) on the label grid
        (``label_resolution_km``, 1 km by default).
    label_resolution_km:
        nominal resolution of the label grid.
    day:
        the scene's day-to-day factors (:class:`DayToDay`).
    brightness_temperature:
        emissive band (13) -> brightness temperature, K, float32 ``(ny, nx)``
        on the band's grid (NaN off the Earth's disk): :data:`CLEAR_SKY_BT`
        over the ocean, colder where cloudy (:func:`cloud_brightness_temperature`).
    """

    time: dt.datetime
    geometry: SectorGeometry
    reflectance: dict[int, np.ndarray]
    resolution_km: dict[int, float]
    labels: np.ndarray
    label_resolution_km: float
    seed: int = 0
    region_km: float = 0.0
    day: DayToDay | None = None
    meta: dict = field(default_factory=dict)
    brightness_temperature: dict[int, np.ndarray] = field(default_factory=dict)

    def xy(self, band: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scan angles (rad) of a band's grid, or of the label grid."""
        res = self.label_resolution_km if band is None else self.resolution_km[band]
        return self.geometry.xy(res)


def _band_resolution(band: int, resolution_km: float | None) -> float:
    if band not in BAND_CONSTANTS and band not in EMISSIVE_CONSTANTS:
        raise ValueError(
            f"band {band!r} is not an ABI band this module can synthesise: "
            f"expected one of {tuple(BAND_CONSTANTS) + tuple(EMISSIVE_CONSTANTS)}"
        )
    if resolution_km is not None:
        return float(resolution_km)
    return BAND_CONSTANTS[band][1] if band in BAND_CONSTANTS else EMISSIVE_CONSTANTS[band][1]


def cloud_brightness_temperature(cloud: np.ndarray) -> np.ndarray:
    """Band-13 (10.3 um) brightness temperature (K, float32) of pixels whose
    cloud reflectance (the cloud part of the band-2 reflectance factor, 0
    for clear sky) is ``cloud``: :data:`CLEAR_SKY_BT` for clear sky, falling
    linearly to :data:`CLOUD_TOP_BT` as the cloud thickens to reflectance
    :data:`OPAQUE_CLOUD_REFLECTANCE` (thicker clouds are opaque and reach
    higher: colder tops), a simple emissivity-weighted mix of surface and
    cloud-top emission for shallow trade-wind clouds (tops at 1-2 km)."""
    eps = np.clip(np.asarray(cloud, np.float32) / np.float32(OPAQUE_CLOUD_REFLECTANCE), 0.0, 1.0)
    return (np.float32(CLEAR_SKY_BT) - eps * np.float32(CLEAR_SKY_BT - CLOUD_TOP_BT)).astype(np.float32)


def _scene_rng(seed: int, time: dt.datetime, stream: int = 0) -> np.random.Generator:
    """Random stream ``stream`` of scene ``(seed, time)`` (0: shared, k+1: regime k)."""
    stamp = int(round((time - _J2000).total_seconds() * 10))
    return np.random.default_rng([int(seed) % 2**63, stamp % 2**63, 11, int(stream)])


def held_out_codes(held_out: Sequence[str]) -> list[int]:
    """The labels of the regime names ``held_out`` (a ValueError names the
    regimes for an unknown one; holding out all of them is refused)."""
    bad = [n for n in held_out if n not in REGIMES]
    if bad:
        raise ValueError(f"held-out regime {bad[0]!r} is not one of the synthetic regimes {list(REGIMES)}")
    codes = sorted({REGIMES.index(n) for n in held_out})
    if len(codes) == len(REGIMES):
        raise ValueError(f"holding out every regime {list(REGIMES)} leaves none to draw; hold out fewer")
    return codes


def _hold_out(labels: np.ndarray, held_out: Sequence[str]) -> np.ndarray:
    """``labels`` with the regions of the ``held_out`` regimes given to the
    next regime (label order, cyclic) that is not held out: scenes in which
    those regimes never occur (e.g. to fit regimes that never saw them)."""
    codes = held_out_codes(held_out)
    out = labels.copy()
    for k in codes:
        sub = next(j % len(REGIMES) for j in range(k + 1, k + len(REGIMES)) if j % len(REGIMES) not in codes)
        out[labels == k] = sub
    return out


def make_scene_fields(
    time: dt.datetime,
    seed: int = 0,
    satellite: int = 16,
    center: tuple[float, float] = (15.0, -50.0),
    size_km: float = 1000.0,
    bands: Sequence[int] = (1, 2, 3),
    resolution_km: float | None = None,
    region_km: float | None = None,
    labels_only: bool = False,
    variability: float = 1.0,
    held_out: Sequence[str] = (),
    transitions=None,
) -> SceneFields:
    """Generate the reflectance and regime-label fields of one scene in memory.

    Parameters
    ----------
    time:
        scan start, naive UTC; the regime layout drifts with time, the cloud
        textures are drawn afresh for each time.
    seed:
        random seed; the same ``(seed, time, geometry)`` gives identical arrays.
    satellite, center, size_km:
        see :func:`sector_geometry`.
    bands:
        reflective bands (1-6) to generate.
    resolution_km:
        None for the real per-band resolutions (1, 0.5, 1 km for bands 1-3);
        or 0.5, 1 or 2 to put every band on that grid (fast, non-standard).
    region_km:
        lattice spacing (km) of the regime regions; default ``size_km / 2.85``.
    labels_only:
        if True, only the label map is computed (``reflectance`` empty; fast).
    variability:
        strength of the day-to-day variability (:func:`day_to_day`): 1 (default)
        varies the scene's cloud length scale by 0.70-1.42 and each regime's
        cloud fraction by 0.78-1.28 and brightness by 0.89-1.13; 0 gives every
        scene the nominal parameters.
    held_out:
        names of regimes (:data:`~.regimes.REGIMES`) that do not occur: their
        regions take the next regime's label and clouds (e.g. scenes to fit
        regimes on, with a regime that only the scenes mapped later hold).
    transitions:
        None (default: each region keeps its regime as it drifts), or a
        :class:`~.environment.Transitions`: each region's regime changes
        along the drift by that Markov chain (a synthetic truth for regimes
        along trajectories).

    Returns
    -------
    SceneFields
    """
    SceneSettings.checked_resolution_km(resolution_km)
    bands = SceneSettings.checked_bands(bands)
    band_res = {b: _band_resolution(b, resolution_km) for b in bands}
    geom = sector_geometry(center, size_km, satellite)
    region_km = SceneSettings.checked_region_km(region_km)
    region_km = region_km if region_km is not None else float(size_km) / 2.85

    label_res = 1.0 if resolution_km is None else float(resolution_km)
    xl, yl = geom.xy(label_res)
    lat, lon = _latlon_on_grid(geom.grid, xl, yl)
    on_disk = np.isfinite(lat)
    east, north = _frame_coords(np.where(on_disk, lat, geom.center[0]), np.where(on_disk, lon, geom.center[1]), geom.center, time)
    labels = _regime_layout(east, north, region_km, seed, transitions, time)
    if held_out:
        labels = _hold_out(labels, held_out)
    labels[~on_disk] = -1

    day = day_to_day(seed, time, variability)
    fields = SceneFields(
        time=time, geometry=geom, reflectance={}, resolution_km=band_res, labels=labels,
        label_resolution_km=label_res, seed=seed, region_km=region_km, day=day,
    )
    if labels_only:
        return fields

    fine_res = min(min(band_res.values()), label_res)
    up = int(round(label_res / fine_res))
    fine_labels = np.repeat(np.repeat(labels, up, 0), up, 1) if up > 1 else labels
    shape = fine_labels.shape
    dx_km, dy_km = _pixel_km(geom, fine_res)
    # the texturer works in "nominal km": a scene with length scale s draws
    # every regime's objects s times larger on the ground
    dy_dx = (dy_km / day.length_scale, dx_km / day.length_scale)
    coarse = 2 if (shape[0] % 2 == 0 and fine_res < 1.0) else 1
    present = set(int(v) for v in np.unique(fine_labels) if v >= 0)
    # small-scale noise shared by all regimes (they cover disjoint regions, so
    # sharing costs no independence and saves most of the FFTs)
    shared = _Texturer(_scene_rng(seed, time, 0), shape, *dy_dx)
    fine = {"a": shared.bandpass(3.0, 0.4), "b": shared.bandpass(2.5, 0.5)}
    cloud = np.zeros(shape, np.float32)
    for k, name in enumerate(REGIMES):
        if k not in present:
            continue
        tx = _Texturer(_scene_rng(seed, time, k + 1), shape, *dy_dx)
        f, bright = _texture(name, tx, coarse, fine)
        mask = fine_labels == k
        vals = f[mask]
        q = int((1.0 - day.regime_cloud_fraction(name)) * (vals.size - 1))
        thr = np.partition(vals, q)[q]
        rmin, rmax, scale = _BRIGHTNESS[name]
        r = _shade(vals - thr, rmin, rmax, scale) * np.float32(day.brightness[name])
        if bright is not None:
            r *= bright[mask]
        r = np.clip(r, rmin, 0.95)
        cloud[mask] = np.where(vals > thr, r, 0.0)

    # faint ocean variability (wind speed / aerosol) and sensor noise
    ocean_var = 0.004 * shared.bandpass(150.0, 0.6)
    fine_off = ~on_disk
    if up > 1:
        fine_off = np.repeat(np.repeat(fine_off, up, 0), up, 1)
    for b in bands:
        if b in EMISSIVE_CONSTANTS:  # brightness temperature: colder where cloudy
            bt = cloud_brightness_temperature(cloud) + np.float32(0.3) * (ocean_var / np.float32(0.004))
            bt[fine_off] = np.nan
            fields.brightness_temperature[b] = _block_mean(bt.astype(np.float32), int(round(band_res[b] / fine_res)))
            continue
        ocean = OCEAN_REFLECTANCE[b] * (1.0 + ocean_var / 0.045 * 0.5)
        refl = ocean + CLOUD_GAIN[b] * cloud * (1.0 - ocean)
        refl = refl.astype(np.float32)
        refl[fine_off] = np.nan
        factor = int(round(band_res[b] / fine_res))
        fields.reflectance[b] = _block_mean(refl, factor)
    fields.meta = {"pixel_km": (dx_km, dy_km), "fine_resolution_km": fine_res}
    return fields


def cloud_fraction_by_regime(
    reflectance_band2: np.ndarray, labels: np.ndarray, threshold: float = CLOUD_REFLECTANCE_THRESHOLD
) -> dict[str, float]:
    """Cloud fraction (fraction of pixels with band-2 reflectance factor >
    ``threshold``) of each regime present. ``labels`` may be on a grid 1, 2
    or 4 times coarser than the reflectance (it is repeated to match)."""
    f = reflectance_band2.shape[0] // labels.shape[0]
    if f > 1:
        labels = np.repeat(np.repeat(labels, f, 0), f, 1)
    if labels.shape != reflectance_band2.shape:
        raise ValueError(
            f"labels {labels.shape} and reflectance {reflectance_band2.shape} grids do not match"
        )
    out = {}
    cloudy = reflectance_band2 > threshold
    for k, name in enumerate(REGIMES):
        m = labels == k
        if m.any():
            out[name] = float(cloudy[m].mean())
    return out
