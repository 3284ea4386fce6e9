"""Environment fields: ERA5 files in the CDS's layouts, derived quantities
against an independent computation, co-location with tiles, bad input."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from convml_tt.data.fields import Environment, Field, field_values, get_field, open_era5, register_field
from convml_tt.data.fields.base import FIELDS
from convml_tt.data.dataset.format import TILE_TYPES, list_triplets, read_triplet_meta
from convml_tt.data.tiles import Tile

from era5_fixtures import grid, truth, write_era5
from interp_fixtures import tiny_model_file  # noqa: F401
from synthetic_fixtures import DOMAIN, composited_root  # noqa: F401


def independent_eis_lts(t700, t0, td0, ps_hpa):
    """Wood and Bretherton (2006) written out separately: other constants
    (Rd = 287, cp = 1005, g = 9.81, Lv = 2.5e6) and Lawrence's (2005) LCL,
    125 m per K of dew-point depression."""
    kappa = 287.0 / 1005.0
    lts = t700 * (1000.0 / 700.0) ** kappa - t0 * (1000.0 / ps_hpa) ** kappa
    t850 = (t0 + t700) / 2.0
    es = 6.112 * np.exp(17.67 * (t850 - 273.15) / (t850 - 273.15 + 243.5))
    qs = 0.622 * es / (850.0 - es)
    gamma = 9.81 / 1005.0 * (1.0 - (1.0 + 2.5e6 * qs / (287.0 * t850))
                             / (1.0 + 2.5e6**2 * qs / (1005.0 * 461.5 * t850**2)))
    z700 = 287.0 * t850 / 9.81 * np.log(ps_hpa / 700.0)
    lcl = 125.0 * (t0 - td0)
    return lts - gamma * (z700 - lcl), lts


@pytest.mark.parametrize("layout", ["new", "old"])
def test_eis_lts_equal_independent_formula(tmp_path, layout):
    files = write_era5(tmp_path, layout=layout)
    ds = open_era5(list(files.values()))
    assert list(ds["latitude"].values) == sorted(ds["latitude"].values)
    assert float(ds["longitude"].max()) < 0  # 0..360 read as -180..180
    hours = np.arange(0, 25, 3)
    lat, lon = grid()
    tr = truth(hours, lat, lon)
    eis_ref, lts_ref = independent_eis_lts(tr["t@700"], tr["t2m"], tr["d2m"], tr["sp"] / 100.0)
    sel = dict(time=np.arange(hours.size), latitude=np.arange(lat.size), longitude=np.arange(lon.size))
    eis = field_values(get_field("EIS"), ds, "test", **sel)
    lts = field_values(get_field("lts"), ds, "test", **sel)
    assert eis.shape == eis_ref.shape
    assert np.abs(eis - eis_ref).max() < 0.1
    assert np.abs(lts - lts_ref).max() < 0.1
    assert np.ptp(eis_ref) > 2.0  # the comparison spans a range of EIS
    ws = field_values(get_field("WS10"), ds, "test", **sel)
    assert np.allclose(ws, np.hypot(tr["u10"], tr["v10"]), atol=1e-3)
    rh = field_values(get_field("RH700"), ds, "test", **sel)
    assert np.allclose(rh, tr["r@700"], atol=1e-3)


def test_0360_descending_equals_ascending(tmp_path):
    cds = write_era5(tmp_path, layout="new")
    asc = write_era5(tmp_path, layout="new", ascending=True)
    names = ["EIS", "LTS", "WS10", "RH700", "OMEGA500", "SST"]
    a = Environment(list(cds.values()), names)
    b = Environment(list(asc.values()), names)
    for lat0, lon0, size in [(12.0, -55.0, 200e3), (3.3, -68.1, 120e3), (20.0, -45.5, 500e3), (10.1, -50.05, 10e3)]:
        va = a.tile_values(Tile(lat0, lon0, size), "2020-02-01T05:40")
        vb = b.tile_values(Tile(lat0, lon0, size), "2020-02-01T05:40")
        assert va.keys() == vb.keys()
        for k in va:
            assert (va[k] is None and vb[k] is None) or va[k] == pytest.approx(vb[k], rel=1e-12, abs=1e-12), k
        assert va["EIS_mean"] is not None
    # a 200 km tile holds about (200 / 27.8)^2 grid points: a spread; a 10 km tile one point, none
    assert a.tile_values(Tile(12.0, -55.0, 200e3), "2020-02-01T06:00")["SST_std"] > 0
    assert a.tile_values(Tile(10.1, -50.05, 10e3), "2020-02-01T06:00")["SST_std"] is None


def test_tile_mean_matches_points_inside(tmp_path):
    """The tile mean is the cos(lat)-weighted mean of the grid points inside the tile's square."""
    import pyproj

    env = Environment(list(write_era5(tmp_path, layout="old").values()), ["WS10"])
    tile = Tile(15.0, -60.0, 300e3)
    lat, lon = grid()
    tr = truth(np.array([6]), lat, lon)
    lo, la = np.meshgrid(lon, lat)
    u, v = pyproj.Proj(tile.proj4)(lo, la)
    inside = (np.abs(u) <= 150e3) & (np.abs(v) <= 150e3)
    ws = np.hypot(tr["u10"][0], tr["v10"][0])[inside]
    w = np.cos(np.deg2rad(la[inside]))
    got = env.tile_values(tile, np.datetime64("2020-02-01T06:20"))
    assert got["WS10_mean"] == pytest.approx(np.sum(w * ws) / np.sum(w), abs=1e-3)


