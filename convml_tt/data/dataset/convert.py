"""Converting a triplet dataset between its two layouts: :func:`convert_dataset`.

A PNG folder (the default and exchange format) becomes a packed dataset
(uint8 shards that loaders memory-map, :mod:`.packed`) and back. The tiles'
bytes are copied, not changed: a packed dataset converted from a PNG folder
is byte for byte the one ``convml_tt triplets --format packed`` writes with
the same settings, and its PNGs converted back are those the writer wrote.
Per-triplet ``_meta.yaml`` files are copied; the dataset's ``meta.yaml``
gains (or loses) ``layout: packed`` and ``shard_size``. The source folder
is only read. A conversion that was stopped resumes into the same ``out``
(finished shards and triplets are kept): its ``meta.yaml`` says ``status:
incomplete`` until the last file is written.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..._io import check_writable_folder, remove_stale_temps, write_bytes
from .format import (STAGES, TILE_TYPES, incomplete_triplets, list_triplets, meta_name, read_dataset_meta,
                     read_tile_array, tile_name, write_dataset_meta)
from .packed import DEFAULT_SHARD_SIZE, LAYOUTS, PackedStage, dataset_layout, index_name, shard_size_of, write_shard
from .png import write_png

__all__ = ["convert_dataset"]


def convert_dataset(src: str | os.PathLike, out: str | os.PathLike, layout: str = "packed",
                    shard_size: int | None = None, progress: bool = True) -> Path:
    """Write the triplet dataset ``src`` into ``out`` in ``layout`` (``"packed"``:
    shards of ``shard_size`` triplets, default 256; ``"png"``: a PNG per tile).

    ``out`` must be new, empty, or a stopped conversion of the same ``src``.
    Every triplet of ``src`` must be complete (an incomplete one is refused,
    naming its missing files). Returns ``out``.
    """
    src, out = Path(src), Path(out)
    if layout not in LAYOUTS:
        raise ValueError(f"format {layout!r} is not one of {LAYOUTS}")
    have = dataset_layout(src)
    if have is None:
        raise ValueError(f"{src} holds no triplet dataset (train/ or study/ folders of triplets); give a folder "
                         f"written by `convml_tt triplets`")
    if have == layout:
        other = "png" if layout == "packed" else "packed"
        raise ValueError(f"{src} is already a {layout} dataset; nothing to convert (--format {other} converts "
                         f"it the other way)")
    if layout == "png" and shard_size is not None:
        raise ValueError("--shard-size is for --format packed")
    size = int(shard_size) if shard_size is not None else (shard_size_of(src) if have == "packed"
                                                           else DEFAULT_SHARD_SIZE)
    if size < 1:
        raise ValueError(f"shard size must be at least 1 triplet, got {size}")
    for s in STAGES:
        missing = incomplete_triplets(src / s) if (src / s).is_dir() else {}
        if missing:
            first = next(iter(missing.values()))[0]
            raise ValueError(f"{src / s} has {len(missing)} incomplete triplet(s) (e.g. {str(first)!r} is "
                             f"missing); complete them with `convml_tt triplets` and the dataset's settings "
                             f"(or remove them) before converting")
    meta = _out_meta(read_dataset_meta(src), layout, size)
    _check_out(src, out, meta)
    check_writable_folder(out, "the converted dataset", "choose a writable --out folder")
    if meta is not None:
        write_dataset_meta(out, {**meta, "status": "incomplete"})
    from tqdm.auto import tqdm

    for s in STAGES:
        ids = list_triplets(src, s)
        if not (src / s).is_dir():
            continue
        (out / s).mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out / s)
        bar = tqdm(total=len(ids), desc=f"{'packing' if layout == 'packed' else 'unpacking'} {s}",
                   unit="triplet", disable=not progress, leave=False)
        if layout == "packed":
            _pack_stage(src / s, out / s, ids, size, bar)
        else:
            _unpack_stage(src / s, out / s, ids, bar)
        bar.close()
    if meta is not None:
        write_dataset_meta(out, meta)
    return out


def _out_meta(meta: dict | None, layout: str, size: int) -> dict | None:
    """The ``meta.yaml`` of the converted dataset (keys in the writer's order)."""
    if meta is None:
        return None
    status = meta.get("status", "complete")
    kept = {k: v for k, v in meta.items() if k not in ("layout", "shard_size", "status")}
    return {**kept, **({"layout": "packed", "shard_size": size} if layout == "packed" else {}), "status": status}


def _check_out(src: Path, out: Path, meta: dict | None) -> None:
    if out.exists() and src.resolve() == out.resolve():
        raise ValueError(f"--out {out} is the dataset itself; give a new folder (the converted copy is written "
                         f"there and {src} stays)")
    if not out.is_dir() or not any(out.iterdir()):
        return
    old = read_dataset_meta(out) if meta is not None else None
    strip = (lambda d: {k: v for k, v in d.items() if k != "status"})  # noqa: E731
    if old is None or strip(old) != strip(meta):
        raise ValueError(f"--out {out} is not empty (and not a stopped conversion of {src}); choose a new "
                         f"folder or delete it")


def _copy_meta(src: Path, out: Path, i: int) -> None:
    if (src / meta_name(i)).exists():
        write_bytes(out / meta_name(i), (src / meta_name(i)).read_bytes(), mkdir=False)


def _pack_stage(src: Path, out: Path, ids: list[int], size: int, bar) -> None:
    """Shard ``k`` of ``out``: the triplets ``ids`` with ``k * size <= id < (k + 1) * size``."""
    groups: dict[int, list[int]] = {}
    for i in ids:
        groups.setdefault(i // size, []).append(i)
    for k, group in sorted(groups.items()):
        if not (out / index_name(k)).exists():  # else packed by a conversion that was stopped
            first = read_tile_array(src / tile_name(group[0], "anchor"))
            write_shard(out, k, group, (first.shape[2], *first.shape[:2]), _decoded(src, group))
        for i in group:
            _copy_meta(src, out, i)
        bar.update(len(group))


def _decoded(src: Path, ids: list[int]) -> Iterator[np.ndarray]:
    """Each triplet's three PNGs, decoded, as uint8 ``(3, C, H, W)`` (a shard checks their shapes)."""
    for i in ids:
        tiles = [read_tile_array(src / tile_name(i, t)) for t in TILE_TYPES]
        if len({a.shape for a in tiles}) > 1:
            raise ValueError(f"triplet {i} of {src} mixes tile shapes {[a.shape for a in tiles]}; all tiles of a "
                             f"stage must match")
        yield np.stack([a.transpose(2, 0, 1) for a in tiles])


def _unpack_stage(src: Path, out: Path, ids: list[int], bar) -> None:
    """Each triplet's three PNGs (the writer's encoder) and then its ``_meta.yaml``."""
    packed = PackedStage(src)
    done = set(list_triplets(out.parent, out.name))
    for i in ids:
        if i not in done:
            tri = packed.triplet(i)
            for j, t in enumerate(TILE_TYPES):
                write_png(out / tile_name(i, t), tri[j].transpose(1, 2, 0))
            _copy_meta(src, out, i)
        bar.update(1)
