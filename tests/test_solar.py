"""Solar geometry (convml_tt.data.geometry.solar), sun-zenith-corrected composites,
synthetic scenes lit by the Sun and the --max-sza daylight limit of triplets
and maps, on the real GOES-17 scans of the shared goes_real data (daytime
2019-10-27 20:00 UTC, night 2019-12-01 10:27 UTC) and on synthetic scenes.

Oracles: pyorbital.astronomy (solar angles), pyorbital.orbital.get_observer_look
(satellite zenith angle) and satpy's ``sunz_corrected`` modifier (corrected
reflectance)."""
from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from convml_tt.cli import main
from convml_tt.config import CompositeSettings, TripletSettings
from convml_tt.data.sources import goes_abi as abi
from convml_tt.data import composites as C
from convml_tt.data.sources.goes_abi import solar
from convml_tt.data.composites import build
from convml_tt.data.composites.reader import close_composites

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
DAY = "s20193002000275"
NIGHT = "s20193351027275"
#: the scan start of the daytime scan (its file names' s...275: 20:00:27.5)
DAY_START = dt.datetime(2019, 10, 27, 20, 0, 27, 500000)
#: inside the daytime sector (stratocumulus off California), and inside the night one
DAY_DOMAIN = (-126.0, 31.0, -124.0, 33.0)
NIGHT_DOMAIN = (-124.0, 36.0, -120.0, 40.0)
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="real GOES files not available")


def _real(scan: str, band: int) -> Path:
    (p,) = REAL.glob(f"OR_ABI-L1b-RadM1-M6C{band:02d}_G17_{scan}_*.nc")
    return p


# --- solar angles --------------------------------------------------------------------------
@needs_real
def test_solar_angles_match_pyorbital_on_the_real_daytime_scan():
    """Zenith and azimuth of every pixel of the real 1000 x 1000 C01 scan
    agree with pyorbital.astronomy to < 0.01 degree (measured: zenith
    0.0042, azimuth 0.0086; ours adds aberration and nutation)."""
    from pyorbital import astronomy

    lat, lon = abi.pixel_latlon(abi.open_abi(_real(DAY, 1)))
    lat, lon = lat.values, lon.values
    assert lat.shape == (1000, 1000) and np.isfinite(lat).all()
    zen, az = solar.solar_angles(DAY_START, lat, lon)
    zen_p = astronomy.sun_zenith_angle(DAY_START, lon, lat)
    az_p = astronomy.sun_azimuth_angle(DAY_START, lon, lat)
    assert 40.0 < zen.min() and zen.max() < 60.0  # afternoon over California
    assert np.abs(zen - zen_p).max() < 0.01
    assert np.abs((az - az_p + 180.0) % 360.0 - 180.0).max() < 0.01
    # the same from the other entry points and time types
    t64 = np.datetime64("2019-10-27T20:00:27.5")
    np.testing.assert_array_equal(solar.solar_zenith_angle(t64, lat, lon), zen)
    np.testing.assert_array_equal(solar.solar_azimuth_angle(DAY_START, lat, lon), az)
    aware = DAY_START.replace(tzinfo=dt.timezone.utc).astimezone(dt.timezone(dt.timedelta(hours=-7)))
    np.testing.assert_array_equal(solar.solar_zenith_angle(aware, lat[:5, :5], lon[:5, :5]), zen[:5, :5])
    np.testing.assert_allclose(solar.cos_solar_zenith(DAY_START, lat, lon), np.cos(np.radians(zen)), atol=1e-12)
    f32 = solar.solar_zenith_angle(DAY_START, lat.astype(np.float32), lon.astype(np.float32), np.float32)
    assert f32.dtype == np.float32 and np.abs(f32 - zen).max() < 1e-3


