"""convml_tt.data.composites on synthetic ABI L1b scenes (tests/synthetic_fixtures.py)
and on real GOES-17 L1b files (the shared goes_real data, as in test_abi.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from convml_tt.data.sources import goes_abi as abi
from convml_tt.data import composites as C

# the synthetic sector: 300 km centred at 15N 50W
DOMAIN = (-50.8, 14.3, -49.3, 15.7)


@pytest.fixture(scope="module")
def scene(synthetic_scenes):
    return synthetic_scenes[0].files


def _block(a, p):
    h, w = a.shape
    return a[: h // p * p, : w // p * p].reshape(h // p, p, w // p, p).mean(axis=(1, 3))


def test_truecolor_reads_only_the_window_and_matches_the_recipe(scene, monkeypatch, tmp_path):
    windows = {}
    real = abi.read_abi
    real_read = abi.WindowReader.read

    def spy(reader, rows, cols, dqf_max=None):
        # bands are read in blocks of rows: keep the union of the windows
        b = reader.band
        union = (rows, cols)
        if b in windows:
            (urows, ucols), _, _ = windows[b]
            assert cols == ucols, "every block spans the same columns"
            union = (slice(min(urows.start, rows.start), max(urows.stop, rows.stop)), cols)
        ny, nx = reader.nc.variables[reader.variable].shape
        windows[b] = (union, ny, nx)
        return real_read(reader, rows, cols, dqf_max)

    monkeypatch.setattr(abi.WindowReader, "read", spy)
    ds = C.make_composite(scene, DOMAIN, sunz=False)  # the recipe on the plain reflectance factor
    # only a window of each file was read, covering the domain
    for b, ((rows, cols), ny, nx) in windows.items():
        assert rows.stop - rows.start < ny and cols.stop - cols.start < nx, b
    (r2, c2), _, _ = windows[2]
    (r1, c1), _, _ = windows[1]
    assert (r2.stop - r2.start, c2.stop - c2.start) == (2 * (r1.stop - r1.start), 2 * (c1.stop - c1.start))
    assert ds.rgb.dims == ("y", "x", "channel") and list(ds.channel.values) == ["red", "green", "blue"]
    assert ds.rgb.shape[:2] == (r1.stop - r1.start, c1.stop - c1.start)
    assert np.nanmin(ds.lat) <= DOMAIN[1] and np.nanmax(ds.lat) >= DOMAIN[3]
    assert np.nanmin(ds.lon) <= DOMAIN[0] and np.nanmax(ds.lon) >= DOMAIN[2]
    # independent oracle: calibrate each full file, block-average band 2, CIMSS green
    refl = {b: abi.calibrate(real(scene[b])).values for b in (1, 2, 3)}
    red = _block(refl[2][r2, c2], 2)
    blue = refl[1][r1, c1]
    veg = refl[3][r1, c1]
    np.testing.assert_allclose(ds.rgb.sel(channel="red").values, red, atol=1e-6)
    np.testing.assert_allclose(ds.rgb.sel(channel="blue").values, blue, atol=1e-6)
    np.testing.assert_allclose(
        ds.rgb.sel(channel="green").values, 0.45 * red + 0.10 * veg + 0.45 * blue, atol=1e-6
    )
    # fixed-grid coordinates are the bands' own 1 km pixel centres
    x1 = real(scene[1])["x"].values[c1]
    np.testing.assert_allclose(ds.x.values, x1, atol=1e-9)
    assert ds.attrs["satellite"] == 16 and "kappa0" not in ds


def test_resolution_matching(scene):
    ds05 = C.make_composite(scene, DOMAIN, resolution_km=0.5, sunz=False)
    ds1 = C.make_composite(scene, DOMAIN, resolution_km=1.0, sunz=False)
    ds2 = C.make_composite(scene, DOMAIN, resolution_km=2.0, sunz=False)
    assert ds05.rgb.shape[0] == 2 * ds1.rgb.shape[0]
    assert abs(ds2.rgb.shape[0] - ds1.rgb.shape[0] / 2) <= 1
    # 0.5 km: blue (1 km) is replicated, red is the native band 2
    blue05 = ds05.rgb.sel(channel="blue").values
    np.testing.assert_array_equal(blue05[0::2, 0::2], blue05[1::2, 1::2])
    # 0.5 km red block-averaged 2x2 gives back the 1 km red where the grids align
    np.testing.assert_allclose(np.diff(ds05.x.values), 14e-6, rtol=1e-3)
    red1 = _block(ds05.rgb.sel(channel="red").values, 2)
    np.testing.assert_allclose(red1, ds1.rgb.sel(channel="red").values, atol=1e-6)
    np.testing.assert_allclose(ds05.x.values.reshape(-1, 2).mean(1), ds1.x.values, atol=1e-9)
    with pytest.raises(ValueError, match="multiple or divisor"):
        C.make_composite(scene, DOMAIN, resolution_km=0.7)


def test_single_band_composite(scene):
    ds = C.make_composite(scene, DOMAIN, kind=2)
    assert ds.attrs["composite_variable"] == "C02" and ds.C02.dims == ("y", "x")
    assert ds.C02.attrs["units"] == "1"
    with pytest.raises(ValueError, match="lacks"):
        C.make_composite(scene, DOMAIN, kind=13)
    with pytest.raises(ValueError, match="band number"):
        C.make_composite(scene, DOMAIN, kind="ir")


def test_write_reuse_and_netcdf_contents(scene, tmp_path, monkeypatch):
    out = C.composite_path(tmp_path, scene, DOMAIN)
    assert out.parts[-4:-1] == ("goes16", "domain_-50.800_14.300_-49.300_15.700", "truecolor_1km")
    ds = C.make_composite(scene, DOMAIN, out_path=out)
    assert out.exists() and not list(out.parent.glob("*.tmp"))
    mtime = out.stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(abi, "read_abi", lambda *a, **k: calls.append(1))
    again = C.make_composite(scene, DOMAIN, out_path=out)  # reused: nothing read
    assert calls == [] and out.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.rgb.values, ds.rgb.values)
    loaded = C.load_composite(out, load=True)
    assert loaded.lat.dims == ("y", "x") and "time" in loaded.coords
    for k in ("perspective_point_height", "longitude_of_projection_origin", "sweep_angle_axis"):
        assert k in loaded.goes_imager_projection.attrs
    assert all(Path(p).name in loaded.attrs["source_files"] for p in scene.values())
    assert abi.FixedGrid.from_dataset(loaded).longitude_of_projection_origin == -75.0


def test_masks_space_and_bad_dqf(scene, tmp_path):
    files = {}
    for b, p in scene.items():
        files[b] = tmp_path / p.name
        shutil.copy(p, files[b])
    with netCDF4.Dataset(files[1], "a") as nc:
        nc.set_auto_maskandscale(False)
        q = nc["DQF"][:]
        q[100:110, 120:130] = 2  # out of range
        nc["DQF"][:] = q
    full = abi.read_abi(files[1])
    rows, cols = abi.bbox_window(full, DOMAIN, margin=0)
    r, c = 105 - rows.start, 125 - cols.start
    # strict: flagged pixels are NaN
    ds = C.make_composite(files, DOMAIN, margin=0, quality="strict")
    blue = ds.rgb.sel(channel="blue").values
    assert np.isnan(blue[r, c]) and np.isnan(ds.rgb.values[r, c]).any()
    assert np.isfinite(blue).mean() > 0.9
    assert "flagged_pixels" not in ds.attrs
    # the default keeps out-of-range (saturated) pixels at their value, as satpy does, and counts them
    keep = C.make_composite(files, DOMAIN, margin=0)
    assert np.isfinite(keep.rgb.sel(channel="blue").values[r, c])
    assert keep.attrs["quality"] == "keep-saturated" and keep.attrs["flagged_pixels"] == "C01: 100"
    assert C.make_composite(files, DOMAIN, margin=0, dqf_max=2).attrs["flagged_pixels"] == "C01: 100"
    assert np.isnan(C.make_composite(files, DOMAIN, margin=0, dqf_max=1).rgb.values[r, c]).any()


def test_space_pixels_are_nan(tmp_path):
    import datetime as dt

    from convml_tt.data.synthetic import write_synthetic_scenes

    # a sector on the limb (81 degrees east of the sub-satellite point): part of it sees space
    sc = write_synthetic_scenes(tmp_path, dt.datetime(2020, 1, 2, 14), count=1, center=(0.0, 5.8),
                                size_km=200.0, progress=False)[0]
    # a domain partly off the disk is refused
    with pytest.raises(abi.OffDiskError, match="off the Earth's disk"):
        C.make_composite(sc.files, (5.0, -0.5, 7.5, 0.5))
    # a domain on the disk, with a margin reaching past the limb: space is NaN
    ds = C.make_composite(sc.files, (5.0, -0.3, 5.5, 0.3), margin=400)
    space = np.isnan(ds.lat.values)
    assert space.any() and (~space).any()
    assert np.isnan(ds.rgb.values[space]).all()
    assert np.isfinite(ds.rgb.values[~space]).mean() > 0.95


def test_bad_domains(scene):
    with pytest.raises(ValueError, match="min >= max"):
        C.make_composite(scene, (-49, 14.3, -50, 15.7))
    with pytest.raises(abi.OffDiskError, match="off the Earth's disk"):
        C.make_composite(scene, (100, 10, 110, 20))
    with pytest.raises(abi.OffDiskError, match="sector"):
        C.make_composite(scene, (-40, 10, -35, 14))
    with pytest.raises(ValueError, match="lacks"):
        C.make_composite({1: scene[1]}, DOMAIN)


def test_make_composites_over_the_cache(synthetic_scenes, synthetic_data_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(synthetic_data_root / "sources", root / "sources")
    found = C.find_scenes(root)
    assert len(found) == 3 and all(sorted(f) == [1, 2, 3] for f in found)
    paths = C.make_composites(root, DOMAIN, progress=False)
    assert len(paths) == 3 and all(p.exists() for p in paths)
    t1 = synthetic_scenes[1].time
    only = C.make_composites(root, DOMAIN, start=t1, end=t1, progress=False)
    assert only == [paths[1]]
    with pytest.raises(FileNotFoundError, match="fetch"):
        C.make_composites(tmp_path / "empty", DOMAIN, progress=False)
    # unwritable output folder (a file where a folder should be; chmod is moot as root)
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot create the folder"):
        C.make_composite(synthetic_scenes[0].files, DOMAIN, out_path=blocker / "sub" / "c.nc")


def test_stretch():
    v = np.array([-0.1, 0.0, 0.25, 1.0, 2.0, np.nan], np.float32)
    u = C.to_uint8(v)
    assert u.dtype == np.uint8
    assert list(u) == [0, 0, round(255 * 0.25 ** (1 / 2.2)), 255, 255, 0]
    assert C.simulated_green(1.0, 0.0, 0.0) == pytest.approx(0.45)
    assert C.simulated_green(0.0, 1.0, 0.0) == pytest.approx(0.10)


# --- recipes ------------------------------------------------------------------
from convml_tt.cli import main  # noqa: E402
from convml_tt.config import CompositeSettings  # noqa: E402
from convml_tt.data.composites import recipes as R  # noqa: E402
from convml_tt.data.composites.enhance import to_display  # noqa: E402
from convml_tt.data.composites.reader import close_composites, open_composite  # noqa: E402
from convml_tt.data.tiles import Tile  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "goes_real"
#: inside the GOES-17 mesoscale sector of 2019-10-27 20:00 UTC (stratocumulus off California)
REAL_DOMAIN = (-126.0, 31.0, -124.0, 33.0)


@pytest.fixture
def registry():
    """The recipe registry, restored after the test."""
    with R.RECIPES.scoped():
        yield R


@pytest.fixture
def data_root(synthetic_data_root, tmp_path):
    """A data root whose sources are the (read-only) synthetic scenes."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "sources").symlink_to(synthetic_data_root / "sources", target_is_directory=True)
    return root


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr().out
    return rc, out


