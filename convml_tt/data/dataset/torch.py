"""Torch datasets over a triplet dataset folder, and batch-level augmentation.

The folder's layout, names and the rule for a complete triplet are those of
:mod:`convml_tt.data.dataset.format`; folders from older convml_tt versions
(no ``_meta.yaml`` files) are read too. Tiles are 8-bit PNGs (greyscale
``L``, ``LA``, ``RGB`` or ``RGBA``), all of one size and channel count within
a stage, or the same bytes in the uint8 shards of a packed dataset
(:mod:`.packed`), memory-mapped: both layouts give the same tensors.

This is the only module of :mod:`convml_tt.data` that imports torch. It does
not import fastai: the fastai ``DataLoaders`` are built in
:mod:`convml_tt.architectures.training.dataloaders` from the datasets here
and the batch transforms of :mod:`convml_tt.architectures.transforms`.

Tensors handed out by the datasets are ``uint8`` in ``(C, H, W)`` order (pixel
values 0..255); conversion to float, augmentation and normalisation happen on
whole batches (on CPU or GPU) in
:class:`convml_tt.architectures.transforms.TripletBatchTransform`, so that the
same seed gives the same augmentations on either device.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .format import MODE_CHANNELS as _MODE_CHANNELS
from .format import STAGES, TILE_TYPES, TripletMeta, incomplete_triplets, read_tile_array, read_triplet_meta, scan_stage
from .packed import PackedStage, is_packed_stage

__all__ = [
    "TILE_TYPES",
    "STAGES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TripletDataset",
    "TileDataset",
    "TripletSubset",
    "find_stage_folder",
    "read_tile",
    "dataset_stats",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)



# --------------------------------------------------------------------------
# reading tiles and locating folders
# --------------------------------------------------------------------------
def find_stage_folder(folder_or_stage_path: str | Path, stage: str = "train") -> Path:
    """Return the folder holding the PNG tiles of one stage.

    ``folder_or_stage_path`` is either a dataset folder (containing ``train/``
    and/or ``study/``) or a stage folder itself (containing ``*_anchor.png``).
    """
    path = Path(folder_or_stage_path)
    if not path.exists():
        raise FileNotFoundError(f"dataset folder {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"dataset path {str(path)!r} is not a folder; give the dataset folder "
                         f"(with train/ and study/) or one stage folder")
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} is not one of {STAGES}")
    if (path / stage).is_dir():
        return path / stage
    if path.name in STAGES or any(path.glob("*_anchor.png")) or any(path.glob("shard-*.json")):
        return path
    present = sorted(p.name for p in path.iterdir() if p.is_dir())
    raise FileNotFoundError(
        f"dataset folder {str(path)!r} has no {stage!r} stage folder (found sub-folders: "
        f"{present or 'none'}); expected {str(path / stage)!r} holding 00000_anchor.png, "
        f"00000_neighbor.png, 00000_distant.png, ..."
    )


def _tile_header(path: Path) -> tuple[int, int, int]:
    """``(channels, height, width)`` of a PNG tile, reading only its header."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode, (w, h) = im.mode, im.size
    except Exception as err:  # PIL raises several types for broken files
        raise ValueError(f"tile {str(path)!r} is not a readable PNG image: {err}") from None
    if mode not in _MODE_CHANNELS:
        raise ValueError(f"tile {str(path)!r} has PIL mode {mode!r}; expected an 8-bit image "
                         f"in one of the modes {sorted(_MODE_CHANNELS)}")
    return _MODE_CHANNELS[mode], h, w


def read_tile(path: str | Path) -> torch.Tensor:
    """Read one PNG tile as a ``uint8`` tensor of shape ``(C, H, W)`` (0..255)."""
    arr = read_tile_array(path)
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    return torch.from_numpy(chw)