def test_time_nearest_linear_and_outside(tmp_path):
    files = list(write_era5(tmp_path, layout="new").values())
    tile = Tile(12.0, -55.0, 200e3)
    near = Environment(files, ["WS10"])
    lin = Environment(files, ["WS10"], time_method="linear")
    at0, at3 = (near.tile_values(tile, f"2020-02-01T0{h}:00")["WS10_mean"] for h in (0, 3))
    assert near.tile_values(tile, "2020-02-01T00:50")["WS10_mean"] == at0
    mid = lin.tile_values(tile, "2020-02-01T01:30")["WS10_mean"]
    assert mid == pytest.approx(0.5 * (at0 + at3), rel=1e-12) and mid != at0
    for env, when in [(near, "2020-02-01T01:30"), (near, "2020-02-02T01:30"), (lin, "2020-01-31T23:30")]:
        got = env.tile_values(tile, when)
        assert got["WS10_mean"] is None and got["WS10_std"] is None
        assert "field times 2020-02-01T00:00:00 to 2020-02-02T00:00:00" in got["WS10_reason"]


def test_missing_variables_named(tmp_path):
    files = list(write_era5(tmp_path, layout="new", drop=("d2m",)).values())
    with pytest.raises(ValueError, match=r"field 'EIS' needs d2m .*era5_pressure_levels_new.nc"):
        Environment(files, ["EIS"])
    only_single = [f for f in files if "single" in f.name]
    with pytest.raises(ValueError, match=r"needs t@700, r@700|needs t@700"):
        Environment(only_single, ["LTS"])
    Environment(only_single, ["WS10"])  # what is there is enough for WS10


def test_wind_units_refused(tmp_path):
    files = list(write_era5(tmp_path, layout="old", units={"u10": "km/h"}).values())
    with pytest.raises(ValueError, match=r"era5_single_levels_old.nc: wind 'u10' has units 'km/h'"):
        Environment(files, ["WS10"])


def test_missing_files_and_unknown_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        Environment(str(tmp_path / "nothing_here*.nc"), ["WS10"])
    with pytest.raises(ValueError, match="unknown field 'XYZ'; registered: .*EIS"):
        get_field("XYZ")