def test_solar_angles_match_pyorbital_over_the_globe_and_broadcast():
    from pyorbital import astronomy

    lat = np.linspace(-85.0, 85.0, 35)[:, None]
    lon = np.linspace(-180.0, 180.0, 73)[None, :]
    for t in (dt.datetime(2000, 1, 1, 0), dt.datetime(2020, 1, 2, 14), dt.datetime(2021, 6, 21, 3, 33),
              dt.datetime(2030, 9, 1, 23, 59)):
        z = solar.solar_zenith_angle(t, lat, lon)
        assert z.shape == (35, 73)
        assert np.abs(z - astronomy.sun_zenith_angle(t, lon, lat)).max() < 0.01, t
    # an array of times broadcasts with the points; NaN in, NaN out
    times = np.array(["2020-01-02T14:00", "2020-07-02T02:00"], "datetime64[ns]")[:, None]
    z = solar.solar_zenith_angle(times, np.array([15.0, np.nan]), np.array([-50.0, -50.0]))
    assert z.shape == (2, 2) and np.isnan(z[:, 1]).all()
    assert z[0, 0] == pytest.approx(solar.solar_zenith_angle(dt.datetime(2020, 1, 2, 14), 15.0, -50.0))
    # the sub-solar point at the March equinox, ~12:07 UTC at 0E: the Sun overhead
    assert solar.solar_zenith_angle(np.datetime64("2020-03-20T12:07"), -0.0, 0.0) < 0.5
    with pytest.raises(TypeError, match="datetime"):
        solar.solar_zenith_angle(12.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="ISO 8601"):
        solar.solar_zenith_angle("yesterday", 0.0, 0.0)


def test_satellite_zenith_angle():
    """0 at the sub-satellite point, growing away from it to ~90 at the limb;
    agrees with pyorbital's get_observer_look (90 - elevation) to 0.01 degree."""
    from pyorbital.orbital import get_observer_look

    grid = abi.FixedGrid(longitude_of_projection_origin=-137.0)
    assert solar.satellite_zenith_angle(0.0, -137.0, grid) == pytest.approx(0.0, abs=1e-9)
    along = solar.satellite_zenith_angle(0.0, -137.0 + np.arange(0, 80, 5.0), grid)
    north = solar.satellite_zenith_angle(np.arange(0, 80, 5.0), -137.0, grid)
    assert np.all(np.diff(along) > 0) and np.all(np.diff(north) > 0)
    assert 80.0 < along[-1] < 90.0
    assert solar.satellite_zenith_angle(0.0, -137.0 + 85.0, grid) > 90.0  # beyond the limb
    lat, lon = np.meshgrid(np.linspace(-60, 60, 13), np.linspace(-190, -80, 12))
    vza = solar.satellite_zenith_angle(lat, lon, grid)
    _, elev = get_observer_look(np.full(lat.shape, -137.0), np.zeros(lat.shape),
                                np.full(lat.shape, (grid.perspective_point_height) / 1e3),
                                np.datetime64("2019-10-27T20:00"), lon, lat, np.zeros(lat.shape))
    ok = vza < 85
    assert np.abs(vza[ok] - (90.0 - elev[ok])).max() < 0.01
    # the projection as attributes, or a dataset holding goes_imager_projection
    attrs = {"perspective_point_height": grid.perspective_point_height, "semi_major_axis": grid.semi_major_axis,
             "semi_minor_axis": grid.semi_minor_axis, "longitude_of_projection_origin": -137.0}
    np.testing.assert_array_equal(solar.satellite_zenith_angle(lat, lon, attrs), vza)
    with pytest.raises(TypeError, match="goes_imager_projection"):
        solar.satellite_zenith_angle(lat, lon, {"perspective_point_height": 1.0})


@needs_real
def test_satellite_zenith_angle_of_the_real_scan_from_its_projection():
    ds = abi.open_abi(_real(DAY, 13))
    lat, lon = abi.pixel_latlon(ds)
    vza = solar.satellite_zenith_angle(lat.values, lon.values, ds)
    # 31-44 N, 111-127 W seen from 137 W
    assert 35.0 < vza.min() < vza.max() < 60.0
    assert vza[-1, 0] < vza[0, -1]  # the south-west corner is nearest the sub-satellite point


