"""Unassigned cells (issue 22, #2): the regimes file's unassigned distance
of each regime (the 97th percentile of the fitting tiles' distances to their
centroid, of all tiles or of each regime's members, or given), the -2 code
of the cells beyond their nearest regime's distance in regime maps, their
separate fraction, share, grey legend entry; a version-2 file (one distance)
loads with it for every regime, one from before the field with no cut and a
one-line note."""
from __future__ import annotations

import json
import logging

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402

from convml_tt.cli import main  # noqa: E402
from convml_tt.interpretation.plots import regime_fractions_plot, regime_map  # noqa: E402
from convml_tt.interpretation.regimes import (Regimes, assign_regimes, fit_regimes, map_quality,  # noqa: E402
                                              regime_fractions)
from convml_tt.interpretation.unassigned import unassigned_by_truth  # noqa: E402
from interp_fixtures import CLUSTERED_SHA, clustered, regime_dataset  # noqa: E402,F401
from test_regimes import cell_layout, make_map  # noqa: E402

#: names of the map's true regimes: the three the fitting tiles hold, and one they never saw
TRUE_NAMES = ["clear", "sugar", "gravel", "unseen"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _own_distances(reg: Regimes, da: xr.DataArray) -> np.ndarray:
    """Each fitting tile's distance to the centroid of its own regime (computed here, not by the library)."""
    idx = np.array([reg.names.index(n) for n in reg.tile_labels.values])
    return np.linalg.norm(np.asarray(da.values, np.float64) - reg.centroids[idx], axis=1)


def _map_with_unseen(reg: Regimes) -> xr.Dataset:
    """An embedding map whose cells lie near the regimes' centroids, and a
    quarter of them near a fourth centre far from all (true code 3)."""
    far = reg.centroids.mean(axis=0) + 25.0
    emap = make_map(np.vstack([reg.centroids, far]), noise=0.1, sha=CLUSTERED_SHA)
    r = cell_layout(3, 4, 5, 4)
    match = np.array(reg.match + [3])  # cells near regime i are of its matched label; the far ones 'unseen'
    true = np.where(emap["valid"].values == 1, match[r], -1).astype(np.int16)
    return emap.assign(true_regime=(("time", "y", "x"), true)).assign_attrs(regime_names=json.dumps(TRUE_NAMES))


def test_fit_stores_a_percentile_of_the_fitting_distances(clustered, tmp_path):
    reg = fit_regimes(clustered, 3, seed=0)
    d = _own_distances(reg, clustered)
    from convml_tt.cli import build_parser
    from convml_tt.interpretation.unassigned import DEFAULT_PERCENTILE

    args = build_parser().parse_args(["regimes", "fit", "e.nc", "--n", "3", "--out", "r.json"])
    assert args.unassigned_percentile == DEFAULT_PERCENTILE  # the CLI's default is the library's
    assert reg.unassigned_percentile == 97.0 and reg.unassigned_rule == "global"
    np.testing.assert_allclose(reg.unassigned_distance, np.full(3, np.percentile(d, 97)), rtol=1e-12)
    assert np.mean(d > reg.unassigned_distance[0]) <= 0.05  # few fitting tiles beyond it
    np.testing.assert_allclose(fit_regimes(clustered, 3, seed=0, unassigned_percentile=50).unassigned_distance,
                               np.median(d), rtol=1e-12)
    # per regime: each regime's own percentile of its members' distances
    own = fit_regimes(clustered, 3, seed=0, unassigned_percentile=80, unassigned_rule="per-regime")
    members = [reg.tile_labels.values == n for n in reg.names]
    np.testing.assert_allclose(own.unassigned_distance, [np.percentile(d[m], 80) for m in members], rtol=1e-12)
    assert own.unassigned_rule == "per_regime" and len(set(own.unassigned_distance.tolist())) == 3
    fixed = fit_regimes(clustered, 3, seed=0, unassigned_distance=1.5)
    assert (fixed.unassigned_distance == 1.5).all() and fixed.unassigned_percentile is None
    assert fixed.unassigned_rule is None
    none = fit_regimes(clustered, 3, seed=0, unassigned_percentile=None)
    assert none.unassigned_distance is None
    # version 3: one distance per regime and the rule, round trip exact
    for r, name in ((reg, "r.json"), (own, "own.json")):
        back = Regimes.load(r.save(tmp_path / name))
        assert back == r and np.array_equal(back.unassigned_distance, r.unassigned_distance)
        assert back.unassigned_rule == r.unassigned_rule and back.fingerprint() == r.fingerprint()
    content = json.loads((tmp_path / "own.json").read_text())
    assert content["version"] == 3 and content["unassigned_percentile"] == 80.0
    assert content["unassigned_rule"] == "per_regime"
    assert content["unassigned_distance"] == own.unassigned_distance.tolist()
    assert own.fingerprint() == reg.fingerprint()  # the same regimes: the cut is not their identity
    for kw, msg in (({"unassigned_percentile": 0}, r"outside \(0, 100\]"),
                    ({"unassigned_percentile": 150}, r"outside \(0, 100\]"),
                    ({"unassigned_distance": -1.0}, "not a distance > 0"),
                    ({"unassigned_distance": [1.0, 2.0]}, r"not one distance per regime \(3\)"),
                    ({"unassigned_rule": "nearest"}, "unassigned rule 'nearest' is not one of global, per_regime")):
        with pytest.raises(ValueError, match=msg) as err:
            fit_regimes(clustered, 3, seed=0, **kw)
        assert "\n" not in str(err.value)
    for key, value, msg in (("unassigned_distance", "far", "its unassigned_distance 'far' is not a number > 0"),
                            ("unassigned_distance", [1.0, 0.0, 2.0], r"or one per regime \(3\)"),
                            ("unassigned_distance", [1.0, 2.0], r"or one per regime \(3\)"),
                            ("unassigned_rule", "median", "its unassigned_rule 'median' is not one of global, "),
                            ("unassigned_percentile", 101, "its unassigned_percentile 101 is not a number > 0 and")):
        (tmp_path / "bad.json").write_text(json.dumps(dict(content, **{key: value})))
        with pytest.raises(ValueError, match="damaged: .*" + msg) as err:
            Regimes.load(tmp_path / "bad.json")
        assert "\n" not in str(err.value)


def test_cells_beyond_the_distance_are_unassigned(clustered, tmp_path, capsys):
    reg = fit_regimes(clustered, 3, seed=0)
    emap = _map_with_unseen(reg)
    rm = assign_regimes(emap, reg, out=tmp_path / "rm.nc", progress=False)
    code = rm["regime"].values
    true = emap["true_regime"].values
    valid = emap["valid"].values == 1
    unseen, known = valid & (true == 3), valid & (true >= 0) & (true < 3)
    assert unseen.sum() > 10 and known.sum() > 20
    assert (code[unseen] == -2).all() and (code[known] >= 0).all() and (code[~valid] == -1).all()
    assert list(rm["regime"].attrs["flag_values"]) == [-2, 0, 1, 2]
    assert rm["regime"].attrs["flag_meanings"] == "unassigned A B C"
    np.testing.assert_array_equal(rm.attrs["unassigned_distance"], reg.unassigned_distance)
    assert rm.attrs["unassigned_rule"] == "global"
    with xr.open_dataset(tmp_path / "rm.nc") as back:  # CF decoding: -1 the fill, -2 a value
        v = back["regime"].values
        assert np.isnan(v[~valid]).all() and (v[unseen] == -2).all()
        np.testing.assert_array_equal(back.attrs["unassigned_distance"], reg.unassigned_distance)

    # fractions: the unassigned counted apart, regimes + unassigned = 1 per scene
    fr = regime_fractions(tmp_path / "rm.nc")
    want = [unseen[t].sum() / valid[t].sum() for t in range(3)]
    np.testing.assert_allclose(fr["unassigned_fraction"].values, want)
    np.testing.assert_allclose(fr.sum("regime").values + fr["unassigned_fraction"].values, 1.0)
    q = map_quality(tmp_path / "rm.nc")
    assert q["unassigned_share"] == pytest.approx(unseen.sum() / (unseen.sum() + known.sum()))
    assert q["map_accuracy"] == 1.0 and q["n_cells"] == known.sum()
    by_truth = unassigned_by_truth(tmp_path / "rm.nc")
    assert by_truth.loc["unseen", "unassigned_share"] == 1.0 and (by_truth.loc[TRUE_NAMES[:3], "unassigned_share"] == 0).all()
    assert by_truth["n_cells"].sum() == unseen.sum() + known.sum()
    # a distance given at assignment overrides the file's
    assert (assign_regimes(emap, reg, progress=False, unassigned_distance=1e3)["regime"].values[valid] >= 0).all()

    # figures: grey cells and a grey legend entry with their share; a grey band of fractions
    fig = regime_map(tmp_path / "rm.nc", time=0, regimes=reg)
    leg = next(lg for lg in fig.findobj(Legend) if lg.get_title().get_text().startswith("regime"))
    texts = [t.get_text() for t in leg.get_texts()]
    assert texts[-1] == f"unassigned  {100 * want[0]:.0f} %\n(> {reg.unassigned_distance[0]:.3g} from every centroid)"
    fig = regime_fractions_plot(tmp_path / "rm.nc", truth=False)
    assert [p.get_label() for p in fig.axes[0].containers][-1] == "unassigned"

    # the command line: fit with a percentile, assign, evaluate
    emb = tmp_path / "emb.nc"
    clustered.to_netcdf(emb)
    emap.to_netcdf(tmp_path / "map.nc")
    assert main(["regimes", "fit", str(emb), "--n", "3", "--unassigned-percentile", "95", "--out",
                 str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "are unassigned" in out and "95th percentile" in out
    assert Regimes.load(tmp_path / "r.json").unassigned_distance == pytest.approx(
        np.percentile(_own_distances(reg, clustered), 95), rel=1e-9)
    assert main(["regimes", "assign", str(tmp_path / "map.nc"), str(tmp_path / "r.json"), "--out",
                 str(tmp_path / "rm2.nc"), "--quiet"]) == 0
    assert f"unassigned {100 * np.mean(want):.0f} %" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "rm2.nc")]) == 0
    text = capsys.readouterr().out
    assert "unassigned_share" in text and "| unseen" in text
    assert f"unassigned (farther than {Regimes.load(tmp_path / 'r.json').unassigned_distance[0]:.4g} from every " \
           f"centroid)" in text
    # a map without truth (a real scan's): evaluate reports the unassigned share alone
    real = emap.drop_vars(["true_regime", "true_regime_fraction"])
    real.attrs = {k: v for k, v in real.attrs.items() if k != "regime_names"}
    assign_regimes(real, reg, out=tmp_path / "real.nc", progress=False)
    assert main(["evaluate", str(tmp_path / "real.nc")]) == 0
    text = capsys.readouterr().out
    assert "unassigned_share" in text and "n_valid" in text and "map_accuracy" not in text
    with pytest.raises(SystemExit) as stop:
        main(["regimes", "fit", str(emb), "--n", "3", "--unassigned-percentile", "0", "--out", str(tmp_path / "x.json")])
    assert stop.value.code == 2 and not (tmp_path / "x.json").exists()
    assert "not a percentile" in capsys.readouterr().err


