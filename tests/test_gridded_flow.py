"""A gridded LES-like field through the whole pipeline, by the command line: the producer's
file (0..360 longitudes, descending latitudes) becomes composites and tiles, is embedded
with a small model trained on synthetic ABI tiles, and is mapped; and the refusals."""
from __future__ import annotations

import datetime as dt
import textwrap

import netCDF4
import numpy as np
import pytest
import xarray as xr
from PIL import Image
from scipy.interpolate import RegularGridInterpolator

from convml_tt.cli import main
from convml_tt.data.composites.enhance import to_display
from convml_tt.data.dataset.format import read_dataset_meta, read_triplet_meta
from convml_tt.data.tiles import Tile

from gridded_fixtures import SE_ATLANTIC, START, cloud_fields, write_les_field

#: inside the LES field, across the prime meridian
DOMAIN = ("-2.5", "-11.5", "2.5", "-8.5")
TILES = ["--tile-size-m", "40e3", "--tile-pixels", "32"]
PLUGIN = textwrap.dedent("""
    import torch.nn as nn
    from convml_tt.architectures import register_backbone

    def tiny_gridded(in_channels):
        return nn.Sequential(nn.Conv2d(in_channels, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU())

    register_backbone("tiny_gridded", tiny_gridded, overwrite=True)
""")


def _ok(argv, capsys):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 0, err
    return err


@pytest.fixture(scope="module")
def les(tmp_path_factory):
    d = tmp_path_factory.mktemp("les_flow")
    return d, write_les_field(d / "les_se_atlantic.nc")


