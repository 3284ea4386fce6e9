"""Trajectories: lagtraj and CF files, and RK4 integration through an
ERA5-layout wind field whose exact trajectory is known analytically."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from convml_tt.data.trajectories import (EARTH_RADIUS_M, WindField, integrate_trajectories, read_trajectories,
                                         write_trajectories)

from era5_fixtures import T0, write_cds

U0, SHEAR, V0, ACC, LAT_REF = -8.0, 2e-5, -2.0, 1e-5, 15.0  # m/s, 1/s, m/s, m/s2, degrees
DEG = np.pi / 180.0


def analytic_wind(hours, lat, lon):
    """u = cos(lat)/cos(lat_ref) (U0 + S y + A t), v = V0 (y = R (lat - lat_ref), m; t s):
    a uniform wind plus a meridional shear of the zonal angular velocity, growing in time."""
    h, la, _ = np.meshgrid(hours, lat, lon, indexing="ij")
    y = EARTH_RADIUS_M * (la - LAT_REF) * DEG
    u = np.cos(la * DEG) / np.cos(LAT_REF * DEG) * (U0 + SHEAR * y + ACC * h * 3600.0)
    return u, np.full_like(u, V0)


def exact(lat0, lon0, t):
    """The exact trajectory of :func:`analytic_wind` from (lat0, lon0) at t = 0, after t s."""
    lat = lat0 + V0 * t / EARTH_RADIUS_M / DEG
    c = 1.0 / (EARTH_RADIUS_M * np.cos(LAT_REF * DEG)) / DEG
    y0 = EARTH_RADIUS_M * (lat0 - LAT_REF) * DEG
    lon = lon0 + c * ((U0 + SHEAR * y0) * t + (SHEAR * V0 + ACC) * t**2 / 2)
    return lat, lon


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2, dl = lat1 * DEG, lat2 * DEG, (lon2 - lon1) * DEG
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="module")
def wind_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wind")
    hours = np.arange(0, 61)
    lat = np.arange(0.0, 25.01, 0.5)
    lon = np.arange(-80.0, -19.99, 0.5)
    u, v = analytic_wind(hours, lat, lon)
    # ERA5 pressure levels as the CDS delivers them: 0..360 longitudes, descending latitudes
    return write_cds(folder / "era5_wind_pl.nc", {"u": np.stack([u, u], 1), "v": np.stack([v, v], 1)},
                     hours, lat, lon, levels=[850, 700], layout="new")


def test_rk4_within_1km_of_exact_after_48h(wind_file):
    starts = (np.array([15.0, 18.0, 12.5]), np.array([-40.0, -30.5, -35.0]))
    ds = integrate_trajectories(wind_file, *starts, T0 + np.timedelta64(2, "h"), np.timedelta64(48, "h"),
                                level=850)
    assert list(ds["end_reason"].values) == ["completed"] * 3
    t = (ds["time"].values - ds["time"].values[0]) / np.timedelta64(1, "s")
    assert t[-1] == 48 * 3600
    # the analytic solution from t = 2 h: shift the acceleration term's origin
    lat_e, lon_e = exact_from(starts[0][:, None], starts[1][:, None], t[None, :], t0_s=7200.0)
    err = haversine_m(ds["lat"].values, ds["lon"].values, lat_e, lon_e)
    print("RK4 error after 48 h, m:", err[:, -1])
    assert err[:, -1].max() < 1000.0, err[:, -1]
    moved = haversine_m(starts[0], starts[1], ds["lat"].values[:, -1], ds["lon"].values[:, -1])
    assert moved.min() > 5.0e5  # the parcels went far (> 500 km)
    # backward from the end point comes back to the start
    back = integrate_trajectories(WindField(wind_file, (700, 850)), ds["lat"].values[:, -1],
                                  ds["lon"].values[:, -1], ds["time"].values[-1], 48 * 3600.0, direction="backward")
    assert back["time"].values[0] == ds["time"].values[0]
    assert haversine_m(back["lat"].values[:, 0], back["lon"].values[:, 0], *starts).max() < 1000.0


def exact_from(lat0, lon0, t, t0_s):
    """:func:`exact` for a start at t0_s: the zonal wind's time term then is A (t0 + t)."""
    lat = lat0 + V0 * t / EARTH_RADIUS_M / DEG
    c = 1.0 / (EARTH_RADIUS_M * np.cos(LAT_REF * DEG)) / DEG
    y0 = EARTH_RADIUS_M * (lat0 - LAT_REF) * DEG
    lon = lon0 + c * ((U0 + SHEAR * y0 + ACC * t0_s) * t + (SHEAR * V0 + ACC) * t**2 / 2)
    return lat, lon


def test_exact_solution_is_the_wind(wind_file):
    """The analytic trajectory's velocity is the analytic wind (checks the test's own algebra)."""
    t = np.array([1000.0, 90000.0])
    lat, lon = exact(15.0, -40.0, t)
    eps = 1.0
    la2, lo2 = exact(15.0, -40.0, t + eps)
    v = (la2 - lat) / eps * DEG * EARTH_RADIUS_M
    u = (lo2 - lon) / eps * DEG * EARTH_RADIUS_M * np.cos(lat * DEG)
    y = EARTH_RADIUS_M * (lat - LAT_REF) * DEG
    assert np.allclose(v, V0, atol=1e-4)
    assert np.allclose(u, np.cos(lat * DEG) / np.cos(LAT_REF * DEG) * (U0 + SHEAR * y + ACC * t), atol=1e-3)


