"""Judging regimes without truth (stability, choice of N, persistence, the
stage of a triplet accuracy) and against human classifications in the
producers' layouts (Zooniverse CSV, C3ONTEXT level 3, plain boxes)."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from human_label_fixtures import (C3ONTEXT, TRUE_NAMES, ZOONIVERSE, make_truth_map,  # noqa: E402
                                  write_c3ontext, write_zooniverse)

from convml_tt.data.human_labels import HumanLabeler, read_human_labels  # noqa: E402
from convml_tt.interpretation.agreement import map_agreement, tile_agreement  # noqa: E402
from convml_tt.interpretation.stability import (choose_n, choose_n_plot, parse_range,  # noqa: E402
                                                refit_stability, regime_persistence, stage_note)


def blobs(k: int = 4, n_per: int = 10, dim: int = 4, spread: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = 8.0 * np.eye(max(k, dim))[:k, :dim]
    return np.concatenate([c + spread * rng.standard_normal((n_per, dim)) for c in centres])


# --- stability and the choice of N ------------------------------------------------------
def test_separated_regimes_are_stable_and_noise_is_not():
    sep = blobs()
    noise = np.random.default_rng(1).standard_normal((40, 3))
    for mode in ("bootstrap", "seed"):
        assert refit_stability(sep, 4, mode=mode, n_refits=3)["ari_mean"] > 0.99
    b = refit_stability(noise, 4, mode="bootstrap", n_refits=3)
    assert b["ari_mean"] < 0.9 and b["ari_min"] <= b["ari_mean"] and b["n_tiles"] == 40
    assert refit_stability(noise, 4, mode="seed", n_refits=3)["ari_mean"] < 0.95
    assert refit_stability(sep, 4, method="ward", mode="bootstrap", n_refits=3)["ari_mean"] > 0.99
    with pytest.raises(ValueError, match="use one of"):
        refit_stability(sep, 4, mode="jackknife")
    with pytest.raises(ValueError, match="2 <= N < 40"):
        refit_stability(sep, 40)


def test_choose_n_marks_the_true_number(tmp_path):
    table = choose_n(blobs(), range(2, 6), n_refits=2)
    assert list(table.index) == [2, 3, 4, 5]
    assert table["silhouette"].idxmax() == 4
    assert table.loc[4, "bootstrap_ari"] > 0.99 and table.loc[4, "seed_ari"] > 0.99
    assert (np.diff(table["within_rms"].values) < 0).all()  # the spread falls with N
    assert table.loc[3, "within_rms"] > 3 * table.loc[4, "within_rms"]  # the knee at the true N
    assert table.loc[4, "within_rms"] < 1.5 * table.loc[5, "within_rms"]
    fig = choose_n_plot(table)
    fig.savefig(tmp_path / "n.png")
    assert (tmp_path / "n.png").stat().st_size > 1000
    assert parse_range("2:10") == list(range(2, 11)) and parse_range("5") == [5]
    for bad in ("1:4", "6:3", "a:b", "2:3:4"):
        with pytest.raises(ValueError, match="LOW:HIGH"):
            parse_range(bad)


def _regime_map(regime: np.ndarray, times) -> xr.Dataset:
    nt, ny, nx = regime.shape
    return xr.Dataset({"regime": (("time", "y", "x"), regime.astype(np.int16))},
                      coords={"time": pd.to_datetime(times).values, "y": np.arange(ny), "x": np.arange(nx),
                              "lat": (("y", "x"), np.zeros((ny, nx))), "lon": (("y", "x"), np.zeros((ny, nx)))},
                      attrs={"regime_names": json.dumps(["A", "B", "C"])})


def test_persistence_by_hand():
    # scan 0 -> 1: 3 of the 4 valid-in-both cells keep their regime; scan 1 -> 2: none does
    reg = np.array([[[0, 0], [1, -1]], [[0, 0], [2, 1]], [[1, 1], [0, 2]]])
    times = ["2020-01-03T14:00", "2020-01-02T14:00", "2020-01-02T20:00"]  # out of order on purpose
    df = regime_persistence(_regime_map(reg[[1, 0, 2]], times))
    assert list(df.index[:2]) == ["2020-01-02T14:00 -> 2020-01-02T20:00", "2020-01-02T20:00 -> 2020-01-03T14:00"]
    # sorted: scan 0 (14:00) = reg[0], scan 1 (20:00) = reg[2], scan 2 (next day) = reg[1]
    a, b, c = reg[0].ravel(), reg[2].ravel(), reg[1].ravel()
    ok = (a >= 0) & (b >= 0)
    p1 = np.mean(a[ok] == b[ok])
    ch1 = sum(np.mean(a[ok] == k) * np.mean(b[ok] == k) for k in range(3))
    assert df.iloc[0]["persistence"] == pytest.approx(p1) and df.iloc[0]["chance"] == pytest.approx(ch1)
    assert df.iloc[0]["skill"] == pytest.approx((p1 - ch1) / (1 - ch1))
    ok2 = (b >= 0) & (c >= 0)
    assert df.iloc[1]["persistence"] == pytest.approx(np.mean(b[ok2] == c[ok2]))
    assert df.iloc[1]["gap_h"] == 18 and df.iloc[0]["n_cells"] == ok.sum()
    n = ok.sum() + ok2.sum()
    assert df.loc["all", "persistence"] == pytest.approx((p1 * ok.sum() + np.mean(b[ok2] == c[ok2]) * ok2.sum()) / n)
    assert len(regime_persistence(_regime_map(reg[:1], times[:1]))) == 0


def test_stage_is_named():
    da = xr.DataArray(np.zeros((2, 2)), dims=("tile_id", "emb_dim"), attrs={"stage": "train"})
    assert "TRAINING set" in stage_note(da)
    assert "held-out" in stage_note(da.assign_attrs(stage="study"))


# --- human labels -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def truth_map():
    return make_truth_map()


def _expected(ds: xr.Dataset, to_class: dict, weight: float = 1.0):
    """Per regime the expected weight of each class, straight from the truth:
    every valid cell of a pattern regime carries ``weight`` of its class."""
    reg = ds["regime"].values.ravel()
    names = json.loads(ds.attrs["true_regime_names"])
    true = [names[t] for t in ds["true_regime"].values.ravel()]
    classes = sorted(set(to_class.values()))
    sums = {}
    for r, t in zip(reg, true):
        if r < 0:
            continue
        row = sums.setdefault(int(r), dict.fromkeys(classes + ["unclassified"], 0.0) | {"n": 0})
        row["n"] += 1
        if t in to_class:
            row[to_class[t]] += weight
            row["unclassified"] += 1 - weight
        else:
            row["unclassified"] += 1
    return classes, sums


def _brute_force_match(classes, sums):
    """The assignment of distinct classes to regimes of the largest summed weight, by trying them all."""
    regimes = sorted(sums)
    best, best_val = None, -1.0
    for perm in itertools.permutations(regimes, len(classes)):
        val = sum(sums[r][c] for r, c in zip(perm, classes))
        if val > best_val + 1e-9:
            best, best_val = dict(zip(perm, classes)), val
    return best


@pytest.mark.parametrize("header", [True, False])
def test_zooniverse_boxes_agree_as_the_truth_implies(tmp_path, truth_map, header):
    path = write_zooniverse(truth_map, tmp_path / "classifications.csv", header=header)
    labels = read_human_labels(path)
    assert labels.layout == "zooniverse" and labels.classes == sorted(ZOONIVERSE.values())
    assert labels.groups["t0"].dt.strftime("%H:%M").unique().tolist() == ["13:50"]  # Terra at 50 W
    a = map_agreement(truth_map, labels)
    classes, sums = _expected(truth_map, ZOONIVERSE)
    for r, row in sums.items():
        got = a.precision.loc[f"R{r}"]
        assert got["n_cells"] == row["n"]
        for c in classes + ["unclassified"]:
            assert got[c] == pytest.approx(row[c] / row["n"]), (r, c)
    want = _brute_force_match(classes, sums)
    for r, c in want.items():
        assert a.match.loc[f"R{r}", "human_class"] == c
    n_seen = sum(row["n"] for row in sums.values())
    assert a.n_cells == n_seen and a.n_scenes == 4 and not a.missed
    assert a.unclassified == pytest.approx(sum(row["unclassified"] for row in sums.values()) / n_seen)
    # fractions through time: each class's share of the scene's cells against its matched regimes' share
    reg, true = truth_map["regime"].values, truth_map["true_regime"].values
    matched = {c: [r for r, cc in a.match["human_class"].items() if cc == c] for c in classes}
    for c in classes:
        hum, mod = [], []
        for t in range(reg.shape[0]):
            ok = reg[t] >= 0
            hum.append(np.mean([ZOONIVERSE.get(TRUE_NAMES[v]) == c for v in true[t][ok]]))
            mod.append(np.mean([f"R{v}" in matched[c] for v in reg[t][ok]]))
        assert a.fractions.loc[c, "pearson_r"] == pytest.approx(np.corrcoef(hum, mod)[0, 1])
    assert "Regime -> human class" in a.to_markdown()


def test_c3ontext_frequencies_agree_as_the_truth_implies(tmp_path, truth_map):
    path = write_c3ontext(truth_map, tmp_path / "EUREC4A_ManualClassifications_l3_IR_daily.zarr", agreement=0.75)
    labels = read_human_labels(path)
    assert labels.layout == "c3ontext" and labels.classes == ["Sugar", "Flowers", "Fish", "Gravel"]
    a = map_agreement(truth_map, labels)
    classes, sums = _expected(truth_map, C3ONTEXT, weight=0.75)
    for r, row in sums.items():
        for c in classes + ["unclassified"]:
            assert a.precision.loc[f"R{r}", c] == pytest.approx(row[c] / row["n"]), (r, c)
    assert a.unclassified == pytest.approx(sum(row["unclassified"] for row in sums.values())
                                           / sum(row["n"] for row in sums.values()))


def test_plain_boxes_tiles_and_labels_without_a_scene(tmp_path, truth_map):
    lat, lon = truth_map["lat"].values, truth_map["lon"].values
    rows = [  # the north half of the map is Fish on the first scan; a label a month later has no scan
        {"time": "2020-01-02T14:30:00Z", "lon_min": lon.min() - 1, "lon_max": lon.max() + 1,
         "lat_min": float(np.median(lat)), "lat_max": lat.max() + 1, "label": "Fish"},
        {"time": "2020-01-02T14:30:00Z", "lon_min": lon.min() - 1, "lon_max": lon.max() + 1,
         "lat_min": lat.min() - 1, "lat_max": lat.max() + 1, "label": ""},
        {"time": "2020-02-01T00:00:00Z", "lon_min": 0, "lon_max": 1, "lat_min": 0, "lat_max": 1, "label": "Sugar"},
    ]
    path = tmp_path / "boxes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    a = map_agreement(truth_map, path)
    assert a.n_scenes == 1 and a.missed == [pd.Timestamp("2020-02-01")]
    assert a.notes[0] == "1 label time(s) have no scene within 3 h and are left out: 2020-02-01T00:00"
    north = (lat >= np.median(lat))
    reg0 = truth_map["regime"].values[0]
    ok = reg0 >= 0
    assert a.unclassified == pytest.approx(np.mean(~north[ok]))
    # tiles: the map's cells as tiles of embeddings, regimes given by the codes themselves
    from convml_tt.interpretation.regimes import Regimes

    emb = np.eye(6)[np.clip(reg0[ok], 0, 5)]
    da = xr.DataArray(emb, dims=("tile_id", "emb_dim"),
                      coords={"tile_id": np.arange(len(emb)), "lat": ("tile_id", lat[ok]),
                              "lon": ("tile_id", lon[ok]),
                              "time": ("tile_id", np.full(len(emb), "2020-01-02T14:00:00"))})
    b = tile_agreement(da, path, regimes=Regimes(np.eye(6), [f"R{i}" for i in range(6)], "kmeans"))
    assert b.n_cells == ok.sum() and b.unclassified == pytest.approx(a.unclassified)
    pd.testing.assert_frame_equal(a.precision, b.precision)


def test_labeler_gives_the_human_class_of_a_tile(tmp_path, truth_map):
    from convml_tt.data.tiles import Tile

    path = write_zooniverse(truth_map, tmp_path / "z.csv")
    scan = tmp_path / "OR_ABI-L1b-RadF-M6C01_G16_s20200021400000_e20200021409000_c20200021409300.nc"
    scan.touch()
    lab = HumanLabeler(path, tolerance_hours=1.0)
    names = json.loads(truth_map.attrs["true_regime_names"])
    lat, lon, true = truth_map["lat"].values, truth_map["lon"].values, truth_map["true_regime"].values[0]
    for i, j in ((1, 1), (2, 5), (4, 3), (5, 7)):
        got = lab.label(Tile(float(lat[i, j]), float(lon[i, j]), size=10e3), [str(scan)])
        want = ZOONIVERSE.get(names[true[i, j]], "unclassified")
        assert got == {"human_label": want, "human_class": lab.value_names["human_class"].index(want)}
    assert lab.label(Tile(40.0, 10.0), [str(scan)]) is None  # outside every image
    assert HumanLabeler(path, tolerance_hours=0.1).label(Tile(float(lat[1, 1]), float(lon[1, 1])), [str(scan)]) is None


def test_unknown_layout_names_the_columns(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("when,where,what\n2020-01-02,here,Fish\n")
    with pytest.raises(ValueError, match=r"its columns: when, where, what\); it needs plain boxes: a CSV with "
                                         r"columns time, lon_min, lon_max, lat_min, lat_max, label"):
        read_human_labels(path)
    bad = tmp_path / "z.csv"
    bad.write_text("fn,x,y,width,height,tool_label\nsomething.jpeg,1,2,3,4,Fish\n")
    with pytest.raises(ValueError, match="not a Zooniverse image name"):
        read_human_labels(bad)


# --- the command line ------------------------------------------------------------------------
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "convml_tt", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_evaluate_judges_embeddings_and_a_map_without_truth(tmp_path, truth_map):
    from convml_tt.interpretation.embeddings import save_embeddings

    x = blobs(k=3, n_per=8)
    da = xr.DataArray(x.astype(np.float32), dims=("tile_id", "emb_dim"),
                      coords={"tile_id": np.arange(len(x)), "emb_dim": np.arange(x.shape[1])},
                      attrs={"stage": "train", "tile_type": "anchor", "model_path": "", "dataset_path": ""},
                      name="embedding")
    emb = save_embeddings(da, tmp_path / "emb.nc")
    r = _cli("evaluate", emb, "--no-baselines", "--stability", "--n-clusters", 3, "--choose-n", "2:4",
             "--refits", 2, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "TRAINING set" in r.stdout and "Choice of the number of regimes" in r.stdout
    folder = tmp_path / "emb_judging"
    st = pd.read_csv(folder / "stability.csv", index_col=0)
    assert st.loc["bootstrap", "ari_mean"] > 0.99
    assert pd.read_csv(folder / "choose_n.csv", index_col=0)["silhouette"].idxmax() == 3
    assert (folder / "choose_n.png").stat().st_size > 1000
    # a regime map without truth: persistence, and agreement with human labels
    rmap = truth_map.drop_vars("true_regime")
    rmap.attrs.pop("true_regime_names")
    rmap.to_netcdf(tmp_path / "rmap.nc")
    labels = write_zooniverse(truth_map, tmp_path / "z.csv")
    r = _cli("evaluate", tmp_path / "rmap.nc", "--human-labels", labels, "--tables", tmp_path / "t")
    assert r.returncode == 0, r.stderr
    assert "carries no true regimes, so no map accuracy" in r.stdout and "Regime persistence" in r.stdout
    assert "Regime -> human class" in r.stdout
    assert pd.read_csv(tmp_path / "t" / "persistence.csv", index_col=0).loc["all", "n_cells"] > 0
    assert (tmp_path / "t" / "agreement_precision.csv").exists()
    bad = tmp_path / "odd.csv"
    bad.write_text("a,b\n1,2\n")
    r = _cli("evaluate", tmp_path / "rmap.nc", "--human-labels", bad, "--tables", tmp_path / "t")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "columns time, lon_min" in r.stderr


def test_time_matching_intervals():
    from convml_tt.data.human_labels import HumanLabels, match_times

    groups = pd.DataFrame({"t0": pd.to_datetime(["2020-01-02T00:00", "2020-01-05T10:00"]),
                           "t1": pd.to_datetime(["2020-01-02T23:59:59", "2020-01-05T10:00:00"])})
    labels = HumanLabels("x", "plain", [], groups)
    scenes = pd.to_datetime(["2020-01-02T14:00", "2020-01-02T20:00", "2020-01-05T12:30"])
    got, missed = match_times(labels, scenes, dt.timedelta(hours=3))
    assert got.tolist() == [0, 2] and missed == []  # the day holds two scans: the one nearer its middle
    got, missed = match_times(labels, scenes, dt.timedelta(hours=2))
    assert got.tolist() == [0, -1] and missed == [pd.Timestamp("2020-01-05T10:00")]