def test_builtin_recipes_are_listed(capsys):
    names = [r.name for r in C.list_recipes()]
    assert names == ["truecolor"] + [f"C{b:02d}" for b in range(1, 17)]
    tc = C.get_recipe("truecolor")
    assert C.get_recipe("RGB") is C.get_recipe("truecolour") is tc
    assert tc.bands == C.TRUECOLOR_BANDS and tc.variable == "rgb" and tc.channels == ("red", "green", "blue")
    assert C.get_recipe(13) is C.get_recipe("13") is C.get_recipe("c13") is C.get_recipe("C13")
    assert C.get_recipe(13).units == "K" and C.get_recipe(2).units == "1"
    with pytest.raises(ValueError, match="band number 1-16"):
        C.get_recipe(17)
    with pytest.raises(ValueError, match="must be 'truecolor' or an ABI band number"):
        C.get_recipe("ir")
    with pytest.raises(SystemExit) as exit_:
        main(["composite", "--list-recipes"])
    assert exit_.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "bands", "units", "description"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert list(rows) == names
    assert rows["truecolor"][1:3] == ["1,2,3", "1"] and rows["C13"][1:3] == ["13", "K"]
    assert "brightness temperature" in lines[names.index("C13") + 1]


def test_cli_recipe_and_band(data_root, synthetic_scenes, capsys):
    t0 = synthetic_scenes[0].time.isoformat()
    common = ["composite", "--data-root", data_root, "--domain", *DOMAIN, "--start", t0, "--end", t0, "--quiet"]
    rc, out = _cli(capsys, *common, "--recipe", "C02")
    assert rc == 0
    (path,) = [Path(p) for p in out.split()]
    assert path.parts[-2] == "C02_1km" and path.is_file()
    mtime = path.stat().st_mtime_ns
    rc, out = _cli(capsys, *common, "--band", "2")  # the same composite, reused
    assert rc == 0 and [Path(p) for p in out.split()] == [path] and path.stat().st_mtime_ns == mtime
    ds = C.load_composite(path, load=True)
    np.testing.assert_array_equal(ds.C02.values, C.make_composite(synthetic_scenes[0].files, DOMAIN, kind=2).C02.values)
    rc, out = _cli(capsys, *common, "--recipe", "rgb")
    assert rc == 0 and Path(out.split()[0]).parts[-2] == "truecolor_1km"
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in common + ["--recipe", "C02", "--band", "2"]])
    assert exit_.value.code == 2
    capsys.readouterr()
    assert main([str(a) for a in common + ["--recipe", "ir"]]) == 1
    assert "composite kind 'ir' must be 'truecolor'" in capsys.readouterr().err
    assert main([str(a) for a in common + ["--band", "17"]]) == 1
    assert "composite band 17 must be an ABI band number 1-16" in capsys.readouterr().err