def test_stops_with_reason(wind_file, tmp_path):
    ds = integrate_trajectories(wind_file, [15.0, 1.0, 15.0], [-78.0, -40.0, -40.0], T0 + np.timedelta64(40, "h"),
                                np.timedelta64(30, "h"))
    reasons = list(ds["end_reason"].values)
    assert reasons[0].startswith("left the wind field's domain after")  # westward out of lon -80
    assert reasons[1].startswith("left the wind field's domain after")  # southward out of lat 0
    assert reasons[2].startswith("reached the end of the wind field's times (2020-02-03T12:00:00) after 20 h")
    assert np.isnan(ds["lat"].values[2, -1]) and np.isfinite(ds["lat"].values[2, 0])
    again = read_trajectories(write_trajectories(ds, tmp_path / "traj.nc"))  # CF file round trip
    assert list(again["end_reason"].values) == reasons and again.attrs["featureType"] == "trajectory"
    np.testing.assert_array_equal(again["lat"].values, ds["lat"].values)
    back = integrate_trajectories(wind_file, 15.0, -40.0, T0 + np.timedelta64(3, "h"), 6 * 3600.0,
                                  direction="backward")
    assert str(back["end_reason"].values[0]).startswith("reached the start of the wind field's times")


def test_bad_wind_refused(tmp_path):
    hours, lat, lon = np.arange(3), np.arange(0.0, 5.1, 1.0), np.arange(-50.0, -44.9, 1.0)
    u, v = analytic_wind(hours, lat, lon)
    f = write_cds(tmp_path / "kmh.nc", {"u": u[:, None], "v": v[:, None]}, hours, lat, lon, levels=[850],
                  units={"u": "km h**-1", "v": "km h**-1"})
    with pytest.raises(ValueError, match=r"kmh.nc: wind 'u' has units 'km h\*\*-1'"):
        WindField(f)
    ok = write_cds(tmp_path / "ok.nc", {"u": u[:, None], "v": v[:, None]}, hours, lat, lon, levels=[850])
    with pytest.raises(ValueError, match="no 500 hPa level"):
        WindField(ok, 500)


def test_read_lagtraj_and_cf(tmp_path):
    # lagtraj's output: one trajectory on `time`, its (swapped) unit attributes as it writes them
    times = T0 + np.arange(5) * np.timedelta64(1, "h")
    lag = xr.Dataset({"lat": ("time", np.linspace(13.0, 12.0, 5), {"long_name": "latitude", "units": "degrees_east"}),
                      "lon": ("time", np.linspace(303.0, 300.0, 5), {"long_name": "longitude",
                                                                     "units": "degrees_north"}),
                      "u_traj": ("time", np.full(5, -8.0), {"units": "m/s"})},
                     coords={"time": times})
    lag.to_netcdf(tmp_path / "lagtraj.nc")
    ds = read_trajectories(tmp_path / "lagtraj.nc")
    assert ds["lat"].dims == ("trajectory", "time") and ds.sizes["trajectory"] == 1
    assert np.allclose(ds["lon"].values[0], np.linspace(-57.0, -60.0, 5))
    cf = xr.Dataset({"lat": (("trajectory", "time"), np.zeros((2, 5))), "lon": (("trajectory", "time"),
                                                                                  np.ones((2, 5)))},
                    coords={"time": times}, attrs={"featureType": "trajectory"})
    write_trajectories(cf, tmp_path / "cf.nc")
    assert read_trajectories(tmp_path / "cf.nc").sizes == {"trajectory": 2, "time": 5}
    xr.Dataset({"x": ("t", np.zeros(3))}).to_netcdf(tmp_path / "bad.nc")
    with pytest.raises(ValueError, match="bad.nc: not a trajectory file"):
        read_trajectories(tmp_path / "bad.nc")


def test_across_the_dateline(tmp_path):
    """A regional field over 170E..170W (0..360 as the CDS writes it): a parcel in a uniform 10 m/s
    westerly at the equator crosses 180 and ends where it must."""
    hours, lat = np.arange(0, 25), np.arange(-5.0, 5.01, 0.5)
    lon = np.concatenate([np.arange(170.0, 180.0, 0.5), np.arange(-180.0, -169.99, 0.5)])
    u = np.full((hours.size, lat.size, lon.size), 10.0)
    f = write_cds(tmp_path / "w.nc", {"u": u[:, None], "v": 0 * u[:, None]}, hours, lat, lon, levels=[850])
    ds = integrate_trajectories(f, 0.0, 178.0, T0, 24 * 3600.0)
    assert ds["end_reason"].values[0] == "completed"
    want = (178.0 + 10.0 * 86400 / EARTH_RADIUS_M / DEG + 180.0) % 360.0 - 180.0
    assert ds["lon"].values[0, -1] == pytest.approx(want, abs=1e-6) and ds["lon"].values[0, -1] < -170
