"""convml_tt.data.tiles: tile geometry and analytic resampling from the fixed grid."""
from __future__ import annotations

import numpy as np
import pyproj
import pytest
import xarray as xr

from convml_tt.data.sources.goes_abi import FixedGrid
from convml_tt.data.tiles import (
    InvalidTileError,
    ScanGrid,
    Tile,
    index_window,
    interpolate,
    resample,
)

GRID = FixedGrid()
GEOD = pyproj.Geod(ellps="GRS80")


def _composite(lat_c=15.0, lon_c=-50.0, half_deg=3.0, res_km=1.0, fn=None, channels=3):
    """An in-memory composite on the 1 km fixed grid with an analytic field of
    the scan angles (so resampled values can be checked exactly)."""
    d = 28e-6 * res_km
    xs, ys = GRID.latlon_to_scan(
        np.array([lat_c - half_deg, lat_c + half_deg, lat_c, lat_c]),
        np.array([lon_c, lon_c, lon_c - half_deg, lon_c + half_deg]),
    )
    x = np.arange(np.nanmin(xs), np.nanmax(xs), d)
    y = np.arange(np.nanmax(ys), np.nanmin(ys), -d)
    xx, yy = np.meshgrid(x, y)
    fn = fn or (lambda xx, yy: np.stack([1e3 * xx + 2e3 * yy, np.sin(xx * 3e3), np.cos(yy * 2e3)], -1))
    img = fn(xx, yy)[..., :channels].astype(np.float32)
    ds = xr.Dataset(
        {"rgb": (("y", "x", "channel"), img)},
        coords={"x": x, "y": y, "channel": ["red", "green", "blue"][:channels]},
    )
    ds["goes_imager_projection"] = xr.Variable((), 0, {
        "perspective_point_height": GRID.perspective_point_height,
        "semi_major_axis": GRID.semi_major_axis,
        "semi_minor_axis": GRID.semi_minor_axis,
        "longitude_of_projection_origin": GRID.longitude_of_projection_origin,
        "sweep_angle_axis": "x",
    })
    ds.attrs["composite_variable"] = "rgb"
    return ds, fn


# --- geometry -----------------------------------------------------------------
@pytest.mark.parametrize("lat0,lon0", [(15.0, -50.0), (-40.0, -20.0), (60.0, -100.0)])
def test_tile_size_in_metres_from_geodesic_corners(lat0, lon0):
    t = Tile(lat0, lon0, size=200e3, n=256)
    lat, lon = t.corners()  # NW NE SE SW
    sides = [GEOD.inv(lon[i], lat[i], lon[(i + 1) % 4], lat[(i + 1) % 4])[2] for i in range(4)]
    # straight lines in an equal-area projection: within 0.1 % of 200 km
    assert np.allclose(sides, 200e3, rtol=1e-3)
    diag = GEOD.inv(lon[0], lat[0], lon[2], lat[2])[2]
    assert diag == pytest.approx(200e3 * np.sqrt(2), rel=1e-3)
    # centre pixel centre lies next to the tile centre
    plat, plon = t.pixel_latlon()
    assert plat.shape == plon.shape == (256, 256)
    assert plat[0, 0] > plat[-1, 0] and plon[0, -1] > plon[0, 0]  # row 0 north, col 0 west
    mid = GEOD.inv(plon[127, 127], plat[127, 127], lon0, lat0)[2]
    assert mid == pytest.approx(np.hypot(0.5, 0.5) * 200e3 / 256, rel=1e-3)


def test_tile_is_equal_area():
    t = Tile(50.0, 10.0, size=100e3, n=16)
    lat, lon = t.outline(points_per_side=32)
    area, _ = GEOD.polygon_area_perimeter(lon, lat)
    assert abs(area) == pytest.approx(100e3**2, rel=1e-5)
    # the area of each pixel is the same: a quarter tile has a quarter area
    q = Tile(50.0, 10.0, size=50e3, n=8)
    qlat, qlon = q.outline(points_per_side=32)
    assert abs(GEOD.polygon_area_perimeter(qlon, qlat)[0]) == pytest.approx(50e3**2, rel=1e-5)