def test_sunz_correction_factor_limits():
    sza = np.array([0.0, 60.0, 80.0, 88.0, 91.5, 95.0, 120.0, np.nan])
    f = solar.sunz_correction_factor(np.cos(np.radians(sza)))
    assert f.dtype == np.float32
    np.testing.assert_allclose(f[:4], 1.0 / np.cos(np.radians(sza[:4])), rtol=1e-6)
    at_limit = 1.0 / np.cos(np.radians(88.0))
    assert f[4] == pytest.approx(0.5 * at_limit, rel=1e-5)  # half-way down the taper
    assert f[5] == 0.0 and f[6] == 0.0 and np.isnan(f[7])
    with pytest.raises(ValueError, match="0 < limit < 90"):
        solar.sunz_correction_factor(0.5, limit=95.0)


# --- sun-zenith-corrected composites -------------------------------------------------------------
@needs_real
def test_sunz_corrected_c01_matches_satpy_on_the_real_scan():
    """The corrected C01 composite (native 1 km, a domain inside the sector)
    agrees with satpy's C01 ``sunz_corrected`` (abi_l1b reader, the scan
    start time) to 1e-3 where SZA < 80 (measured 6.6e-5: the 0.004 degree
    between the solar positions)."""
    satpy = pytest.importorskip("satpy")
    from satpy import DataQuery

    path = _real(DAY, 1)
    ds = C.make_composite([path], DAY_DOMAIN, kind="C01", sunz=True)
    assert ds.attrs["sunz"] == 1 and "88" in ds.attrs["sunz_correction"]
    raw = C.make_composite([path], DAY_DOMAIN, kind="C01")  # C01's default: uncorrected
    assert raw.attrs["sunz"] == 0 and "sunz_correction" not in raw.attrs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = satpy.Scene(reader="abi_l1b", filenames=[str(path)])
        query = DataQuery(name="C01", modifiers=("sunz_corrected",))
        scn.load([query])
        da = scn[query]
        h = da.attrs["area"].crs.to_dict()["h"]
        xs, ys = da.x.values / h, da.y.values / h
        theirs_all = da.values / 100.0
    ix = np.rint((ds.x.values - xs[0]) / (xs[1] - xs[0])).astype(int)
    iy = np.rint((ds.y.values - ys[0]) / (ys[1] - ys[0])).astype(int)
    assert np.abs(xs[ix] - ds.x.values).max() < 1e-8 and np.abs(ys[iy] - ds.y.values).max() < 1e-8
    theirs = theirs_all[np.ix_(iy, ix)]
    ours = ds.C01.values
    sza = solar.solar_zenith_angle(ds.time.values, ds.lat.values, ds.lon.values)
    m = np.isfinite(theirs) & np.isfinite(ours) & (sza < 80.0)
    assert m.sum() > 30000
    assert np.abs(ours[m] - theirs[m]).max() < 1e-3
    # the uncorrected composite is the plain reflectance factor: cos(SZA) times less
    np.testing.assert_allclose(raw.C01.values[m], ours[m] * np.cos(np.radians(sza[m])), rtol=2e-5, atol=1e-6)
    assert np.abs(raw.C01.values[m] - theirs[m]).max() > 0.05


