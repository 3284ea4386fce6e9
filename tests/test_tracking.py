"""Training curves logged through fastai callbacks (``train --log``): the
TensorBoard event file read back with TensorBoard's own reader."""
from __future__ import annotations

import sys

import pytest
import torch

from convml_tt.cli import main
from triplet_fixtures import write_toy_triplets

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def toy_ds(tmp_path_factory):
    return write_toy_triplets(tmp_path_factory.mktemp("track") / "ds", n_train=36, n_study=6, size=32)


def test_train_logs_its_curves_to_tensorboard(toy_ds, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = tmp_path / "logs"
    rc = main(["train", str(toy_ds), "--epochs", "2", "--batch-size", "8", "--emb-dim", "8", "--head", "linear",
               "--out", str(tmp_path / "m.pt"), "--device", "cpu", "--no-checkpoints", "--log", "tensorboard",
               "--log-dir", str(logs)])
    table = capsys.readouterr().out
    assert rc == 0, table
    (event_file,) = logs.glob("events.out.tfevents.*")
    acc = EventAccumulator(str(event_file)).Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"batch/loss", "batch/lr", "epoch/train_loss", "epoch/valid_loss", "epoch/triplet_acc"} <= tags
    batches = acc.Scalars("batch/loss")
    assert [e.step for e in batches] == list(range(1, len(batches) + 1)) and len(batches) >= 4  # 2 x 32 / 8
    lrs = [e.value for e in acc.Scalars("batch/lr")]
    assert max(lrs) > 5 * lrs[0]  # the one-cycle warm-up
    # the epoch values are those of fastai's table (printed with 6 decimals)
    header = next(line.split() for line in table.splitlines() if line.split()[:1] == ["epoch"])
    rows = [line.split() for line in table.splitlines() if line.split()[:1] in (["0"], ["1"])]
    assert len(rows) == 2
    for name in ("train_loss", "valid_loss", "triplet_acc"):
        logged = [e.value for e in acc.Scalars(f"epoch/{name}")]
        assert [e.step for e in acc.Scalars(f"epoch/{name}")] == [0, 1]
        assert logged == pytest.approx([float(r[header.index(name)]) for r in rows], abs=1e-6)


def test_train_log_refusals_are_one_line_before_training(toy_ds, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as where wandb is not installed
    rc = main(["train", str(toy_ds), "--epochs", "1", "--out", str(tmp_path / "m.pt"), "--device", "cpu",
               "--log", "wandb"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "train --log wandb needs wandb" in err
    assert "pip install wandb" in err and not (tmp_path / "m.pt").exists()
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    rc = main(["train", str(toy_ds), "--epochs", "1", "--out", str(tmp_path / "m.pt"), "--device", "cpu",
               "--log", "tensorboard"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "pip install 'convml_tt[explore]'" in err and not (tmp_path / "m.pt").exists()
    with pytest.raises(SystemExit):
        main(["train", str(toy_ds), "--out", str(tmp_path / "m.pt"), "--log", "mlflow"])
    assert "invalid choice: 'mlflow'" in capsys.readouterr().err
