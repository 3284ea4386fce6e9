"""Co-location of all tiles of a scan at once (``Environment.scene_values``,
``data/fields/footprints.py``) gives exactly the per-tile values
(``Environment.tile_values``): the numpy LAEA equals PROJ's, and the
values, spreads and reasons agree on tiles of every size (below the grid
spacing to 500 km), off the grid, over land (NaN SST), across the
dateline of a global grid, with nearest and linear time."""
from __future__ import annotations

import numpy as np
import pyproj
import pytest

from convml_tt.data.fields import Environment
from convml_tt.data.fields.footprints import laea_forward
from convml_tt.data.tiles import Tile
from era5_fixtures import T0, grid, truth, write_cds

FIELDS = ["EIS", "LTS", "WS10", "RH700", "SST"]


def test_numpy_laea_equals_proj():
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-85, 85, 2000), rng.uniform(-180, 180, 2000)
    for lat0, lon0 in ((20.0, -50.0), (-62.5, 171.0), (0.0, 0.0), (75.0, 30.0)):
        t = Tile(lat0, lon0, 200e3)
        x, y = pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS(t.proj4), always_xy=True).transform(lon, lat)
        gx, gy = laea_forward(lat, lon, lat0, lon0, t.a, t.b)
        ok = np.isfinite(x) & (np.hypot(x, y) < 5e6)
        np.testing.assert_allclose(gx[ok], x[ok], atol=1e-5)
        np.testing.assert_allclose(gy[ok], y[ok], atol=1e-5)


def _files(folder, lat_range, lon_range, step):
    lat, lon = grid(lat_range, lon_range, step)
    hours = np.arange(0, 7, 3)
    tr = truth(hours, lat, lon)
    land = (np.abs(lat[:, None] - 12.0) < 2.0) & (np.abs(((lon[None, :] + 180) % 360 - 180) + 55.0) < 3.0)
    single = {k: tr[k] for k in ("t2m", "d2m", "sp", "u10", "v10")}
    single["sst"] = np.where(land[None], np.nan, tr["sst"])
    pressure = {v: np.stack([tr[f"{v}@{p}"] for p in (850, 700, 500)], axis=1) for v in ("t", "r", "w")}
    return [write_cds(folder / "single.nc", single, hours, lat, lon),
            write_cds(folder / "pressure.nc", pressure, hours, lat, lon, [850, 700, 500])]


def _same(old, new):
    assert len(old) == len(new)
    for a, b in zip(old, new):
        assert a.keys() == b.keys(), (a, b)
        for k, v in a.items():
            if v is None or isinstance(v, str):
                assert b[k] == v, (k, v, b[k])
            else:
                assert b[k] == pytest.approx(v, rel=1e-9, abs=1e-9), (k, v, b[k])


@pytest.mark.parametrize("where", ["region", "global"])
def test_scene_values_equal_tile_values(tmp_path, where):
    rng = np.random.default_rng(1)
    if where == "region":
        files = _files(tmp_path, (0.0, 25.0), (-70.0, -40.0), 0.25)
        lat, lon = rng.uniform(-3.0, 28.0, 600), rng.uniform(-74.0, -36.0, 600)
    else:  # a whole-globe grid: 0..360 in the file, tiles across the dateline and near the poles
        files = _files(tmp_path, (-90.0, 90.0), (-180.0, 178.0), 2.0)
        lat, lon = rng.uniform(-88.0, 88.0, 400), rng.uniform(-180.0, 180.0, 400)
        lon[:100] = rng.uniform(175.0, 185.0, 100)
    size = rng.choice([10e3, 64e3, 200e3, 500e3], lat.size)
    tiles = [Tile(a, (b + 180) % 360 - 180, s) for a, b, s in zip(lat, lon, size)]
    for method, scan in (("nearest", T0 + np.timedelta64(3 * 3600 + 300, "s")),
                         ("linear", T0 + np.timedelta64(4 * 3600, "s")),
                         ("nearest", T0 + np.timedelta64(9 * 3600, "s"))):  # outside the files' times
        env = Environment(files, FIELDS, time_method=method)
        old = [env.tile_values(t, scan) for t in tiles]
        _same(old, env.scene_values(tiles, scan))
    reasons = {r.split(" at ")[0].split(" of ")[0] for o in old for k, r in o.items() if k.endswith("_reason")}
    assert any("scan time" in r for r in reasons)
    if where == "region":  # every kind of tile occurs
        env = Environment(files, FIELDS)
        got = env.scene_values(tiles, T0)
        assert any("outside the field grid" in g.get("EIS_reason", "") for g in got)
        assert any("no valid value" in g.get("SST_reason", "") for g in got)
        assert any(g["EIS_std"] is None and g["EIS_mean"] is not None for g in got)  # one-point footprints
