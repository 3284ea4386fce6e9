"""The packed tile store: a triplet dataset whose tiles are uint8 shards a loader memory-maps.

A PNG folder costs a training loader worker ~5 ms of CPU per 256 px RGB
triplet in PNG decoding (bench/decode.py), too much to feed a GPU from a
node's cores; a packed stage holds the same bytes undecoded, so reading a
triplet is one copy out of the page cache. The PNG folder stays the default
and the exchange format; ``convml_tt pack`` converts either way, and the
torch datasets (:mod:`.torch`) read both layouts alike.

Layout of a packed dataset (the rest as in :mod:`.format`)::

    {dataset}/meta.yaml                   as a PNG dataset's, plus ``layout: packed`` and
                                          ``shard_size`` (triplets per shard, S)
    {dataset}/{stage}/shard-{k:05d}.npy   uint8 array (n, 3, C, H, W) in NumPy's .npy format
                                          (no pickled objects): row j is triplet ids[j], axis 1
                                          anchor, neighbor, distant; the triplets with
                                          k * S <= id < (k + 1) * S, in id order
    {dataset}/{stage}/shard-{k:05d}.json  its index: ids, shape, file size in bytes and the
                                          CRC-32 of each row; written after the shard, so a
                                          shard without it is not there yet
    {dataset}/{stage}/{id:05d}_meta.yaml  one TripletMeta, as in a PNG folder
    {dataset}/{stage}/{id:05d}_tiles.npy  while writing: one triplet (3, C, H, W) not yet packed

A triplet is complete when its tiles (a shard row, or its ``_tiles.npy``)
and, in a folder with a dataset ``meta.yaml``, its ``_meta.yaml`` exist:
the one rule of the PNG folder. The writer writes each triplet's tiles, then
its ``_meta.yaml`` (the completion marker), and packs the triplets of each
shard once all are written (shard, then index, then the pieces removed):
which triplets went into which shard depends only on the ids, so a resumed
run writes the same shards as an uninterrupted one. Every file is written
atomically; a truncated or altered shard is found by its size and checksums
(:func:`damaged_packed`, ``convml_tt triplets --verify``).

No torch here: :class:`PackedStage` hands out numpy views.
"""
from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..._io import atomic_path, write_bytes
from .format import DATASET_META, STAGES, TILE_TYPES, meta_name, read_dataset_meta, read_tile_array, tile_name

__all__ = ["LAYOUTS", "DEFAULT_SHARD_SIZE", "SHARD_FORMAT", "shard_name", "index_name", "piece_name",
           "is_packed_stage", "dataset_layout", "PackedStage", "write_piece", "write_shard",
           "pack_pieces", "damaged_packed", "remove_shards", "shard_size_of", "resolve_layout", "read_dataset_tile"]

#: the two layouts of a triplet dataset
LAYOUTS = ("png", "packed")
#: triplets per shard unless asked otherwise (256 px RGB: 151 MB per shard)
DEFAULT_SHARD_SIZE = 256
#: the ``format`` of a shard's index
SHARD_FORMAT = "convml_tt-shard/1"
_INDEX_RE = re.compile(r"^shard-(\d+)\.json$")
_PIECE_RE = re.compile(r"^(\d+)_tiles\.npy$")
_REMEDY = ("re-run `convml_tt triplets` with the dataset's settings and --verify to rewrite it, or "
           "`convml_tt pack` the PNG folder again")


def shard_name(k: int) -> str:
    """File name of shard ``k``: ``shard-{k:05d}.npy``."""
    return f"shard-{int(k):05d}.npy"


def index_name(k: int) -> str:
    """File name of shard ``k``'s index: ``shard-{k:05d}.json``."""
    return f"shard-{int(k):05d}.json"


def piece_name(idx: int) -> str:
    """File name of one triplet written but not yet packed: ``{id:05d}_tiles.npy``."""
    return f"{int(idx):05d}_tiles.npy"