def test_old_regimes_file_loads_with_no_cut_and_a_note(clustered, tmp_path, caplog, capsys):
    reg = fit_regimes(clustered, 3, seed=0)
    d = reg.to_dict()
    for key in ("unassigned_distance", "unassigned_percentile"):
        d.pop(key)
    d["version"] = 1
    old = tmp_path / "old.json"
    old.write_text(json.dumps(d))
    with caplog.at_level(logging.WARNING, logger="convml_tt"):
        loaded = Regimes.load(old)
    assert loaded.unassigned_distance is None and np.array_equal(loaded.centroids, reg.centroids)
    (note,) = [r.getMessage() for r in caplog.records]
    assert "old.json" in note and "predates unassigned cells" in note and "--unassigned-distance" in note
    emap = _map_with_unseen(reg)
    rm = assign_regimes(emap, loaded, progress=False)
    valid = emap["valid"].values == 1
    assert (rm["regime"].values[valid] >= 0).all() and -2 not in rm["regime"].attrs["flag_values"]
    assert "unassigned_distance" not in rm.attrs
    # the command line: one warning line; a distance given there marks the far cells
    emap.to_netcdf(tmp_path / "map.nc")
    capsys.readouterr()
    assert main(["regimes", "assign", str(tmp_path / "map.nc"), str(old), "--out", str(tmp_path / "rm.nc"),
                 "--quiet", "--unassigned-distance", str(reg.unassigned_distance[0])]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("convml_tt regimes: warning: regimes file") and "predates" in err[0]
    with xr.open_dataset(tmp_path / "rm.nc", mask_and_scale=False) as back:
        true = emap["true_regime"].values
        assert (back["regime"].values[valid & (true == 3)] == -2).all()



def test_per_regime_rule_assigns_by_its_nearest_regimes_distance(clustered, tmp_path, capsys):
    """Three blobs of different spread: each regime's own 90th percentile,
    computed here from the fitting tiles, decides which map cells are
    unassigned (their nearest centroid, brute force here); the map records
    the per-regime distances and its legend and `evaluate` say so."""
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0, 0.0, 0.0], [8.0, 0.0, 0.0, 0.0], [0.0, 8.0, 0.0, 0.0]])
    spread = np.array([0.2, 0.5, 1.2])
    lab = np.arange(60) % 3
    x = centres[lab] + spread[lab, None] * rng.standard_normal((60, 4))
    da = xr.DataArray(x, dims=("tile_id", "emb_dim"), coords={"tile_id": np.arange(60), "regime": ("tile_id", lab)},
                      attrs=clustered.attrs)
    reg = fit_regimes(da, 3, seed=0, unassigned_percentile=90, unassigned_rule="per_regime")
    own = np.array([reg.names.index(n) for n in reg.tile_labels.values])
    d_own = np.linalg.norm(x - reg.centroids[own], axis=1)
    cut = np.array([np.percentile(d_own[own == i], 90) for i in range(3)])
    np.testing.assert_allclose(reg.unassigned_distance, cut, rtol=1e-12)
    emap = make_map(centres, noise=1.0, sha=CLUSTERED_SHA, seed=3)
    r = cell_layout(3, 4, 5, 3)[..., None]  # the blob of each cell: its offset scaled to that blob's spread
    emb = emap["embedding"].transpose("time", "y", "x", "emb_dim")
    emap["embedding"] = emb.copy(data=(centres[r[..., 0]] + 1.1 * spread[r] * (emb.values - centres[r[..., 0]])))
    rm = assign_regimes(emap, reg, out=tmp_path / "rm.nc", progress=False)
    e = emap["embedding"].transpose("time", "y", "x", "emb_dim").values.astype(np.float64)
    dist = np.linalg.norm(e[..., None, :] - reg.centroids, axis=-1)
    near = dist.argmin(axis=-1)
    want = np.where(dist.min(axis=-1) > cut[near], -2, near)
    valid = emap["valid"].values == 1
    np.testing.assert_array_equal(rm["regime"].values[valid], want[valid])
    glob = fit_regimes(da, 3, seed=0, unassigned_percentile=90)  # one distance: other cells are unassigned
    other = assign_regimes(emap, glob, progress=False)["regime"].values[valid]
    assert ((other == -2) & (want[valid] >= 0)).any() and ((other >= 0) & (want[valid] == -2)).any()
    with xr.open_dataset(tmp_path / "rm.nc") as back:
        np.testing.assert_allclose(back.attrs["unassigned_distance"], cut, rtol=1e-12)
        assert back.attrs["unassigned_rule"] == "per_regime"
    fig = regime_map(tmp_path / "rm.nc", time=0)
    leg = next(lg for lg in fig.findobj(Legend) if lg.get_title().get_text().startswith("regime"))
    assert leg.get_texts()[-1].get_text().endswith(f"(> {cut.min():.3g}-{cut.max():.3g} from the\nnearest "
                                                   f"centroid, per regime)")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "rm.nc")]) == 0  # its heading names each regime's distance
    each = ", ".join(f"{n} {c:.4g}" for n, c in zip(reg.names, cut))
    text = capsys.readouterr().out
    assert f"unassigned (farther from their nearest centroid than its own distance ({each})):" in text
    # the command line: fit with the rule, its summary names each regime's distance
    da.to_netcdf(tmp_path / "emb.nc")
    assert main(["regimes", "fit", str(tmp_path / "emb.nc"), "--n", "3", "--unassigned-percentile", "90",
                 "--unassigned-rule", "per-regime", "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert f"farther from their nearest centroid than its own distance ({each}) (the 90th percentile" in out
    assert Regimes.load(tmp_path / "r.json") == reg


def test_version_2_file_loads_with_its_distance_for_every_regime(clustered, tmp_path, caplog):
    reg = fit_regimes(clustered, 3, seed=0)
    d = reg.to_dict()
    d.update(version=2, unassigned_distance=float(reg.unassigned_distance[0]))
    d.pop("unassigned_rule")
    (tmp_path / "v2.json").write_text(json.dumps(d))
    with caplog.at_level(logging.WARNING, logger="convml_tt"):
        loaded = Regimes.load(tmp_path / "v2.json")
    assert not caplog.records and loaded == reg  # no note; the same regimes, cut and rule (global)
    d.pop("unassigned_percentile")  # a distance given directly
    (tmp_path / "v2.json").write_text(json.dumps(d))
    given = Regimes.load(tmp_path / "v2.json")
    assert given.unassigned_rule is None and np.array_equal(given.unassigned_distance, reg.unassigned_distance)
    emap = _map_with_unseen(reg)
    np.testing.assert_array_equal(assign_regimes(emap, given, progress=False)["regime"].values,
                                  assign_regimes(emap, reg, progress=False)["regime"].values)


def test_a_map_assigned_with_a_version_2_file_still_matches_it(clustered, tmp_path):
    """Before version 3 a map recorded the SHA-256 of the file's fields but its paths; the same file
    still belongs to that map, another one does not."""
    import hashlib

    from convml_tt.interpretation.regime_maps import check_regimes_of_map

    reg = fit_regimes(clustered, 3, seed=0)
    d = reg.to_dict()
    d.update(version=2, unassigned_distance=float(reg.unassigned_distance[0]))
    d.pop("unassigned_rule")
    (tmp_path / "v2.json").write_text(json.dumps(d))
    kept = {k: v for k, v in d.items() if k not in ("model_path", "dataset_path")}
    old_fp = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()  # what maps recorded then
    rmap = assign_regimes(_map_with_unseen(reg), reg, progress=False).assign_attrs(regimes_sha256=old_fp)
    check_regimes_of_map(rmap, Regimes.load(tmp_path / "v2.json"))  # belongs: no error
    d["centroids"][0][0] += 1.0  # other centroids under the same names
    (tmp_path / "other.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match="regimes_sha256 differs"):
        check_regimes_of_map(rmap, Regimes.load(tmp_path / "other.json"))


@pytest.mark.slow
def test_a_regime_the_fitting_tiles_never_saw_is_unassigned(tmp_path):
    """bench/unassigned.py with the tile statistics (no network): three
    600 km fitting scenes without stratocumulus, two map scenes with it.
    The tile statistics (8 numbers a tile) tell the deck only partly from
    bright fish / flowers, so the bound here is what they reach (measured:
    55 % of its cells); the issue's 80 % is the trained encoder's
    benchmark (docs/regimes.md)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from unassigned import held_out_maps, held_out_shares, shares
    finally:
        sys.path.pop(0)
    tiles, emap, n = held_out_maps(tmp_path, "tile_statistics", n_fit=3, n_map=2, size_km=600.0, region_km=210.0,
                                   resolution_km=2.0)
    regimes, _, table = held_out_shares(tiles, emap, n)
    from convml_tt.data.synthetic import REGIMES

    assert REGIMES.index("stratocumulus") not in regimes.match and regimes.n_regimes == 5  # never seen by the fit
    held, known = shares(table, "stratocumulus")
    assert table.loc["stratocumulus", "n_cells"] >= 30 and table.drop(index="stratocumulus")["n_cells"].sum() >= 100
    assert held >= 0.3 and known < 0.05 and held > 10 * known
    # the per-regime rule, on the same cells: the deck lies near the broadest regime, whose own percentile
    # is the largest, so fewer of its cells are unassigned (measured: 1 % against 55 %; docs/regimes.md)
    per, _, per_table = held_out_shares(tiles, emap, n, rule="per_regime")
    assert per.unassigned_rule == "per_regime" and len(set(per.unassigned_distance.tolist())) == 5
    assert shares(per_table, "stratocumulus")[0] < held / 2
