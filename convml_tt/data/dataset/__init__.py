"""The triplet dataset folder: its format, its writer and its torch datasets.

- :mod:`.format`: the one definition of the folder (names, ids, metadata,
  completeness, reading and writing metadata; no torch);
- :mod:`.writer`: :func:`make_triplets` (sampling into the folder, worker
  processes, resume);
- :mod:`.packed`: the packed layout (uint8 shards that loaders memory-map,
  ``convml_tt triplets --format packed``); :mod:`.convert`:
  :func:`convert_dataset` between the layouts (``convml_tt pack``);
- :mod:`.torch`: :class:`TripletDataset`, :class:`TileDataset` (the only
  module of :mod:`convml_tt.data` that imports torch; loaded on first use of
  one of its names).
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    **{name: "format" for name in ("TILE_TYPES", "STAGES", "TripletMeta", "TileMeta", "list_triplets",
                                   "read_triplet_meta", "read_dataset_meta", "is_complete", "tile_name",
                                   "meta_name")},
    "make_triplets": "writer",
    "convert_dataset": "convert",
    "plot_triplets": "plot",
    **{name: "torch" for name in ("TripletDataset", "TileDataset", "TripletSubset", "dataset_stats",
                                  "IMAGENET_MEAN", "IMAGENET_STD", "find_stage_folder", "read_tile")},
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