def is_packed_stage(stage_dir: str | os.PathLike) -> bool:
    """Whether a stage folder is packed: its dataset's ``meta.yaml`` says
    ``layout: packed``, or it holds shard indexes or unpacked pieces."""
    stage_dir = Path(stage_dir)
    try:
        meta = read_dataset_meta(stage_dir.parent)
    except (OSError, ValueError):
        meta = None
    if isinstance(meta, dict) and meta.get("layout") in LAYOUTS:
        return meta["layout"] == "packed"
    if not stage_dir.is_dir():
        return False
    return any(True for _ in stage_dir.glob("shard-*.json")) or any(True for _ in stage_dir.glob("*_tiles.npy"))


def dataset_layout(dataset: str | os.PathLike) -> str | None:
    """``"packed"`` or ``"png"`` for a folder holding triplets of that layout, None
    for a folder with no triplet (or no folder)."""
    dataset = Path(dataset)
    for s in STAGES:
        if is_packed_stage(dataset / s):
            return "packed"
    if any(True for s in STAGES for _ in (dataset / s).glob("*_anchor.png")):
        return "png"
    return None


def shard_size_of(dataset: str | os.PathLike) -> int:
    """Triplets per shard of a dataset (its ``meta.yaml``'s ``shard_size``, else the default)."""
    meta = read_dataset_meta(dataset) or {}
    s = meta.get("shard_size")
    return int(s) if isinstance(s, int) and s > 0 else DEFAULT_SHARD_SIZE