@needs_real
def test_fingerprint_rebuilds_when_sunz_flips(tmp_path, monkeypatch):
    path, out = [_real(DAY, 1)], tmp_path / "c01.nc"
    raw = C.make_composite(path, DAY_DOMAIN, kind="C01", out_path=out)
    with netCDF4.Dataset(out) as nc:
        assert int(nc.sunz) == 0
    corrected = C.make_composite(path, DAY_DOMAIN, kind="C01", out_path=out, sunz=True)
    assert not np.allclose(corrected.C01.values, raw.C01.values)
    with netCDF4.Dataset(out) as nc:
        assert int(nc.sunz) == 1 and nc.sunz_limit_deg == 88.0
    # the same settings again: reused from the file, not rebuilt
    calls = []
    real_correct = build._correct_sunz
    monkeypatch.setattr(build, "_correct_sunz", lambda *a: calls.append(1) or real_correct(*a))
    again = C.make_composite(path, DAY_DOMAIN, kind="C01", out_path=out, sunz=True)
    assert calls == [] and again.encoding.get("source", "").endswith("c01.nc")
    np.testing.assert_array_equal(again.C01.values, corrected.C01.values)
    again.close()
    # settings: sunz=None is the recipe's default (off for C01, on for truecolor)
    assert build._sunz(CompositeSettings(domain=DAY_DOMAIN, recipe="C01"), C.get_recipe("C01"),
                       C.as_scene(path)) is False
    from convml_tt.data.sources.base import Scene

    scene = Scene("goes_abi", "goes16", "Rad", "M1", dt.datetime(2020, 1, 1), {1: Path("a"), 2: Path("b"),
                                                                              3: Path("c"), 13: Path("x")})
    assert build._sunz(CompositeSettings(domain=DAY_DOMAIN), C.get_recipe("truecolor"), scene) is True
    assert build._sunz(CompositeSettings(domain=DAY_DOMAIN, recipe="C13"), C.get_recipe("C13"), scene) is False
    with pytest.raises(ValueError, match="has no reflective band"):  # --sunz on an IR recipe is refused
        CompositeSettings(domain=DAY_DOMAIN, recipe="C13", sunz=True)
    assert "sunz" not in build._fingerprint(scene, CompositeSettings(domain=DAY_DOMAIN, recipe="C13"),
                                            C.get_recipe("C13"))
    with pytest.raises(TypeError, match="sunz='on'"):
        CompositeSettings(domain=DAY_DOMAIN, sunz="on")
    # a composite made before the setting existed (no sunz attribute) was uncorrected
    raw = C.make_composite(path, DAY_DOMAIN, kind="C01", out_path=out, overwrite=True)
    with netCDF4.Dataset(out, "a") as nc:
        nc.delncattr("sunz")
    old = C.make_composite(path, DAY_DOMAIN, kind="C01", out_path=out)
    assert "sunz" not in old.attrs  # reused
    old.close()
    assert C.make_composite(path, DAY_DOMAIN, kind="C01", out_path=out, sunz=True).attrs["sunz"] == 1


def test_cli_composite_sunz(tmp_path, capsys, synthetic_scenes, synthetic_data_root):
    root = tmp_path / "root"
    root.mkdir()
    (root / "sources").symlink_to(synthetic_data_root / "sources", target_is_directory=True)
    t0 = synthetic_scenes[0].time.isoformat()
    common = ["composite", "--data-root", root, "--domain", -50.8, 14.3, -49.3, 15.7, "--start", t0, "--end", t0,
              "--quiet"]
    values = {}
    for flag in ("off", "on"):
        assert main([str(a) for a in common + ["--sunz", flag]]) == 0
        (p,) = capsys.readouterr().out.split()
        ds = C.load_composite(p, load=True)
        assert ds.attrs["sunz"] == int(flag == "on")
        values[flag] = ds.rgb.values
    assert main([str(a) for a in common]) == 0  # true colour's default: on, the cached one reused
    (p,) = capsys.readouterr().out.split()
    np.testing.assert_array_equal(C.load_composite(p, load=True).rgb.values, values["on"])
    assert np.nanmean(values["on"]) > 1.2 * np.nanmean(values["off"])
    # the same through make_composites' keywords and settings
    (p,) = C.make_composites(root, (-50.8, 14.3, -49.3, 15.7), start=synthetic_scenes[0].time,
                             end=synthetic_scenes[0].time, sunz=False, progress=False)
    np.testing.assert_array_equal(C.load_composite(p, load=True).rgb.values, values["off"])
    with pytest.raises(TypeError, match="not both"):
        C.make_composites(root, settings=CompositeSettings(domain=(-50.8, 14.3, -49.3, 15.7)), sunz=True)
    with pytest.raises(SystemExit):
        main([str(a) for a in common + ["--sunz", "maybe"]])
    assert "invalid choice" in capsys.readouterr().err


