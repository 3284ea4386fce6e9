"""The demo's environment step on embeddings whose regimes are known: tiles
placed wholly inside regions of the synthetic layout, embedded as their
true regime's direction plus noise, regimes matched to the true ones;
the step's per-regime medians are the generator's values and the ordering
along EIS and wind is recovered (Spearman 1), and a wrong matching is
told apart."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from convml_tt.data.synthetic.environment import REGIME_ENVIRONMENT, regime_of
from convml_tt.data.synthetic.geometry import sector_geometry
from convml_tt.data.synthetic.regimes import REGIMES
from convml_tt.data.tiles import Tile
from convml_tt.demo.environment import _spearman, environment_section, environment_step
from convml_tt.interpretation.regimes import Regimes

SETTINGS = SimpleNamespace(center=(15.0, -50.0), size_km=1000.0, region_km=250.0, seed=0, tile_size_m=64e3)


def _embeddings():
    rng = np.random.default_rng(0)
    center = sector_geometry(SETTINGS.center, SETTINGS.size_km, 16).center
    times = [dt.datetime(2020, 1, 2, 14), dt.datetime(2020, 1, 3, 14)]
    rows = []
    for t in times:
        for _ in range(250):
            la, lo = rng.uniform(11.0, 19.0), rng.uniform(-54.0, -46.0)
            u = (np.arange(4) + 0.5) / 4 * 80e3 - 40e3
            plat, plon = Tile(la, lo, 80e3).latlon(*np.meshgrid(u, u))
            r = regime_of(plat, plon, t, center=center, region_km=SETTINGS.region_km)
            if (r == r.flat[0]).all():
                rows.append((la, lo, np.datetime64(t, "ns"), int(r.flat[0])))
    lat, lon, time, reg = map(np.array, zip(*rows))
    x = np.eye(len(REGIMES))[reg] + rng.normal(0, 0.1, (len(reg), len(REGIMES)))
    da = xr.DataArray(x[None], dims=("tile_type", "tile_id", "emb_dim"),
                      coords={"tile_type": ["anchor"], "tile_id": np.arange(len(reg)),
                              "lat": (("tile_type", "tile_id"), lat[None]), "lon": (("tile_type", "tile_id"), lon[None]),
                              "time": (("tile_type", "tile_id"), time[None])})
    return da, reg


def test_environment_step_recovers_the_ordering(tmp_path):
    da, reg = _embeddings()
    regimes = Regimes(centroids=np.eye(len(REGIMES)), names=list("ABCDEF"), method="kmeans",
                      label_names=list(REGIMES), match=list(range(len(REGIMES))), model_sha256="0" * 64)
    regimes.save(tmp_path / "regimes.json")
    got = environment_step(da, SETTINGS, tmp_path / "regimes.json", tmp_path, tmp_path / "environment.png")
    t = got["table"]
    assert (tmp_path / "environment.png").stat().st_size > 10000 and (tmp_path / "environment.csv").exists()
    assert int(t["tiles"].sum()) == len(reg)
    for name, row in t.iterrows():
        want = REGIME_ENVIRONMENT[row["true regime"]]
        assert abs(row["median EIS"] - want[0]) < 0.4 and abs(row["median WS10"] - want[1]) < 0.8, name
    assert got["rho"] == {"EIS": pytest.approx(1.0), "WS10": pytest.approx(1.0)}
    assert "EIS 1.00, wind speed 1.00" in "\n".join(environment_section(got))
    # regimes matched to the wrong true regimes: the ordering would not be the generator's
    wrong = [REGIME_ENVIRONMENT[REGIMES[k]][0] for k in (3, 0, 5, 1, 2, 4)]
    assert _spearman(t.loc[list("ABCDEF"), "median EIS"].to_numpy(), np.array(wrong)) < 0.9
