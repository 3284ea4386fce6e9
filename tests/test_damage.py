"""Damaged datasets and unwritable outputs: one rule for complete triplets
(training and embedding refuse or skip the same ones), `triplets --verify`
finds and rewrites damaged tiles, outputs that cannot be written are
refused with one line naming the path -- before the work, not after it."""
from __future__ import annotations

import shutil

import pytest

from convml_tt.cli import main
from convml_tt.data.dataset.format import tile_name, verify_dataset
from convml_tt.data.dataset.writer import make_triplets
from interp_fixtures import embeddings, regime_dataset, tiny_model_file  # noqa: F401
from synthetic_fixtures import DOMAIN, composited_root, files_of  # noqa: F401

def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


def _truncate(path, keep: int = 60) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:keep])


@pytest.fixture()
def copy_of(tmp_path):
    def make(folder):
        dst = tmp_path / folder.name
        shutil.copytree(folder, dst)
        return dst
    return make


def test_verify_rewrites_a_truncated_tile_to_the_same_bytes(composited_root, tmp_path, capsys):
    argv = ["triplets", "--data-root", str(composited_root), "--domain", *map(str, DOMAIN),
            "--tile-size-m", "40e3", "--tile-pixels", "32", "--n-train", "6", "--n-study", "0",
            "--seed", "3", "--out", str(tmp_path / "ds"), "--quiet", "--labels", "none"]
    assert main(argv) == 0
    good = files_of(tmp_path / "ds")
    damaged = tmp_path / "ds" / "train" / tile_name(2, "neighbor")
    _truncate(damaged)
    capsys.readouterr()
    # without --verify the finished dataset is taken as it is; readers then name the file
    assert verify_dataset(tmp_path / "ds")["train"].keys() == {2}
    assert main(argv + ["--verify"]) == 0
    out = capsys.readouterr().out
    assert "damaged train triplet 2" in out and "not a readable PNG image" in out
    assert "1 damaged triplet(s) rewritten" in out
    assert files_of(tmp_path / "ds") == good
    assert verify_dataset(tmp_path / "ds") == {"train": {}, "study": {}}


def test_a_truncated_tile_met_by_a_reader_is_one_line(regime_dataset, embeddings, copy_of, tmp_path, capsys):
    from convml_tt.interpretation.embeddings import save_embeddings

    ds = copy_of(regime_dataset)
    for p in (ds / "study").glob("*_anchor.png"):  # whichever tiles the plot shows
        _truncate(p)
    emb = save_embeddings(embeddings.assign_attrs(dataset_path=str(ds)), tmp_path / "emb.nc")
    assert main(["plot", "grid", str(emb), "--out", str(tmp_path / "g.png"), "--rows", "2", "--cols", "2"]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1
    assert "_anchor.png" in err and "not a readable PNG image" in err and "--verify" in err


def test_embed_follows_the_same_completeness_rule_as_train(regime_dataset, tiny_model_file, copy_of,
                                                           tmp_path, capsys):
    import xarray as xr

    ds = copy_of(regime_dataset)
    (ds / "study" / tile_name(1, "anchor")).unlink()
    (ds / "study" / tile_name(4, "distant")).unlink()
    out = tmp_path / "e.nc"
    assert main(["embed", str(tiny_model_file), str(ds), "--out", str(out), "--device", "cpu", "--quiet"]) == 1
    err = _err(capsys)
    assert "2 incomplete triplet(s)" in err and "--skip-incomplete" in err and not out.exists()
    with pytest.warns(UserWarning, match="skipping 2 incomplete triplet"):
        assert main(["embed", str(tiny_model_file), str(ds), "--out", str(out), "--device", "cpu",
                     "--quiet", "--skip-incomplete"]) == 0
    ids = xr.open_dataarray(out).tile_id.values.tolist()
    assert 1 not in ids and 4 not in ids and len(ids) == len(list((regime_dataset / "study").glob("*_anchor.png"))) - 2


def _unwritable(tmp_path):
    """A folder path nobody can write into, even root: below a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    return blocker


def test_train_checks_its_outputs_before_training(regime_dataset, tmp_path, capsys, monkeypatch):
    from convml_tt.architectures.training import learner

    def no_training(*a, **k):  # reached only if the outputs were not checked first
        raise AssertionError("training started before the outputs were checked")

    monkeypatch.setattr(learner, "make_learner", no_training)
    locked = _unwritable(tmp_path)
    base = ["train", str(regime_dataset), "--epochs", "1", "--device", "cpu", "--quiet"]
    assert main(base + ["--out", str(locked / "m.pt")]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and "cannot write the model file" in err and str(locked) in err
    assert main(base + ["--out", str(tmp_path / "m.pt"), "--checkpoint-dir", str(locked / "ck")]) == 1
    err = _err(capsys)
    assert len(err.splitlines()) == 1 and "cannot write checkpoints" in err and str(locked / "ck") in err
    assert not (tmp_path / "m.pt").exists()


def test_unwritable_outputs_of_every_step_are_one_line(embeddings, tmp_path, capsys):
    from convml_tt.interpretation.embeddings import save_embeddings

    emb = save_embeddings(embeddings, tmp_path / "emb.nc")
    locked = _unwritable(tmp_path)
    cases = [
        ["synthetic", "--data-root", str(locked / "data"), "--count", "1", "--size-km", "200", "--quiet"],
        ["plot", "grid", str(emb), "--out", str(locked / "g.png"), "--rows", "2", "--cols", "2"],
        ["plot", "dendrogram", str(emb), "--out", str(tmp_path / "d.png"), "--n-leaves", "3",
         "--n-examples", "1", "--labels-out", str(locked / "labels.csv")],
        ["evaluate", str(emb), "--no-baselines", "--markdown", str(locked / "q.md"), "--quiet"],
    ]
    for argv in cases:
        assert main(argv) == 1, argv
        err = _err(capsys)
        assert len(err.splitlines()) == 1 and str(locked) in err, (argv, err)
    assert locked.read_text() == "x"


def test_killed_model_writes_leave_no_temp_files(tmp_path):
    from convml_tt.architectures import TripletEncoder, save_model

    out = tmp_path / "m.pt"
    stale = tmp_path / ".m.pt.abc123.tmp"  # what a write killed mid-way leaves
    stale.write_bytes(b"\0" * 100)
    keep = tmp_path / ".m.pt.other.abc.tmp"  # another output's temp file
    keep.write_bytes(b"")
    enc = TripletEncoder("resnet18", n_input_channels=3, emb_dim=4, head="linear")
    save_model(enc, out)
    assert out.exists() and not stale.exists() and keep.exists()


def test_checkpoints_remove_their_stale_temp_files(regime_dataset, tmp_path):
    from convml_tt.architectures import train

    ck = tmp_path / "ck"
    ck.mkdir()
    stale = [ck / ".last.pt.x1y2.tmp", ck / ".epoch_001.pt.z9.tmp"]
    for p in stale:
        p.write_bytes(b"\0" * 10)
    train(regime_dataset, tmp_path / "m.pt", epochs=1, batch_size=4, emb_dim=4, arch="resnet18",
          device="cpu", checkpoint_dir=ck, quiet=True, num_workers=0, head="linear")
    assert sorted(p.name for p in ck.iterdir()) == ["epoch_001.pt", "last.pt"]