def test_les_field_composites_and_tiles(les, capsys):
    d, path = les
    root = d / "root"
    _ok(["triplets", "--data-root", str(root), "--input", str(path), "--source", "gridded", "--recipe", "refl",
         "--fields", "lwp", "--domain", *DOMAIN, *TILES, "--n-train", "6", "--n-study", "0", "--out",
         str(d / "les_ds"), "--quiet", "--labels", "none"], capsys)
    comps = sorted((root / "composites").rglob("gridded.refl_1km/*.nc"))
    assert len(comps) == 3 and comps[0].parts[-4] == "ucla-les"
    assert len(sorted((root / "composites").rglob("gridded.lwp_1km/*.nc"))) == 3  # the co-located field, each scene
    with xr.open_dataset(comps[0]) as ds:
        assert ds["refl"].attrs["grid_mapping"] == "crs" and ds["refl"].attrs["units"] == "1"
        assert ds["crs"].attrs["grid_mapping_name"] == "latitude_longitude" and "crs_wkt" in ds["crs"].attrs
        assert ds["x"].attrs["units"] == "degrees_east" and float(ds["x"][0]) < 0 < float(ds["x"][-1])
        assert np.all(np.diff(ds["y"].values) < 0) and ds.attrs["platform"] == "ucla-les"
        assert pd_time(ds) == START
    meta = read_dataset_meta(d / "les_ds")
    assert meta["params"]["recipe"] == "gridded.refl" and meta["channels"][0]["units"] == "1"
    assert meta["fields"]["gridded.lwp"]["units"] == "kg m-2"
    # each tile is the LES field at the tile's pixels: interpolated here from the generator's own grid
    lat = np.round(SE_ATLANTIC["lat"][0] + 0.01 * np.arange(400), 6)
    lon = np.round(SE_ATLANTIC["lon"][0] + 0.01 * np.arange(600), 6)
    times = [START + dt.timedelta(hours=k) for k in range(3)]
    lwp, refl = cloud_fields(lat, lon, times)
    for i in range(3):
        m = read_triplet_meta(d / "les_ds", "train", i)
        tile = Tile(m.anchor.lat, m.anchor.lon, 40e3, 32)
        k = times.index(dt.datetime.fromisoformat(m.anchor.time.rstrip("Z")))
        plat, plon = tile.pixel_latlon()
        want = RegularGridInterpolator((lat, lon), refl[k])((plat, plon))
        got = np.asarray(Image.open(d / "les_ds" / "train" / f"{i:05d}_anchor.png"))
        diff = np.abs(got.astype(int) - to_display(want.astype(np.float32), "1").astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.1  # float32 rounding at the byte edges
        # the co-located liquid water path of the same time step (packed to 2e-5 kg m-2 in the file)
        want_lwp = RegularGridInterpolator((lat, lon), lwp[k])((plat, plon))
        assert m.anchor.fields["gridded.lwp_mean"] == pytest.approx(want_lwp.mean(), abs=2e-5)
        assert m.anchor.fields["gridded.lwp_max"] == pytest.approx(want_lwp.max(), abs=2e-5)


def pd_time(ds) -> dt.datetime:
    return dt.datetime.fromisoformat(str(ds["time"].values)[:19])


def test_les_field_embedded_and_mapped_with_an_abi_model(les, tmp_path, capsys):
    from convml_tt.data.synthetic import write_synthetic_scenes

    d, path = les
    plugin = tmp_path / "tiny_gridded.py"
    plugin.write_text(PLUGIN, encoding="utf-8")
    abi_root = tmp_path / "abi"
    write_synthetic_scenes(abi_root, dt.datetime(2020, 1, 2, 14), count=3, interval=dt.timedelta(hours=1), seed=0,
                           satellite=16, sector="M1", center=(15.0, -50.0), size_km=300.0, bands=(2,),
                           progress=False)
    _ok(["triplets", "--data-root", str(abi_root), "--domain", "-50.8", "14.3", "-49.3", "15.7", "--recipe", "C02",
         *TILES, "--n-train", "12", "--n-study", "0", "--out", str(tmp_path / "abi_ds"), "--quiet"], capsys)
    model = tmp_path / "abi_c02.pt"
    _ok(["train", str(tmp_path / "abi_ds"), "--plugin", str(plugin), "--arch", "tiny_gridded", "--epochs", "1",
         "--batch-size", "8", "--emb-dim", "8", "--no-checkpoints", "--out", str(model), "--device", "cpu",
         "--quiet"], capsys)
    # embedded: the LES tiles through the ABI model
    root = tmp_path / "les_root"
    _ok(["triplets", "--data-root", str(root), "--input", str(path), "--source", "gridded", "--recipe", "refl",
         "--domain", *DOMAIN, *TILES, "--n-train", "6", "--n-study", "0", "--out", str(tmp_path / "les_ds"),
         "--quiet", "--labels", "none"], capsys)
    _ok(["embed", str(model), str(tmp_path / "les_ds"), "--stage", "train", "--out", str(tmp_path / "emb.nc"),
         "--device", "cpu", "--quiet"], capsys)
    with xr.open_dataarray(tmp_path / "emb.nc") as emb:
        assert emb.sizes == {"tile_id": 6, "emb_dim": 8} and np.isfinite(emb.values).all()
    # mapped: every time step of the file is a scene
    out = tmp_path / "map.nc"
    _ok(["map", str(model), "--plugin", str(plugin), "--data-root", str(root), "--input", str(path), "--source",
         "gridded", "--recipe", "refl", "--domain", *DOMAIN, *TILES, "--stride", "40e3", "--out", str(out),
         "--device", "cpu", "--quiet", "--labels", "none"], capsys)
    with xr.open_dataset(out) as m:
        assert m["embedding"].dims == ("time", "y", "x", "emb_dim") and m.sizes["time"] == 3
        assert [pd_ts.astype("datetime64[s]").item() for pd_ts in m["time"].values] == \
            [START + dt.timedelta(hours=k) for k in range(3)]
        assert float(m["valid"].mean()) == 1.0 and np.isfinite(m["embedding"].values).all()
        assert float(m["lon"].min()) > -2.5 and float(m["lon"].max()) < 2.5
        # the drifting clouds make the time steps' embeddings differ
        assert not np.allclose(m["embedding"][0].values, m["embedding"][2].values)


def _err(argv, capsys) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_refusals_are_one_line(les, tmp_path, capsys):
    d, path = les
    base = ["composite", "--data-root", str(tmp_path / "root"), "--domain", *DOMAIN, "--source", "gridded", "--quiet"]
    no_grid = tmp_path / "no_grid.nc"
    with netCDF4.Dataset(no_grid, "w") as nc:
        nc.createDimension("y", 3)
        nc.createDimension("x", 4)
        nc.createVariable("lwp", "f4", ("y", "x"))[:] = 0.0
        nc.time_coverage_start = "2020-02-02T12:00:00Z"
    err = _err(base + ["--input", str(no_grid), "--recipe", "lwp"], capsys)
    assert str(no_grid) in err and "needs 1-D latitude/longitude coordinates" in err and "grid_mapping" in err
    err = _err(base + ["--input", str(path), "--recipe", "qv"], capsys)
    assert "qv" in err and "lwp" in err and "refl" in err
    err = _err(["composite", "--data-root", str(tmp_path / "root"), "--domain", "10", "0", "11", "1", "--input",
                str(path), "--source", "gridded", "--recipe", "refl", "--quiet"], capsys)
    assert "lon -3 to 2.99, lat -12 to -8.01" in err
    err = _err(base + ["--input", str(path), "--recipe", "refl", "--resolution-km", "1.7"], capsys)
    assert "not a whole multiple of the grid spacing (1.112 km)" in err
