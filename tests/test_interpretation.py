"""convml_tt.interpretation: embeddings (DataArray, netCDF, nearest tiles) and
quality metrics with baselines, on a real PNG dataset folder and a real
(tiny) resnet18 encoder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from convml_tt.interpretation import evaluate, metrics
from convml_tt.interpretation.embeddings import (
    get_embeddings,
    load_embeddings,
    nearest_tiles,
    resolve_dataset_path,
    save_embeddings,
)
from interp_fixtures import N_STUDY, TILE_PX, write_regime_dataset  # noqa: F401
from interp_fixtures import clustered, embeddings, embeddings_all, regime_dataset, tiny_model_file  # noqa: F401


# --- embeddings ----------------------------------------------------------------------
def test_embeddings_shape_coords_attrs(embeddings, regime_dataset, tiny_model_file):
    da = embeddings
    assert da.dims == ("tile_id", "emb_dim")
    assert da.shape == (N_STUDY, 8)
    assert da.dtype == np.float32
    assert np.isfinite(da.values).all()
    np.testing.assert_array_equal(da.tile_id.values, np.arange(N_STUDY))
    assert da.attrs["dataset_path"] == str(regime_dataset.resolve())
    assert da.attrs["model_path"] == str(tiny_model_file.resolve())
    assert da.attrs["stage"] == "study" and da.attrs["tile_type"] == "anchor"
    cfg = json.loads(da.attrs["model_config"])
    assert cfg["arch"] == "resnet18" and cfg["emb_dim"] == 8
    np.testing.assert_allclose(da.lat.values, 10.0 + 0.25 * np.arange(N_STUDY))
    np.testing.assert_allclose(da.lon.values, -50.0)
    assert str(da.time.values[0]).startswith("2020-01-02T14:00")
    assert (da.stage.values == "study").all()
    np.testing.assert_array_equal(da.regime.values, np.arange(N_STUDY) % 3)
    # names as the regime labeler records them (the synthetic REGIMES)
    from convml_tt.data.synthetic import REGIMES

    assert list(da.regime_name.values[:3]) == list(REGIMES[:3])


def test_every_label_of_the_metadata_becomes_a_coordinate(regime_dataset, tiny_model_file, tmp_path):
    """Labels of any labeler, not only the regime ones: numbers (NaN where a
    tile lacks one), whole numbers, text ("" where missing)."""
    import shutil

    from convml_tt.data.dataset.format import read_triplet_meta, write_triplet_meta

    ds = tmp_path / "ds"
    shutil.copytree(regime_dataset, ds)
    for i in range(N_STUDY):
        m = read_triplet_meta(ds, "study", i)
        m.anchor.labels.update({"cloud_top_k": 280.0 + i, "n_objects": i})
        if i % 2:
            m.anchor.labels["note"] = "odd"
            del m.anchor.labels["cloud_top_k"]
        write_triplet_meta(ds, m)
    da = get_embeddings(tiny_model_file, ds, device="cpu", progress=False)
    np.testing.assert_array_equal(da.n_objects.values, np.arange(N_STUDY))
    assert da.n_objects.dtype == np.int64
    top = da.cloud_top_k.values
    np.testing.assert_array_equal(top[::2], 280.0 + np.arange(0, N_STUDY, 2))
    assert np.isnan(top[1::2]).all()
    assert list(da.note.values[:4]) == ["", "odd", "", "odd"]
    every = get_embeddings(tiny_model_file, ds, tile_type="all", device="cpu", progress=False)
    assert every.n_objects.dims == ("tile_type", "tile_id")
    np.testing.assert_array_equal(every.n_objects.sel(tile_type="anchor").values, np.arange(N_STUDY))
    assert (every.n_objects.sel(tile_type="distant").values == -1).all()  # not labelled


def test_embeddings_match_bare_model(embeddings, regime_dataset, tiny_model_file):
    """Same numbers as the trainer's own embed_tiles on the same tiles."""
    from convml_tt.architectures import embed_dataset, load_model

    ids, emb = embed_dataset(load_model(tiny_model_file, device="cpu"), regime_dataset, stage="study",
                             progress=False)
    assert ids == list(embeddings.tile_id.values)
    np.testing.assert_allclose(embeddings.values, emb, rtol=1e-4, atol=1e-5)


