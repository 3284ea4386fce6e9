"""convml_tt.interpretation.environment: regimes against environment fields,
on synthetic embeddings and regime maps whose regime depends on EIS by
construction; conditional frequencies checked against counts computed here."""
from __future__ import annotations

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from PIL import Image  # noqa: E402

from convml_tt.interpretation.environment import (  # noqa: E402
    conditional_frequency,
    environment_pc_correlations,
    environment_table,
    environment_variables,
    regime_distributions,
)
from convml_tt.interpretation.plots.environment import environment_figure  # noqa: E402
from convml_tt.interpretation.regimes import Regimes  # noqa: E402

N = 900
CENTRES = np.array([[0.0, 0.0, 0.0, 0.0], [6.0, 0.0, 0.0, 0.0], [0.0, 6.0, 0.0, 0.0]])


def _truth(seed: int = 0):
    """EIS uniform 0..10 K, WS10 uniform 2..12 m/s; regime 0 below 3 K, 1
    between 3 and 7 K, 2 above (regardless of wind)."""
    rng = np.random.default_rng(seed)
    eis = rng.uniform(0, 10, N)
    ws = rng.uniform(2, 12, N)
    regime = np.digitize(eis, [3.0, 7.0])
    return rng, eis, ws, regime


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture
def tiles():
    """Embeddings (tile_id, emb_dim) clustered by regime, EIS/WS10 as coordinates."""
    rng, eis, ws, regime = _truth()
    x = CENTRES[regime] + rng.normal(0, 0.3, (N, 4))
    da = xr.DataArray(x, dims=("tile_id", "emb_dim"), coords={
        "tile_id": np.arange(N), "EIS_mean": ("tile_id", eis, {"units": "K"}),
        "EIS_std": ("tile_id", np.full(N, 0.2), {"units": "K"}),
        "WS10_mean": ("tile_id", ws, {"units": "m s-1"}),
        "regime": ("tile_id", regime),
        "regime_name": ("tile_id", np.array(["sugar", "gravel", "flowers"])[regime])}, name="embeddings")
    return da, eis, ws, regime


def _independent(eis, ws, regime, xe, ye, min_count):
    """Fraction of each regime per bin, by explicit loops."""
    out = np.full((3, len(xe) - 1, len(ye) - 1), np.nan)
    count = np.zeros((len(xe) - 1, len(ye) - 1), int)
    for i in range(len(xe) - 1):
        for j in range(len(ye) - 1):
            in_x = (eis >= xe[i]) & ((eis < xe[i + 1]) | ((i == len(xe) - 2) & (eis <= xe[i + 1])))
            in_y = (ws >= ye[j]) & ((ws < ye[j + 1]) | ((j == len(ye) - 2) & (ws <= ye[j + 1])))
            sel = in_x & in_y
            count[i, j] = sel.sum()
            if sel.sum() >= min_count:
                for r in range(3):
                    out[r, i, j] = (regime[sel] == r).sum() / sel.sum()
    return out, count


def test_conditional_frequency_recovers_the_regime_eis_relation(tiles, tmp_path):
    da, eis, ws, regime = tiles
    sha = da.attrs.setdefault("model_sha256", "e" * 64)  # regimes and embeddings of one model
    regimes = Regimes(centroids=CENTRES, names=["A", "B", "C"], method="kmeans", model_sha256=sha)
    path = regimes.save(tmp_path / "regimes.json")
    other = Regimes(centroids=CENTRES, names=["A", "B", "C"], method="kmeans", model_sha256="f" * 64)
    with pytest.raises(ValueError, match="fitted to embeddings of another model"):
        environment_table(da, regimes=other)
    assert environment_variables(da) == ["EIS", "WS10"]
    table = environment_table(da, regimes=path)
    assert list(table.columns) == ["regime", "EIS", "WS10"] and table.attrs["units"] == {"EIS": "K", "WS10": "m s-1"}
    np.testing.assert_array_equal(table["regime"].to_numpy(), np.array(["A", "B", "C"])[regime])
    xe, ye = np.linspace(0, 10, 11), np.linspace(2, 12, 6)
    freq = conditional_frequency(table, "EIS", "WS10", xe, ye, min_count=5)
    want, count = _independent(eis, ws, regime, xe, ye, 5)
    np.testing.assert_array_equal(freq["count"].values, count)
    np.testing.assert_allclose(freq["frequency"].values, want, equal_nan=True)
    # the built-in relation: below 3 K all A, 3..7 K all B, above 7 K all C, at every wind speed
    f = freq["frequency"]
    assert (f.sel(regime="A").where(f.x_bin < 3).fillna(1) == 1).all()
    assert (f.sel(regime="B").where((f.x_bin > 3) & (f.x_bin < 7)).fillna(1) == 1).all()
    assert (f.sel(regime="C").where(f.x_bin > 7).fillna(1) == 1).all()
    np.testing.assert_allclose(f.sum("regime").where(freq["count"] >= 5).fillna(1), 1.0)
    # fewer samples than min_count: NaN
    sparse = conditional_frequency(table, "EIS", "WS10", 30, 30, min_count=3)
    assert np.isnan(sparse["frequency"].values[:, sparse["count"].values < 3]).all()


