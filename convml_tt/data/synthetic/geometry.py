"""Sectors of the ABI fixed grid: where a synthetic scene lies.

A synthetic scene is a square sector of the satellite's real full-disk
fixed grid (pixel spacing :data:`SPACING_1KM` = 28e-6 rad at 1 km, 14e-6
rad at 0.5 km), its corners snapped to the 2 km grid as real mesoscale
sectors are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..sources.goes_abi import FixedGrid, OffDiskError

__all__ = ["SATELLITE_POSITIONS", "SPACING_1KM", "SectorGeometry", "sector_geometry"]

#: (projection origin longitude, nominal sub-satellite longitude, orbital slot, instrument)
SATELLITE_POSITIONS = {
    16: (-75.0, -75.2, "GOES-East", "FM1"),
    17: (-137.0, -137.2, "GOES-West", "FM2"),
    18: (-137.0, -137.0, "GOES-West", "FM3"),
    19: (-75.0, -75.2, "GOES-East", "FM4"),
}
#: fixed-grid pixel spacing (rad) of 1 km pixels; other resolutions scale with it
SPACING_1KM = 28e-6
_EARTH_RADIUS_KM = 6371.0


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