def _check_shapes(paths: Iterable[Path], what: str) -> tuple[int, int, int]:
    """Check all tiles share one ``(C, H, W)``; return it or raise naming the odd ones."""
    shapes: dict[tuple[int, int, int], list[Path]] = {}
    for p in paths:
        shapes.setdefault(_tile_header(p), []).append(p)
    if len(shapes) == 1:
        return next(iter(shapes))
    # the most common shape is "right"; list the others
    common = max(shapes, key=lambda s: len(shapes[s]))
    odd = [(s, ps) for s, ps in shapes.items() if s != common]
    details = "; ".join(
        f"{len(ps)} tile(s) of (channels, height, width)={s}, e.g. {str(ps[0])!r}" for s, ps in odd
    )
    raise ValueError(
        f"{what} mixes tile sizes or channel counts: most tiles are (channels, height, width)="
        f"{common} but {details}. All tiles of a stage must have one size and channel count."
    )


def _complete_only(stage_dir: Path, found: dict[int, dict[str, Path]], skip_incomplete: bool
                   ) -> dict[int, dict[str, Path]]:
    """The complete triplets of ``found`` (:func:`~convml_tt.data.dataset.format.incomplete_triplets`
    is the one rule). Incomplete ones raise, naming what is missing, unless
    ``skip_incomplete`` (then a warning says how many were left out). Both torch
    datasets follow this, so training and embedding see the same triplets."""
    incomplete = incomplete_triplets(stage_dir, found)
    if not incomplete:
        return found
    missing = [str(p) for ps in incomplete.values() for p in ps]
    shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
    if not skip_incomplete:
        raise ValueError(
            f"{len(incomplete)} incomplete triplet(s) in {str(stage_dir)!r}: missing "
            f"{shown}. Each triplet needs an anchor, neighbor and distant PNG (and its "
            f"_meta.yaml in folders with a dataset meta.yaml); re-run `convml_tt triplets` with the "
            f"same settings to complete them, or pass skip_incomplete=True (CLI: --skip-incomplete) "
            f"to leave them out."
        )
    warnings.warn(f"skipping {len(incomplete)} incomplete triplet(s) in "
                  f"{str(stage_dir)!r} (missing {shown})", stacklevel=3)
    found = {i: m for i, m in found.items() if i not in incomplete}
    if not found:
        raise ValueError(f"stage folder {str(stage_dir)!r} has no complete triplet")
    return found


# --------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------
class _TileFolderDataset(torch.utils.data.Dataset):
    """Shape information shared by the datasets over a stage folder
    (subclasses set ``ids`` and ``tile_shape = (C, H, W)``)."""

    ids: list[int]
    tile_shape: tuple[int, int, int]
    #: the shards of a packed stage folder (None: PNG files)
    _packed: PackedStage | None = None

    def _scan(self, skip_incomplete: bool, tile_type: str | None = None) -> dict[int, dict[str, Path]]:
        """The complete triplets of ``self.stage_dir`` (PNG or packed) by :func:`_complete_only`'s rule;
        with ``tile_type``, all triplets when none has that tile (a PNG folder of other tiles)."""
        if is_packed_stage(self.stage_dir):
            self._packed = PackedStage(self.stage_dir)
            found = self._packed.found
        else:
            found = scan_stage(self.stage_dir)
        if found and (self._packed or tile_type is None or any(tile_type in m for m in found.values())):
            found = _complete_only(self.stage_dir, found, skip_incomplete)
        return found

    @property
    def n_channels(self) -> int:
        """Number of channels ``C`` of the tiles."""
        return self.tile_shape[0]

    def __len__(self) -> int:
        return len(self.ids)