def test_cli_user_recipe_from_a_plugin(registry, data_root, synthetic_scenes, tmp_path, capsys):
    plugin = tmp_path / "my_recipes.py"
    plugin.write_text(
        "from convml_tt.data.composites import Recipe, register_recipe\n"
        "register_recipe(Recipe(name='red_minus_blue', bands=(2, 1), units='1',\n"
        "                       long_name='band 2 - band 1 reflectance factor',\n"
        "                       combine=lambda b: {0: b[2] - b[1]}))\n"
    )
    t0 = synthetic_scenes[0].time.isoformat()
    argv = ["composite", "--data-root", data_root, "--domain", *DOMAIN, "--start", t0, "--end", t0, "--quiet",
            "--recipe", "red_minus_blue"]
    assert main([str(a) for a in argv]) == 1  # not registered without the plugin
    assert "red_minus_blue" in capsys.readouterr().err
    rc, out = _cli(capsys, *argv, "--plugin", plugin)
    assert rc == 0
    (path,) = [Path(p) for p in out.split()]
    assert path.parts[-2] == "red_minus_blue_1km"
    v = C.load_composite(path, load=True).red_minus_blue.values
    rgb = C.make_composite(synthetic_scenes[0].files, DOMAIN, sunz=False).rgb  # same 1 km raster: red C02, blue C01
    np.testing.assert_array_equal(v, rgb.sel(channel="red").values - rgb.sel(channel="blue").values)


