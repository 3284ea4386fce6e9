"""Synthetic GOES ABI L1b scenes with known cloud-organisation regimes.

No real GOES visible-band data can be downloaded everywhere this package is
used (tests, demo, benchmarks), so this module writes *faithful* stand-ins:
ABI L1b radiance files for the reflective bands 1, 2 and 3 (0.47, 0.64 and
0.86 um at 1, 0.5 and 1 km) with the real file names, variables, attributes,
packing and fixed-grid geometry, into the source-cache layout
``{data_root}/sources/goes{satellite}/{key}`` exactly where fetched files go.
Every later step (catalogue, composite, triplets, training) treats them like
downloaded files; only the regime *label map* written beside them is extra.

Regimes
-------
:data:`REGIMES` names the labels; the index of a name is its integer label
(label 0 is cloud-free ocean, ``clear``):

=====  ===============  ===========  ==========================================
label  name             cloud frac.  organisation
=====  ===============  ===========  ==========================================
0      clear            0.02         dark ocean with a very few tiny cumuli
1      sugar            0.12         dusting of small (1-3 km), dim, sparse
                                     cumuli, evenly spread
2      gravel           0.30         cumulus clumps (2-5 km) on arcs and rings
                                     around 15-40 km cold pools
3      flowers          0.30         bright 20-60 km patches, regularly spaced,
                                     with wide clear gaps
4      fish             0.30         elongated (hundreds of km), narrow,
                                     skeletal bands of cloud, ragged edges
5      stratocumulus    0.88         closed-cell deck: bright 15-30 km cells
                                     with darker thin rims and a few rifts
=====  ===============  ===========  ==========================================

``gravel``, ``flowers`` and ``fish`` have the *same* nominal cloud fraction
(0.30, exactly, within their regions at 0.5 km), so a model can only tell
them apart by spatial organisation (object size, shape and arrangement),
which is what the later quality evaluation is meant to measure.

Each scene also has its own weather (:func:`day_to_day`, on by default,
``variability=0`` turns it off): a scene-wide factor 0.70-1.42 on every
horizontal length (deeper or shallower boundary layer: larger or smaller
cells, clumps and bands) and per-regime factors 0.78-1.28 on the cloud
fraction and 0.89-1.13 on the cloud brightness, recorded in the label file. Cloud fraction is the fraction of
band-2 (0.64 um) pixels of a region with reflectance factor above
:data:`CLOUD_THRESHOLD` (0.10).

Regions are cells of a warped, jittered lattice (spacing ``region_km``,
default ``size_km / 2.85``, i.e. ~350 km for a 1000 km mesoscale sector, so a
region holds several 200 km tiles) laid out in a frame that drifts with the
trade winds (:data:`DRIFT_KMH`, ~7 m/s towards the west-north-west) relative
to the sector centre; regime of lattice cell ``(i, j)`` is
``(i + 3 j + offset(seed)) mod 6``, so any 3x2 block of cells holds all six
regimes and a default sector shows (almost always) all of them. The cloud
textures are drawn afresh for every scan time (spectrally shaped noise via
FFTs and jittered-lattice Voronoi/"Worley" fields).

Bands
-----
Reflectance factors (not divided by the cosine of the solar zenith angle,
as ``kappa0 * Rad`` in real files; the synthetic sun is the same at every
time of day): ocean 0.045 at 0.64 um, 0.02 at 0.86 um and 0.085 at 0.47 um
(Rayleigh scattering); clouds are bright and grey in all three bands, so a
true-colour composite looks natural. Band 2 is generated at 0.5 km and the
1 km bands are 2x2 block means of the same fields.

Files
-----
Each band file ``OR_ABI-L1b-Rad{sector}-M6C{band:02d}_G{sat}_s..._e..._c....nc``
holds ``Rad`` (radiance, W m-2 sr-1 um-1, packed as unsigned 10- or 12-bit
integers in int16 with ``_Unsigned``, ``scale_factor``, ``add_offset``,
``_FillValue``, ``valid_range`` of the real per-band constants), ``DQF``,
``x``/``y`` int16-packed scan angles (``y`` scale negative: row 0 is north),
``goes_imager_projection``, ``t``, ``time_bounds``, ``band_id``,
``band_wavelength``, ``esun``, ``kappa0``, ``earth_sun_distance_anomaly_in_AU``,
``planck_*`` (NaN, as real reflective-band files have), the nominal
sub-satellite point, ``x_image``/``y_image``, ``geospatial_lat_lon_extent``
and radiance statistics; zlib-compressed in 226x226 chunks like real files.
The sector lies on the real full-disk fixed grid (pixel spacing 28e-6 rad at
1 km, 14e-6 rad at 0.5 km; its corners snapped to the 2 km grid as real
mesoscale sectors are). The global attribute ``comment`` says the file is
synthetic. The label map, ``convml_tt-synthetic-labels_{sector}_G{sat}_s{start}.nc``
beside the band files (its name does not start with ``OR_ABI``, so catalogue
queries skip it), holds ``regime`` (int8, ``-1`` off the Earth's disk) on
the 1 km grid of the scene.

Round trips (tested): reflectance read back through
:func:`convml_tt.data.abi.calibrate` equals the generated field within half
a packing step (band 1: ~6e-4, band 2: 1.5e-4, band 3: ~6e-4); satpy's
``abi_l1b`` reader (0.60) opens the files, its reflectances (percent) agree
with ``convml_tt.data.abi`` to float32 rounding (relative 1e-5; measured
max 8e-6 %) and its longitudes/latitudes within 1e-5 degrees (measured
~3e-6: satpy decodes the int16 scan angles in float64, xarray in float32).

Speed (measured on one shared core of the development machine): one default
scene (1000 km, bands 1-3: 1000x1000, 2000x2000, 1000x1000 pixels) takes
~1.7-2.5 s of CPU (~1.5 s generation, the rest writing three compressed
files); a 300 km sector ~0.2 s. Smooth fields are drawn on decimated grids,
small-scale noise is shared between regimes (their regions are disjoint) and
only the regimes present are generated.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import scipy.fft as sfft
import xarray as xr

from .abi import FixedGrid, OffDiskError
from .goes import ABIKey, format_timestamp

__all__ = [
    "REGIMES",
    "CLOUD_FRACTION",
    "CLOUD_THRESHOLD",
    "SyntheticScene",
    "SceneFields",
    "SectorGeometry",
    "sector_geometry",
    "make_scene_fields",
    "DAY_TO_DAY",
    "DayToDay",
    "day_to_day",
    "write_synthetic_scenes",
    "write_abi_l1b",
    "load_regime_labels",
    "regime_at",
    "cloud_fraction_by_regime",
    "label_path_for",
]

#: regime names; the index of a name is its integer label (0: cloud-free ocean)
REGIMES: tuple[str, ...] = ("clear", "sugar", "gravel", "flowers", "fish", "stratocumulus")
#: target cloud fraction of each regime (band-2 reflectance > CLOUD_THRESHOLD)
CLOUD_FRACTION: dict[str, float] = {
    "clear": 0.02,
    "sugar": 0.12,
    "gravel": 0.30,
    "flowers": 0.30,
    "fish": 0.30,
    "stratocumulus": 0.88,
}
#: band-2 (0.64 um) reflectance factor above which a pixel counts as cloudy
CLOUD_THRESHOLD = 0.10
#: drift of the regime layout (east, north) in km/h (~7 m/s west-north-west)
DRIFT_KMH = (-24.0, 4.0)
#: reference time of the drifting frame (naive UTC)
DRIFT_EPOCH = dt.datetime(2000, 1, 1, 12)

#: ocean reflectance factor by band (0.47 um includes Rayleigh scattering)
OCEAN_REFLECTANCE = {1: 0.085, 2: 0.045, 3: 0.020, 4: 0.005, 5: 0.012, 6: 0.008}
#: multiplier of the cloud reflectance by band (clouds are nearly grey)
CLOUD_GAIN = {1: 0.97, 2: 1.0, 3: 0.98, 4: 0.02, 5: 0.70, 6: 0.45}

#: per-band constants of real GOES-16 L1b files: (central wavelength um,
#: nominal resolution km, bit depth, Rad scale_factor, Rad add_offset, esun W m-2 um-1)
BAND_CONSTANTS: dict[int, tuple[float, float, int, float, float, float]] = {
    1: (0.47, 1.0, 10, 0.8121064, -25.936647, 2017.1648),
    2: (0.64, 0.5, 12, 0.15859237, -20.289911, 1631.3351),
    3: (0.865, 1.0, 10, 0.37691253, -12.037643, 957.0699),
    4: (1.378, 2.0, 11, 0.07073108, -4.5223684, 360.90176),
    5: (1.61, 1.0, 10, 0.09580004, -3.0596137, 242.54037),
    6: (2.25, 2.0, 10, 0.030088475, -0.9609507, 76.8999),
}

#: (projection origin longitude, nominal sub-satellite longitude, orbital slot, instrument)
SATELLITE_POSITIONS = {
    16: (-75.0, -75.2, "GOES-East", "FM1"),
    17: (-137.0, -137.2, "GOES-West", "FM2"),
    18: (-137.0, -137.0, "GOES-West", "FM3"),
    19: (-75.0, -75.2, "GOES-East", "FM4"),
}
#: scan duration by sector in scan mode 6 (s), as in real file names
SCAN_SECONDS = {"M1": 7.0, "M2": 7.0, "C": 157.0, "F": 571.0}
SCENE_IDS = {"M1": "Mesoscale", "M2": "Mesoscale", "C": "CONUS", "F": "Full Disk"}

#: fixed-grid pixel spacing (rad) of 1 km pixels; other resolutions scale with it
SPACING_1KM = 28e-6
#: the real on-disk chunk size of L1b files
CHUNK = 226
LABEL_PREFIX = "convml_tt-synthetic-labels"
_EARTH_RADIUS_KM = 6371.0
_J2000 = dt.datetime(2000, 1, 1, 12)


# -----------------------------------------------------------------------------
# geometry
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SectorGeometry:
    """A rectangular sector of the ABI fixed grid.

    Attributes
    ----------
    grid:
        the satellite's fixed-grid projection.
    center:
        requested ``(lat, lon)`` in degrees.
    x_left, y_top:
        scan angles (rad) of the sector's west and north edges, on the
        full-disk 2 km grid.
    n_1km:
        number of 1 km pixels along each side (even).
    satellite:
        16-19.
    """

    grid: FixedGrid
    center: tuple[float, float]
    x_left: float
    y_top: float
    n_1km: int
    satellite: int = 16

    def spacing(self, resolution_km: float) -> float:
        """Pixel spacing in rad of a grid with nominal ``resolution_km``."""
        return SPACING_1KM * resolution_km

    def shape(self, resolution_km: float) -> tuple[int, int]:
        """``(ny, nx)`` of the grid with nominal ``resolution_km``."""
        n = int(round(self.n_1km / resolution_km))
        return n, n

    def packed_xy(self, resolution_km: float) -> dict[str, tuple[np.float32, np.float32]]:
        """``{"x": (scale, offset), "y": (scale, offset)}`` float32 packing of
        the scan angles as written in the files (y's scale is negative)."""
        s = self.spacing(resolution_km)
        return {
            "x": (np.float32(s), np.float32(self.x_left + 0.5 * s)),
            "y": (np.float32(-s), np.float32(self.y_top - 0.5 * s)),
        }

    def xy(self, resolution_km: float) -> tuple[np.ndarray, np.ndarray]:
        """Scan angles (rad, float64) of the pixel centres, ``x`` increasing
        east, ``y`` decreasing (row 0 north), exactly as a reader decodes the
        int16-packed values (float32 ``scale_factor`` and ``add_offset``)."""
        ny, nx = self.shape(resolution_km)
        p = self.packed_xy(resolution_km)
        x = np.arange(nx) * float(p["x"][0]) + float(p["x"][1])
        y = np.arange(ny) * float(p["y"][0]) + float(p["y"][1])
        return x, y


def sector_geometry(
    center: tuple[float, float] = (15.0, -50.0),
    size_km: float = 1000.0,
    satellite: int = 16,
) -> SectorGeometry:
    """The sector of about ``size_km`` x ``size_km`` (nominal km at the
    sub-satellite point, i.e. ``size_km`` 1 km pixels) centred near
    ``center`` = ``(lat, lon)`` in degrees, snapped to the full-disk 2 km grid.

    Raises
    ------
    OffDiskError
        if the centre is not on the Earth's disk seen by the satellite.
    ValueError
        for an unknown satellite, a bad centre or size.
    """
    if satellite not in SATELLITE_POSITIONS:
        raise ValueError(
            f"satellite {satellite!r} is not a GOES-R satellite: expected one of "
            f"{tuple(SATELLITE_POSITIONS)}"
        )
    try:
        lat, lon = (float(v) for v in center)
    except (TypeError, ValueError):
        raise ValueError(f"center {center!r} must be (lat, lon) in degrees") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 360):
        raise ValueError(f"center {center!r} must be (lat, lon) with lat in [-90, 90] degrees")
    if not (4.0 <= float(size_km) <= 5000.0):
        raise ValueError(
            f"size_km {size_km!r} must be between 4 and 5000 (km); real mesoscale sectors are 1000"
        )
    lon0 = SATELLITE_POSITIONS[satellite][0]
    grid = FixedGrid(longitude_of_projection_origin=lon0)
    xc, yc = grid.latlon_to_scan(lat, lon)
    xc, yc = float(xc), float(yc)
    if not (math.isfinite(xc) and math.isfinite(yc)):
        raise OffDiskError(
            f"center (lat={lat}, lon={lon}) is off the Earth's disk seen by GOES-{satellite} "
            f"(sub-satellite longitude {lon0}); choose a centre within ~70 degrees "
            f"of (0, {lon0})"
        )
    n2 = max(2, int(round(float(size_km) / 2.0)))
    s2 = 2 * SPACING_1KM
    kx = int(round(xc / s2 - n2 / 2))
    ky = int(round(yc / s2 + n2 / 2))
    return SectorGeometry(
        grid=grid, center=(lat, lon), x_left=kx * s2, y_top=ky * s2, n_1km=2 * n2,
        satellite=satellite,
    )


