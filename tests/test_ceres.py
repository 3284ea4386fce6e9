"""CERES SYN1deg-1Hour fields from files in NASA's layout (``tests/ceres_fixtures.py``):
each registered field equals the formula applied to the file's values
(a tile smaller than the 1 degree grid takes the nearest point), fill
values give a reason, and a missing variable is named."""
from __future__ import annotations

import numpy as np
import pytest

from ceres_fixtures import ceres_truth, write_syn1deg_hourly
from convml_tt.data.fields import Environment
from convml_tt.data.tiles import Tile

T0 = np.datetime64("2020-02-01T12:00", "s")


def test_ceres_fields_as_delivered(tmp_path):
    path = write_syn1deg_hourly(tmp_path, T0, fill=(10.0, 12.0, 300.0, 303.0))
    names = ["CERES_SW_UP", "CERES_ALBEDO", "CERES_SW_CRE", "CERES_LW_CRE", "CERES_NET_CRE"]
    env = Environment(path, names)
    scan = T0 + np.timedelta64(2 * 3600 + 20 * 60, "s")  # nearest hourly mean: 14:30 (hour 2)
    lat, lon = 15.5, -50.5  # a grid point (309.5 E)
    got = env.tile_values(Tile(lat, lon, 10e3), scan)
    tr = {k: float(np.float32(v[0, 0, 0])) for k, v in ceres_truth([2], [lat], [lon % 360.0], T0).items()}
    assert got["CERES_SW_UP_mean"] == pytest.approx(tr["toa_sw_all_1h"], abs=1e-3)
    assert got["CERES_ALBEDO_mean"] == pytest.approx(tr["toa_alb_all_1h"], abs=1e-6)
    sw = tr["toa_sw_clr_1h"] - tr["toa_sw_all_1h"]
    lw = tr["toa_lw_clr_1h"] - tr["toa_lw_all_1h"]
    assert sw < 0 < lw
    assert got["CERES_SW_CRE_mean"] == pytest.approx(sw, abs=1e-3)
    assert got["CERES_LW_CRE_mean"] == pytest.approx(lw, abs=1e-3)
    assert got["CERES_NET_CRE_mean"] == pytest.approx(sw + lw, abs=2e-3)
    assert env.units["CERES_SW_CRE"]["units"] == "W m-2"
    # a 300 km tile: many points, the same from the per-scene path
    tiles = [Tile(15.0, -50.0, 300e3), Tile(11.0, -58.5, 50e3), Tile(40.0, -50.0, 200e3)]
    old = [env.tile_values(t, scan) for t in tiles]
    for a, b in zip(old, env.scene_values(tiles, scan)):
        assert a.keys() == b.keys()
        for k, v in a.items():
            assert b[k] == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v)
    assert old[0]["CERES_SW_UP_std"] > 0
    assert "no valid value" in old[1]["CERES_SW_UP_reason"]  # the fill-value box
    assert "outside the field grid" in old[2]["CERES_SW_UP_reason"]


def test_ceres_missing_variable_is_named(tmp_path):
    import netCDF4

    path = write_syn1deg_hourly(tmp_path, T0)
    with netCDF4.Dataset(path, "a") as nc:
        nc.renameVariable("toa_sw_clr_1h", "toa_sw_clr_3h")
    with pytest.raises(ValueError, match=r"CERES_SW_CRE.*needs toa_sw_clr_1h.*CERES_SYN1deg-1H"):
        Environment(path, ["CERES_SW_CRE"])