def test_make_composites_takes_settings(data_root, synthetic_scenes):
    t1 = synthetic_scenes[1].time
    settings = CompositeSettings(domain=DOMAIN, start=t1, end=t1, recipe="C01")
    (path,) = C.make_composites(data_root, settings=settings, progress=False)
    assert path == C.make_composites(data_root, DOMAIN, start=t1, end=t1, kind=1, progress=False)[0]
    with pytest.raises(TypeError, match="not both"):
        C.make_composites(data_root, DOMAIN, settings=settings, progress=False)
    with pytest.raises(ValueError, match="min >= max"):
        CompositeSettings(domain=(-49, 14.3, -50, 15.7))
    with pytest.raises(ValueError, match="band number"):
        CompositeSettings(domain=DOMAIN, recipe="ir")


def test_user_recipe_two_band_difference(registry, scene, tmp_path):
    diff = C.register_recipe(C.Recipe(
        name="veggie_minus_blue", bands=(3, 1), units="1", long_name="band 3 - band 1 reflectance factor",
        combine=lambda b: {0: b[3] - b[1]}, attrs={"formula": "C03 - C01"},
    ))
    assert C.get_recipe("veggie_minus_blue") is diff and diff in C.list_recipes()
    out = C.composite_path(tmp_path, scene, DOMAIN, "veggie_minus_blue")
    assert out.parts[-2] == "veggie_minus_blue_1km"
    ds = C.make_composite(scene, DOMAIN, kind="veggie_minus_blue", out_path=out)
    v = ds.veggie_minus_blue
    assert v.dims == ("y", "x") and v.attrs["formula"] == "C03 - C01" and v.attrs["units"] == "1"
    assert ds.attrs["kind"] == "veggie_minus_blue" and ds.attrs["composite_variable"] == "veggie_minus_blue"
    c3 = C.make_composite(scene, DOMAIN, kind=3).C03.values
    c1 = C.make_composite(scene, DOMAIN, kind=1).C01.values
    np.testing.assert_array_equal(v.values, c3 - c1)
    assert np.isfinite(v.values).mean() > 0.9
    mtime = out.stat().st_mtime_ns
    again = C.make_composite(scene, DOMAIN, kind=diff, out_path=out)  # reused
    assert out.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.veggie_minus_blue.values, v.values)
    # two named channels, one filled by combine, by name
    pair = C.Recipe(name="pair", bands=(1, 3), channels=("blue", "ratio"),
                    combine=lambda b: {"ratio": b[3] / b[1]})
    ds2 = C.make_composite(scene, DOMAIN, kind=pair)
    np.testing.assert_array_equal(ds2.pair.sel(channel="blue").values, c1)
    np.testing.assert_array_equal(ds2.pair.sel(channel="ratio").values, c3 / c1)


