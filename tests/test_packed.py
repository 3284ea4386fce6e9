"""The packed tile store (convml_tt.data.dataset.packed, .convert; `triplets --format packed`,
`convml_tt pack`): the same tensors as the PNG folder, conversion both ways byte for byte,
--verify finding a truncated shard, resume to the same shards, bad input in one line."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import torch
import yaml

from convml_tt.cli import main
from convml_tt.data.dataset.format import TILE_TYPES, list_triplets, tile_ids, verify_dataset
from convml_tt.data.dataset.packed import PackedStage, read_dataset_tile, write_piece
from convml_tt.data.dataset.torch import TileDataset, TripletDataset
from synthetic_fixtures import DOMAIN, composited_root, files_of  # noqa: F401


def _argv(root, out, *extra):
    return ["triplets", "--data-root", str(root), "--domain", *map(str, DOMAIN), "--tile-size-m", "40e3",
            "--tile-pixels", "32", "--n-train", "5", "--seed", "3", "--out", str(out), "--quiet",
            "--labels", "none", *extra]


PACKED = ("--format", "packed", "--shard-size", "2")


@pytest.fixture(scope="module")
def pair(composited_root, tmp_path_factory):
    """The same dataset written by the CLI as PNGs and packed (5 triplets, shards of 2: 3 shards)."""
    tmp = tmp_path_factory.mktemp("packed")
    assert main(_argv(composited_root, tmp / "png")) == 0
    assert main(_argv(composited_root, tmp / "packed", *PACKED)) == 0
    return tmp / "png", tmp / "packed"


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_packed_dataset_gives_the_png_tensors(pair, composited_root):
    png, packed = pair
    names = sorted(p.name for p in (packed / "train").iterdir())
    assert names == sorted([f"shard-0000{k}.{e}" for k in range(3) for e in ("npy", "json")]
                           + [f"0000{i}_meta.yaml" for i in range(5)])
    for i in range(5):  # the same per-triplet metadata
        name = f"train/0000{i}_meta.yaml"
        assert (packed / name).read_bytes() == (png / name).read_bytes()
    meta_png, meta_packed = (yaml.safe_load((d / "meta.yaml").read_text()) for d in pair)
    assert meta_packed == {**meta_png, "layout": "packed", "shard_size": 2}
    assert list_triplets(packed) == list_triplets(png) == [0, 1, 2, 3, 4]
    a, b = TripletDataset(png, progress=False), TripletDataset(packed, progress=False)
    order = [4, 0, 3, 1, 2]
    x, y = a.load_batch(order), b.load_batch(order)
    assert x.dtype == y.dtype == torch.uint8 and x.shape == y.shape == (5, 3, 3, 32, 32) and torch.equal(x, y)
    assert all(torch.equal(u, v) for u, v in zip(a[2], b[2]))
    assert torch.equal(b.preload(progress=False).tiles, a.preload(progress=False).tiles)
    assert b.meta(1) == a.meta(1)
    for t in TILE_TYPES:
        x_t, y_t = (TileDataset(d, tile_type=t, progress=False).load_batch(order) for d in pair)
        assert torch.equal(x_t, y_t) and torch.equal(y_t, x[:, TILE_TYPES.index(t)])
        # what the plots and tile statistics read
        assert np.array_equal(read_dataset_tile(packed, "train", 3, t), read_dataset_tile(png, "train", 3, t))
    assert tile_ids(packed, "train") == tile_ids(png, "train")
    from convml_tt.interpretation.evaluate import tile_statistics

    stats = [tile_statistics(d, "train", "all", progress=False) for d in pair]
    assert np.array_equal(stats[0].values, stats[1].values)
    # a loader worker gets the dataset pickled: paths, not the tiles; it maps the shards itself
    lazy = TripletDataset(packed / "train", progress=False)
    assert lazy.load_batch([0]).shape == (1, 3, 3, 32, 32) and lazy._packed._maps
    sent = pickle.dumps(lazy)
    assert len(sent) < 8000 and torch.equal(pickle.loads(sent).load_batch(order), x)
    # training batches: the same tensors, byte for byte, after the batch transform
    from convml_tt.architectures.training.dataloaders import make_dataloaders

    kw = dict(batch_size=2, valid_pct=0.2, seed=7, device="cpu", num_workers=0, normalize="imagenet")
    for p, q in zip(*(list(make_dataloaders(d, progress=False, **kw).train) for d in pair)):
        assert all(torch.equal(u, v) for u, v in zip(p, q))


def test_pack_converts_both_ways_byte_for_byte(pair, tmp_path, capsys):
    png, packed = pair
    assert main(["pack", str(png), "--out", str(tmp_path / "p"), "--shard-size", "2", "--quiet"]) == 0
    assert files_of(tmp_path / "p") == files_of(packed)
    assert main(["pack", str(packed), "--out", str(tmp_path / "q"), "--format", "png", "--quiet"]) == 0
    assert files_of(tmp_path / "q") == files_of(png)
    # a stopped conversion resumes into the same folder (its meta.yaml says incomplete until done)
    shutil.rmtree(tmp_path / "p" / "train")
    meta = yaml.safe_load((tmp_path / "p" / "meta.yaml").read_text())
    (tmp_path / "p" / "meta.yaml").write_text(yaml.safe_dump({**meta, "status": "incomplete"}, sort_keys=False))
    assert main(["pack", str(png), "--out", str(tmp_path / "p"), "--shard-size", "2", "--quiet"]) == 0
    assert files_of(tmp_path / "p") == files_of(packed)


def test_verify_finds_a_truncated_shard(pair, composited_root, tmp_path, capsys):
    good = files_of(pair[1])
    ds = tmp_path / "ds"
    shutil.copytree(pair[1], ds)
    shard = ds / "train" / "shard-00001.npy"
    shard.write_bytes(shard.read_bytes()[:500])
    assert verify_dataset(ds)["train"].keys() == {2, 3}
    # a reader names the file and the remedy in one line
    with pytest.raises(ValueError, match=r"shard-00001.npy' is not readable \(truncated: 500 of \d+ bytes\).*--verify"):
        TripletDataset(ds, progress=False).load_batch([3])
    capsys.readouterr()
    assert main(["train", str(ds), "--out", str(tmp_path / "m.pt"), "--epochs", "1", "--device", "cpu",
                 "--quiet", "--batch-size", "2"]) == 1
    assert "shard-00001.npy" in _err(capsys)
    assert main(_argv(composited_root, ds, "--verify")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("damaged train triplets 2-3 (2): shard ") and "shard-00001.npy" in out[0]
    assert out[0].endswith("truncated: 500 of 18560 bytes); its shard removed, to be written again")
    assert out[1] == f"verified {ds}: 2 damaged triplet(s) rewritten"
    assert files_of(ds) == good
    # one altered byte: its triplet's checksum
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert verify_dataset(ds, repair=True)["train"] == {3: f"shard {str(shard)!r} row of triplet 3 does not match "
                                                           f"its checksum"}
    assert main(_argv(composited_root, ds)) == 0 and files_of(ds) == good
    # an unreadable index: the triplets of its shard
    (ds / "train" / "shard-00002.json").write_text("{not json")
    assert main(_argv(composited_root, ds)) == 1
    err = _err(capsys)
    assert "shard index" in err and "shard-00002.json" in err and "--verify" in err
    assert main(_argv(composited_root, ds, "--verify")) == 0
    assert capsys.readouterr().out.startswith("damaged train triplet 4: shard index ")
    assert files_of(ds) == good


def test_resume_after_interruption_writes_the_same_shards(pair, composited_root, tmp_path, monkeypatch):
    from convml_tt.data.dataset import writer

    good = files_of(pair[1])
    ds = tmp_path / "ds"
    real = writer.write_triplet_meta

    def stop_at_3(out, meta):
        if meta.id == 3:
            raise KeyboardInterrupt
        return real(out, meta)

    monkeypatch.setattr(writer, "write_triplet_meta", stop_at_3)
    assert main(_argv(composited_root, ds, *PACKED)) == 130  # as Ctrl-C
    monkeypatch.undo()
    left = sorted(p.name for p in (ds / "train").iterdir())
    assert left == ["00000_meta.yaml", "00000_tiles.npy", "00001_meta.yaml", "00001_tiles.npy",
                    "00002_meta.yaml", "00002_tiles.npy", "00003_tiles.npy"]
    assert list_triplets(ds) == [0, 1, 2]
    assert main(_argv(composited_root, ds)) == 0  # --format left out: the dataset's own
    assert files_of(ds) == good
    # killed between a shard's index and the removal of its pieces, and in the middle of the last shard
    stage = PackedStage(ds / "train")
    for i in (0, 1, 4):
        write_piece(ds / "train", i, np.array(stage.triplet(i)).transpose(0, 2, 3, 1))
    for name in ("shard-00002.npy", "shard-00002.json"):
        (ds / "train" / name).unlink()
    (ds / "train" / ".shard-00002.npy.x1.tmp").write_bytes(b"junk")
    assert main(_argv(composited_root, ds)) == 0
    assert files_of(ds) == good


def test_bad_input_is_one_line(pair, composited_root, tmp_path, capsys):
    png, packed = pair
    capsys.readouterr()
    assert main(_argv(composited_root, png, "--format", "packed")) == 1
    assert f"convml_tt pack {png} --out {png}-packed" in _err(capsys)
    assert main(_argv(composited_root, packed, "--format", "png")) == 1
    assert "--format png" in _err(capsys)
    assert main(_argv(composited_root, packed, "--shard-size", "3")) == 1
    assert "shards of 2 triplets, not 3" in _err(capsys)
    assert main(["pack", str(packed), "--out", str(tmp_path / "x"), "--quiet"]) == 1
    assert "already a packed dataset" in _err(capsys)
    assert main(["pack", str(png), "--out", str(packed), "--quiet"]) == 1
    assert "is not empty" in _err(capsys)
    assert main(["pack", str(tmp_path / "nothing"), "--out", str(tmp_path / "y")]) == 1
    assert "does not exist" in _err(capsys)
    broken = tmp_path / "broken"
    shutil.copytree(packed, broken)
    (broken / "train" / "shard-00000.json").write_text("{not json")
    assert main(["pack", str(broken), "--out", str(tmp_path / "z"), "--format", "png", "--quiet"]) == 1
    assert "shard index" in (err := _err(capsys)) and "shard-00000.json" in err and "--verify" in err