def test_embeddings_all_tile_types_and_triplet_accuracy(embeddings_all, embeddings):
    da = embeddings_all
    assert da.dims == ("tile_type", "tile_id", "emb_dim")
    assert list(da.tile_type.values) == ["anchor", "neighbor", "distant"]
    np.testing.assert_allclose(da.sel(tile_type="anchor").values, embeddings.values, rtol=1e-4, atol=1e-5)
    # distant tiles were written at lon -49.5 and with the next regime
    np.testing.assert_allclose(da.lon.sel(tile_type="distant").values, -49.5)
    np.testing.assert_array_equal(da.regime.sel(tile_type="distant").values, (np.arange(N_STUDY) + 1) % 3)
    acc = metrics.triplet_accuracy(da)
    assert 0.0 <= acc <= 1.0


def test_embeddings_of_folder_without_metadata(tmp_path, tiny_model_file):
    root = write_regime_dataset(tmp_path / "old", n_study=5, n_train=0, with_meta=False)
    da = get_embeddings(tiny_model_file, root, device="cpu", progress=False)
    assert da.shape == (5, 8)
    assert "lat" not in da.coords and "regime" not in da.coords


def test_netcdf_round_trip(embeddings, tmp_path):
    path = save_embeddings(embeddings, tmp_path / "sub" / "emb.nc")
    assert [p.name for p in path.parent.iterdir()] == ["emb.nc"]  # no temporary file left
    back = load_embeddings(path)
    xr.testing.assert_identical(back.drop_vars("time"), embeddings.drop_vars("time"))
    np.testing.assert_array_equal(back.time.values, embeddings.time.values)
    assert back.attrs == embeddings.attrs


def test_netcdf_all_tile_types_round_trip(embeddings_all, tmp_path):
    da = embeddings_all
    back = load_embeddings(save_embeddings(da, tmp_path / "all.nc"))
    np.testing.assert_array_equal(back.values, da.values)
    assert list(back.tile_type.values) == ["anchor", "neighbor", "distant"]
    assert metrics.triplet_accuracy(back) == metrics.triplet_accuracy(da)


def test_load_embeddings_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="convml_tt embed"):
        load_embeddings(tmp_path / "missing.nc")
    xr.DataArray(np.zeros(3), dims=("x",), name="v").to_netcdf(tmp_path / "other.nc")
    with pytest.raises(ValueError, match="not embeddings"):
        load_embeddings(tmp_path / "other.nc")


def test_nearest_tiles():
    x = np.array([[0.0, 0.0], [5.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.5, 0.0]])
    da = xr.DataArray(x, dims=("tile_id", "emb_dim"), coords={"tile_id": [10, 11, 12, 13, 14]})
    near = nearest_tiles(da, 10, k=3)
    assert list(near.tile_id.values) == [14, 12, 13]
    np.testing.assert_allclose(near.distance.values, [0.5, 1.0, 3.0])
    with pytest.raises(KeyError, match="tile_id 99"):
        nearest_tiles(da, 99)
    with pytest.raises(ValueError, match="k must be"):
        nearest_tiles(da, 10, k=5)


def test_model_and_dataset_channel_mismatch(tmp_path, tiny_model_file):
    grey = write_regime_dataset(tmp_path / "grey", n_study=3, n_train=0, channels=1)
    with pytest.raises(ValueError, match="3-channel tiles but the dataset .* 1-channel"):
        get_embeddings(tiny_model_file, grey, device="cpu", progress=False)


def test_get_embeddings_bad_input(regime_dataset, tiny_model_file):
    with pytest.raises(ValueError, match="tile_type"):
        get_embeddings(tiny_model_file, regime_dataset, tile_type="middle", progress=False)
    with pytest.raises(TypeError, match="model file path or a torch.nn.Module"):
        get_embeddings(42, regime_dataset, progress=False)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            get_embeddings(tiny_model_file, regime_dataset, device="cuda", progress=False)