def test_recipes_refused(registry, scene):
    with pytest.raises(ValueError, match="band 17 is not an ABI band number 1-16"):
        C.Recipe(name="bad", bands=(13, 17))
    with pytest.raises(ValueError, match="already registered"):
        C.register_recipe(C.Recipe(name="truecolor", bands=(1,)))
    with pytest.raises(ValueError, match="already registered"):
        C.register_recipe(C.Recipe(name="rgb", bands=(1,)))  # an alias of truecolor
    with pytest.raises(ValueError, match="already registered"):
        C.register_recipe(C.Recipe(name="c13", bands=(13,)))
    with pytest.raises(ValueError, match="needs a band"):
        C.Recipe(name="two", bands=(1,), channels=("a", "b"))
    with pytest.raises(ValueError, match="name"):
        C.Recipe(name="a/b", bands=(1,))
    mine = C.register_recipe(C.Recipe(name="C13", bands=(13,), units="K", long_name="mine"), overwrite=True)
    assert C.get_recipe(13) is mine
    half = C.Recipe(name="half", bands=(1,), channels=("a", "b"), combine=lambda b: {})
    with pytest.raises(ValueError, match="returned nothing for output plane"):
        C.make_composite(scene, DOMAIN, kind=half)


def test_display_stretches():
    bt = np.array([200.0, 260.0, 320.0, 340.0, np.nan], np.float32)
    assert list(to_display(bt, "K", 2.2)) == [255, 128, 0, 0, 0]
    r = np.array([0.0, 0.25, 1.0], np.float32)
    np.testing.assert_array_equal(to_display(r, "1", 2.2), C.to_uint8(r))
    np.testing.assert_array_equal(to_display(r, "1", 1.0), [0, 64, 255])


