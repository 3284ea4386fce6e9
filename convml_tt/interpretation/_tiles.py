"""Reading tile PNGs and their metadata from a triplet dataset folder (no torch).

Layout (DESIGN.md): ``{dataset}/{train,study}/{id:05d}_{anchor,neighbor,distant}.png``
and optionally ``{id:05d}_meta.yaml``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

TILE_TYPES = ("anchor", "neighbor", "distant")
_NAME = re.compile(r"^(\d{5,})_(anchor|neighbor|distant)\.png$")


def list_tile_ids(dataset_path: str | Path, stage: str, tile_type: str = "anchor") -> list[int]:
    """Sorted ids of the tiles of one type in ``{dataset_path}/{stage}``."""
    folder = Path(dataset_path) / stage
    if not folder.is_dir():
        raise FileNotFoundError(
            f"stage folder {folder} does not exist; a dataset folder holds train/ and study/ subfolders"
        )
    if tile_type not in TILE_TYPES:
        raise ValueError(f"tile_type must be one of {TILE_TYPES}, got {tile_type!r}")
    ids = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and m.group(2) == tile_type:
            ids.append(int(m.group(1)))
    if not ids:
        raise FileNotFoundError(f"no {tile_type} tiles (#####_{tile_type}.png) in {folder}")
    return sorted(ids)


def tile_path(dataset_path: str | Path, stage: str, tile_id: int, tile_type: str) -> Path:
    return Path(dataset_path) / stage / f"{int(tile_id):05d}_{tile_type}.png"


def read_tile(dataset_path: str | Path, stage: str, tile_id: int, tile_type: str) -> np.ndarray:
    """One tile as uint8 (ny, nx, channels)."""
    from PIL import Image

    p = tile_path(dataset_path, stage, tile_id, tile_type)
    if not p.exists():
        raise FileNotFoundError(f"tile image {p} not found")
    with Image.open(p) as im:
        a = np.asarray(im)
    if a.ndim == 2:
        a = a[:, :, None]
    return a


def read_meta(dataset_path: str | Path, stage: str, tile_id: int) -> dict | None:
    """The per-triplet metadata dict, or None when the file is absent
    (datasets written by earlier convml_tt versions)."""
    import yaml

    p = Path(dataset_path) / stage / f"{int(tile_id):05d}_meta.yaml"
    if not p.exists():
        return None
    with open(p) as f:
        return yaml.safe_load(f) or {}