class TripletDataset(_TileFolderDataset):
    """Triplets ``(anchor, neighbor, distant)`` of one stage of a dataset folder.

    Parameters
    ----------
    folder_or_stage_path:
        dataset folder (holding ``train/``, ``study/``) or a stage folder.
    stage:
        ``"train"`` or ``"study"``.
    skip_incomplete:
        when a triplet lacks a member, skip it (with a warning) instead of
        raising an error that names the missing files.
    preload:
        decode every PNG once now and keep the stage in memory as one
        ``uint8`` tensor of shape ``(N, 3, C, H, W)`` (4x less memory than
        float32); an epoch then decodes no PNG again.
    check_tiles:
        read every PNG header at construction and raise if tiles differ in
        size or channel count (cheap: headers only).
    progress:
        show a tqdm bar while preloading.

    Items are tuples of three ``uint8`` tensors of shape ``(C, H, W)``.
    """

    def __init__(
        self,
        folder_or_stage_path: str | Path,
        stage: str = "train",
        skip_incomplete: bool = False,
        preload: bool = False,
        check_tiles: bool = True,
        progress: bool = True,
    ) -> None:
        self.stage = stage
        self.stage_dir = find_stage_folder(folder_or_stage_path, stage)
        found = self._scan(skip_incomplete)
        if not found:
            raise ValueError(
                f"stage folder {str(self.stage_dir)!r} holds no triplet tiles; expected files named "
                f"like 00000_anchor.png, 00000_neighbor.png, 00000_distant.png"
            )
        self.ids: list[int] = sorted(found)
        self._paths: list[tuple[Path, Path, Path]] = [
            tuple(found[i].get(t, found[i].get("tiles")) for t in TILE_TYPES) for i in self.ids  # type: ignore[misc]
        ]
        if self._packed is not None:
            self.tile_shape = self._packed.check_shapes(self.ids) if check_tiles else self._packed.tile_shape
        elif check_tiles:
            self.tile_shape = _check_shapes(
                (p for trip in self._paths for p in trip), f"stage folder {str(self.stage_dir)!r}"
            )
        else:
            self.tile_shape = _tile_header(self._paths[0][0])
        self.tiles: torch.Tensor | None = None
        if preload:
            self.preload(progress=progress)

    def files(self, i: int) -> dict[str, Path]:
        """Paths of the three tiles of item ``i`` (position, not triplet id; of a packed
        dataset: its shard, three times)."""
        return dict(zip(TILE_TYPES, self._paths[i]))

    def meta(self, i: int) -> TripletMeta | None:
        """Metadata of item ``i`` (its ``{id:05d}_meta.yaml``), or None (older folders)."""
        return read_triplet_meta(self.stage_dir.parent, self.stage_dir.name, self.ids[i])

    @property
    def has_meta(self) -> bool:
        """Whether the first triplet has a metadata file (folders from older versions do not)."""
        return (self.stage_dir / f"{self.ids[0]:05d}_meta.yaml").exists()

    # -- reading -----------------------------------------------------------
    def _read_into(self, i: int, out: np.ndarray) -> None:
        """Decode the three tiles of item ``i`` into ``out`` (uint8 ``(3, C, H, W)``), checking shapes.

        Decoded straight into one numpy buffer: ``torch.stack`` of the tile
        tensors cost more than the PNG decoding itself (torch's threaded copy
        of small tensors: ~25 ms of CPU per 256 px triplet on a loaded 2-core
        machine against ~4 ms of decoding, bench/decode.py). From a packed
        stage: one copy out of the memory-mapped shard."""
        if self._packed is not None:
            out[...] = self._packed.triplet(self.ids[i])
            return
        c, h, w = self.tile_shape
        for j, p in enumerate(self._paths[i]):
            a = read_tile_array(p)
            if a.shape != (h, w, c):
                raise ValueError(
                    f"tile {str(p)!r} has (channels, height, width)={(a.shape[2], a.shape[0], a.shape[1])} but "
                    f"the stage's tiles are {self.tile_shape}; all tiles of a stage must match"
                )
            out[j] = a.transpose(2, 0, 1)

    def _read_triplet(self, i: int) -> torch.Tensor:
        out = np.empty((3, *self.tile_shape), np.uint8)
        self._read_into(i, out)
        return torch.from_numpy(out)

    def preload(self, progress: bool = True) -> "TripletDataset":
        """Decode all tiles into one ``uint8`` tensor ``(N, 3, C, H, W)`` held in memory."""
        if self.tiles is None:
            from tqdm.auto import tqdm

            c, h, w = self.tile_shape
            tiles = torch.empty((len(self), 3, c, h, w), dtype=torch.uint8)
            for i in tqdm(range(len(self)), desc=f"preloading {self.stage}", disable=not progress,
                          leave=False):
                tiles[i] = self._read_triplet(i)
            self.tiles = tiles
        return self

    def to(self, device: str | torch.device) -> "TripletDataset":
        """Move the preloaded tiles to ``device`` (e.g. keep a stage on the GPU); preloads first."""
        self.preload(progress=False)
        assert self.tiles is not None
        self.tiles = self.tiles.to(device)
        return self

    def pin_memory(self) -> "TripletDataset":
        """Pin the preloaded tiles in page-locked memory (faster host-to-GPU copies)."""
        if self.tiles is not None and self.tiles.device.type == "cpu" and torch.cuda.is_available():
            self.tiles = self.tiles.pin_memory()
        return self

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(anchor, neighbor, distant)``, each ``uint8`` of shape ``(C, H, W)``."""
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"triplet index {i} out of range for {len(self)} triplets")
        t = self.tiles[i] if self.tiles is not None else self._read_triplet(i)
        return t[0], t[1], t[2]

    def load_batch(self, indices: Sequence[int]) -> torch.Tensor:
        """Triplets at ``indices`` as one ``uint8`` tensor of shape ``(B, 3, C, H, W)``.

        Axis 1 is (anchor, neighbor, distant). From preloaded tiles this is a
        single indexing operation (on the tiles' device).
        """
        if self.tiles is not None:
            idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.tiles.device)
            return self.tiles.index_select(0, idx)
        out = np.empty((len(indices), 3, *self.tile_shape), np.uint8)
        for k, i in enumerate(indices):
            self._read_into(i, out[k])
        return torch.from_numpy(out)

    def subset(self, indices: Sequence[int]) -> "TripletSubset":
        """A view on some items (e.g. the train or validation part of a split)."""
        return TripletSubset(self, indices)

    def __repr__(self) -> str:
        c, h, w = self.tile_shape
        return (f"TripletDataset({str(self.stage_dir)!r}, {len(self)} triplets of {c}x{h}x{w}, "
                f"preloaded={self.tiles is not None})")


class TripletSubset(torch.utils.data.Dataset):
    """Items ``indices`` of a :class:`TripletDataset` (same interface)."""

    def __init__(self, dataset: TripletDataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]

    def load_batch(self, indices: Sequence[int]) -> torch.Tensor:
        """See :meth:`TripletDataset.load_batch`."""
        return self.dataset.load_batch([self.indices[i] for i in indices])

    def __getattr__(self, name: str):
        # tile_shape, n_channels, stage_dir, ... of the parent
        if name in ("dataset", "indices"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


class TileDataset(_TileFolderDataset):
    """Single tiles of one type (``anchor``, ``neighbor`` or ``distant``) of one stage.

    Reads folders with or without metadata. Items are ``uint8`` tensors of
    shape ``(C, H, W)``; ``ids`` lists the triplet id of each item. Only
    tiles of complete triplets are read, by the same rule as
    :class:`TripletDataset`: incomplete triplets raise unless
    ``skip_incomplete`` (then they are left out with a warning).
    """

    def __init__(
        self,
        folder_or_stage_path: str | Path,
        stage: str = "train",
        tile_type: str = "anchor",
        preload: bool = False,
        check_tiles: bool = True,
        progress: bool = True,
        skip_incomplete: bool = False,
    ) -> None:
        if tile_type not in TILE_TYPES:
            raise ValueError(f"tile_type {tile_type!r} is not one of {TILE_TYPES}")
        self.stage, self.tile_type = stage, tile_type
        self.stage_dir = find_stage_folder(folder_or_stage_path, stage)
        triplets = self._scan(skip_incomplete, tile_type)
        found = {i: m.get(tile_type, m.get("tiles")) for i, m in triplets.items() if tile_type in m or "tiles" in m}
        if not found:
            raise ValueError(f"stage folder {str(self.stage_dir)!r} holds no {tile_type} tiles; "
                             f"expected files named like 00000_{tile_type}.png")
        self.ids: list[int] = sorted(found)
        self._paths = [found[i] for i in self.ids]
        if self._packed is not None:
            self.tile_shape = self._packed.check_shapes(self.ids) if check_tiles else self._packed.tile_shape
        elif check_tiles:
            self.tile_shape = _check_shapes(self._paths, f"stage folder {str(self.stage_dir)!r}")
        else:
            self.tile_shape = _tile_header(self._paths[0])
        self.tiles: torch.Tensor | None = None
        if preload:
            from tqdm.auto import tqdm

            self.tiles = torch.stack([
                self._read(i) for i in tqdm(range(len(self)), desc=f"preloading {stage}",
                                            disable=not progress, leave=False)
            ])

    def path(self, i: int) -> Path:
        """Path of tile ``i`` (of a packed dataset: the shard holding it)."""
        return self._paths[i]

    def meta(self, i: int) -> TripletMeta | None:
        """Metadata of item ``i`` (its ``{id:05d}_meta.yaml``), or None (older folders)."""
        return read_triplet_meta(self.stage_dir.parent, self.stage_dir.name, self.ids[i])

    def __getitem__(self, i: int) -> torch.Tensor:
        """Tile ``i`` as ``uint8`` of shape ``(C, H, W)``."""
        if self.tiles is not None:
            return self.tiles[i]
        t = self._read(i)
        if tuple(t.shape) != self.tile_shape:
            raise ValueError(f"tile {str(self._paths[i])!r} has shape {tuple(t.shape)} but the "
                             f"stage's tiles are {self.tile_shape}")
        return t

    def _read(self, i: int) -> torch.Tensor:
        if self._packed is not None:  # a copy out of the memory-mapped shard
            return torch.from_numpy(np.array(self._packed.triplet(self.ids[i])[TILE_TYPES.index(self.tile_type)]))
        return read_tile(self._paths[i])

    def load_batch(self, indices: Sequence[int]) -> torch.Tensor:
        """Tiles at ``indices`` as ``uint8`` of shape ``(B, C, H, W)``."""
        if self.tiles is not None:
            return self.tiles[torch.as_tensor(list(indices), dtype=torch.long)]
        return torch.stack([self[i] for i in indices])


def dataset_stats(
    dataset: TripletDataset | TripletSubset | TileDataset, max_items: int = 256, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of pixel values scaled to [0, 1].

    Computed over up to ``max_items`` items drawn with ``seed`` (all tiles of
    a triplet count). Returns ``(mean, std)`` as lists of length ``C``.
    """
    n = len(dataset)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(n, max_items), replace=False))
    total = None
    total_sq = None
    count = 0
    for start in range(0, len(idx), 64):
        b = dataset.load_batch(idx[start:start + 64].tolist()).to("cpu", torch.float64) / 255.0
        c = b.shape[-3]
        b = b.reshape(-1, c, b.shape[-2] * b.shape[-1]).transpose(0, 1).reshape(c, -1)
        s, s2 = b.sum(1), (b * b).sum(1)
        total = s if total is None else total + s
        total_sq = s2 if total_sq is None else total_sq + s2
        count += b.shape[1]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt().clamp_min(1e-3)
    return [float(v) for v in mean], [float(v) for v in std]