def test_tile_bad_input():
    with pytest.raises(ValueError, match="size"):
        Tile(10, 10, size=-1)
    with pytest.raises(ValueError, match="n="):
        Tile(10, 10, n=1)
    with pytest.raises(ValueError, match="lat0"):
        Tile(95, 10)


# --- mapping --------------------------------------------------------------------
@pytest.mark.parametrize("lat0,lon0", [(15.0, -50.0), (45.0, -120.0), (-55.0, -20.0), (0.0, -75.0)])
def test_coarse_mapping_matches_exact_per_pixel_pyproj(lat0, lon0):
    t = Tile(lat0, lon0, size=200e3, n=256)
    sg = ScanGrid(GRID, -0.151858, 28e-6, 0.151858, -28e-6, (10848, 10848))
    r, c = sg.indices(t)  # 17 x 17 + cubic spline
    re, ce = sg.indices(t, coarse=None)
    # independent oracle: per-pixel lat/lon, then geodetic -> geos via abi
    plat, plon = t.pixel_latlon()
    sx, sy = GRID.latlon_to_scan(plat, plon)
    assert np.abs(ce - (sx - sg.x0) / sg.dx).max() < 1e-4
    assert np.abs(re - (sy - sg.y0) / sg.dy).max() < 1e-4
    # bound on the sub-grid interpolation error: < 0.001 composite pixel
    assert np.abs(r - re).max() < 1e-3 and np.abs(c - ce).max() < 1e-3


def test_off_disk_pixels_are_nan():
    t = Tile(0.0, -75.0 + 81.0, size=400e3, n=32)  # straddles the limb
    sx, sy = t.scan_angles(GRID)
    assert np.isnan(sx).any() and np.isfinite(sx).any()


# --- resampling -----------------------------------------------------------------
def test_bilinear_resampling_of_an_analytic_field():
    ds, fn = _composite()
    t = Tile(15.3, -49.7, size=200e3, n=64)
    out = resample(ds, t)
    assert out.shape == (64, 64, 3) and out.dtype == np.float32
    sx, sy = t.scan_angles(GRID, coarse=None)
    expect = fn(sx, sy)
    # channel 0 is linear in x, y: bilinear is exact up to float32 rounding
    assert np.abs(out[..., 0] - expect[..., 0]).max() < 1e-5 * np.abs(expect[..., 0]).max() + 1e-4
    # smooth channels: bilinear error ~ h^2 f''/8, tiny at 1 km
    assert np.abs(out[..., 1:] - expect[..., 1:]).max() < 2e-3
    near = resample(ds, t, method="nearest")
    assert np.abs(near[..., 0] - expect[..., 0]).max() <= 1e3 * 28e-6 * 1.5 + 1e-4  # half a pixel in x and y


def test_resampling_invalid_tiles():
    ds, _ = _composite()
    # partly outside the composite
    with pytest.raises(InvalidTileError, match="outside"):
        resample(ds, Tile(15.0, -47.2, size=200e3, n=32))
    assert resample(ds, Tile(15.0, -47.2, size=200e3, n=32), raise_invalid=False) is None
    # touching one masked pixel
    t = Tile(15.0, -50.0, size=100e3, n=32)
    sg = ScanGrid.from_dataset(ds)
    r, c = sg.indices(t)
    masked = ds.copy(deep=True)
    masked["rgb"].values[int(r[5, 7]), int(c[5, 7]), 1] = np.nan
    assert resample(masked, t, raise_invalid=False) is None
    assert resample(ds, t, raise_invalid=False) is not None


def test_interpolate_edges_and_window():
    v = np.arange(20, dtype=np.float32).reshape(4, 5)
    r = np.array([[0.0, 3.0], [1.5, 2.25]])
    c = np.array([[0.0, 4.0], [2.5, 0.0]])
    out = interpolate(v, r, c)
    assert np.allclose(out, 5 * r + c)
    assert interpolate(v, r + 1.1, c) is None
    assert index_window(r, c, (4, 5)) == (0, 4, 0, 5)
    assert index_window(r + 10, c, (4, 5)) is None
    with pytest.raises(ValueError, match="method"):
        interpolate(v, r, c, method="cubic")