def test_resolve_dataset_path_errors(clustered, tmp_path):
    moved = clustered.copy()
    moved.attrs["dataset_path"] = str(tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match="no longer exists.*dataset_path="):
        resolve_dataset_path(moved)
    assert resolve_dataset_path(moved, clustered.attrs["dataset_path"]).is_dir()


# --- metrics on constructed embeddings -------------------------------------------------
def test_triplet_accuracy_known():
    a = np.zeros((4, 2))
    n = np.array([[0.1, 0], [0.1, 0], [2, 0], [0.1, 0]])
    d = np.array([[1.0, 0], [1, 0], [1, 0], [0, 0.05]])
    assert metrics.triplet_accuracy(a, n, d) == 0.5
    with pytest.raises(ValueError, match="all three"):
        metrics.triplet_accuracy(a, n)


def test_separable_clusters_score_perfectly(clustered):
    labels = clustered.regime_name.values
    assert metrics.knn_accuracy(clustered.values, labels, k=5) == 1.0
    clusters = metrics.ward_clusters(clustered.values, 3)
    assert metrics.adjusted_rand_index(labels, clusters) == pytest.approx(1.0)
    assert metrics.cluster_purity(labels, clusters) == 1.0
    scores = evaluate.embedding_scores(clustered)
    assert scores["knn_accuracy"] == 1.0 and scores["adjusted_rand_index"] == pytest.approx(1.0)
    assert np.isnan(scores["triplet_accuracy"])  # anchors only


def test_random_embeddings_score_near_chance():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 10))
    labels = rng.integers(0, 3, 600)
    assert abs(metrics.knn_accuracy(x, labels, k=5) - 1 / 3) < 0.08
    clusters = metrics.ward_clusters(x, 3)
    assert abs(metrics.adjusted_rand_index(labels, clusters)) < 0.05
    assert metrics.triplet_accuracy(x[:200], x[200:400], x[400:]) == pytest.approx(0.5, abs=0.08)


def test_adjusted_rand_index_against_known_values():
    assert metrics.adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    # worked example: sklearn documents ARI([0,0,1,1],[0,0,1,2]) = 0.5714...
    assert metrics.adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(0.5714285714)
    assert metrics.adjusted_rand_index([0, 0, 0, 0], [0, 1, 2, 3]) == 0.0
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 200), rng.integers(0, 5, 200)
    b[:120] = a[:120]
    assert metrics.adjusted_rand_index(a, b) == pytest.approx(sklearn_metrics.adjusted_rand_score(a, b))


def test_knn_and_clusters_bad_input():
    with pytest.raises(ValueError, match="labels must have shape"):
        metrics.knn_accuracy(np.zeros((5, 2)), [0, 1])
    with pytest.raises(ValueError, match="k must be between"):
        metrics.knn_accuracy(np.zeros((5, 2)), [0] * 5, k=5)
    with pytest.raises(ValueError, match="n_leaves must be between"):
        metrics.ward_clusters(np.random.default_rng(0).random((4, 2)), 5)


def test_tile_statistics_features():
    rng = np.random.default_rng(0)
    white = rng.random((64, 64))
    yy, xx = np.mgrid[:64, :64]
    smooth = 0.5 + 0.4 * np.sin(2 * np.pi * xx / 64) * np.cos(2 * np.pi * yy / 32)
    assert abs(evaluate.spectral_slope(white)) < 0.5
    assert evaluate.spectral_slope(smooth + 0.01 * white) < -1.0
    img = np.zeros((10, 10, 3))
    img[:5] = 0.9  # half the tile bright
    f = evaluate.tile_statistics_features(img)
    assert f.shape == (8,)
    np.testing.assert_allclose(f[:3], 0.45)
    assert f[6] == 0.5  # cloud fraction


