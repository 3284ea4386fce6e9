"""convml_tt.data.sources.goes_abi on real NOAA files and against the GOES-R PUG formulas."""
from __future__ import annotations

import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from convml_tt.data.sources import goes_abi as abi

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
CMIP = REAL / "OR_ABI-L2-CMIPM1-M6C13_G16_s20230011800281_e20230011800350_c20230011800425.nc"
AOD = REAL / "OR_ABI-L2-AODF-M3_G16_s20190820700371_e20190820711138_c20190820711421.nc"
AOD_NIGHT_DAY = REAL / "OR_ABI-L2-AODF-M3_G16_s20190811000369_e20190811011136_c20190811012168.nc"

needs_real = pytest.mark.skipif(not CMIP.exists(), reason=f"real GOES files not found in {REAL}")

GRID = abi.FixedGrid()  # GOES-R nominal: h, GRS80, lon_0=-75


# --- the PUG (vol. 3, section 4.2.8) formulas, written out as the oracle ------
def pug_inverse(x, y, grid=GRID):
    r_eq, r_pol = grid.semi_major_axis, grid.semi_minor_axis
    H = grid.perspective_point_height + r_eq
    lon0 = np.deg2rad(grid.longitude_of_projection_origin)
    a = np.sin(x) ** 2 + np.cos(x) ** 2 * (np.cos(y) ** 2 + (r_eq / r_pol) ** 2 * np.sin(y) ** 2)
    b = -2 * H * np.cos(x) * np.cos(y)
    c = H**2 - r_eq**2
    disc = b**2 - 4 * a * c
    with np.errstate(invalid="ignore"):
        r_s = (-b - np.sqrt(disc)) / (2 * a)
    s_x = r_s * np.cos(x) * np.cos(y)
    s_y = -r_s * np.sin(x)
    s_z = r_s * np.cos(x) * np.sin(y)
    lat = np.arctan((r_eq / r_pol) ** 2 * s_z / np.sqrt((H - s_x) ** 2 + s_y**2))
    lon = lon0 - np.arctan(s_y / (H - s_x))
    return np.rad2deg(lat), np.rad2deg(lon)


def pug_forward(lat, lon, grid=GRID):
    r_eq, r_pol = grid.semi_major_axis, grid.semi_minor_axis
    H = grid.perspective_point_height + r_eq
    lon0 = np.deg2rad(grid.longitude_of_projection_origin)
    e2 = (r_eq**2 - r_pol**2) / r_eq**2
    phi_c = np.arctan((r_pol / r_eq) ** 2 * np.tan(np.deg2rad(lat)))
    r_c = r_pol / np.sqrt(1 - e2 * np.cos(phi_c) ** 2)
    dlon = np.deg2rad(lon) - lon0
    s_x = H - r_c * np.cos(phi_c) * np.cos(dlon)
    s_y = -r_c * np.cos(phi_c) * np.sin(dlon)
    s_z = r_c * np.sin(phi_c)
    visible = H * (H - s_x) >= s_y**2 + (r_eq / r_pol) ** 2 * s_z**2
    y = np.arctan(s_z / s_x)
    x = np.arcsin(-s_y / np.sqrt(s_x**2 + s_y**2 + s_z**2))
    return np.where(visible, x, np.nan), np.where(visible, y, np.nan)


# --- navigation ---------------------------------------------------------------
def test_pug_worked_example():
    # PUG vol. 3 section 4.2.8.1: x=-0.024052, y=0.095340 rad -> 33.846162 N, 84.690932 W
    lat, lon = GRID.scan_to_latlon(-0.024052, 0.095340)
    assert lat == pytest.approx(33.846162, abs=1e-5)
    assert lon == pytest.approx(-84.690932, abs=1e-5)
    x, y = GRID.latlon_to_scan(33.846162, -84.690932)
    assert x == pytest.approx(-0.024052, abs=1e-7)
    assert y == pytest.approx(0.095340, abs=1e-7)


def test_navigation_matches_pug_formulas_over_the_disk():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.15, 0.15, 20000)
    y = rng.uniform(-0.15, 0.15, 20000)
    lat, lon = GRID.scan_to_latlon(x, y)
    plat, plon = pug_inverse(x, y)
    on_disk = np.isfinite(plat)
    assert 0.5 < on_disk.mean() < 0.95  # the sample covers disk and space
    # off the disk: NaN, never numbers
    assert np.isnan(lat[~on_disk]).all() and np.isnan(lon[~on_disk]).all()
    # on the disk: agreement far below a pixel (1 km ~ 0.01 deg), up to the limb
    assert np.isfinite(lat[on_disk]).all()
    inner = on_disk
    np.testing.assert_allclose(lat[inner], plat[inner], atol=1e-6)
    np.testing.assert_allclose(lon[inner], plon[inner], atol=1e-6)

    # forward
    glat = rng.uniform(-80, 80, 20000)
    glon = rng.uniform(-180, 180, 20000)
    fx, fy = GRID.latlon_to_scan(glat, glon)
    px, py = pug_forward(glat, glon)
    visible = np.isfinite(px)
    assert np.isnan(fx[~visible]).all()
    # PROJ's visibility test is a little stricter than the PUG's right at the
    # limb: those points come back NaN (never wrong numbers), and only there
    grazing = visible & ~np.isfinite(fx)
    assert grazing.mean() < 0.005
    assert (np.hypot(px[grazing], py[grazing]) > 0.150).all()
    visible &= np.isfinite(fx)
    np.testing.assert_allclose(fx[visible], px[visible], atol=1e-9)
    np.testing.assert_allclose(fy[visible], py[visible], atol=1e-9)