def test_regime_distributions_and_pc_correlations(tiles):
    da, eis, ws, regime = tiles
    table = environment_table(da)  # the regime_name coordinate
    dist = regime_distributions(table)
    assert list(dist.regime.values) == ["sugar", "gravel", "flowers"]  # in the order of the regime codes
    for r, name in enumerate(["sugar", "gravel", "flowers"]):
        sel = eis[regime == r]
        got = dist.sel(regime=name, variable="EIS")
        assert got.sel(statistic="count") == sel.size
        np.testing.assert_allclose(got.sel(statistic=["mean", "median"]).values, [sel.mean(), np.median(sel)])
    assert dist.sel(regime="sugar", variable="EIS", statistic="q75") < 3 < dist.sel(
        regime="gravel", variable="EIS", statistic="q25")
    # an embedding whose first direction follows EIS with 4x the spread of the rest
    rng = np.random.default_rng(3)
    x = np.stack([eis * 4.0 + rng.normal(0, 0.5, N)] + [rng.normal(0, 1, N) for _ in range(3)], axis=1)
    corr = environment_pc_correlations(da.copy(data=x), n_components=2)
    assert list(corr["variable"].values) == ["EIS", "WS10"]
    assert abs(float(corr.sel(component=1, variable="EIS"))) > 0.95
    assert abs(float(corr.sel(component=1, variable="WS10"))) < 0.15


def _regime_map(tmp_path):
    """A regime map (time, y, x) whose regime follows EIS_mean; -1 cells invalid."""
    _, eis, ws, regime = _truth(seed=1)
    shape = (4, 15, 15)
    reg = regime.astype(np.int16).reshape(shape)
    reg[0, 0, :3] = -1
    ds = xr.Dataset({"regime": (("time", "y", "x"), reg), "regime_distance": (("time", "y", "x"),
                                                                              np.ones(shape, np.float32)),
                     "EIS_mean": (("time", "y", "x"), eis.reshape(shape).astype(np.float32), {"units": "K"}),
                     "WS10_mean": (("time", "y", "x"), ws.reshape(shape).astype(np.float32), {"units": "m s-1"})},
                    coords={"time": np.arange(4).astype("datetime64[h]").astype("datetime64[ns]"),
                            "y": np.arange(15) * 1e4, "x": np.arange(15) * 1e4},
                    attrs={"regime_names": json.dumps(["A", "B", "C"])})
    ds["regime"].encoding["_FillValue"] = np.int16(-1)
    path = tmp_path / "regime_map.nc"
    ds.to_netcdf(path)
    return path, eis, ws, reg.reshape(-1)