# --- synthetic scenes lit by the Sun ---------------------------------------------------------
def test_synthetic_radiance_carries_cos_sza(tmp_path):
    """The synthetic L1b radiance is the reflectance pattern times cos(SZA):
    the corrected composite gives back the generator's pattern (within the
    packing step divided by cos(SZA)), the uncorrected one the pattern times
    cos(SZA); the default time and place (2020-01-02 14:00 UTC, 15N 50W) is daylit."""
    from convml_tt.config import SceneSettings
    from convml_tt.data import synthetic as syn

    defaults = SceneSettings(start=dt.datetime(2020, 1, 2, 14))
    lit = syn.illumination(syn.sector_geometry(defaults.center, defaults.size_km, defaults.satellite), 2.0,
                           defaults.start)
    sza = np.degrees(np.arccos(lit))
    assert 30.0 < sza.min() and sza.max() < 55.0  # well within the true-colour max_sza (80)

    t = dt.datetime(2020, 1, 2, 14)
    (scene,) = syn.write_synthetic_scenes(tmp_path, t, count=1, size_km=120, bands=(1, 2, 3), progress=False)
    fields = syn.make_scene_fields(t, size_km=120, bands=(1, 2, 3))
    domain = (-50.3, 14.7, -49.7, 15.3)
    corrected = C.make_composite(scene.files, domain, kind="C01", sunz=True)
    raw = C.make_composite(scene.files, domain, kind="C01")
    x, y = fields.xy(1)
    ix = np.rint((corrected.x.values - x[0]) / (x[1] - x[0])).astype(int)
    iy = np.rint((corrected.y.values - y[0]) / (y[1] - y[0])).astype(int)
    pattern = fields.reflectance[1][np.ix_(iy, ix)]
    cos = np.cos(np.radians(solar.solar_zenith_angle(corrected.time.values, corrected.lat.values,
                                                     corrected.lon.values)))
    kappa0, _, _ = syn.kappa0_for(1, t)
    half_step = 0.5 * syn.BAND_CONSTANTS[1][3] * float(kappa0)
    assert np.abs(corrected.C01.values - pattern).max() <= half_step / cos.min() * 1.01 + 1e-5
    assert np.abs(raw.C01.values - pattern * cos).max() <= half_step * 1.01 + 1e-5
    assert np.abs(raw.C01.values - pattern).max() > 0.01  # the correction is exercised
    # true colour (corrected by default): its blue is the corrected band 1
    rgb = C.make_composite(scene.files, domain)
    np.testing.assert_allclose(rgb.rgb.sel(channel="blue").values, corrected.C01.values, atol=1e-6)


