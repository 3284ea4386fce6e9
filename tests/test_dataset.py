"""Triplet/tile datasets over dataset folders, and batch augmentation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from convml_tt.architectures.transforms import TileAugment, TripletBatchTransform
from convml_tt.data.dataset import TileDataset, TripletDataset, dataset_stats, read_tile
from triplet_fixtures import write_toy_triplets

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def toy_ds(tmp_path_factory):
    return write_toy_triplets(tmp_path_factory.mktemp("toy") / "ds", n_train=10, n_study=4, size=16)


def test_reads_folder_with_metadata(toy_ds):
    ds = TripletDataset(toy_ds, stage="train")
    assert len(ds) == 10 and ds.ids == list(range(10))
    assert ds.tile_shape == (3, 16, 16) and ds.n_channels == 3 and ds.tile_shape[1:] == (16, 16)
    a, n, d = ds[0]
    assert a.dtype == torch.uint8 and a.shape == (3, 16, 16)
    assert torch.equal(a, read_tile(toy_ds / "train" / "00000_anchor.png"))
    assert ds.has_meta and ds.meta(3).id == 3
    # a stage folder can be given directly; study stage
    assert len(TripletDataset(toy_ds / "study", stage="study")) == 4
    assert len(TripletDataset(toy_ds / "train")) == 10


def test_old_format_folder_without_metadata(tmp_path):
    root = write_toy_triplets(tmp_path / "old", n_train=3, size=16, with_meta=False)
    ds = TripletDataset(root)
    assert len(ds) == 3 and not ds.has_meta and ds.meta(0) is None
    tiles = TileDataset(root, tile_type="distant")
    assert len(tiles) == 3 and tiles.meta(0) is None and tiles[1].shape == (3, 16, 16)


def test_preload_matches_lazy_and_is_uint8(toy_ds):
    lazy = TripletDataset(toy_ds)
    pre = TripletDataset(toy_ds, preload=True, progress=False)
    assert pre.tiles.dtype == torch.uint8 and pre.tiles.shape == (10, 3, 3, 16, 16)
    assert torch.equal(lazy.load_batch([4, 1, 7]), pre.load_batch([4, 1, 7]))
    sub = pre.subset([2, 5])
    assert len(sub) == 2 and torch.equal(sub.load_batch([1])[0], pre.load_batch([5])[0])


def test_incomplete_triplet_error_names_files_or_skips(tmp_path):
    root = write_toy_triplets(tmp_path / "ds", n_train=4, size=16)
    (root / "train" / "00002_neighbor.png").unlink()
    with pytest.raises(ValueError, match="00002_neighbor.png"):
        TripletDataset(root)
    with pytest.warns(UserWarning, match="incomplete"):
        ds = TripletDataset(root, skip_incomplete=True)
    assert ds.ids == [0, 1, 3]


def test_empty_and_missing_stage_folders(tmp_path):
    (tmp_path / "ds" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no triplet tiles"):
        TripletDataset(tmp_path / "ds")
    with pytest.raises(FileNotFoundError, match="no 'study' stage"):
        TripletDataset(tmp_path / "ds", stage="study")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TripletDataset(tmp_path / "nowhere")


def test_mixed_tile_sizes_and_channel_counts(tmp_path):
    root = write_toy_triplets(tmp_path / "sizes", n_train=3, size=16)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "train" / "00001_distant.png")
    with pytest.raises(ValueError, match=r"mixes tile sizes.*00001_distant.png"):
        TripletDataset(root)
    root = write_toy_triplets(tmp_path / "chans", n_train=3, size=16)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "train" / "00002_anchor.png")
    with pytest.raises(ValueError, match=r"channel counts.*00002_anchor.png"):
        TripletDataset(root)


@pytest.mark.parametrize("channels", [1, 4])
def test_other_channel_counts(tmp_path, channels):
    root = write_toy_triplets(tmp_path / "c", n_train=2, size=16, channels=channels)
    ds = TripletDataset(root)
    assert ds.n_channels == channels and ds[1][2].shape == (channels, 16, 16)
    mean, std = dataset_stats(ds)
    assert len(mean) == len(std) == channels


def test_augment_is_seeded_and_only_permutes_pixels():
    x = torch.rand(12, 3, 8, 8)
    aug = TileAugment()
    y1 = aug(x, torch.Generator().manual_seed(3))
    y2 = aug(x, torch.Generator().manual_seed(3))
    y3 = aug(x, torch.Generator().manual_seed(4))
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    # dihedral transforms keep each image's pixel values
    assert torch.equal(y1.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    # each output is one of the 8 dihedral transforms of its input
    for i in range(len(x)):
        cands = [torch.rot90(t, k, (-2, -1)) for t in (x[i], x[i].flip(-1)) for k in range(4)]
        assert any(torch.equal(y1[i], c) for c in cands)
    # non-square tiles keep their shape; jitter stays in [0, 1]
    z = TileAugment(jitter=0.1)(torch.rand(6, 2, 4, 8), torch.Generator().manual_seed(0))
    assert z.shape == (6, 2, 4, 8) and z.min() >= 0 and z.max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_augment_identical_on_cpu_and_gpu():  # pragma: no cover - GPU only
    tf = TripletBatchTransform([0.5] * 3, [0.25] * 3, augment=TileAugment())
    b = torch.randint(0, 256, (4, 3, 3, 16, 16), dtype=torch.uint8)
    cpu = tf(b, torch.Generator().manual_seed(1))
    gpu = tf(b.cuda(), torch.Generator().manual_seed(1))
    for c, g in zip(cpu, gpu):
        torch.testing.assert_close(c, g.cpu())


def test_batch_transform_shapes_and_normalisation():
    tf = TripletBatchTransform([0.5, 0.5], [0.5, 0.5], augment=None, tile_pixels=8)
    b = torch.full((5, 3, 2, 16, 16), 255, dtype=torch.uint8)
    a, n, d, y = tf(b)
    assert a.shape == n.shape == d.shape == (5, 2, 8, 8) and y.shape == (5,)
    assert torch.allclose(a, torch.ones_like(a)) and not y.any()
    with pytest.raises(ValueError, match=r"\(B, 3, C, H, W\)"):
        tf(torch.zeros(5, 2, 16, 16, dtype=torch.uint8))


def test_unfinished_triplet_of_new_format_folder(tmp_path):
    """Folders with a dataset meta.yaml write each _meta.yaml last: without it a triplet is unfinished."""
    root = write_toy_triplets(tmp_path / "ds", n_train=3, size=16)
    (root / "meta.yaml").write_text("format: convml_tt-triplets/2\nstatus: incomplete\n")
    (root / "train" / "00001_meta.yaml").unlink()
    with pytest.raises(ValueError, match="00001_meta.yaml"):
        TripletDataset(root)
    with pytest.warns(UserWarning):
        assert TripletDataset(root, skip_incomplete=True).ids == [0, 2]