def test_from_a_regime_map_and_the_cli_figure(tmp_path, tiles):
    path, eis, ws, reg = _regime_map(tmp_path)
    table = environment_table(path)
    assert len(table) == (reg >= 0).sum() == N - 3
    ok = reg >= 0
    freq = conditional_frequency(table, "EIS", "WS10", 5, 4, min_count=4)
    want, count = _independent(eis[ok].astype(np.float32).astype(float), ws[ok].astype(np.float32).astype(float),
                               reg[ok], freq["x_edges"].values, freq["y_edges"].values, 4)
    np.testing.assert_array_equal(freq["count"].values, count)
    np.testing.assert_allclose(freq["frequency"].values, want, equal_nan=True)
    fig, _ = environment_figure(path, "EIS", "WS10", min_count=4)
    assert len([a for a in fig.axes if a.get_visible()]) >= 6
    # the CLI, from a regime map and from embeddings
    da = tiles[0]
    emb = tmp_path / "embeddings.nc"
    da.to_netcdf(emb)
    for src in (path, emb):
        out = tmp_path / f"env_{src.stem}.png"
        r = subprocess.run([sys.executable, "-m", "convml_tt", "plot", "environment", str(src), "--x", "EIS",
                            "--y", "WS10", "--bins", "6", "5", "--min-count", "3", "--out", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with Image.open(out) as im:
            assert im.format == "PNG" and im.size[0] > 300
    r = subprocess.run([sys.executable, "-m", "convml_tt", "plot", "environment", str(path), "--x", "LTS",
                        "--y", "WS10", "--out", str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "LTS" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_unassigned_tiles_and_cells_are_left_out_and_counted(tiles, tmp_path, capsys):
    from convml_tt.cli import main

    da, eis, ws, regime = tiles
    x = da.values.copy()
    x[:30] += 4.0  # tiles far from every centroid
    da = da.copy(data=x)
    cut = np.array([0.7, 0.9, 0.8])
    regimes = Regimes(centroids=CENTRES, names=["A", "B", "C"], method="kmeans", unassigned_distance=cut)
    # independently: each tile's nearest centroid and distance, by a loop
    near, dist = np.empty(N, int), np.empty(N)
    for i in range(N):
        d = [np.sqrt(((x[i] - c) ** 2).sum()) for c in CENTRES]
        near[i], dist[i] = int(np.argmin(d)), min(d)
    out = dist > cut[near]
    assert 30 <= out.sum() < N // 2
    table = environment_table(da, regimes=regimes)
    assert len(table) == (~out).sum() and table.attrs["n_unassigned"] == out.sum()
    assert table.attrs["unassigned_share"] == pytest.approx(out.mean())
    assert table.attrs["unassigned_distance"] == pytest.approx(list(cut))
    np.testing.assert_array_equal(table["regime"].to_numpy(), np.array(["A", "B", "C"])[near[~out]])
    np.testing.assert_allclose(table["EIS"].to_numpy(), eis[~out])
    dist_table = regime_distributions(table)
    for r, name in enumerate("ABC"):
        assert dist_table.sel(regime=name, variable="EIS", statistic="count") == ((near == r) & ~out).sum()
    assert dist_table.attrs["n_unassigned"] == out.sum()
    freq = conditional_frequency(table, "EIS", "WS10", 4, 4, min_count=1)
    assert int(freq["count"].sum()) == (~out).sum() and freq.attrs["unassigned_share"] == pytest.approx(out.mean())
    fig, _ = environment_figure(da, "EIS", "WS10", regimes=regimes, min_count=1)
    assert f"{out.sum()} unassigned ({100 * out.mean():.1f} %) left out" in fig._suptitle.get_text()
    # another distance, as `regimes assign --unassigned-distance` gives one
    wide = environment_table(da, regimes=regimes, unassigned_distance=100.0)
    assert len(wide) == N and wide.attrs["n_unassigned"] == 0 and wide.attrs["unassigned_distance"] == [100.0] * 3
    with pytest.raises(ValueError, match="give regimes="):
        environment_table(da, unassigned_distance=1.0)
    # a regime map: its unassigned cells (-2) are counted, not rows
    path, eis_m, _, reg = _regime_map(tmp_path)
    with xr.open_dataset(path) as m:
        rm = m.load()
    r = rm["regime"].values.reshape(-1).copy()
    r[5:45] = -2
    rm["regime"].values = r.reshape(rm["regime"].shape)
    rm.attrs["unassigned_distance"] = [1.0, 1.0, 1.0]
    mpath = tmp_path / "unassigned_map.nc"
    rm.to_netcdf(mpath)
    mt = environment_table(mpath)
    assert len(mt) == (r >= 0).sum() and mt.attrs["n_unassigned"] == 40
    assert mt.attrs["unassigned_share"] == pytest.approx(40 / ((r >= 0).sum() + 40))
    np.testing.assert_allclose(mt["EIS"].to_numpy(), eis_m[r >= 0].astype(np.float32))
    with pytest.raises(ValueError, match="regimes assign --unassigned-distance"):
        environment_table(mpath, unassigned_distance=1.0)
    rc = main(["plot", "environment", str(mpath), "--x", "EIS", "--y", "WS10", "--unassigned-distance", "2",
               "--out", str(tmp_path / "never.png")])
    err = capsys.readouterr().err
    assert rc == 1 and "regimes assign --unassigned-distance" in err and "Traceback" not in err
    assert not (tmp_path / "never.png").exists()