def _latlon_on_grid(grid: FixedGrid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lat/lon (degrees) of all ``(y, x)`` pixel centres, computed exactly on
    a sparse subset and interpolated (cubic; error < 1e-6 degrees for
    sectors on the disk), or exactly everywhere when near the limb."""
    from scipy.interpolate import RectBivariateSpline

    step = 16
    ix = np.unique(np.r_[np.arange(0, x.size, step), x.size - 1])
    iy = np.unique(np.r_[np.arange(0, y.size, step), y.size - 1])
    xx, yy = np.meshgrid(x[ix], y[iy])
    lat_s, lon_s = grid.scan_to_latlon(xx, yy)
    if ix.size < 4 or iy.size < 4 or not np.isfinite(lat_s).all() or np.ptp(lon_s) > 180:
        xx, yy = np.meshgrid(x, y)
        return grid.scan_to_latlon(xx, yy)
    out = []
    for v in (lat_s, lon_s):
        spl = RectBivariateSpline(iy, ix, v, kx=3, ky=3)
        out.append(spl(np.arange(y.size), np.arange(x.size)))
    return out[0], out[1]


def _pixel_km(geom: SectorGeometry, resolution_km: float) -> tuple[float, float]:
    """Ground size (km) of one pixel east-west and north-south at the centre."""
    x, y = geom.xy(resolution_km)
    i, j = x.size // 2, y.size // 2
    lat, lon = geom.grid.scan_to_latlon(
        np.array([x[i], x[i + 1], x[i]]), np.array([y[j], y[j], y[j + 1]])
    )
    if not np.isfinite(lat).all():
        return resolution_km, resolution_km
    coslat = math.cos(math.radians(lat[0]))
    k = math.pi / 180 * _EARTH_RADIUS_KM
    dx = k * math.hypot((lon[1] - lon[0]) * coslat, lat[1] - lat[0])
    dy = k * math.hypot((lon[2] - lon[0]) * coslat, lat[2] - lat[0])
    return dx, dy


# -----------------------------------------------------------------------------
# regime layout
# -----------------------------------------------------------------------------
def _hash_uniform(i: np.ndarray, j: np.ndarray, seed: int, salt: int) -> np.ndarray:
    """Deterministic uniform [0, 1) numbers of integer lattice indices
    (splitmix64 finaliser of a combined key)."""
    with np.errstate(over="ignore"):
        z = (
            np.asarray(i, np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            ^ np.asarray(j, np.int64).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ np.uint64((seed * 0x165667B19E3779F9 + salt * 0x27D4EB2F165667C5) % 2**64)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _regime_layout(
    east: np.ndarray, north: np.ndarray, region_km: float, seed: int
) -> np.ndarray:
    """Regime label (int8) at frame coordinates ``east``, ``north`` (km).

    Cells of a jittered square lattice (spacing ``region_km``), Voronoi
    cells of the jittered points, with boundaries warped by a few sinusoids;
    the regime of cell ``(i, j)`` is ``(i + 3 j + offset) mod 6``.
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
    return ((bi + 3 * bj + offset) % len(REGIMES)).astype(np.int8)


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
# cloud textures
# -----------------------------------------------------------------------------
class _Texturer:
    """Random fields on a pixel grid of ``shape`` with ground spacing
    ``(dy_km, dx_km)``; every field has zero mean and unit variance.

    Smooth fields are drawn on a grid ``dec`` times coarser (at least ~8
    coarse pixels per wavelength) and upsampled bilinearly, which is much
    faster and indistinguishable at those scales."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, int], dy_km: float, dx_km: float):
        self.rng = rng
        self.shape = shape
        self.dy, self.dx = dy_km, dx_km
        self._freq: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _dec_for(self, scale_km: float) -> int:
        """Largest decimation (1-8, dividing the grid) keeping >= 8 pixels per ``scale_km``."""
        for dec in (8, 4, 2):
            if self.shape[0] % dec == 0 and self.shape[1] % dec == 0 and \
                    dec * max(self.dx, self.dy) * 8 <= scale_km:
                return dec
        return 1

    def freqs(self, dec: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ky, kx)`` in cycles/km of the rfft2 of the grid decimated by ``dec``."""
        if dec not in self._freq:
            ny, nx = self.shape[0] // dec, self.shape[1] // dec
            ky = sfft.fftfreq(ny, d=self.dy * dec).astype(np.float32)[:, None]
            kx = sfft.rfftfreq(nx, d=self.dx * dec).astype(np.float32)[None, :]
            self._freq[dec] = (ky, kx)
        return self._freq[dec]

    def _filtered(self, filt: np.ndarray, dec: int, upsample: bool = True) -> np.ndarray:
        shape = (self.shape[0] // dec, self.shape[1] // dec)
        w = self.rng.standard_normal(shape, dtype=np.float32)
        f = sfft.irfft2(sfft.rfft2(w, workers=1) * filt, s=shape, workers=1).astype(np.float32, copy=False)
        if upsample:
            f = _upsample(f, dec)
        f -= f.mean()
        sd = f.std()
        return f / sd if sd > 0 else f

    def bandpass(self, wavelength_km: float, width: float = 0.5, dec: int | None = None,
                 upsample: bool = True) -> np.ndarray:
        """Isotropic noise with a log-normal spectral peak at ``wavelength_km``
        (``width``: spread of ln(k))."""
        dec = self._dec_for(wavelength_km * math.exp(-2 * width)) if dec is None else dec
        ky, kx = self.freqs(dec)
        k = np.sqrt(kx**2 + ky**2)
        with np.errstate(divide="ignore"):
            lk = np.log(np.maximum(k, 1e-9) * wavelength_km)
        filt = np.exp(-0.5 * (lk / width) ** 2).astype(np.float32)
        filt[0, 0] = 0
        return self._filtered(filt, dec, upsample)

    def anisotropic(self, along_km: float, across_km: float, angle_deg: float,
                    dec: int | None = None, upsample: bool = True) -> np.ndarray:
        """Gaussian-filtered noise with correlation lengths ``along_km`` along
        the direction ``angle_deg`` (counter-clockwise from east) and
        ``across_km`` across it; scales much larger than ``across_km`` across
        the bands are damped, so bands are separated by clear lanes."""
        dec = self._dec_for(across_km * 2) if dec is None else dec
        ky, kx = self.freqs(dec)
        a = math.radians(angle_deg)
        ka = kx * math.cos(a) - ky * math.sin(a)  # row index grows southwards
        kc = kx * math.sin(a) + ky * math.cos(a)
        filt = np.exp(-2 * np.pi**2 * ((ka * along_km) ** 2 + (kc * across_km) ** 2))
        k = np.sqrt(ka**2 + kc**2)
        filt *= 1 - np.exp(-((k * 1.5 * across_km) ** 2))
        return self._filtered(filt.astype(np.float32), dec, upsample)

    def warp(self, f: np.ndarray, amp_km: float, wavelength_km: float) -> np.ndarray:
        """``f`` (on the grid decimated by ``self.shape / f.shape``) resampled
        at positions displaced by smooth random offsets of ~``amp_km``."""
        from scipy.ndimage import map_coordinates

        dec = self.shape[0] // f.shape[0]
        dy = self.bandpass(wavelength_km, 0.5, dec=dec, upsample=False) * (amp_km / (self.dy * dec))
        dx = self.bandpass(wavelength_km, 0.5, dec=dec, upsample=False) * (amp_km / (self.dx * dec))
        rows, cols = np.indices(f.shape, dtype=np.float32)
        return map_coordinates(f, [rows + dy, cols + dx], order=1, mode="mirror").astype(np.float32)

    def worley(self, cell_km: float, coarse: int = 1):
        """Jittered-lattice Voronoi fields: distance to the nearest (``f1``)
        and second nearest (``f2``) point (km), the unit vector to the nearest
        point and a uniform random number per nearest point (``u``).

        Computed on a grid ``coarse`` times coarser than the texturer's and
        returned on it (callers upsample)."""
        ny, nx = self.shape[0] // coarse, self.shape[1] // coarse
        dy, dx = self.dy * coarse, self.dx * coarse
        Y = (np.arange(ny, dtype=np.float32) + 0.5) * dy
        X = (np.arange(nx, dtype=np.float32) + 0.5) * dx
        mx = int(nx * dx / cell_km) + 3
        my = int(ny * dy / cell_km) + 3
        jit = self.rng.uniform(0.1, 0.9, size=(2, my, mx)).astype(np.float32)
        uval = self.rng.uniform(0, 1, size=(my, mx)).astype(np.float32)
        ci = np.floor(X / cell_km).astype(np.int64)[None, :] + 1  # +1: padding
        cj = np.floor(Y / cell_km).astype(np.int64)[:, None] + 1
        tab_x = ((np.arange(mx)[None, :] - 1 + jit[0]) * cell_km).astype(np.float32).ravel()
        tab_y = ((np.arange(my)[:, None] - 1 + jit[1]) * cell_km).astype(np.float32).ravel()
        base = cj * mx + ci
        d1 = np.full((ny, nx), np.inf, np.float32)
        d2 = np.full((ny, nx), np.inf, np.float32)
        best = np.zeros((ny, nx), np.int64)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                idx = base + (dj * mx + di)
                ddx = tab_x.take(idx) - X[None, :]
                ddy = tab_y.take(idx) - Y[:, None]
                d = ddx * ddx + ddy * ddy
                closer = d < d1
                np.minimum(d2, np.where(closer, d1, d), out=d2)
                np.copyto(d1, d, where=closer)
                np.copyto(best, idx, where=closer)
        ux = tab_x.take(best) - X[None, :]
        uy = tab_y.take(best) - Y[:, None]
        return np.sqrt(d1), np.sqrt(d2), ux, uy, uval.ravel().take(best)


def _upsample(a: np.ndarray, factor: int) -> np.ndarray:
    """Bilinear upsampling of a pixel-centred field by 1, 2 or 4."""
    while factor > 1:
        b = np.empty((a.shape[0] * 2, a.shape[1]), a.dtype)
        prev = np.concatenate([a[:1], a[:-1]], 0)
        nxt = np.concatenate([a[1:], a[-1:]], 0)
        b[0::2] = 0.75 * a + 0.25 * prev
        b[1::2] = 0.75 * a + 0.25 * nxt
        c = np.empty((b.shape[0], b.shape[1] * 2), a.dtype)
        prev = np.concatenate([b[:, :1], b[:, :-1]], 1)
        nxt = np.concatenate([b[:, 1:], b[:, -1:]], 1)
        c[:, 0::2] = 0.75 * b + 0.25 * prev
        c[:, 1::2] = 0.75 * b + 0.25 * nxt
        a = c
        factor //= 2
    return a


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return a
    ny, nx = a.shape
    return a.reshape(ny // factor, factor, nx // factor, factor).mean(axis=(1, 3), dtype=np.float32)


def _shade(excess: np.ndarray, rmin: float, rmax: float, scale: float) -> np.ndarray:
    """Cloud reflectance from a field's excess over its cloud threshold."""
    return (rmin + (rmax - rmin) * (1.0 - np.exp(-np.maximum(excess, 0) / scale))).astype(np.float32)


def _texture(
    name: str, tx: _Texturer, coarse: int, fine: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(field, brightness)`` of one regime on the texturer's grid; ``fine``
    holds shared small-scale fields (``"a"``: ~3 km, ``"b"``: ~2.5 km).

    Cloud is where ``field`` exceeds its regime's cloud-fraction quantile;
    ``brightness`` (or None) multiplies the cloud reflectance."""
    if name == "clear":
        # a few isolated small cumuli where a broad field is high
        f = fine["a"] + 1.2 * tx.bandpass(80.0, 0.5)
        return f, None
    if name == "sugar":
        # small dim cumuli, evenly spread, in faint streets along the wind
        f = fine["a"] + 0.3 * tx.anisotropic(30.0, 4.0, 10.0) + 0.3 * tx.bandpass(40.0, 0.5)
        return f, None
    if name == "gravel":
        # clumps of cumulus on arcs at the edges of 15-40 km cold pools
        cell = 30.0
        f1, f2, ux, uy, u = tx.worley(cell, coarse)
        radius = cell * (0.22 + 0.3 * u)
        width = 1.5 + 1.5 * u
        ring = np.exp(-(((f1 - radius) / width) ** 2))
        # each pool's arc spans part of its rim (ahead of the gust front)
        ang = np.arctan2(uy, ux) + 2 * np.pi * 3.0 * u
        arc = np.clip(0.2 + np.cos(ang), 0, 1)
        edge = np.exp(-(((f2 - f1) / 2.5) ** 2))
        macro = _upsample((1.5 * ring * arc + 0.7 * edge).astype(np.float32), coarse)
        f = macro + 0.9 * fine["a"]
        bright = 1.0 + 0.3 * fine["b"]
        return f, bright
    if name == "flowers":
        # large, rounded, regularly spaced patches with wide clear gaps
        f = tx.bandpass(90.0, 0.25) + 0.10 * tx.bandpass(10.0, 0.5) + 0.06 * fine["a"]
        bright = 1.0 + 0.18 * tx.bandpass(8.0, 0.5) + 0.1 * fine["b"]
        return f, bright
    if name == "fish":
        # long, curved, skeletal bands with ragged edges and ribs
        angle = 15.0 + 30.0 * (tx.rng.uniform() - 0.5)
        dec = tx._dec_for(24.0)
        band = tx.anisotropic(220.0, 16.0, angle, dec=dec, upsample=False)
        band = band + 0.25 * tx.bandpass(400.0, 0.5, dec=dec, upsample=False)
        band = _upsample(tx.warp(band, 25.0, 250.0), dec)
        ribs = tx.anisotropic(4.0, 25.0, angle)
        f = band + 0.25 * ribs + 0.25 * fine["a"]
        bright = 1.0 + 0.2 * tx.bandpass(10.0, 0.5) + 0.1 * fine["b"]
        return f, bright
    if name == "stratocumulus":
        # closed cells: bright 15-30 km cells with darker rims, a few rifts
        f1, f2, ux, uy, u = tx.worley(18.0, coarse)
        small = coarse * max(1, tx._dec_for(40.0) // coarse)
        rimdist = (f2 - f1) + 2.0 * _upsample(tx.bandpass(20.0, 0.5, dec=small, upsample=False), small // coarse)
        rim = np.exp(-((rimdist / 3.0) ** 2))
        macro = _upsample((1.0 - 0.8 * rim + 0.25 * u).astype(np.float32), coarse)
        f = macro + 0.45 * tx.bandpass(150.0, 0.5) + 0.15 * fine["a"]
        bright = (1.0 + 0.15 * tx.bandpass(50.0, 0.5) + 0.08 * fine["b"]) * \
            _upsample((1.0 - 0.35 * rim + 0.15 * (u - 0.5)).astype(np.float32), coarse)
        return f, bright
    raise ValueError(f"unknown regime {name!r}: expected one of {REGIMES}")


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
    variability = float(variability)
    if not (0.0 <= variability <= 2.0):
        raise ValueError(f"variability {variability!r} must be between 0 (none) and 2; 1 is the default")
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


#: (min, max) cloud reflectance at 0.64 um and excess scale of each regime
_BRIGHTNESS = {
    "clear": (0.07, 0.18, 0.5),
    "sugar": (0.07, 0.32, 0.6),
    "gravel": (0.08, 0.55, 0.5),
    "flowers": (0.12, 0.68, 0.5),
    "fish": (0.10, 0.62, 0.6),
    "stratocumulus": (0.14, 0.55, 0.8),
}


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

    def xy(self, band: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scan angles (rad) of a band's grid, or of the label grid."""
        res = self.label_resolution_km if band is None else self.resolution_km[band]
        return self.geometry.xy(res)


def _band_resolution(band: int, resolution_km: float | None) -> float:
    if band not in BAND_CONSTANTS:
        raise ValueError(
            f"band {band!r} is not a reflective ABI band this module can synthesise: "
            f"expected one of {tuple(BAND_CONSTANTS)}"
        )
    return BAND_CONSTANTS[band][1] if resolution_km is None else float(resolution_km)


def _scene_rng(seed: int, time: dt.datetime, stream: int = 0) -> np.random.Generator:
    """Random stream ``stream`` of scene ``(seed, time)`` (0: shared, k+1: regime k)."""
    stamp = int(round((time - _J2000).total_seconds() * 10))
    return np.random.default_rng([int(seed) % 2**63, stamp % 2**63, 11, int(stream)])


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

    Returns
    -------
    SceneFields

    Timing (one core): default 1000 km scene, bands 1-3, ~1.5 s; 300 km ~0.15 s.
    """
    if resolution_km is not None and resolution_km not in (0.5, 1.0, 2.0):
        raise ValueError(f"resolution_km {resolution_km!r} must be None, 0.5, 1 or 2 (km)")
    bands = tuple(int(b) for b in bands)
    if not bands:
        raise ValueError("bands must name at least one band, e.g. (1, 2, 3)")
    band_res = {b: _band_resolution(b, resolution_km) for b in bands}
    geom = sector_geometry(center, size_km, satellite)
    region_km = float(region_km) if region_km is not None else float(size_km) / 2.85
    if region_km <= 0:
        raise ValueError(f"region_km {region_km!r} must be positive (km)")

    label_res = 1.0 if resolution_km is None else float(resolution_km)
    xl, yl = geom.xy(label_res)
    lat, lon = _latlon_on_grid(geom.grid, xl, yl)
    on_disk = np.isfinite(lat)
    east, north = _frame_coords(np.where(on_disk, lat, geom.center[0]), np.where(on_disk, lon, geom.center[1]), geom.center, time)
    labels = _regime_layout(east, north, region_km, seed)
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
        ocean = OCEAN_REFLECTANCE[b] * (1.0 + ocean_var / 0.045 * 0.5)
        refl = ocean + CLOUD_GAIN[b] * cloud * (1.0 - ocean)
        refl = refl.astype(np.float32)
        refl[fine_off] = np.nan
        factor = int(round(band_res[b] / fine_res))
        fields.reflectance[b] = _block_mean(refl, factor)
    fields.meta = {"pixel_km": (dx_km, dy_km), "fine_resolution_km": fine_res}
    return fields


def cloud_fraction_by_regime(
    reflectance_band2: np.ndarray, labels: np.ndarray, threshold: float = CLOUD_THRESHOLD
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


# -----------------------------------------------------------------------------
# writing files
# -----------------------------------------------------------------------------
def earth_sun_distance_au(time: dt.datetime) -> float:
    """Earth-Sun distance (AU) on ``time``'s day (low-order approximation)."""
    doy = time.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (doy - 4)))


def kappa0_for(band: int, time: dt.datetime) -> tuple[np.float32, np.float32, np.float32]:
    """``(kappa0, esun, d)``: radiance-to-reflectance factor
    ``kappa0 = pi d^2 / esun`` (sr m2 um W-1) as stored (float32)."""
    esun = np.float32(BAND_CONSTANTS[band][5])
    d = np.float32(earth_sun_distance_au(time))
    kappa0 = np.float32(np.pi * float(d) ** 2 / float(esun))
    return kappa0, esun, d


def _j2000(t: dt.datetime) -> float:
    return (t - _J2000).total_seconds()


def _iso(t: dt.datetime) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 100000}Z"


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _write_projection(nc, grid: FixedGrid):
    """The ``goes_imager_projection`` variable of real ABI files, for ``grid``."""
    g = nc.createVariable("goes_imager_projection", "i4")
    g.long_name = "GOES-R ABI fixed grid projection"
    g.grid_mapping_name = "geostationary"
    g.perspective_point_height = np.float64(grid.perspective_point_height)
    g.semi_major_axis = np.float64(grid.semi_major_axis)
    g.semi_minor_axis = np.float64(grid.semi_minor_axis)
    g.inverse_flattening = np.float64(298.2572221)
    g.latitude_of_projection_origin = np.float64(0.0)
    g.longitude_of_projection_origin = np.float64(grid.longitude_of_projection_origin)
    g.sweep_angle_axis = grid.sweep_angle_axis
    return g


def write_abi_l1b(
    path: str | os.PathLike,
    rad: np.ndarray,
    band: int,
    x: tuple[np.float32, np.float32],
    y: tuple[np.float32, np.float32],
    start: dt.datetime,
    end: dt.datetime,
    created: dt.datetime,
    grid: FixedGrid,
    satellite: int = 16,
    sector: str = "M1",
    resolution_km: float | None = None,
    comment: str = "",
) -> Path:
    """Write one ABI L1b radiance file the way real ones are laid out.

    Parameters
    ----------
    path:
        the file to write (written to a temporary name in the same folder,
        then renamed).
    rad:
        radiance, W m-2 sr-1 um-1, float ``(ny, nx)``, row 0 north; NaN for
        pixels off the Earth's disk (written as ``_FillValue``, DQF 255).
    band:
        reflective ABI band, 1-6.
    x, y:
        ``(scale_factor, add_offset)`` float32 packing of the scan angles (rad);
        the pixel centres are ``offset + i * scale`` (``y``'s scale negative).
    start, end, created:
        scan start and end and file creation (naive UTC).
    grid:
        fixed-grid projection.
    satellite, sector:
        16-19 and ``"M1"``/``"M2"``/``"C"``/``"F"``.
    resolution_km:
        nominal resolution (default: the band's own).
    comment:
        text for the global ``comment`` attribute.
    """
    import netCDF4

    path = Path(path)
    if band not in BAND_CONSTANTS:
        raise ValueError(f"band {band!r} must be a reflective ABI band 1-6")
    wavelength, band_res, bits, scale, offset, _ = BAND_CONSTANTS[band]
    res = band_res if resolution_km is None else float(resolution_km)
    rad = np.asarray(rad)
    if rad.ndim != 2:
        raise ValueError(f"rad must be a 2-d (y, x) array, got shape {rad.shape}")
    ny, nx = rad.shape
    fill = 2**bits - 1
    kappa0, esun, dsun = kappa0_for(band, start)
    scale32, offset32 = np.float32(scale), np.float32(offset)

    valid = np.isfinite(rad)
    counts_f = np.rint((np.where(valid, rad, 0.0) - float(offset32)) / float(scale32))
    saturated = valid & (counts_f > fill - 1)
    under = valid & (counts_f < 0)
    counts = np.clip(counts_f, 0, fill - 1).astype(np.int16)
    counts[~valid] = fill
    dqf = np.zeros(rad.shape, np.int8)
    dqf[saturated | under] = 2
    dqf[~valid] = -1
    decoded = counts.astype(np.float64) * float(scale32) + float(offset32)
    good = decoded[valid]

    lon0 = grid.longitude_of_projection_origin
    pos = SATELLITE_POSITIONS.get(satellite, (lon0, lon0, "GOES-Test", "FM?"))
    key_name = path.name
    x_vals = np.arange(nx) * float(x[0]) + float(x[1])
    y_vals = np.arange(ny) * float(y[0]) + float(y[1])
    half_x = 0.5 * abs(float(x[0]))
    half_y = 0.5 * abs(float(y[0]))

    # lat/lon extent of the sector (sampled edges, on-disk points only)
    ex = np.r_[x_vals[:: max(1, nx // 32)], x_vals[-1]]
    ey = np.r_[y_vals[:: max(1, ny // 32)], y_vals[-1]]
    exx, eyy = np.meshgrid(ex, ey)
    elat, elon = grid.scan_to_latlon(exx, eyy)
    clat, clon = grid.scan_to_latlon(0.5 * (x_vals[0] + x_vals[-1]), 0.5 * (y_vals[0] + y_vals[-1]))

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            nc.set_auto_maskandscale(False)
            nc.createDimension("y", ny)
            nc.createDimension("x", nx)
            nc.createDimension("number_of_time_bounds", 2)
            nc.createDimension("band", 1)
            nc.createDimension("number_of_image_bounds", 2)
            chunks = (min(CHUNK, ny), min(CHUNK, nx))

            v = nc.createVariable(
                "Rad", "i2", ("y", "x"), zlib=True, complevel=1, shuffle=True,
                chunksizes=chunks, fill_value=np.int16(fill),
            )
            v.long_name = "ABI L1b Radiances"
            v.standard_name = "toa_outgoing_radiance_per_unit_wavelength"
            v._Unsigned = "true"
            v.sensor_band_bit_depth = np.int8(bits)
            v.valid_range = np.array([0, fill - 1], np.int16)
            v.scale_factor = scale32
            v.add_offset = offset32
            v.units = "W m-2 sr-1 um-1"
            sp = abs(float(x[0]))
            v.resolution = f"y: {sp:.6f} rad x: {sp:.6f} rad"
            v.coordinates = "band_id band_wavelength t y x"
            v.grid_mapping = "goes_imager_projection"
            v.cell_methods = "t: point area: point"
            v.ancillary_variables = "DQF"
            v.set_auto_maskandscale(False)
            v[:] = counts

            q = nc.createVariable(
                "DQF", "i1", ("y", "x"), zlib=True, complevel=1, shuffle=True,
                chunksizes=chunks, fill_value=np.int8(-1),
            )
            q.long_name = "ABI L1b Radiances data quality flags"
            q.standard_name = "status_flag"
            q._Unsigned = "true"
            q.valid_range = np.array([0, 3], np.int8)
            q.units = "1"
            q.coordinates = "band_id band_wavelength t y x"
            q.grid_mapping = "goes_imager_projection"
            q.cell_methods = "t: point area: point"
            q.flag_values = np.array([0, 1, 2, 3], np.int8)
            q.flag_meanings = (
                "good_pixel_qf conditionally_usable_pixel_qf out_of_range_pixel_qf no_value_pixel_qf"
            )
            q.number_of_qf_values = np.int8(4)
            n_all = float(ny * nx)
            q.percent_good_pixel_qf = np.float32(np.count_nonzero(dqf == 0) / n_all)
            q.percent_conditionally_usable_pixel_qf = np.float32(0.0)
            q.percent_out_of_range_pixel_qf = np.float32(np.count_nonzero(dqf == 2) / n_all)
            q.percent_no_value_pixel_qf = np.float32(np.count_nonzero(dqf == -1) / n_all)
            q.set_auto_maskandscale(False)
            q[:] = dqf

            t = nc.createVariable("t", "f8")
            t.long_name = "J2000 epoch mid-point between the start and end image scan in seconds"
            t.standard_name = "time"
            t.units = "seconds since 2000-01-01 12:00:00"
            t.axis = "T"
            t.bounds = "time_bounds"
            t[...] = 0.5 * (_j2000(start) + _j2000(end))

            for name, (sc, off), axis in (("y", y, "Y"), ("x", x, "X")):
                c = nc.createVariable(name, "i2", (name,))
                c.scale_factor = np.float32(sc)
                c.add_offset = np.float32(off)
                c.units = "rad"
                c.axis = axis
                c.long_name = f"GOES fixed grid projection {name}-coordinate"
                c.standard_name = f"projection_{name}_coordinate"
                c.set_auto_maskandscale(False)
                c[:] = np.arange(ny if name == "y" else nx, dtype=np.int16)

            tb = nc.createVariable("time_bounds", "f8", ("number_of_time_bounds",))
            tb.long_name = "Scan start and end times in seconds since epoch (2000-01-01 12:00:00)"
            tb[:] = [_j2000(start), _j2000(end)]

            _write_projection(nc, grid)[...] = -2147483647  # as in real files

            for name, vals, attrs in (
                ("y_image", 0.5 * (y_vals[0] + y_vals[-1]), ("y", "center of image", "Y")),
                ("x_image", 0.5 * (x_vals[0] + x_vals[-1]), ("x", "center of image", "X")),
            ):
                c = nc.createVariable(name, "f4")
                c.long_name = f"GOES-R fixed grid projection {attrs[0]}-coordinate {attrs[1]}"
                c.standard_name = f"projection_{attrs[0]}_coordinate"
                c.units = "rad"
                c.axis = attrs[2]
                c[...] = np.float32(vals)
            yb = nc.createVariable("y_image_bounds", "f4", ("number_of_image_bounds",))
            yb.long_name = "GOES-R fixed grid projection y-coordinate north/south extent of image"
            yb.units = "rad"
            yb[:] = [y_vals[0] + half_y, y_vals[-1] - half_y]
            xb = nc.createVariable("x_image_bounds", "f4", ("number_of_image_bounds",))
            xb.long_name = "GOES-R fixed grid projection x-coordinate west/east extent of image"
            xb.units = "rad"
            xb[:] = [x_vals[0] - half_x, x_vals[-1] + half_x]

            for name, val, units, long in (
                ("nominal_satellite_subpoint_lat", 0.0, "degrees_north", "nominal satellite subpoint latitude (platform latitude)"),
                ("nominal_satellite_subpoint_lon", pos[1], "degrees_east", "nominal satellite subpoint longitude (platform longitude)"),
                ("nominal_satellite_height", grid.perspective_point_height / 1000.0, "km", "nominal satellite height above GRS 80 ellipsoid (platform altitude)"),
            ):
                c = nc.createVariable(name, "f4")
                c.long_name = long
                c.units = units
                c[...] = np.float32(val)

            g = nc.createVariable("geospatial_lat_lon_extent", "f4")
            g.long_name = "geospatial latitude and longitude references"
            with np.errstate(invalid="ignore"):
                g.geospatial_westbound_longitude = np.float32(np.nanmin(elon))
                g.geospatial_northbound_latitude = np.float32(np.nanmax(elat))
                g.geospatial_eastbound_longitude = np.float32(np.nanmax(elon))
                g.geospatial_southbound_latitude = np.float32(np.nanmin(elat))
            g.geospatial_lat_center = np.float32(clat)
            g.geospatial_lon_center = np.float32(clon)
            g.geospatial_lat_nadir = np.float32(0.0)
            g.geospatial_lon_nadir = np.float32(pos[1])
            g.geospatial_lat_units = "degrees_north"
            g.geospatial_lon_units = "degrees_east"
            g[...] = np.float32(9.96921e36)

            yf = nc.createVariable("yaw_flip_flag", "i1")
            yf.long_name = "Flag indicating the spacecraft is operating in yaw flip configuration"
            yf._Unsigned = "true"
            yf.valid_range = np.array([0, 1], np.int8)
            yf.units = "1"
            yf.flag_values = np.array([0, 1], np.int8)
            yf.flag_meanings = "false true"
            yf.set_auto_maskandscale(False)
            yf[...] = np.int8(0)

            bi = nc.createVariable("band_id", "i1", ("band",))
            bi.long_name = "ABI band number"
            bi.standard_name = "sensor_band_identifier"
            bi.units = "1"
            bi[:] = [band]
            bw = nc.createVariable("band_wavelength", "f4", ("band",))
            bw.long_name = "ABI band central wavelength"
            bw.standard_name = "sensor_band_central_radiation_wavelength"
            bw.units = "um"
            bw[:] = [wavelength]

            c = nc.createVariable("esun", "f4", fill_value=np.float32(-999.0))
            c.long_name = "bandpass-weighted solar irradiance at the mean Earth-Sun distance"
            c.units = "W m-2 um-1"
            c.coordinates = "band_id band_wavelength t"
            c[...] = esun
            c = nc.createVariable("kappa0", "f4", fill_value=np.float32(-999.0))
            c.long_name = (
                "Inverse of the incoming top of atmosphere radiance at current earth-sun "
                "distance (PI d2 esun-1)-1, where d is the ratio of instantaneous Earth-Sun "
                "distance divided by the mean Earth-Sun distance, esun is the bandpass-weighted "
                "solar irradiance and PI is a standard constant used to convert ABI L1b "
                "radiance to reflectance"
            )
            c.units = "(W m-2 um-1)-1"
            c.coordinates = "band_id band_wavelength t"
            c[...] = kappa0
            for name, units in (
                ("planck_fk1", "W m-1"), ("planck_fk2", "K"), ("planck_bc1", "K"), ("planck_bc2", "1"),
            ):
                c = nc.createVariable(name, "f4", fill_value=np.float32(-999.0))
                c.long_name = f"wavenumber-dependent coefficient ({name[-3:]}) used in the ABI emissive band monochromatic brightness temperature computation"
                c.units = units
                c.coordinates = "band_id band_wavelength t"
                c[...] = np.float32(np.nan)
            c = nc.createVariable("earth_sun_distance_anomaly_in_AU", "f4")
            c.long_name = "earth sun distance anomaly in astronomical units"
            c.units = "ua"
            c[...] = dsun

            stats = {
                "min_radiance_value_of_valid_pixels": (good.min() if good.size else np.nan, "W m-2 sr-1 um-1"),
                "max_radiance_value_of_valid_pixels": (good.max() if good.size else np.nan, "W m-2 sr-1 um-1"),
                "mean_radiance_value_of_valid_pixels": (good.mean() if good.size else np.nan, "W m-2 sr-1 um-1"),
                "std_dev_radiance_value_of_valid_pixels": (good.std() if good.size else np.nan, "W m-2 sr-1 um-1"),
            }
            for name, (val, units) in stats.items():
                c = nc.createVariable(name, "f4")
                c.long_name = name.replace("_", " ")
                c.units = units
                c[...] = np.float32(val)
            for name, val in (
                ("valid_pixel_count", np.count_nonzero(valid)),
                ("missing_pixel_count", 0),
                ("saturated_pixel_count", np.count_nonzero(saturated)),
                ("undersaturated_pixel_count", np.count_nonzero(under)),
                ("focal_plane_temperature_threshold_exceeded_count", 0),
            ):
                c = nc.createVariable(name, "i4")
                c.long_name = name.replace("_", " ")
                c.units = "count"
                c[...] = np.int32(val)
            c = nc.createVariable("percent_uncorrectable_L0_errors", "f4")
            c.long_name = "percent data lost due to uncorrectable L0 errors"
            c.units = "percent"
            c[...] = np.float32(0.0)
            for name in (
                "algorithm_dynamic_input_data_container",
                "processing_parm_version_container",
                "algorithm_product_version_container",
            ):
                c = nc.createVariable(name, "i4")
                c.long_name = name.replace("_", " ")
                c[...] = np.int32(-2147483647)

            nc.setncatts({
                "naming_authority": "gov.nesdis.noaa",
                "Conventions": "CF-1.7",
                "Metadata_Conventions": "Unidata Dataset Discovery v1.0",
                "standard_name_vocabulary": "CF Standard Name Table (v35, 20 February 2017)",
                "institution": "DOC/NOAA/NESDIS > U.S. Department of Commerce, National Oceanic and Atmospheric Administration, National Environmental Satellite, Data, and Information Services",
                "project": "GOES",
                "production_site": "RBU",
                "production_environment": "OE",
                "spatial_resolution": f"{res:g}km at nadir",
                "orbital_slot": pos[2],
                "platform_ID": f"G{satellite}",
                "instrument_type": "GOES R Series Advanced Baseline Imager",
                "scene_id": SCENE_IDS.get(sector, "Mesoscale"),
                "instrument_ID": pos[3],
                "dataset_name": key_name,
                "iso_series_metadata_id": "a70be540-c38b-11e0-962b-0800200c9a66",
                "title": "ABI L1b Radiances",
                "summary": "Single reflective band ABI L1b Radiance Products are digital maps of outgoing radiance values at the top of the atmosphere for visible and near-IR bands.",
                "keywords": "SPECTRAL/ENGINEERING > VISIBLE WAVELENGTHS > RADIANCE",
                "keywords_vocabulary": "NASA Global Change Master Directory (GCMD) Earth Science Keywords, Version 7.0.0.0.0",
                "license": "Unclassified data.  Access is restricted to approved users only.",
                "processing_level": "National Aeronautics and Space Administration (NASA) L1b",
                "date_created": _iso(created),
                "cdm_data_type": "Image",
                "time_coverage_start": _iso(start),
                "time_coverage_end": _iso(end),
                "timeline_id": "ABI Mode 6",
                "production_data_source": "Realtime",
                "id": str(uuid.UUID(int=int(_hash_uniform(band, satellite, int(_j2000(start)), 5) * 2**53) << 64 | 0x4000_8000_0000_0000)),
                "comment": comment or "SYNTHETIC scene written by convml_tt.data.synthetic; not an observation",
            })
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def label_path_for(abi_path: str | os.PathLike) -> Path:
    """The regime label-map path beside an ABI file of a synthetic scene."""
    abi_path = Path(abi_path)
    key = ABIKey.parse(abi_path.name)
    return abi_path.with_name(
        f"{LABEL_PREFIX}_{key.sector}_G{key.satellite}_s{format_timestamp(key.start)}.nc"
    )


def _write_labels(path: Path, fields: SceneFields) -> Path:
    import netCDF4

    geom = fields.geometry
    grid = geom.grid
    day = fields.day or day_to_day(fields.seed, fields.time, 0.0)
    p = geom.packed_xy(fields.label_resolution_km)
    x, y = fields.xy()
    tmp = _tmp_path(path)
    try:
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
                "platform_ID": f"G{geom.satellite}",
                "comment": "labels of the synthetic ABI L1b files beside this one (same scan start)",
            })
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
    start: dt.datetime,
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
) -> list[SyntheticScene]:
    """Write ``count`` synthetic scenes into the source-cache layout.

    Each scene's band files go to ``{data_root}/sources/goes{satellite}/{key}``
    (``key`` as in the NOAA bucket, e.g.
    ``ABI-L1b-RadM/2020/002/14/OR_ABI-L1b-RadM1-M6C02_G16_s20200021400000_e..._c....nc``),
    exactly where :mod:`convml_tt.data.goes` puts fetched files, and the
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
        reflective bands to write (default 1, 2, 3).
    resolution_km:
        None for the real per-band resolutions, or 0.5/1/2 for all bands.
    region_km:
        spacing of the regime regions (default ``size_km / 2.85``).
    variability:
        strength of the day-to-day variability of cloud length scale, cloud
        fraction and brightness (see :func:`make_scene_fields`; 0: none).
    progress:
        show a tqdm progress bar over scenes.

    Returns
    -------
    list of SyntheticScene, in time order.

    Raises
    ------
    OffDiskError
        if ``center`` is off the Earth's disk seen by the satellite.
    ValueError
        for a bad count, interval, sector, band or resolution.

    Timing: ~2 s per default scene (1000 km, bands 1-3) on one core.
    """
    from tqdm.auto import tqdm

    if int(count) != count or count < 1:
        raise ValueError(f"count {count!r} must be a whole number >= 1")
    if count > 1 and interval <= dt.timedelta(0):
        raise ValueError(f"interval {interval!r} must be positive, e.g. timedelta(days=1)")
    if sector not in SCAN_SECONDS:
        raise ValueError(f"sector {sector!r} must be one of {tuple(SCAN_SECONDS)}")
    if start.tzinfo is not None:
        start = start.astimezone(dt.timezone.utc).replace(tzinfo=None)
    bands = tuple(int(b) for b in bands)
    geom = sector_geometry(center, size_km, satellite)  # fail early on a bad centre
    day_to_day(seed, start, variability)  # and on a bad variability
    root = Path(data_root) / "sources" / f"goes{satellite}"
    scenes = []
    times = [start + i * interval for i in range(int(count))]
    for time in tqdm(times, desc="synthetic scenes", unit="scene", disable=not progress):
        fields = make_scene_fields(
            time, seed=seed, satellite=satellite, center=center, size_km=size_km,
            bands=bands, resolution_km=resolution_km, region_km=region_km,
            variability=variability,
        )
        end = time + dt.timedelta(seconds=SCAN_SECONDS[sector])
        created = end + dt.timedelta(seconds=0.6)
        files = {}
        for b in bands:
            key = ABIKey(start=time, satellite=satellite, product="Rad", sector=sector, band=b,
                         mode=6, end=end, created=created)
            kappa0, _, _ = kappa0_for(b, time)
            rad = fields.reflectance[b].astype(np.float64) / float(kappa0)
            res = fields.resolution_km[b]
            p = geom.packed_xy(res)
            files[b] = write_abi_l1b(
                root / key.key, rad, b, p["x"], p["y"], time, end, created, geom.grid,
                satellite=satellite, sector=sector, resolution_km=res,
            )
        labels = _write_labels(label_path_for(files[bands[0]]), fields)
        scenes.append(SyntheticScene(time=time, files=files, labels=labels))
    return scenes


# -----------------------------------------------------------------------------
# reading labels
# -----------------------------------------------------------------------------
def load_regime_labels(path_or_abi_file) -> xr.DataArray:
    """The regime label map of a synthetic scene.

    Parameters
    ----------
    path_or_abi_file:
        the label-map netCDF, one of the scene's ABI band files (its label map
        is found beside it), or a :class:`SyntheticScene`.

    Returns
    -------
    xarray.DataArray
        int8 ``(y, x)`` labels (``-1`` off the Earth's disk) with ``x``, ``y``
        scan-angle coordinates (rad) on the scene's 1 km fixed grid; attrs
        ``regimes`` (tuple of names, index = label), ``flag_values``,
        ``flag_meanings`` and the projection parameters.
    """
    if isinstance(path_or_abi_file, SyntheticScene):
        path = Path(path_or_abi_file.labels)
    else:
        path = Path(path_or_abi_file)
        if path.name.startswith("OR_ABI"):
            path = label_path_for(path)
    if not path.exists():
        raise FileNotFoundError(
            f"regime label map {path} does not exist; label maps exist only for synthetic "
            "scenes written by convml_tt.data.synthetic.write_synthetic_scenes"
        )
    with xr.open_dataset(path, engine="netcdf4", mask_and_scale=False) as ds:
        if "regime" not in ds.variables:
            raise ValueError(f"{path} is not a regime label map (no 'regime' variable)")
        da = ds["regime"].load()
        attrs = dict(ds.attrs)
    da.attrs["regimes"] = tuple(str(da.attrs.get("regime_names", ",".join(REGIMES))).split(","))
    da.attrs["source"] = str(path)
    da.attrs["time_coverage_start"] = attrs.get("time_coverage_start", "")
    # the scene's day-to-day factors (files written before they existed lack them)
    for name in ("length_scale_factor", "cloud_fractions", "nominal_cloud_fractions", "brightness_factors"):
        if name in attrs:
            da.attrs[name] = attrs[name]
    return da


@functools.lru_cache(maxsize=16)
def _label_grid(h: float, a: float, b: float, lon0: float, sweep: str) -> FixedGrid:
    """One FixedGrid (and so one set of PROJ transformers) per label-map grid."""
    return FixedGrid(
        perspective_point_height=h, semi_major_axis=a, semi_minor_axis=b,
        longitude_of_projection_origin=lon0, sweep_angle_axis=sweep,
    )


def regime_at(labels: xr.DataArray, lat, lon) -> np.ndarray:
    """Regime label(s) at ``lat``, ``lon`` (degrees, broadcastable arrays or
    scalars), from the nearest label-map pixel; ``-1`` outside the map or off
    the Earth's disk. Returns an int array of the broadcast shape."""
    grid = _label_grid(
        float(labels.attrs["perspective_point_height"]),
        float(labels.attrs["semi_major_axis"]),
        float(labels.attrs["semi_minor_axis"]),
        float(labels.attrs["longitude_of_projection_origin"]),
        str(labels.attrs.get("sweep_angle_axis", "x")),
    )
    sx, sy = grid.latlon_to_scan(lat, lon)
    x = labels["x"].values
    y = labels["y"].values
    dx = x[1] - x[0] if x.size > 1 else 1.0
    dy = y[1] - y[0] if y.size > 1 else -1.0
    with np.errstate(invalid="ignore"):
        col = np.rint((sx - x[0]) / dx)
        row = np.rint((sy - y[0]) / dy)
    ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < x.size) & (row >= 0) & (row < y.size)
    out = np.full(np.shape(sx), -1, dtype=np.int64)
    vals = labels.values
    out[ok] = vals[row[ok].astype(np.int64), col[ok].astype(np.int64)]
    return out