# --- --max-sza: triplets and maps -------------------------------------------------------------
def test_triplet_settings_max_sza_validation(capsys):
    s = TripletSettings(domain=DAY_DOMAIN, max_sza=85, max_sza_fraction=0.25)
    assert s.max_sza == 85.0 and s.to_yaml_dict()["max_sza_fraction"] == 0.25
    assert "max_sza" not in TripletSettings(domain=DAY_DOMAIN).to_yaml_dict()
    for bad in (200, -1, 0, float("nan"), True):
        with pytest.raises(ValueError, match=r"0 < max_sza <= 180"):
            TripletSettings(domain=DAY_DOMAIN, max_sza=bad)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"0 <= f < 1"):
            TripletSettings(domain=DAY_DOMAIN, max_sza_fraction=bad)
    for value in ("200", "-1", "abc"):
        with pytest.raises(SystemExit) as exit_:
            main(["triplets", "--domain", *map(str, DAY_DOMAIN), "--n-train", "1", "--out", "x",
                  "--max-sza", value])
        assert exit_.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "--max-sza" in err and "0 < degrees <= 180" in err
    with pytest.raises(SystemExit):
        main(["triplets", "--domain", *map(str, DAY_DOMAIN), "--n-train", "1", "--out", "x",
              "--max-sza-fraction", "1.5"])
    assert "0 <= F < 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["map", "tile_statistics", "--domain", *map(str, DAY_DOMAIN), "--out", "m.nc", "--max-sza", "200"])
    assert "0 < degrees <= 180" in capsys.readouterr().err


def _root_with(tmp_path: Path, scan: str, bands) -> Path:
    src = tmp_path / "root" / "sources" / "goes17"
    src.mkdir(parents=True)
    for b in bands:
        p = _real(scan, b)
        (src / p.name).symlink_to(p)
    return tmp_path / "root"


@needs_real
def test_night_scan_true_colour_is_a_clear_error_and_c13_works(tmp_path, capsys):
    root = _root_with(tmp_path, NIGHT, (1, 2, 3, 13))
    common = ["triplets", "--data-root", root, "--domain", *NIGHT_DOMAIN, "--n-train", 2,
              "--distant", "same_scene", "--tile-size-m", 40e3, "--tile-pixels", 16, "--labels", "none", "--quiet"]
    rc = main([str(a) for a in common + ["--out", tmp_path / "tc"]])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and err[0].startswith("convml_tt triplets: error: no daylit tiles:")
    assert "exceeds --max-sza 80" in err[0] and "--recipe C13" in err[0] and "daytime scenes" in err[0]
    assert not (tmp_path / "tc" / "train" / "000000_anchor.png").exists()
    rc = main([str(a) for a in common + ["--out", tmp_path / "ir", "--recipe", "C13"]])
    assert rc == 0, capsys.readouterr().err
    assert len(list((tmp_path / "ir" / "train").glob("*.png"))) >= 6
    # the limit applies to infrared tiles too when asked for
    rc = main([str(a) for a in common + ["--out", tmp_path / "ir2", "--recipe", "C13", "--max-sza", 90]])
    assert rc == 1 and "no daylit tiles" in capsys.readouterr().err
    close_composites()


