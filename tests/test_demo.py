"""The end-to-end demo (convml_tt.demo, `convml_tt demo`) in its tiny --fast mode.

The quality targets are NOT asserted here (one epoch on 60 triplets cannot
meet them); only that every step runs, writes valid files, reuses its
outputs on a second run, and that the targets are computed from the table.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from convml_tt.demo import TARGETS, DemoSettings, check_targets, epochs_within_budget, run_demo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("domain", "dendrogram", "scatter", "grid", "physical", "pc_correlations")


@pytest.fixture(scope="module")
def fast_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo_output"
    result = run_demo(out, DemoSettings.fast(), device="cpu", quiet=True)
    return out, result


@pytest.mark.slow
def test_fast_demo_writes_every_output(fast_demo):
    from PIL import Image

    out, result = fast_demo
    for name in FIGURES:
        path = out / f"{name}.png"
        assert path.exists(), f"{path} missing"
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.size[0] > 200 and im.size[1] > 200
    for name in ("model.pt", "embeddings_study.nc", "quality.csv", "settings.json", "demo_state.json"):
        assert (out / name).is_file(), name
    assert (out / "dataset" / "meta.yaml").is_file()
    assert len(list((out / "dataset" / "study").glob("*_anchor.png"))) == DemoSettings.fast().n_study
    assert len(list((out / "data" / "composites").rglob("*.nc"))) == DemoSettings.fast().n_scenes
    assert json.loads((out / "settings.json").read_text())["tile_pixels"] == 32


@pytest.mark.slow
def test_fast_demo_report(fast_demo):
    out, result = fast_demo
    text = (out / "report.md").read_text(encoding="utf-8")
    assert text == result.report
    assert text.startswith("# convml_tt demo report\n")
    lines = text.splitlines()
    # the quality table: header, separator and the three rows
    i = lines.index("| embedding | triplet_accuracy | knn_accuracy | cluster_purity | adjusted_rand_index | n_tiles |")
    assert lines[i + 1].startswith("|---")
    assert [ln.split("|")[1].strip() for ln in lines[i + 2:i + 5]] == ["trained", "untrained", "tile statistics"]
    for ln in lines[i + 2:i + 5]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert all(0.0 <= float(c) <= 1.0 for c in cells[1:3]), ln  # triplet and kNN accuracy measured
        assert cells[-1] == str(DemoSettings.fast().n_study)
    # targets: each line says yes or NO, as computed from the same table
    assert "## Targets" in text and "## Timings" in text and "## Settings" in text
    expected = check_targets(result.quality)
    for t in expected:
        row = next(ln for ln in lines if ln.startswith(f"| {t['target']} |"))
        assert row.endswith("| yes |" if t["met"] else "| NO |")
    for step in ("scenes", "composites", "triplets", "training", "embeddings", "quality", "plots"):
        assert any(ln.startswith(f"| {step} | ") for ln in lines), step
    for name in FIGURES:
        assert f"![{name}]({name}.png)" in text
    # judging without truth and against the truth written as Zooniverse boxes
    assert "## Judging the regimes without truth" in text and "## Agreement with human-style labels" in text
    stability = pd.read_csv(out / "judging" / "stability.csv", index_col=0)
    assert list(stability.index) == ["trained", "untrained"] and stability["bootstrap_ari"].between(-1, 1).all()
    assert (out / "judging" / "agreement_precision.csv").is_file() and (out / "choose_n.png").is_file()
    # the quality table on disk is the one reported
    df = pd.read_csv(out / "quality.csv", index_col=0)
    assert list(df.index) == ["trained", "untrained", "tile statistics"]
    np.testing.assert_allclose(df["triplet_accuracy"].values, result.quality["triplet_accuracy"].values)


@pytest.mark.slow
def test_second_run_reuses_everything(fast_demo, capsys):
    from convml_tt.cli import main

    out, first = fast_demo
    model_mtime = (out / "model.pt").stat().st_mtime_ns
    emb_mtime = (out / "embeddings_study.nc").stat().st_mtime_ns
    assert main(["demo", "--fast", "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "| trained |" in printed and "| untrained |" in printed and "| tile statistics |" in printed
    assert "reused" in printed
    assert (out / "model.pt").stat().st_mtime_ns == model_mtime  # not retrained
    assert (out / "embeddings_study.nc").stat().st_mtime_ns == emb_mtime
    state = json.loads((out / "demo_state.json").read_text())
    assert state["training"] == DemoSettings.fast().step_key("training")


@pytest.mark.slow
def test_interrupted_training_resumes_and_cleans_up(fast_demo, tmp_path, monkeypatch, capsys):
    """Training killed after its first epoch: the next run resumes from the
    checkpoint (not from scratch) and, once done, drops the checkpoints."""
    from convml_tt.architectures import model_file
    from convml_tt.architectures.training import checkpoints

    data_root = fast_demo[0] / "data"  # scenes and composites of the fast demo
    out = tmp_path / "demo_output"
    settings = DemoSettings.fast(epochs=2)
    original = checkpoints.CheckpointCallback.after_epoch

    def die_after_first_epoch(self):
        original(self)
        if self.epoch == 0:
            raise KeyboardInterrupt("simulated Ctrl-C")

    monkeypatch.setattr(checkpoints.CheckpointCallback, "after_epoch", die_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_demo(out, settings, data_root=data_root, device="cpu", quiet=True)
    ckpt = out / "model.pt.checkpoints"
    assert (ckpt / "last.pt").is_file() and not (out / "model.pt").exists()
    assert model_file.read_model_file(ckpt / "last.pt")["epoch"] == 1

    monkeypatch.setattr(checkpoints.CheckpointCallback, "after_epoch", original)
    capsys.readouterr()
    result = run_demo(out, settings, data_root=data_root, device="cpu")
    printed = capsys.readouterr().out
    assert f"resuming from {ckpt / 'last.pt'}" in printed
    assert (out / "model.pt").is_file() and not ckpt.exists()
    assert result.quality.loc["trained", "n_tiles"] == settings.n_study


def test_epochs_within_budget():
    s = DemoSettings()
    # 0.5 s per bare step (a 2-core CPU with bf16): all 12 epochs in the ~500 s left after the data steps
    assert epochs_within_budget(0.5, s, 500.0) == 12
    # 1.55 s (AVX2-only, fp32): an epoch is 57 steps of 1.62 s + validation ~ 97 s
    assert epochs_within_budget(1.55, s, 500.0) == 4
    counts = [epochs_within_budget(t, s, 500.0) for t in (0.2, 0.5, 0.8, 1.2, 2.0, 5.0, 50.0)]
    assert counts == sorted(counts, reverse=True) and counts[-1] == 1  # never below one epoch
    assert epochs_within_budget(0.5, s, 1e9) == s.epochs  # never above the settings
    assert epochs_within_budget(0.5, DemoSettings(epochs=3), 1e9) == 3
    with pytest.raises(ValueError, match="step_s"):
        epochs_within_budget(0.0, s, 500.0)


@pytest.mark.slow
def test_time_budget_cuts_epochs_and_says_so(fast_demo, tmp_path):
    settings = DemoSettings.fast(epochs=3, time_budget_s=1.0)  # spent before training starts
    result = run_demo(tmp_path / "out", settings, data_root=fast_demo[0] / "data", device="cpu", quiet=True)
    assert result.epochs == 1 and result.epoch_s > 0  # the first epoch always runs
    assert "| training |" in result.report
    assert "1 of 3 epochs: more would not have fit the 1 s budget (judged after each epoch" in result.report
    assert "| epochs trained | 1 (time budget) |" in result.report
    # no budget: exactly the epochs asked for (reusing the triplets made above)
    settings = DemoSettings.fast(epochs=2, time_budget_s=None)
    result = run_demo(tmp_path / "out", settings, data_root=fast_demo[0] / "data", device="cpu", quiet=True)
    assert result.epochs == 2 and result.epoch_s is None and "epochs trained" not in result.report
    assert result.reused["triplets"] and not result.reused["training"]


def test_step_keys_follow_the_flow():
    base = DemoSettings.fast()
    more_epochs = DemoSettings.fast(epochs=2)
    assert base.step_key("triplets") == more_epochs.step_key("triplets")
    assert base.step_key("training") != more_epochs.step_key("training")
    other_seed = DemoSettings.fast(seed=1)
    for step in ("scenes", "triplets", "training", "quality"):
        assert base.step_key(step) != other_seed.step_key(step)
    with pytest.raises(KeyError, match="unknown demo step"):
        base.step_key("nope")


def test_default_settings_are_the_agreed_ones():
    s = DemoSettings()
    assert (s.n_scenes, s.start, s.interval_hours, s.center, s.size_km, s.seed) == (
        16, "2020-01-02T14:00", 24.0, (15.0, -50.0), 1000.0, 0)
    assert s.domain == (-54.0, 11.0, -46.0, 19.0)
    assert (s.tile_size_m, s.tile_pixels, s.n_train, s.n_study, s.neighbor_distance, s.workers) == (
        64e3, 64, 2000, 300, 1.0, 2)
    assert (s.region_km, s.variability, s.resolution_km) == (1000.0, 1.0, None)
    assert (s.dropout, s.negatives) == (0.0, "batch")
    assert (s.arch, s.emb_dim, s.epochs, s.lr, s.batch_size, s.preload) == ("resnet18", 100, 12, 2e-3, 32, True)
    assert s.time_budget_s == 580.0


@pytest.mark.parametrize("bad, match", [
    (dict(n_scenes=0), "n_scenes"),
    (dict(start="yesterday"), "ISO 8601"),
    (dict(domain=(1.0, 2.0)), "domain"),
    (dict(lr=-1.0), "lr"),
    (dict(n_study=1), "n_study"),
    (dict(neighbor_distance=0.0), "neighbor_distance"),
    (dict(region_km=-5.0), "region_km"),
    (dict(variability=3.0), "variability"),
    (dict(resolution_km=3.0), "resolution_km=3.0: use None"),
    (dict(dropout=1.0), "dropout"),
    (dict(negatives="all"), "negatives='all': use 'batch' or 'own'"),
    (dict(time_budget_s=0.0), "time_budget_s=0.0 must be a positive number of seconds or None"),
    (dict(time_budget_s=float("inf")), "time_budget_s"),
])
def test_bad_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        DemoSettings(**bad)


def test_targets_are_computed_not_assumed():
    good = pd.DataFrame(
        {"triplet_accuracy": [0.97, 0.70, 0.80], "knn_accuracy": [0.95, 0.50, 0.80],
         "cluster_purity": [0.9, 0.5, 0.7], "adjusted_rand_index": [0.8, 0.1, 0.4]},
        index=["trained", "untrained", "tile statistics"])
    met = check_targets(good, total_s=300.0)
    assert all(t["met"] for t in met) and len(met) == 7
    worse = good.copy()
    worse.loc["tile statistics", "knn_accuracy"] = 0.9  # only 5 points below the trained one
    flags = {t["target"]: t["met"] for t in check_targets(worse, total_s=TARGETS["wall_time_s"] + 1)}
    assert flags["kNN regime accuracy: >= 10 points above tile statistics"] is False
    assert flags["kNN regime accuracy: >= 10 points above untrained"] is True
    assert flags["whole demo within 10 min"] is False
    missing = good.drop(index="untrained")
    t = next(t for t in check_targets(missing) if t["target"].endswith("above untrained"))
    assert t["met"] is False and t["value"] == "not measured"
