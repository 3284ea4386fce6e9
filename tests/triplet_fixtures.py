"""Tiny, learnable triplet dataset folders for the dataset and training tests.

Two texture classes, each invariant under flips and 90 degree rotations so
that augmentation does not mix them up:

* class 0: smooth, bright, reddish blobs;
* class 1: fine-grained, darker, bluish noise.

Anchor and neighbour of a triplet come from one class (drawn at random), the
distant tile from the other, so an encoder can learn to separate them in a
few dozen steps.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from convml_tt.data.dataset.format import TileMeta, TripletMeta, tile_name, write_triplet_meta

_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def toy_tile(rng: np.random.Generator, cls: int, size: int = 32, channels: int = 3) -> np.ndarray:
    """One ``uint8`` tile ``(size, size, channels)`` of texture class ``cls`` (0 or 1)."""
    if cls == 0:
        coarse = rng.random((4, 4))
        img = np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1)))[:size, :size]
        base = 0.55 + 0.35 * img
        tint = np.array([1.0, 0.75, 0.55, 1.0])
    else:
        base = 0.15 + 0.4 * rng.random((size, size))
        tint = np.array([0.55, 0.75, 1.0, 1.0])
    tint = tint[:channels] if channels <= 4 else np.ones(channels)
    out = base[:, :, None] * tint[None, None, :] + 0.03 * rng.standard_normal((size, size, channels))
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def _save(arr: np.ndarray, path: Path) -> None:
    c = arr.shape[2]
    Image.fromarray(arr[:, :, 0] if c == 1 else arr).save(path)


def write_toy_triplets(
    root: str | Path,
    n_train: int = 24,
    n_study: int = 0,
    size: int = 32,
    channels: int = 3,
    with_meta: bool = True,
    seed: int = 0,
) -> Path:
    """Write a toy triplet dataset folder at ``root`` and return its path.

    Layout: ``{root}/{train,study}/{id:05d}_{anchor,neighbor,distant}.png``
    plus ``{id:05d}_meta.yaml`` when ``with_meta`` (older convml_tt folders
    have none).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for stage, n in (("train", n_train), ("study", n_study)):
        if n == 0:
            continue
        d = root / stage
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cls = int(rng.integers(0, 2))
            tiles = {
                "anchor": toy_tile(rng, cls, size, channels),
                "neighbor": toy_tile(rng, cls, size, channels),
                "distant": toy_tile(rng, 1 - cls, size, channels),
            }
            for kind, arr in tiles.items():
                _save(arr, d / tile_name(i, kind))
            if with_meta:
                write_triplet_meta(root, TripletMeta(
                    id=i, stage=stage, tile_size_m=200000.0, tile_pixels=size,
                    anchor=TileMeta(labels={"class": cls}), neighbor=TileMeta(labels={"class": cls}),
                    distant=TileMeta(labels={"class": 1 - cls}),
                ))
    return root