@needs_real
def test_triplet_tiles_respect_max_sza(tmp_path, caplog):
    """On the daytime scan (SZA ~43-46 over the domain), a limit between the
    extremes keeps every drawn tile's centre (or, with max_sza_fraction 0,
    every grid point of it) within the limit; scenes entirely beyond it are
    left out with a warning."""
    from convml_tt.data.sampling.triplets import TripletSampler, daylit_scenes, tile_is_daylit

    (path,) = C.make_composites(_root_with(tmp_path, DAY, (13,)), DAY_DOMAIN, kind="C13", progress=False)
    t = np.datetime64(DAY_START)
    lon_min, lat_min, lon_max, lat_max = DAY_DOMAIN
    lat, lon = np.meshgrid(np.linspace(lat_min, lat_max, 9), np.linspace(lon_min, lon_max, 9))
    z = solar.solar_zenith_angle(t, lat, lon)
    limit = float(np.median(z))
    for fraction in (None, 0.0):
        s = TripletSettings(domain=DAY_DOMAIN, tile_size_m=30e3, tile_pixels=16, n_train=4, distant="same_scene",
                            recipe="C13", max_sza=limit, max_sza_fraction=fraction, seed=1)
        sampler = TripletSampler(s, {"train": [str(path)], "study": []})
        for i in range(4):
            for d in sampler.sample("train", i).values():
                assert tile_is_daylit(d.tile, t, limit, fraction)
                if fraction is None:
                    assert solar.solar_zenith_angle(t, d.tile.lat0, d.tile.lon0) <= limit
                else:
                    tl, tn = d.tile.pixel_latlon()
                    assert solar.solar_zenith_angle(t, tl, tn).max() <= limit + 0.01
    # without a limit (C13's default) the same draws as before the option existed
    s0 = TripletSettings(domain=DAY_DOMAIN, tile_size_m=30e3, tile_pixels=16, n_train=1, distant="same_scene",
                         recipe="C13", seed=1)
    assert TripletSampler(s0, {"train": [str(path)]}).daylit == {"train": [0]}
    low = TripletSettings(domain=DAY_DOMAIN, tile_size_m=30e3, tile_pixels=16, n_train=1, distant="same_scene",
                          recipe="C13", max_sza=float(z.min()) - 1.0)
    with pytest.raises(ValueError, match="no daylit tiles"):
        daylit_scenes(low, {"train": [str(path)], "study": []})
    close_composites()
    # the day and the night scan over a domain inside both sectors: the night one is left out (warned)
    root = tmp_path / "both"
    src = root / "sources" / "goes17"
    src.mkdir(parents=True)
    for scan in (DAY, NIGHT):
        (src / _real(scan, 13).name).symlink_to(_real(scan, 13))
    both = (-121.0, 36.0, -118.0, 39.0)
    paths = [str(p) for p in C.make_composites(root, both, kind="C13", progress=False)]
    assert len(paths) == 2 and NIGHT[1:] not in paths[0]
    s = TripletSettings(domain=both, tile_size_m=30e3, tile_pixels=16, n_train=2, distant="same_scene",
                        recipe="C13", max_sza=80)
    with caplog.at_level("WARNING", logger="convml_tt"):
        kept = daylit_scenes(s, {"train": paths, "study": []})
    assert kept == {"train": paths[:1], "study": []}
    (msg,) = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert paths[1] in msg and "beyond --max-sza 80" in msg
    with pytest.raises(ValueError, match="1 daylit scene"):
        daylit_scenes(TripletSettings(domain=both, n_train=2, recipe="C13", max_sza=80),
                      {"train": paths, "study": []})
    sampler = TripletSampler(s, {"train": paths})
    assert sampler.daylit == {"train": [0]}
    assert {d.scene for d in sampler.sample("train", 0).values()} == {0}
    close_composites()


@needs_real
def test_map_cells_beyond_max_sza_are_invalid(tmp_path):
    from convml_tt.data.sampling.grid import GridSampler
    from convml_tt.interpretation.maps import embed_domain

    (path,) = C.make_composites(_root_with(tmp_path, DAY, (13,)), DAY_DOMAIN, kind="C13", progress=False)
    kw = dict(tile_size_m=40e3, tile_pixels=16, stride=40e3, domain=DAY_DOMAIN, progress=False)
    free = embed_domain("tile_statistics", [path], **kw)  # C13: no default limit
    assert free["valid"].values.all()
    sampler = GridSampler(DAY_DOMAIN, 40e3, 16, 40e3, {"s": [str(path)]})
    z = solar.solar_zenith_angle(np.datetime64(DAY_START), sampler.lat, sampler.lon)
    limit = float(np.median(z))
    limited = embed_domain("tile_statistics", [path], max_sza=limit, **kw)
    valid = limited["valid"].values[0].astype(bool)
    assert valid.shape == z.shape
    np.testing.assert_array_equal(valid, z <= limit)
    assert 0 < valid.sum() < valid.size
    emb = limited["embedding"].values[0]
    assert np.isnan(emb[~valid]).all()
    np.testing.assert_array_equal(emb[valid], free["embedding"].values[0][valid])
    with pytest.raises(ValueError, match="0 < max_sza <= 180"):
        GridSampler(DAY_DOMAIN, 40e3, 16, 40e3, {"s": [str(path)]}, max_sza=0)
    close_composites()