# -----------------------------------------------------------------------------
# reading
# -----------------------------------------------------------------------------
def _read_index(path: Path) -> dict:
    """A shard index, checked; a one-line ``ValueError`` naming it otherwise."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        ok = (isinstance(d, dict) and d.get("format") == SHARD_FORMAT and d.get("dtype") == "uint8"
              and len(d["shape"]) == 5 and d["shape"][1] == 3 and len(d["ids"]) == d["shape"][0]
              == len(d["crc32"]) and isinstance(d["bytes"], int)
              and all(isinstance(v, int) for v in [*d["ids"], *d["crc32"], *d["shape"]]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"shard index {str(path)!r} is unreadable ({type(err).__name__}); {_REMEDY}") from None
    if not ok:
        raise ValueError(f"shard index {str(path)!r} is not a {SHARD_FORMAT} index; {_REMEDY}")
    return d


class PackedStage:
    """The triplets of one packed stage folder.

    ``found``: ``{id: {"tiles": shard or piece path, "meta": path}}`` (as
    :func:`~.format.scan_stage` for PNGs); ``tile_shape``: ``(C, H, W)`` of
    the first shard (:meth:`check_shapes` checks all); :meth:`triplet`:
    one triplet ``(3, C, H, W)`` as a read-only view of the memory-mapped
    file. Files are mapped on first use in each process (a copy sent to a
    loader worker maps them again, never pickling the data).
    """

    def __init__(self, stage_dir: str | os.PathLike, broken_ok: bool = False) -> None:
        self.stage_dir = Path(stage_dir)
        self.indexes: dict[Path, dict] = {}
        #: with ``broken_ok``: unreadable indexes (their shards left out) -> reason
        self.broken: dict[Path, str] = {}
        self.where: dict[int, tuple[Path, int | None]] = {}
        metas, pieces = set(), {}
        for p in sorted(self.stage_dir.iterdir()) if self.stage_dir.is_dir() else ():
            if _INDEX_RE.match(p.name):
                try:
                    self.indexes[p.with_suffix(".npy")] = _read_index(p)
                except ValueError as err:
                    if not broken_ok:
                        raise
                    self.broken[p] = str(err).split("; ")[0]
            elif _PIECE_RE.match(p.name):
                pieces[int(_PIECE_RE.match(p.name).group(1))] = p
            elif p.name.endswith("_meta.yaml") and p.name[:-10].isdigit():
                metas.add(int(p.name[:-10]))
        self.pieces: dict[int, Path] = pieces
        for i, p in pieces.items():
            self.where[i] = (p, None)
        for shard, d in self.indexes.items():  # a shard's row wins over a piece it already holds
            for row, i in enumerate(d["ids"]):
                self.where[int(i)] = (shard, row)
        self.found: dict[int, dict[str, Path]] = {}
        for i in sorted(set(self.where) | metas):
            m = self.found.setdefault(i, {})
            if i in self.where:
                m["tiles"] = self.where[i][0]
            if i in metas:
                m["meta"] = self.stage_dir / meta_name(i)
        self._maps: dict[Path, np.ndarray] = {}
        self.needs_meta = (self.stage_dir.parent / DATASET_META).exists()
        self.shard_size = shard_size_of(self.stage_dir.parent) if self.needs_meta else DEFAULT_SHARD_SIZE

    def missing(self, i: int) -> list[Path]:
        """What triplet ``i`` lacks to be complete (empty: complete)."""
        m = self.found.get(i, {})
        out = [] if "tiles" in m else [self.stage_dir / shard_name(i // self.shard_size)]
        if self.needs_meta and "meta" not in m:
            out.append(self.stage_dir / meta_name(i))
        return out

    def complete_ids(self) -> list[int]:
        return [i for i in self.found if not self.missing(i)]

    @property
    def tile_shape(self) -> tuple[int, int, int]:
        for d in self.indexes.values():
            return tuple(int(v) for v in d["shape"][2:])  # type: ignore[return-value]
        for path, _ in self.where.values():
            return tuple(self.array(path).shape[1:])  # type: ignore[return-value]
        raise ValueError(f"stage folder {str(self.stage_dir)!r} holds no packed triplet")

    def check_shapes(self, ids: Iterable[int]) -> tuple[int, int, int]:
        """The one ``(C, H, W)`` of the triplets ``ids``; a ``ValueError`` naming a file that differs."""
        want = self.tile_shape
        for path in {self.where[i][0] for i in ids}:
            shape = (tuple(self.indexes[path]["shape"][2:]) if path in self.indexes
                     else tuple(self.array(path).shape[1:]))
            if shape != want:
                raise ValueError(f"{str(path)!r} holds tiles of (channels, height, width)={shape} but the "
                                 f"stage's are {want}; all tiles of a stage must match")
        return want

    def array(self, path: Path) -> np.ndarray:
        """The memory-mapped array of a shard ``(n, 3, C, H, W)`` or a piece ``(3, C, H, W)``."""
        a = self._maps.get(path)
        if a is None:
            a = self._maps[path] = _open(path, self.indexes.get(path))
        return a

    def triplet(self, i: int) -> np.ndarray:
        """Triplet id ``i`` as a read-only ``uint8`` view ``(3, C, H, W)``."""
        path, row = self.where[i]
        a = self.array(path)
        return a if row is None else a[row]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": {}}


def _open(path: Path, index: dict | None) -> np.ndarray:
    """Memory-map a shard (checked against its index) or a piece; a one-line
    ``ValueError`` naming the file and the remedy when it is truncated or unreadable."""
    try:
        if index is not None and os.path.getsize(path) != index["bytes"]:
            raise ValueError(f"truncated: {os.path.getsize(path)} of {index['bytes']} bytes")
        a = np.load(path, mmap_mode="r", allow_pickle=False)
        want = tuple(index["shape"]) if index is not None else None
        if a.dtype != np.uint8 or a.ndim != (5 if index is not None else 4) or (want and a.shape != want):
            raise ValueError(f"holds {a.dtype} {a.shape}, expected uint8 {want or '(3, C, H, W)'}")
    except (OSError, ValueError, EOFError) as err:
        what = "shard" if index is not None else "triplet file"
        raise ValueError(f"{what} {str(path)!r} is not readable ({str(err).splitlines()[0]}); {_REMEDY}") from None
    return a


# -----------------------------------------------------------------------------
# writing
# -----------------------------------------------------------------------------
def write_piece(stage_dir: str | os.PathLike, idx: int, tiles: Iterable[np.ndarray]) -> Path:
    """Write one triplet's tiles (anchor, neighbor, distant, each uint8
    ``(H, W, C)`` or ``(H, W)``) as ``{id:05d}_tiles.npy`` ``(3, C, H, W)``, atomically."""
    arr = np.stack([np.asarray(t, np.uint8).reshape(t.shape[0], t.shape[1], -1).transpose(2, 0, 1)
                    for t in tiles])
    path = Path(stage_dir) / piece_name(idx)
    with atomic_path(path, mkdir=False) as tmp, open(tmp, "wb") as fh:  # a file: np.save would add ".npy"
        np.save(fh, arr, allow_pickle=False)
    return path


def write_shard(stage_dir: str | os.PathLike, k: int, ids: list[int], tile_shape: tuple[int, int, int],
                rows: Iterator[np.ndarray]) -> Path:
    """Write shard ``k`` of the triplets ``ids`` (``rows``: one uint8 ``(3,
    C, H, W)`` per id, in order) and then its index, each atomically."""
    stage_dir = Path(stage_dir)
    shape = (len(ids), 3, *map(int, tile_shape))
    path = stage_dir / shard_name(k)
    crcs = []
    with atomic_path(path, mkdir=False) as tmp:
        with open(tmp, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for i, row in zip(ids, rows):
                row = np.ascontiguousarray(row, np.uint8)
                if row.shape != shape[1:]:
                    raise ValueError(f"triplet {i} of {stage_dir} has tiles of (3, C, H, W)={row.shape}, "
                                     f"the stage's are {shape[1:]}; all tiles of a stage must match")
                fh.write(row.data)
                crcs.append(zlib.crc32(row.data))
            size = fh.tell()
    if len(crcs) != len(ids):
        raise ValueError(f"shard {path} got {len(crcs)} of its {len(ids)} triplets")
    index = {"format": SHARD_FORMAT, "dtype": "uint8", "shape": list(shape), "bytes": size,
             "ids": [int(i) for i in ids], "crc32": crcs}
    write_bytes(stage_dir / index_name(k), (json.dumps(index) + "\n").encode(), mkdir=False)
    return path


def pack_pieces(stage_dir: str | os.PathLike, shard_size: int) -> int:
    """Pack the written triplets (``{id:05d}_tiles.npy``) of a stage into
    shards of ``shard_size`` ids each (shard ``k``: ids ``k * shard_size``
    to ``(k + 1) * shard_size - 1``), then remove the pieces. Call it once
    every triplet of the stage is written. Returns the number of shards written."""
    stage = PackedStage(stage_dir)
    groups: dict[int, list[int]] = {}
    for i in stage.pieces:
        groups.setdefault(i // shard_size, []).append(i)
    written = 0
    for k, ids in sorted(groups.items()):
        shard = stage.stage_dir / shard_name(k)
        if shard not in stage.indexes:  # else packed before a killed run removed its pieces
            ids = sorted(ids)
            write_shard(stage.stage_dir, k, ids, stage.triplet(ids[0]).shape[1:],
                        (np.array(stage.triplet(i)) for i in ids))
            written += 1
        stage._maps.clear()
        for i in ids:
            (stage.stage_dir / piece_name(i)).unlink(missing_ok=True)
    return written


def remove_shards(stage_dir: str | os.PathLike, ids: Iterable[int]) -> None:
    """Remove the shards (with their indexes) and pieces holding the triplets
    ``ids``, so that the writer writes them again."""
    stage = PackedStage(stage_dir, broken_ok=True)
    for index in stage.broken:
        index.unlink()
        index.with_suffix(".npy").unlink(missing_ok=True)
    for i in ids:
        path, row = stage.where.get(i, (None, None))
        if path is None:
            continue
        if row is not None:
            path.with_suffix(".json").unlink(missing_ok=True)
        path.unlink(missing_ok=True)


# -----------------------------------------------------------------------------
# verification
# -----------------------------------------------------------------------------
def damaged_packed(stage_dir: str | os.PathLike, pixels: int | None = None,
                   channels: int | None = None) -> dict[int, str]:
    """Triplets of a packed stage whose data cannot be used: ``{id: reason}``.

    Each shard's size is checked against its index (a truncated shard), its
    header against the index's shape, the tiles' size and channel count
    against the dataset's (``pixels``, ``channels``, when given) and every
    row against its CRC-32 (about 1 ms per 256 px triplet); pieces are read
    in full. Every triplet of a damaged shard has the same reason, naming the
    shard file; an unreadable index damages the triplets of its id range
    (those with a ``_meta.yaml`` and no tiles elsewhere).
    """
    stage = PackedStage(stage_dir, broken_ok=True)
    out: dict[int, str] = {}
    for index, reason in stage.broken.items():
        k = int(_INDEX_RE.match(index.name).group(1))
        ids = [i for i in stage.found if i // stage.shard_size == k and i not in stage.where] or [k * stage.shard_size]
        out.update((i, reason) for i in ids)
    files: dict[Path, list[int]] = {}
    for i, (path, _) in stage.where.items():
        files.setdefault(path, []).append(i)
    for path, ids in sorted(files.items()):
        index = stage.indexes.get(path)
        reason = _file_problem(stage, path, index, pixels, channels)
        if reason is None and index is not None:
            a = stage.array(path)
            bad = [i for row, (i, crc) in enumerate(zip(index["ids"], index["crc32"]))
                   if zlib.crc32(np.ascontiguousarray(a[row]).data) != crc]
            for i in bad:
                out[i] = f"shard {str(path)!r} row of triplet {i} does not match its checksum"
        elif reason is not None:
            for i in ids:
                out[i] = reason
    stage._maps.clear()
    return out


def _file_problem(stage: PackedStage, path: Path, index: dict | None, pixels: int | None,
                  channels: int | None) -> str | None:
    what = "shard" if index is not None else "triplet file"
    if not path.exists():
        return f"{what} {str(path)!r} is missing"
    try:
        a = stage.array(path)
        if index is None:
            np.asarray(a).sum()  # a piece: read it all
    except (OSError, ValueError) as err:
        return str(err).split("; ")[0]
    c, h, w = a.shape[-3:]
    if pixels is not None and (h, w) != (pixels, pixels):
        return f"{what} {str(path)!r} holds {w} x {h} pixel tiles, the dataset's are {pixels} x {pixels}"
    if channels is not None and c != channels:
        return f"{what} {str(path)!r} holds tiles of {c} channel(s), the dataset's have {channels}"
    return None



def resolve_layout(out: str | os.PathLike, layout: str | None, shard_size: int | None) -> tuple[str, int | None]:
    """The layout (and shard size) to write ``out`` in: ``layout`` (None: the
    existing dataset's, else ``"png"``). A dataset of the other layout, or
    packed with another shard size, is refused in one line saying how to convert it."""
    out = Path(out)
    existing = dataset_layout(out) if out.is_dir() else None
    layout = layout or existing or "png"
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {LAYOUTS}")
    if existing is not None and existing != layout:
        if layout == "packed":
            raise ValueError(f"{out} holds a PNG triplet dataset; pack it with `convml_tt pack {out} --out "
                             f"{out}-packed` (the PNG folder stays), or choose another --out for a packed one")
        raise ValueError(f"{out} holds a packed triplet dataset; write it as PNGs with `convml_tt pack {out} "
                         f"--out {out}-png --format png`, or leave out --format png to complete it as it is")
    if layout == "png":
        if shard_size is not None:
            raise ValueError("--shard-size (shard_size=) is for packed datasets; add --format packed")
        return layout, None
    have = shard_size_of(out) if existing else None
    if shard_size is not None and int(shard_size) < 1:
        raise ValueError(f"shard_size must be at least 1 triplet, got {shard_size}")
    if have is not None and shard_size is not None and int(shard_size) != have:
        raise ValueError(f"{out} is packed in shards of {have} triplets, not {shard_size}; leave out --shard-size "
                         f"to complete it, or choose another --out")
    return layout, int(shard_size or have or DEFAULT_SHARD_SIZE)


_OPEN: dict[str, tuple[int, PackedStage]] = {}


def read_dataset_tile(dataset: str | os.PathLike, stage: str, idx: int, tile_type: str) -> np.ndarray:
    """One tile of a dataset folder of either layout as ``uint8`` ``(H, W, C)``
    (:func:`~.format.read_tile_array` of its PNG, or a copy out of its shard;
    a packed stage's indexes are read once while the folder is unchanged)."""
    path = Path(dataset) / stage / tile_name(idx, tile_type)
    if path.exists() or not is_packed_stage(path.parent):
        return read_tile_array(path)
    key, mtime = str(path.parent.resolve()), path.parent.stat().st_mtime_ns
    if key not in _OPEN or _OPEN[key][0] != mtime:
        _OPEN[key] = (mtime, PackedStage(path.parent))
    packed = _OPEN[key][1]
    if int(idx) not in packed.where:
        raise FileNotFoundError(f"triplet {int(idx)} is not in the packed stage folder {path.parent}")
    return np.ascontiguousarray(packed.triplet(int(idx))[TILE_TYPES.index(tile_type)].transpose(1, 2, 0))