def test_round_trip_and_longitude_range():
    grid = abi.FixedGrid(longitude_of_projection_origin=-137.0)  # GOES-West
    lat = np.array([0.0, 45.0, -30.0, 10.0])
    lon = np.array([-137.0, -170.0, -100.0, 175.0])  # across the dateline
    x, y = grid.latlon_to_scan(lat, lon)
    assert np.isfinite(x).all()
    lat2, lon2 = grid.scan_to_latlon(x, y)
    np.testing.assert_allclose(lat2, lat, atol=1e-8)
    np.testing.assert_allclose(lon2, lon, atol=1e-8)
    assert (lon2 >= -180).all() and (lon2 < 180).all()


# --- real files -----------------------------------------------------------------
@needs_real
def test_real_cmip_packing_and_navigation():
    ds = abi.open_abi(CMIP, band=13)
    assert abi.data_variable(ds) == "CMI"
    with netCDF4.Dataset(CMIP) as nc:
        nc.set_auto_maskandscale(False)
        var = nc["CMI"]
        raw = var[:].astype("int32") & 0xFFFF  # _Unsigned
        scale, offset = float(var.scale_factor), float(var.add_offset)
        fill = int(var._FillValue) & 0xFFFF
        xr_raw = nc["x"][:].astype(float) * float(nc["x"].scale_factor) + float(nc["x"].add_offset)
        yr_raw = nc["y"][:].astype(float) * float(nc["y"].scale_factor) + float(nc["y"].add_offset)
    expected = np.where(raw == fill, np.nan, raw * scale + offset)
    got = abi.read_abi(ds)
    np.testing.assert_allclose(got["CMI"].values, expected, rtol=1e-6)
    bt = abi.calibrate(got)
    assert bt.attrs["units"] == "K" and 180 < float(bt.mean()) < 330
    # y's scale is negative: row 0 is north
    np.testing.assert_allclose(got["x"].values, xr_raw, atol=1e-7)
    np.testing.assert_allclose(got["y"].values, yr_raw, atol=1e-7)
    assert got["y"].values[0] > got["y"].values[-1]
    lat, lon = abi.pixel_latlon(got)
    xx, yy = np.meshgrid(xr_raw, yr_raw)
    plat, plon = pug_inverse(xx, yy)
    np.testing.assert_allclose(lat.values, plat, atol=1e-5)
    np.testing.assert_allclose(lon.values, plon, atol=1e-5)
    assert (np.diff(lat.values, axis=0) < 0).all()  # north at the top