def test_register_a_field_in_one_place(tmp_path):
    files = list(write_era5(tmp_path, layout="new").values())
    register_field(Field("T2MTEST", ("t2m",), "K", lambda v: v["t2m"] - 273.15 + 273.15, "2 m temperature"))
    try:
        got = Environment(files, ["t2mtest"]).tile_values(Tile(12.0, -55.0, 200e3), "2020-02-01T00:00")
        assert 290 < got["T2MTEST_mean"] < 305
    finally:
        FIELDS.unregister("T2MTEST")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "convml_tt", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_triplets_env(composited_root, tiny_model_file, tmp_path):  # noqa: F811
    """``convml_tt triplets --env EIS,WS10 --env-files 'era5/*.nc'`` on the synthetic scenes (15N 50W,
    2020-01-02 14:00-16:00) with ERA5 files covering 14:00-15:00 only and a 30 min tolerance: the 16:00
    scene's tiles get
    no value and the reason."""
    era5 = tmp_path / "era5"
    write_era5(era5, hours=np.arange(0, 2), lat_range=(10.0, 20.0), lon_range=(-55.0, -45.0),
               t0=np.datetime64("2020-01-02T14:00"), layout="old")
    out = tmp_path / "ds"
    common = ["triplets", "--data-root", composited_root, "--domain", *DOMAIN, "--tile-size-m", 40e3, "--tile-pixels",
              32, "--n-train", 6, "--seed", 2, "--quiet"]
    r = _cli(*common, "--out", out, "--env", "eis,WS10", "--env-files", f"{era5}/*.nc", "--env-tolerance-h", 0.5)
    assert r.returncode == 0, r.stderr
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["env"]["EIS"]["units"] == "K" and meta["env"]["WS10"]["units"] == "m s-1"
    assert meta["params"]["env"] == ["EIS", "WS10"]
    env = Environment(f"{era5}/*.nc", ["EIS", "WS10"], tolerance=np.timedelta64(30, "m"))
    seen = {"value": 0, "reason": 0}
    for i in list_triplets(out):
        tm = read_triplet_meta(out, "train", i)
        for kind in TILE_TYPES:
            tile = getattr(tm, kind)
            assert set(tile.env) >= {"EIS_mean", "EIS_std", "WS10_mean", "WS10_std"}
            want = env.tile_values(Tile(tile.lat, tile.lon, 40e3), tile.time)
            if tile.time.startswith("2020-01-02T16"):
                assert tile.env["EIS_mean"] is None and "outside the field times" in tile.env["EIS_reason"]
                seen["reason"] += 1
            else:
                assert tile.env["EIS_mean"] == pytest.approx(want["EIS_mean"], abs=1e-4)
                assert tile.env["WS10_mean"] == pytest.approx(want["WS10_mean"], abs=1e-5)
                assert 5.0 < tile.env["WS10_mean"] < 10.0
                seen["value"] += 1
    assert seen["value"] and seen["reason"]
    # the embeddings carry them as coordinates with their units (NaN where no value)
    from convml_tt.interpretation.embeddings import get_embeddings

    da = get_embeddings(tiny_model_file, out, stage="train", progress=False, device="cpu")
    assert da["EIS_mean"].dims == ("tile_id",) and da["EIS_mean"].attrs["units"] == "K"
    for i in da.tile_id.values:
        want = read_triplet_meta(out, "train", int(i)).anchor.env["EIS_mean"]
        got = float(da["EIS_mean"].sel(tile_id=i))
        assert (want is None and np.isnan(got)) or got == want
    # a field file lacking what EIS needs: one line naming the variable and the file, exit 1, nothing written
    write_era5(tmp_path / "nod2m", hours=np.arange(0, 2), lat_range=(10.0, 20.0), lon_range=(-55.0, -45.0),
               t0=np.datetime64("2020-01-02T14:00"), drop=("d2m",))
    r = _cli(*common, "--out", tmp_path / "ds2", "--env", "EIS", "--env-files", tmp_path / "nod2m" / "*.nc")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "needs d2m" in r.stderr and "era5_" in r.stderr
    assert not (tmp_path / "ds2").exists()
    r = _cli(*common, "--out", tmp_path / "ds3", "--env", "EIS")
    assert r.returncode == 1 and "needs env_files (--env-files" in r.stderr