def test_quality_table_with_baselines(regime_dataset, tiny_model_file, embeddings):
    df = evaluate.quality_table(embeddings, model=tiny_model_file, device="cpu")
    assert list(df.index) == ["trained", "untrained", "tile statistics"]
    assert list(df.columns) == evaluate.METRIC_COLUMNS + ["n_tiles"]
    assert (df["n_tiles"] == N_STUDY).all()
    assert df.notna().all().all()
    # the regimes are easy to tell apart from brightness and texture statistics
    assert df.loc["tile statistics", "knn_accuracy"] == 1.0
    assert df.loc["tile statistics", "triplet_accuracy"] == 1.0
    md = evaluate.to_markdown(df)
    assert md.splitlines()[0].startswith("| embedding | triplet_accuracy")
    assert f"| {N_STUDY} |" in md.splitlines()[2]


def test_untrained_baseline_is_seeded_random_init(tiny_model_file):
    import torch

    from convml_tt.architectures import load_model

    cfg = load_model(tiny_model_file, device="cpu").config
    a, b = evaluate.untrained_like(cfg, seed=7), evaluate.untrained_like(cfg, seed=7)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    assert a.config["emb_dim"] == 8


def test_quality_table_user_labels_and_missing_label(clustered):
    df = evaluate.quality_table(clustered.drop_vars(["regime", "regime_name"]).assign_coords(
        mine=("tile_id", clustered.regime.values)), label="mine", baselines=["tile statistics"])
    assert df.loc["trained", "knn_accuracy"] == 1.0
    assert df.loc["tile statistics", "knn_accuracy"] == 1.0
    with pytest.raises(ValueError, match="label coordinate 'nope'"):
        evaluate.quality_table(clustered, label="nope", baselines=False)
    with pytest.raises(ValueError, match="unknown baselines"):
        evaluate.quality_table(clustered, baselines=["pixels"])


# --- command line ---------------------------------------------------------------------------
def test_cli_embed_plot_evaluate(regime_dataset, tiny_model_file, tmp_path, capsys):
    from convml_tt.cli import main

    out = tmp_path / "emb.nc"
    assert main(["embed", str(tiny_model_file), str(regime_dataset), "--out", str(out), "--device", "cpu",
                 "--batch-size", "20", "--quiet"]) == 0
    da = load_embeddings(out)
    assert da.shape == (N_STUDY, 8) and da.attrs["tile_type"] == "anchor"
    for kind, extra in (("dendrogram", ["--n-leaves", "4", "--n-examples", "2"]),
                        ("scatter", ["--method", "pca", "--n-insets", "5"]),
                        ("grid", ["--dims", "0", "1", "--rows", "3", "--cols", "4"])):
        fig = tmp_path / f"{kind}.png"
        assert main(["plot", kind, str(out), "--out", str(fig), "--dpi", "50", *extra]) == 0
        assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    md = tmp_path / "quality.md"
    assert main(["evaluate", str(out), "--quiet", "--device", "cpu", "--markdown", str(md)]) == 0
    printed = capsys.readouterr().out
    assert "| trained |" in printed and "| untrained |" in printed and "| tile statistics |" in printed
    assert md.read_text().strip() == printed.strip()


def test_cli_errors_name_the_input(regime_dataset, tiny_model_file, tmp_path, capsys):
    from convml_tt.cli import main

    out = tmp_path / "emb.nc"
    assert main(["embed", str(tiny_model_file), str(regime_dataset), "--out", str(out), "--device", "cpu",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["plot", "dendrogram", str(out), "--out", str(tmp_path / "d.png"), "--n-leaves", "999"]) == 1
    assert "more leaves than tiles" in capsys.readouterr().err
    assert main(["plot", "scatter", str(out), "--out", str(tmp_path / "s.png"), "--dims", "0", "50"]) == 1
    assert "dimension 50 does not exist" in capsys.readouterr().err
    assert not (tmp_path / "s.png").exists()
    da = load_embeddings(out)
    da.attrs["dataset_path"] = str(tmp_path / "moved")
    save_embeddings(da, out)
    assert main(["plot", "grid", str(out), "--out", str(tmp_path / "g.png"), "--rows", "2", "--cols", "2"]) == 1
    assert "--dataset-path" in capsys.readouterr().err
    assert main(["plot", "grid", str(out), "--out", str(tmp_path / "g.png"), "--rows", "2", "--cols", "2",
                 "--dataset-path", str(regime_dataset)]) == 0