@needs_real
@pytest.mark.parametrize("path", [AOD, AOD_NIGHT_DAY])
def test_real_full_disk_extent_matches_geospatial_lat_lon_extent(path):
    ds = abi.open_abi(path)
    ext = ds["geospatial_lat_lon_extent"].attrs
    grid = abi.FixedGrid.from_dataset(ds)
    # the projection origin (-75.0), not the nominal sub-point (-75.2), navigates
    assert grid.longitude_of_projection_origin == -75.0
    x, y = ds["x"].values, ds["y"].values
    # the extremes lie on the central row/column and the limb: a strided grid
    # plus the full central row and column finds them
    xx, yy = np.meshgrid(x[::3], y[::3])
    lat, lon = grid.scan_to_latlon(
        np.concatenate([xx.ravel(), x, np.zeros_like(y) + x[x.size // 2]]),
        np.concatenate([yy.ravel(), np.zeros_like(x) + y[y.size // 2], y]),
    )
    # geospatial_lat_lon_extent is the geometric limb; pixel centres lie inside
    # it, the outermost within one limb pixel (which spans ~0.7 deg there)
    north, south = ext["geospatial_northbound_latitude"], ext["geospatial_southbound_latitude"]
    east, west = ext["geospatial_eastbound_longitude"], ext["geospatial_westbound_longitude"]
    assert north - 0.75 < np.nanmax(lat) <= north
    assert south <= np.nanmin(lat) < south + 0.75
    assert east - 0.75 < np.nanmax(lon) <= east
    assert west <= np.nanmin(lon) < west + 0.75
    # the centre of the disk is the projection origin
    clat, clon = grid.scan_to_latlon(0.0, 0.0)
    assert (clat, clon) == (pytest.approx(ext["geospatial_lat_center"]), pytest.approx(ext["geospatial_lon_center"]))
    # the corners of the full-disk square are space
    assert np.isnan(lat[0])


@needs_real
def test_real_unsigned_valid_range_is_applied():
    ds = abi.open_abi(AOD_NIGHT_DAY)
    window = abi.bbox_window(ds, (-70.0, -10.0, -40.0, 10.0))
    got = abi.read_abi(ds, window=window)
    with netCDF4.Dataset(AOD_NIGHT_DAY) as nc:
        nc.set_auto_maskandscale(False)
        var = nc["AOD"]
        raw = var[window[0], window[1]].astype("int64") & 0xFFFF
        vr = np.asarray(var.valid_range).astype("int64") & 0xFFFF  # [0, -6] -> [0, 65530]
        scale, offset = float(var.scale_factor), float(var.add_offset)
    assert vr.tolist() == [0, 65530]
    valid = (raw >= vr[0]) & (raw <= vr[1])
    values = got["AOD"].values
    assert np.isnan(values[~valid]).all()
    np.testing.assert_allclose(values[valid], raw[valid] * scale + offset, rtol=1e-5, atol=1e-6)
    assert got["AOD"].shape == (window[0].stop - window[0].start, window[1].stop - window[1].start)


@needs_real
def test_bbox_window_covers_the_box_tightly():
    ds = abi.open_abi(AOD)
    bbox = (-60.0, 10.0, -30.0, 30.0)
    rows, cols = abi.bbox_window(ds, bbox, margin=2)
    sub = ds.isel(y=rows, x=cols)
    lat, lon = abi.pixel_latlon(sub)
    # every point of the box is inside the window ...
    grid = abi.FixedGrid.from_dataset(ds)
    blat, blon = np.meshgrid(np.linspace(10, 30, 41), np.linspace(-60, -30, 61))
    bx, by = grid.latlon_to_scan(blat, blon)
    assert bx.min() >= sub.x.values.min() and bx.max() <= sub.x.values.max()
    assert by.min() >= sub.y.values.min() and by.max() <= sub.y.values.max()
    # ... and the window is not much larger than the box (2 px margin + rounding)
    dx = float(ds.x[1] - ds.x[0])
    assert sub.x.values.min() > bx.min() - 4 * dx and sub.x.values.max() < bx.max() + 4 * dx
    assert np.nanmin(lat.values) < 10.05 and np.nanmax(lat.values) > 29.95


# --- calibration ------------------------------------------------------------------
def test_calibration_formulas():
    assert abi.radiance_to_reflectance(np.array([100.0]), 0.0019586)[0] == pytest.approx(0.19586)
    # band 13 Planck constants (as stored in L1b files); invert the forward Planck law
    fk1, fk2, bc1, bc2 = 10803.3, 1392.74, 0.07550, 0.99975
    t = np.array([200.0, 250.0, 300.0])
    rad = fk1 / (np.exp(fk2 / (bc1 + bc2 * t)) - 1)
    np.testing.assert_allclose(abi.radiance_to_brightness_temperature(rad, fk1, fk2, bc1, bc2), t, rtol=1e-10)


# --- bad input ----------------------------------------------------------------------
def test_not_netcdf(tmp_path):
    bad = tmp_path / "OR_ABI-L1b-RadF-M6C01_G16_s20200361400212_e20200361409520_c20200361409569.nc"
    bad.write_text("<html>404 Not Found</html>")
    with pytest.raises(abi.ABIFileError, match="not a netCDF file"):
        abi.open_abi(bad)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        abi.open_abi(tmp_path / "nope.nc")


@needs_real
def test_truncated_file(tmp_path):
    data = AOD.read_bytes()
    cut = tmp_path / AOD.name
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(abi.ABIFileError, match="truncated or corrupt") as err:
        ds = abi.open_abi(cut)
        abi.read_abi(ds)
    assert str(cut) in str(err.value)


def test_netcdf_without_projection(tmp_path):
    path = tmp_path / "plain.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("y", 2)
        nc.createDimension("x", 2)
        nc.createVariable("Rad", "f4", ("y", "x"))[:] = 1.0
    with pytest.raises(abi.ABIFileError, match="goes_imager_projection") as err:
        abi.open_abi(path)
    assert "plain.nc" in str(err.value)


@needs_real
def test_wrong_band(tmp_path):
    with pytest.raises(abi.ABIFileError, match="holds band 13, not the band 2"):
        abi.open_abi(CMIP, band=2)


@needs_real
def test_bbox_off_disk_and_outside_sector():
    ds = abi.open_abi(AOD)
    with pytest.raises(abi.OffDiskError, match="wholly off the Earth's disk"):
        abi.bbox_window(ds, (100.0, 0.0, 120.0, 10.0))  # over Asia, seen from 75W
    meso = abi.open_abi(CMIP)
    with pytest.raises(abi.OffDiskError, match="outside the sector") as err:
        abi.bbox_window(meso, (-60.0, 10.0, -50.0, 20.0))
    assert CMIP.name in str(err.value)
    with pytest.raises(ValueError, match="min >= max"):
        abi.bbox_window(ds, (-30.0, 10.0, -60.0, 30.0))