def test_cli_map_env(composited_root, tmp_path):
    """``convml_tt map ... --env EIS,WS10 --env-files ...``: (time, y, x) variables with units, equal to
    the co-location of each valid cell's tile; NaN in the scene outside the files' times."""
    import xarray as xr

    from convml_tt.data.sampling.grid import GridSampler

    era5 = tmp_path / "era5"
    write_era5(era5, hours=np.arange(0, 2), lat_range=(10.0, 20.0), lon_range=(-55.0, -45.0),
               t0=np.datetime64("2020-01-02T14:00"))
    out = tmp_path / "map.nc"
    r = _cli("map", "tile_statistics", "--data-root", composited_root, "--domain", *DOMAIN, "--tile-size-m", 40e3,
             "--tile-pixels", 32, "--stride", 40e3, "--out", out, "--quiet", "--env", "EIS,WS10", "--env-files",
             era5 / "*.nc", "--env-tolerance-h", 0.5)
    assert r.returncode == 0, r.stderr
    assert "environment fields EIS, WS10 are NaN in the scene of 2020-01-02T16:00" in r.stdout
    notes = [line for line in r.stdout.splitlines() if line.startswith("environment fields")]
    assert len(notes) == 1 and "outside the field times" in notes[0]  # the 14:00 and 15:00 scenes have values
    env = Environment(f"{era5}/*.nc", ["EIS", "WS10"], tolerance=np.timedelta64(30, "m"))
    with xr.open_dataset(out) as ds:
        assert ds["EIS_mean"].dims == ("time", "y", "x") and ds["EIS_mean"].attrs["units"] == "K"
        assert ds["WS10_std"].attrs["units"] == "m s-1"
        grid = GridSampler(DOMAIN, 40e3, 32, 40e3, {"map": []})
        ny, nx = grid.shape
        checked = 0
        for k, t in enumerate(ds["time"].values):
            valid = ds["valid"].values[k].ravel().astype(bool)
            eis = ds["EIS_mean"].values[k].ravel()
            if str(t).startswith("2020-01-02T16"):
                assert np.isnan(eis).all()
                continue
            for cell in np.flatnonzero(valid)[:: max(1, valid.sum() // 4)]:
                want = env.tile_values(grid.tile(int(cell)), t)["EIS_mean"]
                assert eis[cell] == pytest.approx(want, abs=1e-4)
                checked += 1
            assert np.isnan(eis[~valid]).all()
        assert checked >= 4


def test_arco_era5_zarr_layout(tmp_path):
    """An ARCO-ERA5 zarr store (long variable names, ``time``/``level``, 0..360, descending latitudes)
    gives the tile values of the same fields from the CDS's netCDF."""
    import xarray as xr

    cds = list(write_era5(tmp_path / "cds", layout="new").values())
    ref = Environment(cds, ["EIS", "WS10"])
    long = {v: k for k, v in __import__("convml_tt.data.fields.era5", fromlist=["ARCO_NAMES"]).ARCO_NAMES.items()}
    ds = open_era5(cds).load()
    ds = ds.assign_coords(longitude=ds["longitude"] % 360.0).sortby("longitude").sortby("latitude", ascending=False)
    ds = ds.rename({k: long[k] for k in ds.data_vars}).drop_vars("expver", errors="ignore")
    ds.attrs = {}
    ds.to_zarr(tmp_path / "arco.zarr", consolidated=True, zarr_format=2)  # as ARCO-ERA5 is stored
    arco = Environment(tmp_path / "arco.zarr", ["EIS", "WS10"])
    tile = Tile(12.0, -55.0, 200e3)
    a, b = ref.tile_values(tile, "2020-02-01T06:00"), arco.tile_values(tile, "2020-02-01T06:00")
    assert a == pytest.approx(b, rel=1e-9)


def test_fields_and_trajectories_are_torch_free():
    code = ("import sys, convml_tt.data.fields, convml_tt.data.fields.derived, convml_tt.data.trajectories; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_env_settings_refusals(tmp_path):
    from convml_tt.config import TripletSettings
    from convml_tt.data.fields import environment_from

    dom = (-51.0, 14.0, -49.0, 16.0)
    with pytest.raises(ValueError, match="unknown field 'XYZ'"):
        TripletSettings(domain=dom, env=("XYZ",), env_files=("a.nc",))
    with pytest.raises(ValueError, match="given without env"):
        TripletSettings(domain=dom, env_files=("a.nc",))
    with pytest.raises(ValueError, match="env_time='cubic' must be 'nearest' or 'linear'"):
        TripletSettings(domain=dom, env=("EIS",), env_files=("a.nc",), env_time="cubic")
    s = TripletSettings(domain=dom, env="eis,ws10", env_files="era5/*.nc")
    assert s.env == ("EIS", "WS10") and s.env_files == ("era5/*.nc",)
    assert s.to_yaml_dict()["env"] == ["EIS", "WS10"] and "env" not in TripletSettings(domain=dom).to_yaml_dict()
    with pytest.raises(ValueError, match="given without --env"):
        environment_from(["x.nc"], ())
    assert environment_from(None, ()) is None


def test_tile_across_the_dateline(tmp_path):
    """A 0..360 file over 170E..170W: a tile centred on 179.9E takes points from both sides."""
    from era5_fixtures import write_cds

    lat = np.arange(-10.0, 10.01, 0.25)
    lon = np.concatenate([np.arange(170.0, 180.0, 0.25), np.arange(-180.0, -169.99, 0.25)])
    sst = np.broadcast_to(300.0 - 0.1 * lat[None, :, None] ** 2, (2, lat.size, lon.size))
    f = write_cds(tmp_path / "sst.nc", {"sst": sst}, np.arange(2), lat, lon)
    env = Environment(f, ["SST"])
    at_edge = env.tile_values(Tile(2.0, 179.9, 300e3), "2020-02-01T00:00")
    inside = env.tile_values(Tile(2.0, 175.0, 300e3), "2020-02-01T00:00")
    assert at_edge["SST_mean"] == pytest.approx(inside["SST_mean"], abs=1e-3)
    assert at_edge["SST_std"] == pytest.approx(inside["SST_std"], abs=1e-3)


def test_reopening_while_an_environment_is_kept_does_not_crash(tmp_path):
    """An Environment kept open (a notebook's) while others open and drop the same files: HDF5 crashed the
    process on the next open (a segmentation fault) when one of several handles of a file closed. The
    files are now opened once per process; run in a child so that a crash fails the test, not the suite."""
    files = list(write_era5(tmp_path, hours=np.arange(0, 6), layout="new").values())
    code = f"""
import gc, numpy as np
from convml_tt.data.fields import Environment, open_era5
from convml_tt.data.tiles import Tile
files = {[str(f) for f in files]!r}
kept = Environment(files, ["EIS", "WS10"])
for i in range(4):
    ds = open_era5(files)
    [np.asarray(ds[v].isel(time=1).values) for v in ds.data_vars]
    env = Environment(files, ["EIS", "LTS", "WS10"])
    env.scene_values([Tile(15.0, -50.0, 200e3)], np.datetime64("2020-02-01T01:05"))
    del ds, env
    gc.collect()
print(kept.scene_values([Tile(15.0, -50.0, 200e3)], np.datetime64("2020-02-01T02:00"))[0]["EIS_mean"])
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert float(run.stdout.strip().splitlines()[-1]) > 0
