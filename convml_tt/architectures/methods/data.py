"""The training tiles a method's samples are made of, and what a folder must hold for it.

- ``"triplet"`` methods need complete triplets: ``{id:05d}_anchor.png``,
  ``_neighbor.png``, ``_distant.png`` (``convml_tt triplets``);
- ``"views"`` methods need tiles: every tile of a triplet folder is one
  (3 per triplet), and a folder of single tiles (``{id:05d}_anchor.png``
  only) serves as well.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ...data.dataset.format import scan_stage
from ...data.dataset.torch import TileDataset, TripletDataset, TripletSubset, _check_shapes, find_stage_folder

__all__ = ["SingleTileDataset", "open_training_tiles"]


class SingleTileDataset(TileDataset):
    """The tiles of a stage folder that holds single tiles (``{id:05d}_anchor.png`` only); batches
    ``(B, C, H, W)``."""

    def __init__(self, stage_dir: Path, stage: str = "train", preload: bool = False) -> None:
        self.stage, self.tile_type, self.stage_dir = stage, "anchor", Path(stage_dir)
        found = {i: m["anchor"] for i, m in scan_stage(self.stage_dir).items() if "anchor" in m}
        self.ids = sorted(found)
        self._paths = [found[i] for i in self.ids]
        self.tile_shape = _check_shapes(self._paths, f"stage folder {str(self.stage_dir)!r}")
        self.tiles = None
        if preload:
            self.preload()

    def preload(self, progress: bool = True) -> "SingleTileDataset":
        if self.tiles is None:
            self.tiles = torch.stack([self[i] for i in range(len(self))])
        return self

    def to(self, device) -> "SingleTileDataset":
        self.preload(progress=False)
        self.tiles = self.tiles.to(device)
        return self

    def pin_memory(self) -> "SingleTileDataset":
        return self

    def load_batch(self, indices: Sequence[int]) -> torch.Tensor:
        if self.tiles is not None:
            idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.tiles.device)
            return self.tiles.index_select(0, idx)
        return super().load_batch(indices)

    def subset(self, indices: Sequence[int]) -> TripletSubset:
        return TripletSubset(self, indices)  # the same interface: load_batch and the parent's attributes


def open_training_tiles(path: str | Path, method, stage: str = "train", skip_incomplete: bool = False,
                        preload: bool = False, progress: bool = True):
    """The dataset ``method`` trains on from the folder ``path``: a :class:`TripletDataset`, or for
    view methods on a folder of single tiles a :class:`SingleTileDataset`. A folder that does not fit
    the method is a ``ValueError`` saying what the method needs and how to make it."""
    stage_dir = find_stage_folder(path, stage)
    found = scan_stage(stage_dir)
    singles = bool(found) and not any("neighbor" in m or "distant" in m for m in found.values())
    if singles and method.sample == "triplet":
        raise ValueError(
            f"method {method.name!r} trains on triplets (anchor, neighbour, distant tile) but "
            f"{str(stage_dir)!r} holds single tiles only ({len(found)} *_anchor.png, no *_neighbor.png or "
            f"*_distant.png); make a triplet dataset with `convml_tt triplets`, or train a method of "
            f"augmented views on these tiles (--method simclr, vicreg, byol or barlow)")
    if singles:
        return SingleTileDataset(stage_dir, stage=stage, preload=bool(preload))
    return TripletDataset(path, stage=stage, skip_incomplete=skip_incomplete, preload=bool(preload),
                          progress=progress)
