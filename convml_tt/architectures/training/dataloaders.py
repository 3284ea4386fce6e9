"""fastai data loading: triplet batches with a dummy target.

fastai splits every batch into inputs ``b[:n_inp]`` and targets
``b[n_inp:]`` and *skips the loss and the optimiser step when there is no
target*. A triplet has no label, so each batch here is
``(anchor, neighbor, distant, dummy_target)`` with ``dls.n_inp == 3``: the
model gets the three tiles (``(B, C, H, W)`` each), returns ``(B, 3,
emb_dim)``, and the loss ignores the all-zero target of shape ``(B,)``.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._io import resolve_device
from ...config import TrainingSettings, settings_from
from ...data.dataset.torch import TripletDataset, dataset_stats
from ..transforms import TripletBatchTransform
from ..encoder import imagenet_stats
from ._fastai import DataLoader, DataLoaders

__all__ = ["TripletDataLoader", "make_dataloaders", "build_dataloaders"]


class TripletDataLoader(DataLoader):
    """fastai ``DataLoader`` of triplet batches ``(anchor, neighbor, distant, dummy_target)``.

    Batches are read as one ``uint8`` tensor ``(B, 3, C, H, W)`` per batch
    (a single indexing operation when the dataset is preloaded), moved to the
    loader's device and then converted, augmented and normalised there by a
    :class:`~convml_tt.architectures.transforms.TripletBatchTransform`. All randomness
    (shuffling, augmentation) derives from ``seed``, so two loaders built
    with the same seed yield identical batches, epoch after epoch.

    ``n_inp = 3``: fastai passes the first three batch elements to the model
    and the fourth (zeros, shape ``(B,)``) to the loss as its target.

    Data-parallel training (:meth:`set_shard`, done by
    :class:`~.distributed.DataParallel`): with ``shard=(rank, world_size)``
    every rank draws the same shuffled order from the same seed, cuts it
    into *global* batches of ``world_size * bs`` triplets (dropping the
    incomplete last one) and yields share ``rank`` of each: triplets
    ``[rank * bs, (rank + 1) * bs)`` of the global batch. Augmentations are
    drawn for the global batch and each rank applies its share's, so the
    ``world_size`` ranks together see exactly the batches, and the
    augmented tiles, of one process with batch size ``world_size * bs``.
    """

    n_inp = 3
    shard: tuple[int, int] = (0, 1)

    def __init__(
        self,
        dataset=None,
        bs: int | None = None,
        transform: TripletBatchTransform | None = None,
        augment_batches: bool = True,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(dataset, bs=bs, **kwargs)
        self.transform = transform
        self.n_inp = getattr(transform, "n_inp", 3)  # 3 triplet tiles, or a view method's views
        self.augment_batches = augment_batches
        self.seed = int(seed)
        self.rng = random.Random(self.seed)
        self._gen = torch.Generator()
        self._gen.manual_seed(self.seed)

    def new(self, dataset=None, cls=None, **kwargs: Any) -> "TripletDataLoader":
        for k in ("transform", "augment_batches", "seed"):
            kwargs.setdefault(k, getattr(self, k))
        return super().new(dataset=dataset, cls=cls, **kwargs)

    def set_shard(self, rank: int = 0, world_size: int = 1) -> None:
        """Yield share ``rank`` of ``world_size`` of each global batch (see the class
        docstring); ``(0, 1)``: the whole data set, as usual."""
        rank, world_size = int(rank), int(world_size)
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"shard rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
        if world_size > 1:
            if not self.drop_last:
                raise ValueError("only a loader that drops its last incomplete batch (the training "
                                 "loader) can be sharded across ranks")
            if self.n is not None and self.n < self.bs * world_size:
                raise ValueError(
                    f"{world_size} ranks x batch_size={self.bs} = {world_size * self.bs} triplets per "
                    f"global batch, but the training part holds only {self.n}; use a batch size of at "
                    f"most {max(self.n // world_size, 1)} per rank, or fewer ranks")
        self.shard = (rank, world_size)

    def get_idxs(self):
        idxs = super().get_idxs()  # the same shuffled order on every rank (same loader seed)
        rank, world = self.shard
        if world == 1:
            return idxs
        g = self.bs * world
        start = rank * self.bs
        return [idxs[k * g + start + j] for k in range(len(idxs) // g) for j in range(self.bs)]

    def __len__(self) -> int:
        rank, world = self.shard
        if world == 1:
            return super().__len__()
        return self.n // (self.bs * world)

    def before_iter(self) -> None:
        # called in the main process at the start of each pass, after the
        # loader's rng was advanced: one augmentation stream per pass
        self._gen.manual_seed(self.rng.randint(0, 2**62))

    def create_batches(self, samps):
        for idxs in self.chunkify(samps):
            yield self.dataset.load_batch(list(idxs))

    def after_batch(self, b):
        if self.transform is None:
            return b
        part = self.shard if self.shard[1] > 1 else None
        return self.transform(b, self._gen, train=self.augment_batches, part=part)


def make_dataloaders(
    dataset: str | Path | TripletDataset,
    settings: TrainingSettings | None = None,
    *,
    stage: str = "train",
    progress: bool = True,
    path: str | Path | None = None,
    method=None,
    **overrides: Any,
) -> DataLoaders:
    """fastai ``DataLoaders`` (train, valid) over one stage of a triplet dataset folder.

    ``dataset``: dataset folder, stage folder, or a :class:`TripletDataset`.
    The data fields of ``settings`` (a :class:`~convml_tt.config.TrainingSettings`;
    ``overrides`` are its field names, e.g. ``batch_size=8``) decide:

    batch_size:
        triplets per batch (each batch holds ``3 * batch_size`` tiles). The
        training loader drops the last incomplete batch, so the training part
        must hold at least ``batch_size`` triplets.
    valid_pct, seed:
        fraction of triplets held out for validation (at least one when > 0),
        drawn with ``seed``, which also seeds shuffling and augmentation.
    preload:
        ``True``: decode the stage into memory once (``uint8``); ``"device"``:
        also keep it on the training device (e.g. GPU memory).
    normalize:
        ``"dataset"`` (per-channel mean/std of the training tiles),
        ``"imagenet"`` (for ImageNet-pretrained backbones) or ``(mean, std)``
        with values for pixels scaled to [0, 1]; None: ``"imagenet"`` when
        ``pretrained``, else ``"dataset"``.
    augment, jitter:
        random flips and 90 degree rotations of each training tile, and the
        maximum relative brightness/contrast jitter (0: none).
    tile_pixels:
        resize tiles to ``tile_pixels`` x ``tile_pixels`` pixels on the device
        (``None``: keep the dataset's size).
    device:
        where batches are put and transformed; ``None``: CUDA when available.
    channels_last:
        batches in channels-last memory format (None: off here;
        ``make_learner`` turns it on).
    num_workers, skip_incomplete:
        loader processes (None: 8 at most on CUDA from PNG files, else 0);
        leave out triplets that lack a tile.

    The returned object carries ``dls.n_inp == 3`` and a plain dict
    ``dls.convml_tt`` (normalisation, channels, tile size, dataset path,
    split sizes) that ``make_learner`` stores in the model config.
    """
    s = settings_from(TrainingSettings, settings, **overrides)
    return build_dataloaders(dataset, s, resolve_device(s.device), channels_last=bool(s.channels_last),
                             stage=stage, progress=progress, path=path, method=method)


def build_dataloaders(
    dataset: str | Path | TripletDataset,
    s: TrainingSettings,
    dev: torch.device,
    channels_last: bool,
    stage: str = "train",
    progress: bool = True,
    path: str | Path | None = None,
    method=None,
) -> DataLoaders:
    """:func:`make_dataloaders` for checked settings ``s`` on the resolved device ``dev``;
    ``method`` (a :class:`~convml_tt.architectures.methods.Method`; default: ``s.method``'s)
    decides what a sample is and makes the batch transform."""
    from ..methods.base import make_method
    from ..methods.data import open_training_tiles

    method = method if method is not None else make_method(s.method)
    batch_size, valid_pct, seed, preload = s.batch_size, s.valid_pct, s.seed, s.preload
    if not isinstance(dataset, (str, Path)):  # a TripletDataset (or the tiles of a view method)
        ds = dataset
        if preload:
            ds.preload(progress=progress)
    else:
        ds = open_training_tiles(dataset, method, stage=stage, skip_incomplete=s.skip_incomplete,
                                 preload=bool(preload), progress=progress)
    if preload == "device":
        ds.to(dev)
    elif preload and dev.type == "cuda":
        ds.pin_memory()

    n = len(ds)
    n_valid = 0 if valid_pct == 0 else max(1, int(round(n * valid_pct)))
    n_train = n - n_valid
    if n_train < batch_size:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {n_train} training triplets of "
            f"{str(ds.stage_dir)!r} ({n} triplets, {n_valid} held out for validation with "
            f"valid_pct={valid_pct}); use a batch size of at most {max(n_train, 1)}"
        )
    order = np.random.default_rng(seed).permutation(n)
    train_ds = ds.subset(sorted(order[n_valid:].tolist()))
    valid_ds = ds.subset(sorted(order[:n_valid].tolist()))

    c = ds.n_channels
    normalize = s.normalize if s.normalize is not None else ("imagenet" if s.pretrained else "dataset")
    if isinstance(normalize, str):
        if normalize == "imagenet":
            mean, std = imagenet_stats(c)
        else:
            mean, std = dataset_stats(train_ds, seed=seed)
        kind = normalize
    else:
        mean, std = (list(map(float, v)) for v in normalize)
        if len(mean) != c or len(std) != c:
            raise ValueError(f"normalize mean/std have {len(mean)}/{len(std)} values but the "
                             f"tiles have {c} channels")
        kind = "custom"

    tf = method.batch_transform(mean, std, s, channels_last)
    num_workers = s.num_workers
    if num_workers is None:
        on_cpu_memory = not preload
        num_workers = min(8, os.cpu_count() or 1) if (dev.type == "cuda" and on_cpu_memory) else 0
    pin = dev.type == "cuda" and preload != "device"
    common = dict(num_workers=num_workers, pin_memory=pin, transform=tf)
    train_dl = TripletDataLoader(train_ds, bs=batch_size, shuffle=True, drop_last=True,
                                 augment_batches=s.augment, seed=seed, **common)
    valid_dl = TripletDataLoader(valid_ds, bs=batch_size, shuffle=False, drop_last=False,
                                 augment_batches=False, seed=seed + 1, **common)
    work = None if path is not None else _private_work_dir()
    dls = DataLoaders(train_dl, valid_dl, path=path or work, device=dev)
    if work is not None:  # removed with the loaders (or at exit)
        weakref.finalize(dls, shutil.rmtree, work, ignore_errors=True)
    h, w = ds.tile_shape[1:]
    size = s.tile_pixels if s.tile_pixels is not None else (h if h == w else [h, w])
    dls.convml_tt = {
        "normalization": {"kind": kind, "mean": [float(v) for v in mean], "std": [float(v) for v in std]},
        "n_input_channels": int(c),
        "tile_pixels": size,
        "training_data_path": str(Path(ds.stage_dir).resolve()),
        "n_train": n_train,
        "n_valid": n_valid,
        "seed": int(seed),
    }
    return dls


def _private_work_dir() -> Path:
    """A new private folder (mode 700) for the learner's own files: fastai's
    ``lr_find`` saves a temporary copy of the model under ``learn.path``; kept
    out of the dataset folder, the current directory and any fixed name in
    the temporary directory (open to clashes and to other users)."""
    return Path(tempfile.mkdtemp(prefix="convml_tt-learner-"))