@pytest.mark.skipif(not REAL.is_dir(), reason="real GOES files not available")
def test_real_goes17_brightness_temperature(registry, tmp_path, capsys):
    src = tmp_path / "root" / "sources" / "goes17"
    src.mkdir(parents=True)
    for p in REAL.glob("OR_ABI-L1b-RadM1-M6C1[35]_G17_s20193002000275_*.nc"):
        (src / p.name).symlink_to(p)
    rc, out = _cli(capsys, "composite", "--data-root", tmp_path / "root", "--domain", *REAL_DOMAIN,
                   "--recipe", "C13", "--quiet")
    assert rc == 0
    (path,) = [Path(p) for p in out.split()]
    assert path.parts[-4:-1] == ("goes17", "domain_-126.000_31.000_-124.000_33.000", "C13_1km")
    ds = C.load_composite(path, load=True)
    bt = ds.C13
    assert bt.attrs["units"] == "K" and bt.attrs["long_name"] == "ABI band 13 brightness temperature"
    assert np.isfinite(bt.values).all()
    assert 180.0 < float(bt.min()) and float(bt.max()) < 330.0 and float(bt.max()) - float(bt.min()) > 10.0
    assert ds.attrs["satellite"] == 17 and ds.time.values == np.datetime64("2019-10-27T20:00:27.5")
    # a user recipe on the same scan: the split-window difference C13 - C15 (K)
    C.register_recipe(C.Recipe(name="split_window", bands=(13, 15), units="K",
                               long_name="C13 - C15 brightness temperature difference",
                               combine=lambda b: {0: b[13] - b[15]}))
    files = C.find_scenes(tmp_path / "root", bands=(13, 15))[0]
    sw = C.make_composite(files, REAL_DOMAIN, kind="split_window").split_window.values
    assert sw.shape == bt.shape and np.all(np.abs(sw) < 15.0)
    # read back as tiles, displayed as IR imagery
    reader = open_composite(path)
    try:
        assert reader is open_composite(str(path)) and reader.units == "K" and reader.satellite == 17
        tile = reader.tile(Tile(32.0, -125.0, size=100e3, n=32), "bilinear")
        assert tile.shape == (32, 32, 1) and 180.0 < tile.min() and tile.max() < 330.0
        img = to_display(tile, reader.units, 2.2)
        assert img.dtype == np.uint8 and img.shape == tile.shape
    finally:
        close_composites()


def test_stale_temps_of_the_same_composite_are_removed(scene, tmp_path):
    # a killed write left temporary files beside the composite; those of X.nc
    # go when X.nc is written, those of other outputs stay
    out = tmp_path / "X.nc"
    stale = [tmp_path / ".X.nc.abc123.tmp", tmp_path / ".X.nc.q_7z9x0k.tmp"]
    stale[0].write_bytes(b"")
    stale[1].write_bytes(b"x" * 1000)
    others = [tmp_path / ".other.nc.zzz.tmp", tmp_path / ".X.nc.bak.zzz.tmp", tmp_path / "X.nc.abc.tmp"]
    for p in others:
        p.write_bytes(b"keep")
    C.make_composite(scene, DOMAIN, out_path=out)
    assert out.exists()
    assert not any(p.exists() for p in stale)
    assert all(p.read_bytes() == b"keep" for p in others)
    assert sorted(p.name for p in tmp_path.glob(".*.tmp")) == sorted(p.name for p in others if p.name.startswith("."))


def test_failed_composite_write_leaves_no_temp_file(scene, tmp_path, monkeypatch):
    import xarray as xr

    def fail(self, path, *a, **k):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", fail)
    with pytest.raises(OSError, match="disk full"):
        C.make_composite(scene, DOMAIN, out_path=tmp_path / "Y.nc")
    assert list(tmp_path.iterdir()) == []
