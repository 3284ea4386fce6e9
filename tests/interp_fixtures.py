"""Fixtures for the interpretation tests: a small triplet dataset folder with
three visually distinct "regimes" and metadata written through
``convml_tt.data.dataset.format`` (as the dataset writer does), and a tiny resnet18 encoder model file.

Imported by tests/test_interpretation.py and tests/test_plots.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convml_tt.data.dataset.format import TileMeta, TripletMeta, tile_name, write_triplet_meta

N_STUDY = 24
N_TRAIN = 6
TILE_PX = 32
#: the model identity (hex SHA-256) the ``clustered`` embeddings record, as get_embeddings does
CLUSTERED_SHA = "c" * 64
#: names the regime labeler would record for regimes 0, 1, 2
REGIME_NAMES = ("clear", "sugar", "gravel")


def regime_tile(rng: np.random.Generator, regime: int, size: int = TILE_PX, channels: int = 3) -> np.ndarray:
    """uint8 (size, size, channels) tile: 0 dark and smooth, 1 blocky bright
    cells, 2 fine bright noise."""
    if regime == 0:
        a = 0.08 + 0.08 * rng.random((size, size))
    elif regime == 1:
        a = np.kron(rng.random((4, 4)), np.ones((size // 4, size // 4))) * 0.9
    else:
        a = 0.35 + 0.6 * rng.random((size, size))
    rgb = np.stack([a, 0.95 * a, 0.85 * a, a], axis=-1)[:, :, :channels]
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def write_regime_dataset(root: Path, n_study: int = N_STUDY, n_train: int = N_TRAIN, channels: int = 3,
                         with_meta: bool = True, seed: int = 0) -> Path:
    """Triplet dataset whose anchor/neighbour share a regime (id % 3) and
    whose distant tile is of the next regime."""
    rng = np.random.default_rng(seed)
    for stage, n in (("train", n_train), ("study", n_study)):
        d = root / stage
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            r = i % 3
            meta = TripletMeta(id=i, stage=stage, tile_size_m=50000.0, tile_pixels=TILE_PX)
            for kind, rr in (("anchor", r), ("neighbor", r), ("distant", (r + 1) % 3)):
                arr = regime_tile(rng, rr, channels=channels)
                Image.fromarray(arr[:, :, 0] if channels == 1 else arr).save(d / tile_name(i, kind))
                setattr(meta, kind, TileMeta(
                    lat=round(10.0 + 0.25 * i, 6),
                    lon=-50.0 + (0.5 if kind == "distant" else 0.0),
                    time="2020-01-02T14:00:00",
                    satellite=16,
                    source_files=["OR_ABI-L1b-RadF-M6C01_G16_s20200021400000.nc"],
                    labels={"regime": rr, "regime_name": REGIME_NAMES[rr]},
                ))
            if with_meta:
                write_triplet_meta(root, meta)
    return root


@pytest.fixture(scope="session")
def regime_dataset(tmp_path_factory) -> Path:
    return write_regime_dataset(tmp_path_factory.mktemp("interp") / "dataset")


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """A resnet18 encoder (emb_dim 8, random weights, seed 0) saved as a model file."""
    import torch

    from convml_tt.architectures import TripletEncoder, save_model

    torch.manual_seed(0)
    enc = TripletEncoder("resnet18", n_input_channels=3, emb_dim=8, head="linear", dropout=0.0,
                         config={"normalization": {"kind": "dataset", "mean": [0.4] * 3, "std": [0.25] * 3},
                                 "tile_pixels": TILE_PX})
    return save_model(enc, tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="session")
def embeddings(regime_dataset, tiny_model_file):
    from convml_tt.interpretation.embeddings import get_embeddings

    return get_embeddings(tiny_model_file, regime_dataset, stage="study", tile_type="anchor", batch_size=16,
                          device="cpu", progress=False)


@pytest.fixture(scope="session")
def clustered(regime_dataset):
    """Perfectly clustered embeddings (one tight blob per regime) over the
    study tiles of ``regime_dataset``, with the attributes get_embeddings sets."""
    import xarray as xr

    rng = np.random.default_rng(1)
    ids = np.arange(N_STUDY)
    regime = ids % 3
    centres = np.array([[0.0, 0.0, 0.0, 0.0], [6.0, 0.0, 1.0, 0.0], [0.0, 6.0, 0.0, 1.0]])
    x = centres[regime] + 0.3 * rng.standard_normal((N_STUDY, 4))
    names = np.array(["clear", "sugar", "gravel"])[regime]
    return xr.DataArray(
        x.astype(np.float32), dims=("tile_id", "emb_dim"),
        coords={"tile_id": ids, "emb_dim": np.arange(4), "regime": ("tile_id", regime),
                "regime_name": ("tile_id", names), "stage": ("tile_id", np.full(N_STUDY, "study"))},
        attrs={"dataset_path": str(regime_dataset.resolve()), "stage": "study", "tile_type": "anchor",
               "model_path": "", "model_sha256": CLUSTERED_SHA, "model_config": "{}"},
        name="embedding",
    )


@pytest.fixture(scope="session")
def embeddings_all(regime_dataset, tiny_model_file):
    """Embeddings of all three tile types of the study stage."""
    from convml_tt.interpretation.embeddings import get_embeddings

    return get_embeddings(tiny_model_file, regime_dataset, tile_type="all", batch_size=32, device="cpu",
                          progress=False)
