"""Triplet-trained ResNet encoder: model, loss, fastai Learner, model files.

The encoder maps a tile ``(C, H, W)`` to an embedding vector of ``emb_dim``
values; it is trained with a triplet loss so that an anchor tile lies nearer
its neighbour than a distant tile (Tile2Vec, Jean et al. 2019; Denby 2020).

Typical use (notebook or script)::

    from convml_tt.architectures.triplet_trainer import make_learner, save_model, load_model
    learn = make_learner("data/triplets", arch="resnet18", batch_size=50)
    learn.lr_find()
    learn.fit_one_cycle(10, 1e-3)
    learn.recorder.plot_loss()
    save_model(learn, "model.pt")
    encoder = load_model("model.pt")           # nn.Module with .config
    emb = embed_tiles(encoder, tiles_uint8)     # (N, emb_dim)

How batches reach fastai (the ``n_inp`` trap)
---------------------------------------------
fastai splits every batch into inputs ``b[:n_inp]`` and targets
``b[n_inp:]`` and *skips the loss and the optimiser step when there is no
target*. A triplet has no label, so each batch here is
``(anchor, neighbor, distant, dummy_target)`` with ``dls.n_inp == 3``: the
model gets the three tiles (``(B, C, H, W)`` each), returns ``(B, 3,
emb_dim)``, and the loss ignores the all-zero target of shape ``(B,)``.

Model file
----------
One ``torch.save`` file of plain types only (no pickled classes), read with
``torch.load(..., weights_only=True)``::

    {"format": "convml_tt.triplet_encoder", "format_version": 1,
     "config": {arch, n_input_channels, emb_dim, head, dropout, normalization:
                {kind, mean, std}, tile_size, pretrained, training_data_path,
                loss, convml_tt_version},
     "state_dict": {...}}

Epoch checkpoints have the same fields plus ``optimizer``, ``epoch`` (epochs
completed) and ``fit`` (``n_epoch``, ``lr_max``); ``load_model`` reads both.
"""
from __future__ import annotations

import math
import os
import random
import tempfile
import time
import warnings
from collections import OrderedDict
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torchvision

with warnings.catch_warnings():
    # fastai.layers applies torch.jit.script at import, which recent torch
    # deprecates with a FutureWarning about fastai's code, not the user's
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    import fastai.callback.fp16  # noqa: F401  (Learner.to_fp16 / to_bf16)
    import fastai.callback.progress  # noqa: F401  (progress bars, Learner.no_bar)
    import fastai.callback.schedule  # noqa: F401  (Learner.fit_one_cycle, lr_find)
    from fastai.callback.core import Callback
    from fastai.callback.training import BnFreeze
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.optimizer import Adam
    from fastai.torch_core import params, set_seed
    from fastcore.foundation import L

from .. import __version__
from ..data.dataset import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TileAugment,
    TileDataset,
    TripletBatchTransform,
    TripletDataset,
    dataset_stats,
)

__all__ = [
    "ARCHITECTURES",
    "MODEL_FORMAT",
    "CHECKPOINT_FORMAT",
    "resolve_device",
    "cpu_has_native_bf16",
    "CPUAutocast",
    "TripletDataLoader",
    "make_dataloaders",
    "TripletEncoder",
    "TripletModel",
    "TripletLoss",
    "dist_an",
    "dist_ad",
    "triplet_acc",
    "load_pretrained_weights",
    "make_learner",
    "CheckpointCallback",
    "save_checkpoint",
    "resume_from_checkpoint",
    "save_model",
    "load_model",
    "read_model_file",
    "embed_tiles",
    "embed_dataset",
    "train",
    "time_training_step",
]

#: supported backbones and the number of features of their last layer
ARCHITECTURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
HEADS = ("fastai", "linear")
MODEL_FORMAT = "convml_tt.triplet_encoder"
CHECKPOINT_FORMAT = "convml_tt.triplet_checkpoint"
FORMAT_VERSION = 1
_BODY_LAYERS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


# --------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------
def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train/embed on: CUDA when available (``None``), else CPU.

    Raises a clear ``RuntimeError`` when CUDA is asked for but not usable.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not understood; use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {str(device)!r} was requested but CUDA is not available here "
                f"(torch.cuda.is_available() is False: no GPU visible or a CPU-only torch build); "
                f"use device 'cpu' (CLI: --device cpu) or leave the device unset"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {str(device)!r} was requested but only "
                               f"{torch.cuda.device_count()} CUDA device(s) are visible")
    return dev


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 dot-product instructions (x86 ``avx512_bf16``
    or ``amx_bf16``), where bf16 autocast roughly doubles convolution throughput.

    On CPUs without them bf16 is emulated and slower than fp32. Reads the
    Linux ``/proc/cpuinfo`` flags; False elsewhere.
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


class CPUAutocast(Callback):
    """bf16 autocast of the forward pass on CPU (fastai's ``MixedPrecision`` is CUDA-only).

    The model's forward runs under ``torch.autocast("cpu", torch.bfloat16)``;
    the predictions are cast back to float32 before the loss, so the loss,
    gradients of the loss, weights and optimiser state stay float32 (bf16 has
    float32's exponent range, so no gradient scaling is needed).
    """

    order = 10

    def __init__(self) -> None:
        self._ctx = None

    def before_batch(self) -> None:
        self._ctx = torch.autocast("cpu", dtype=torch.bfloat16)
        self._ctx.__enter__()

    def _leave(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None

    def after_pred(self) -> None:
        self._leave()
        self.learn.pred = self.learn.pred.float()

    def after_batch(self) -> None:
        self._leave()  # when a batch was cancelled before its prediction

    after_cancel_batch = after_batch


# --------------------------------------------------------------------------
# data loading (fastai)
# --------------------------------------------------------------------------
class TripletDataLoader(DataLoader):
    """fastai ``DataLoader`` of triplet batches ``(anchor, neighbor, distant, dummy_target)``.

    Batches are read as one ``uint8`` tensor ``(B, 3, C, H, W)`` per batch
    (a single indexing operation when the dataset is preloaded), moved to the
    loader's device and then converted, augmented and normalised there by a
    :class:`~convml_tt.data.dataset.TripletBatchTransform`. All randomness
    (shuffling, augmentation) derives from ``seed``, so two loaders built
    with the same seed yield identical batches, epoch after epoch.

    ``n_inp = 3``: fastai passes the first three batch elements to the model
    and the fourth (zeros, shape ``(B,)``) to the loss as its target.
    """

    n_inp = 3

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
        self.augment_batches = augment_batches
        self.seed = int(seed)
        self.rng = random.Random(self.seed)
        self._gen = torch.Generator()
        self._gen.manual_seed(self.seed)

    def new(self, dataset=None, cls=None, **kwargs: Any) -> "TripletDataLoader":
        for k in ("transform", "augment_batches", "seed"):
            kwargs.setdefault(k, getattr(self, k))
        return super().new(dataset=dataset, cls=cls, **kwargs)

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
        return self.transform(b, self._gen, train=self.augment_batches)


def make_dataloaders(
    dataset: str | Path | TripletDataset,
    batch_size: int = 32,
    valid_pct: float = 0.1,
    seed: int = 42,
    stage: str = "train",
    preload: bool | str = False,
    normalize: str | tuple[Sequence[float], Sequence[float]] = "dataset",
    augment: bool = True,
    jitter: float = 0.0,
    tile_size: int | None = None,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    num_workers: int | None = None,
    skip_incomplete: bool = False,
    progress: bool = True,
    path: str | Path | None = None,
) -> DataLoaders:
    """fastai ``DataLoaders`` (train, valid) over one stage of a triplet dataset folder.

    Parameters
    ----------
    dataset:
        dataset folder, stage folder, or a :class:`TripletDataset`.
    batch_size:
        triplets per batch (each batch holds ``3 * batch_size`` tiles). The
        training loader drops the last incomplete batch, so the training part
        must hold at least ``batch_size`` triplets.
    valid_pct:
        fraction of triplets held out for validation (at least one when > 0),
        drawn with ``seed``.
    preload:
        ``True``: decode the stage into memory once (``uint8``); ``"device"``:
        also keep it on the training device (e.g. GPU memory).
    normalize:
        ``"dataset"`` (per-channel mean/std of the training tiles),
        ``"imagenet"`` (for ImageNet-pretrained backbones) or ``(mean, std)``
        with values for pixels scaled to [0, 1].
    augment, jitter:
        random flips and 90 degree rotations of each training tile, and the
        maximum relative brightness/contrast jitter (0: none).
    tile_size:
        resize tiles to ``tile_size`` x ``tile_size`` pixels on the device
        (``None``: keep the dataset's size).
    device:
        where batches are put and transformed; ``None``: CUDA when available.

    The returned object carries ``dls.n_inp == 3`` and a plain dict
    ``dls.convml_tt`` (normalisation, channels, tile size, dataset path,
    split sizes) that :func:`make_learner` stores in the model config.
    """
    dev = resolve_device(device)
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1")
    if not 0.0 <= valid_pct < 1.0:
        raise ValueError(f"valid_pct={valid_pct} must be in [0, 1), e.g. 0.1")
    if isinstance(dataset, TripletDataset):
        ds = dataset
        if preload:
            ds.preload(progress=progress)
    else:
        ds = TripletDataset(dataset, stage=stage, skip_incomplete=skip_incomplete,
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
    if isinstance(normalize, str):
        if normalize == "imagenet":
            mean, std = _imagenet_stats(c)
        elif normalize == "dataset":
            mean, std = dataset_stats(train_ds, seed=seed)
        else:
            raise ValueError(f"normalize={normalize!r}; use 'dataset', 'imagenet' or (mean, std)")
        kind = normalize
    else:
        mean, std = (list(map(float, v)) for v in normalize)
        if len(mean) != c or len(std) != c:
            raise ValueError(f"normalize mean/std have {len(mean)}/{len(std)} values but the "
                             f"tiles have {c} channels")
        kind = "custom"

    if tile_size is not None and tile_size < 8:
        raise ValueError(f"tile_size={tile_size} pixels is too small; use e.g. 64 or more")
    tf = TripletBatchTransform(
        mean, std, augment=TileAugment(flips=augment, rot90=augment, jitter=jitter),
        tile_size=tile_size, channels_last=channels_last,
    )
    if num_workers is None:
        on_cpu_memory = not preload
        num_workers = min(8, os.cpu_count() or 1) if (dev.type == "cuda" and on_cpu_memory) else 0
    pin = dev.type == "cuda" and preload != "device"
    common = dict(num_workers=num_workers, pin_memory=pin, transform=tf)
    train_dl = TripletDataLoader(train_ds, bs=batch_size, shuffle=True, drop_last=True,
                                 augment_batches=augment, seed=seed, **common)
    valid_dl = TripletDataLoader(valid_ds, bs=batch_size, shuffle=False, drop_last=False,
                                 augment_batches=False, seed=seed + 1, **common)
    dls = DataLoaders(train_dl, valid_dl, path=path or _default_work_dir(), device=dev)
    h, w = ds.tile_size
    size = tile_size if tile_size is not None else (h if h == w else [h, w])
    dls.convml_tt = {
        "normalization": {"kind": kind, "mean": [float(v) for v in mean], "std": [float(v) for v in std]},
        "n_input_channels": int(c),
        "tile_size": size,
        "training_data_path": str(Path(ds.stage_dir).resolve()),
        "n_train": n_train,
        "n_valid": n_valid,
        "seed": int(seed),
    }
    return dls


def _imagenet_stats(n_channels: int) -> tuple[list[float], list[float]]:
    if n_channels == 3:
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    return [float(np.mean(IMAGENET_MEAN))] * n_channels, [float(np.mean(IMAGENET_STD))] * n_channels


def _default_work_dir() -> Path:
    # fastai's lr_find saves a temporary copy of the model under learn.path;
    # keep that out of the dataset folder and the current directory
    p = Path(tempfile.gettempdir()) / "convml_tt_learner"
    p.mkdir(parents=True, exist_ok=True)
    return p


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------
class AdaptiveConcatPool2d(nn.Module):
    """Concatenation of adaptive max and average pooling: ``(N, F, H, W) -> (N, 2F, 1, 1)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([nn.functional.adaptive_max_pool2d(x, 1),
                          nn.functional.adaptive_avg_pool2d(x, 1)], dim=1)


def _make_body(arch: str, n_channels: int) -> nn.Sequential:
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch={arch!r} is not supported; use one of {sorted(ARCHITECTURES)}")
    net = getattr(torchvision.models, arch)(weights=None)
    if n_channels != 3:
        old = net.conv1
        net.conv1 = nn.Conv2d(n_channels, old.out_channels, kernel_size=old.kernel_size,
                              stride=old.stride, padding=old.padding, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    # the same child names as torchvision's ResNet, so its state_dict loads as is
    return nn.Sequential(OrderedDict((name, getattr(net, name)) for name in _BODY_LAYERS))


def _make_head(kind: str, n_features: int, emb_dim: int, dropout: float) -> nn.Sequential:
    if kind == "fastai":
        # the head of the 2019 (fastai v1) model: concat pooling, then
        # [BN, dropout p/2, linear nf*2->512, ReLU], [BN, dropout p, linear 512->emb]
        head = nn.Sequential(OrderedDict([
            ("pool", AdaptiveConcatPool2d()),
            ("flatten", nn.Flatten()),
            ("bn1", nn.BatchNorm1d(2 * n_features)),
            ("drop1", nn.Dropout(dropout / 2)),
            ("lin1", nn.Linear(2 * n_features, 512)),
            ("relu", nn.ReLU(inplace=True)),
            ("bn2", nn.BatchNorm1d(512)),
            ("drop2", nn.Dropout(dropout)),
            ("lin2", nn.Linear(512, emb_dim)),
        ]))
    elif kind == "linear":
        head = nn.Sequential(OrderedDict([
            ("pool", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("lin", nn.Linear(n_features, emb_dim)),
        ]))
    else:
        raise ValueError(f"head={kind!r} is not supported; use one of {HEADS}")
    for m in head.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return head


class TripletEncoder(nn.Module):
    """ResNet body + head: normalised tiles ``(N, C, H, W)`` -> embeddings ``(N, emb_dim)``.

    ``config`` is a plain dict (architecture, channels, embedding size, head,
    normalisation statistics, tile size, ...) saved with the weights. Inputs
    must already be scaled to [0, 1] and normalised with
    ``config["normalization"]``; :func:`embed_tiles` does that from ``uint8``.
    """

    def __init__(
        self,
        arch: str = "resnet18",
        n_input_channels: int = 3,
        emb_dim: int = 100,
        head: str = "fastai",
        dropout: float = 0.5,
        config: dict | None = None,
    ) -> None:
        super().__init__()
        if int(n_input_channels) < 1:
            raise ValueError(f"n_input_channels={n_input_channels} must be at least 1")
        if int(emb_dim) < 1:
            raise ValueError(f"emb_dim={emb_dim} must be at least 1")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout} must be in [0, 1)")
        self.body = _make_body(arch, int(n_input_channels))
        self.head = _make_head(head, ARCHITECTURES[arch], int(emb_dim), float(dropout))
        cfg = dict(config or {})
        cfg.update(arch=arch, n_input_channels=int(n_input_channels), emb_dim=int(emb_dim),
                   head=head, dropout=float(dropout))
        cfg.setdefault("normalization", {"kind": "imagenet", **dict(zip(("mean", "std"),
                                                                        _imagenet_stats(int(n_input_channels))))})
        cfg.setdefault("tile_size", None)
        cfg.setdefault("convml_tt_version", __version__)
        self.config = cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class TripletModel(nn.Module):
    """The model fastai trains: three tile batches in, ``(B, 3, emb_dim)`` out.

    All ``3B`` tiles go through the encoder in one pass (one batch for
    batchnorm statistics); axis 1 of the output is (anchor, neighbor, distant).
    """

    def __init__(self, encoder: TripletEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, anchor: torch.Tensor, neighbor: torch.Tensor, distant: torch.Tensor) -> torch.Tensor:
        b = anchor.shape[0]
        emb = self.encoder(torch.cat([anchor, neighbor, distant], dim=0))
        return emb.view(3, b, -1).transpose(0, 1)


def _splitter(model: TripletModel) -> list:
    """Two parameter groups for fastai's freeze/unfreeze and discriminative lrs: body, head."""
    return [params(model.encoder.body), params(model.encoder.head)]


# --------------------------------------------------------------------------
# loss and metrics
# --------------------------------------------------------------------------
def _distances(pred: torch.Tensor, squared: bool) -> tuple[torch.Tensor, torch.Tensor]:
    a, n, d = pred.float().unbind(1)
    d_an = (a - n).pow(2).sum(1)
    d_ad = (a - d).pow(2).sum(1)
    if squared:
        return d_an, d_ad
    # eps keeps the gradient finite when two embeddings coincide
    return d_an.clamp_min(1e-12).sqrt(), d_ad.clamp_min(1e-12).sqrt()


class TripletLoss(nn.Module):
    """Triplet margin loss on embeddings ``pred`` of shape ``(B, 3, emb_dim)``.

    ``distance="euclidean"`` (Tile2Vec; convml_tt 2019): per triplet
    ``relu(|a-n| - |a-d| + margin) + l2 * (|a| + |n| + |d|)`` with Euclidean
    norms, defaults ``margin=1``, ``l2=0.01``. (Tile2Vec added the Frobenius
    norms of the whole batch, which ties the penalty's weight to the batch
    size; here the penalty is per triplet and averaged.)

    ``distance="squared"`` (later convml_tt releases): ``relu(|a-n|^2 -
    |a-d|^2 + margin)``, by default without penalty.

    ``negatives="batch"`` compares each anchor with the distant tiles of
    *every* triplet in the batch, not only its own: the margin term becomes
    the mean over ``j`` of ``relu(|a_i-n_i| - |a_i-d_j| + margin)``. Distant
    tiles are drawn independently of the anchors, so ``d_j`` is as valid a
    distant tile for anchor ``i`` as ``d_i``; the batch yields B times more
    comparisons for the same forward and backward pass (the default
    ``"own"`` is the classic one-per-triplet loss). This holds for datasets
    from :mod:`convml_tt.data.triplets`, whose distant tiles are random tiles
    of another place or time; use ``"own"`` for a dataset whose distant tiles
    were chosen to differ from their anchor.

    The target (fastai's dummy, zeros) is ignored. ``reduction`` is
    ``"mean"`` or ``"none"`` (per triplet), as fastai expects.
    """

    def __init__(self, margin: float = 1.0, l2: float | None = None, distance: str = "euclidean",
                 reduction: str = "mean", negatives: str = "own") -> None:
        super().__init__()
        if distance not in ("euclidean", "squared"):
            raise ValueError(f"distance={distance!r}; use 'euclidean' or 'squared'")
        if negatives not in ("own", "batch"):
            raise ValueError(f"negatives={negatives!r}; use 'own' (each triplet's distant tile) or "
                             f"'batch' (every distant tile of the batch)")
        self.negatives = negatives
        if margin < 0:
            raise ValueError(f"margin={margin} must be non-negative")
        self.margin = float(margin)
        self.l2 = float(l2) if l2 is not None else (0.01 if distance == "euclidean" else 0.0)
        self.distance = distance
        self.reduction = reduction

    def forward(self, pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        squared = self.distance == "squared"
        d_an, d_ad = _distances(pred, squared=squared)
        if self.negatives == "batch":
            a, _, d = pred.float().unbind(1)
            d_ad = (a[:, None, :] - d[None, :, :]).pow(2).sum(2)  # (B anchors, B distant tiles)
            if not squared:
                d_ad = d_ad.clamp_min(1e-12).sqrt()
            loss = torch.relu(d_an[:, None] - d_ad + self.margin).mean(1)
        else:
            loss = torch.relu(d_an - d_ad + self.margin)
        if self.l2:
            loss = loss + self.l2 * pred.float().norm(dim=2).sum(1)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss

    @property
    def config(self) -> dict:
        return {"distance": self.distance, "margin": self.margin, "l2": self.l2, "negatives": self.negatives}


def dist_an(pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean distance anchor-neighbour of a batch ``(B, 3, E)`` (fastai metric)."""
    return _distances(pred, squared=False)[0].mean()


def dist_ad(pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Euclidean distance anchor-distant of a batch ``(B, 3, E)`` (fastai metric)."""
    return _distances(pred, squared=False)[1].mean()


def triplet_acc(pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of triplets with d(anchor, neighbour) < d(anchor, distant) (fastai metric)."""
    d_an, d_ad = _distances(pred, squared=True)
    return (d_an < d_ad).float().mean()


# --------------------------------------------------------------------------
# file reading helpers (weights_only everywhere)
# --------------------------------------------------------------------------
def _torch_load(path: Path, what: str) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder, not a file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{what} {str(path)!r} is not a convml_tt model file: torch.load(weights_only=True) "
            f"could not read it ({type(err).__name__}: {first}). Model files hold only tensors and "
            f"plain types; files with pickled Python objects are refused, never unpickled."
        ) from None


def read_model_file(path: str | Path, kinds: Sequence[str] = (MODEL_FORMAT, CHECKPOINT_FORMAT)) -> dict:
    """Read and check a model file or checkpoint; return its plain dict (tensors on CPU)."""
    path = Path(path)
    obj = _torch_load(path, "model file")
    if not isinstance(obj, dict) or obj.get("format") not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        keys = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(
            f"{str(path)!r} is not a convml_tt model file: expected a dict with format "
            f"{MODEL_FORMAT!r} (written by convml_tt's save_model), found {keys}"
        )
    if obj["format"] not in kinds:
        raise ValueError(f"{str(path)!r} is a {obj['format']!r} file; expected one of {list(kinds)}")
    if int(obj.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format_version {obj.get('format_version')}, newer than "
                         f"this convml_tt ({__version__}) reads ({FORMAT_VERSION}); upgrade convml_tt")
    cfg = obj.get("config")
    missing = [k for k in ("arch", "n_input_channels", "emb_dim", "head") if not isinstance(cfg, dict) or k not in cfg]
    if missing or not isinstance(obj.get("state_dict"), dict):
        raise ValueError(f"{str(path)!r} is not a complete convml_tt model file: config lacks {missing} "
                         f"or the state_dict is missing")
    return obj


def _encoder_from_file_dict(obj: dict, path: Path) -> TripletEncoder:
    cfg = obj["config"]
    try:
        enc = TripletEncoder(cfg["arch"], cfg["n_input_channels"], cfg["emb_dim"], cfg["head"],
                             cfg.get("dropout", 0.5), config=cfg)
    except ValueError as err:
        raise ValueError(f"model file {str(path)!r} has an unusable config: {err}") from None
    try:
        enc.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as err:
        detail = str(err).splitlines()[0]
        raise ValueError(
            f"model file {str(path)!r}: its weights do not fit its config (arch={cfg['arch']}, "
            f"n_input_channels={cfg['n_input_channels']}, emb_dim={cfg['emb_dim']}, "
            f"head={cfg['head']}): {detail}"
        ) from None
    return enc


def _check_expected(cfg: dict, path: Path, **expected: Any) -> None:
    bad = [f"{k}={cfg.get(k)!r} (expected {v!r})" for k, v in expected.items()
           if v is not None and cfg.get(k) != v]
    if bad:
        raise ValueError(f"model file {str(path)!r} does not match: " + ", ".join(bad))


# --------------------------------------------------------------------------
# pretrained weights
# --------------------------------------------------------------------------
def _adapt_first_conv(sd: dict, n_channels: int) -> dict:
    """Adapt ``conv1.weight`` ``(64, C0, 7, 7)`` to ``n_channels`` input channels.

    Each new channel gets the mean over the original channels, scaled by
    ``C0 / n_channels`` so that a uniform input gives the same activations.
    """
    w = sd["conv1.weight"]
    c0 = w.shape[1]
    if c0 != n_channels:
        mean = w.float().mean(dim=1, keepdim=True)
        sd = dict(sd)
        sd["conv1.weight"] = (mean.repeat(1, n_channels, 1, 1) * (c0 / n_channels)).to(w.dtype)
    return sd


def load_pretrained_weights(
    arch: str, source: bool | str | Path, n_channels: int = 3, progress: bool = True
) -> tuple[dict, str, dict | None]:
    """Backbone (body) weights for ``arch`` from ``source``.

    ``source`` is ``True``/``"imagenet"`` (torchvision's default ImageNet
    weights: read from the torch hub cache ``$TORCH_HOME/hub/checkpoints``
    when present, else downloaded by torchvision's weights API), or a path to
    a local file: a torchvision ResNet ``state_dict`` (``.pth``), or a
    convml_tt model file (its body is reused). The first convolution is
    adapted to ``n_channels``. Returns ``(state_dict, description,
    normalization_or_None)``.
    """
    norm = None
    if source is True or (isinstance(source, str) and source.lower() in ("imagenet", "torchvision", "default")):
        from urllib.parse import urlparse

        weights = torchvision.models.get_model_weights(arch).DEFAULT
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
        if cached.exists():
            sd = _torch_load(cached, "pretrained weights file")
        else:  # the real download path (not reachable offline)
            sd = weights.get_state_dict(progress=progress, check_hash=True)
        desc = f"torchvision:{weights}"
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(
                f"pretrained weights file {str(path)!r} does not exist; give a torchvision ResNet "
                f"state_dict (.pth), a convml_tt model file, or 'imagenet'"
            )
        obj = _torch_load(path, "pretrained weights file")
        if isinstance(obj, dict) and obj.get("format") in (MODEL_FORMAT, CHECKPOINT_FORMAT):
            cfg = obj.get("config", {})
            if cfg.get("arch") != arch:
                raise ValueError(f"pretrained model file {str(path)!r} is a {cfg.get('arch')} encoder; "
                                 f"it cannot initialise a {arch}")
            sd = {k[len("body."):]: v for k, v in obj["state_dict"].items() if k.startswith("body.")}
            if cfg.get("n_input_channels") == n_channels:
                norm = cfg.get("normalization")
        elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            sd = obj["state_dict"]
        elif isinstance(obj, dict):
            sd = obj
        else:
            raise ValueError(f"pretrained weights file {str(path)!r} holds a {type(obj).__name__}, "
                             f"not a state_dict")
        sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
        desc = str(path.resolve())
    sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    if "conv1.weight" not in sd:
        raise ValueError(f"pretrained weights {desc!r} have no conv1.weight; expected a ResNet state_dict")
    return _adapt_first_conv(sd, n_channels), desc, norm


# --------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------
def _plain(obj: Any) -> Any:
    """Recursively convert to types torch.load(weights_only=True) accepts."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {(k if isinstance(k, (str, int)) else str(k)): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, L)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _atomic_save(obj: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _encoder_of(learn_or_model: Any) -> TripletEncoder:
    m = getattr(learn_or_model, "model", learn_or_model)
    m = getattr(m, "encoder", m)
    m = getattr(m, "_orig_mod", m)  # torch.compile wrapper
    if not isinstance(m, TripletEncoder):
        raise TypeError(f"expected a fastai Learner, TripletModel or TripletEncoder, got {type(learn_or_model).__name__}")
    return m


def _file_dict(enc: TripletEncoder, fmt: str) -> dict:
    sd = {k: v.detach().cpu().contiguous() for k, v in enc.state_dict().items()}
    return {"format": fmt, "format_version": FORMAT_VERSION, "config": _plain(enc.config), "state_dict": sd}


def save_checkpoint(learn: Learner, path: str | Path, epochs_done: int) -> Path:
    """Write weights, optimiser state and progress of ``learn`` to ``path`` (atomic)."""
    enc = _encoder_of(learn)
    obj = _file_dict(enc, CHECKPOINT_FORMAT)
    if learn.opt is not None:
        sd = learn.opt.state_dict()
        obj["optimizer"] = {"state": [_plain(dict(s)) for s in sd["state"]],
                            "hypers": [_plain(dict(h)) for h in sd["hypers"]]}
    obj["epoch"] = int(epochs_done)
    obj["fit"] = {"n_epoch": int(getattr(learn, "n_epoch", 0) or 0)}
    _atomic_save(obj, Path(path))
    return Path(path)


class CheckpointCallback(Callback):
    """Save a checkpoint after every training epoch (fastai callback).

    Writes ``{folder}/epoch_{N:03d}.pt`` (``N`` epochs completed, kept when
    ``keep_all``) and ``{folder}/last.pt``; each can be passed to
    :func:`resume_from_checkpoint` or :func:`load_model`. Epochs skipped when
    resuming and ``lr_find`` runs are not saved.
    """

    order = 65  # after the Recorder and ParamScheduler, before SkipToEpoch (70)

    def __init__(self, folder: str | Path, keep_all: bool = True) -> None:
        self.folder, self.keep_all = Path(folder), keep_all
        self._trained = False

    def before_epoch(self) -> None:
        self._trained = False

    def before_train(self) -> None:
        self._trained = True

    def after_epoch(self) -> None:
        if not self._trained or hasattr(self.learn, "lr_finder"):
            return
        done = self.epoch + 1
        last = save_checkpoint(self.learn, self.folder / "last.pt", done)
        if self.keep_all:
            import shutil

            dst = self.folder / f"epoch_{done:03d}.pt"
            tmp = self.folder / f".epoch_{done:03d}.pt.tmp"
            shutil.copyfile(last, tmp)
            os.replace(tmp, dst)


def _check_compatible(cfg: dict, other: dict, path: Path) -> None:
    keys = ("arch", "n_input_channels", "emb_dim", "head")
    bad = [f"{k}: file {other.get(k)!r} vs learner {cfg.get(k)!r}" for k in keys if other.get(k) != cfg.get(k)]
    if bad:
        raise ValueError(f"checkpoint {str(path)!r} was made for another model (" + "; ".join(bad)
                         + "); build the learner with the same settings to resume")


def resume_from_checkpoint(learn: Learner, path: str | Path) -> int:
    """Load weights and optimiser state from a checkpoint into ``learn``.

    Returns the number of epochs the checkpoint completed; continue with
    ``learn.fit_one_cycle(n_epoch, lr, start_epoch=that_number)`` so the
    one-cycle schedule picks up where it left off.
    """
    path = Path(path)
    obj = read_model_file(path, kinds=(CHECKPOINT_FORMAT,))
    enc = _encoder_of(learn)
    _check_compatible(enc.config, obj["config"], path)
    try:
        enc.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as err:
        raise ValueError(f"checkpoint {str(path)!r} weights do not fit the learner's model: "
                         f"{str(err).splitlines()[0]}") from None
    if "optimizer" in obj:
        if learn.opt is None:
            learn.create_opt()
        osd = obj["optimizer"]
        try:
            learn.opt.load_state_dict({"state": [dict(s) for s in osd["state"]],
                                       "hypers": L([dict(h) for h in osd["hypers"]])})
        except AssertionError:
            raise ValueError(f"checkpoint {str(path)!r} optimiser state does not fit the learner "
                             f"(different parameter groups, e.g. frozen body vs not)") from None
        dev = next(learn.model.parameters()).device
        for s in learn.opt.state.values():
            for k, v in list(s.items()):
                if isinstance(v, torch.Tensor):
                    s[k] = v.to(dev)
    return int(obj.get("epoch", 0))


# --------------------------------------------------------------------------
# the Learner
# --------------------------------------------------------------------------
def make_learner(
    dataset_path_or_dls: str | Path | TripletDataset | DataLoaders,
    arch: str = "resnet18",
    emb_dim: int = 100,
    head: str = "fastai",
    pretrained: bool | str | Path | None = None,
    freeze_body: bool = False,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    mixed_precision: str | bool | None = None,
    channels_last: bool | None = None,
    preload: bool | str = False,
    valid_pct: float = 0.1,
    seed: int = 42,
    lr: float = 1e-3,
    wd: float | None = None,
    loss: str = "euclidean",
    margin: float = 1.0,
    l2: float | None = None,
    negatives: str = "batch",
    dropout: float = 0.5,
    normalize: str | tuple | None = None,
    augment: bool = True,
    jitter: float = 0.0,
    tile_size: int | None = None,
    num_workers: int | None = None,
    checkpoint_dir: str | Path | None = None,
    skip_incomplete: bool = False,
    progress: bool = True,
    path: str | Path | None = None,
) -> Learner:
    """Build a fastai ``Learner`` that trains a triplet encoder.

    Use it like any fastai learner: ``learn.lr_find()``,
    ``learn.fit_one_cycle(n, lr)``, ``learn.recorder.plot_loss()``,
    ``learn.freeze()``/``unfreeze()`` (two parameter groups: body, head).

    Parameters
    ----------
    dataset_path_or_dls:
        triplet dataset folder (``train`` stage used), a :class:`TripletDataset`,
        or ``DataLoaders`` from :func:`make_dataloaders`.
    arch, emb_dim, head, dropout:
        ``resnet18|34|50`` body, embedding size, ``"fastai"`` (2019 head) or
        ``"linear"`` head, head dropout.
    pretrained:
        ``None``/``False`` (random init), ``True``/``"imagenet"`` or a path
        (see :func:`load_pretrained_weights`). Selects ImageNet normalisation
        unless ``normalize`` says otherwise.
    freeze_body:
        train only the head: body weights *and* batchnorm statistics stay
        fixed (``learn.unfreeze()`` releases them).
    device:
        ``None``: CUDA when available, else CPU.
    mixed_precision:
        ``None``/``"auto"``: bf16 autocast on CUDA when supported (else fp16),
        and on CPUs with native bf16 instructions (:func:`cpu_has_native_bf16`,
        about twice as fast there), else off; ``"bf16"`` (CUDA or CPU),
        ``"fp16"`` (CUDA only) or ``"no"``/``False``.
    channels_last:
        ``None``: on (faster convolutions on CUDA and on CPU).
    loss, margin, l2, negatives:
        ``"euclidean"`` (margin 1, l2 0.01) or ``"squared"``; ``negatives``
        ``"batch"`` (each anchor against all distant tiles of the batch, the
        default: on the demo's data +2.7 points of study triplet accuracy at
        no extra cost) or ``"own"`` (the classic one-per-triplet Tile2Vec
        loss); see :class:`TripletLoss`.
    checkpoint_dir:
        save a checkpoint there after every epoch (:class:`CheckpointCallback`).

    Seeds python/numpy/torch with ``seed`` before building the model; the data
    order and augmentations also derive from ``seed``.
    """
    if isinstance(dataset_path_or_dls, DataLoaders):
        dls = dataset_path_or_dls
        dev = resolve_device(device) if device is not None else torch.device(dls.device or "cpu")
        if device is not None:
            dls.device = dev
        info = getattr(dls, "convml_tt", None)
        if info is None:
            raise ValueError("DataLoaders were not built by convml_tt's make_dataloaders (no dls.convml_tt "
                             "info); build them with make_dataloaders(...)")
        set_seed(seed)
    else:
        dev = resolve_device(device)
        set_seed(seed)
        if normalize is None:
            normalize = "imagenet" if pretrained else "dataset"
        if channels_last is None:
            channels_last = True
        dls = make_dataloaders(
            dataset_path_or_dls, batch_size=batch_size, valid_pct=valid_pct, seed=seed,
            preload=preload, normalize=normalize, augment=augment, jitter=jitter,
            tile_size=tile_size, device=dev, channels_last=channels_last,
            num_workers=num_workers, skip_incomplete=skip_incomplete, progress=progress, path=path,
        )
        info = dls.convml_tt
    if channels_last is None:
        channels_last = bool(getattr(dls.train.transform, "channels_last", False))

    # mixed precision: decide before anything is built
    mp = resolve_precision(mixed_precision, dev)

    loss_func = TripletLoss(margin=margin, l2=l2, distance=loss, negatives=negatives)
    config = {
        "normalization": info["normalization"],
        "tile_size": info["tile_size"],
        "training_data_path": info["training_data_path"],
        "pretrained": None,
        "loss": loss_func.config,
        "convml_tt_version": __version__,
    }
    encoder = TripletEncoder(arch, info["n_input_channels"], emb_dim, head, dropout, config=config)
    if pretrained:
        sd, desc, _ = load_pretrained_weights(arch, pretrained, info["n_input_channels"], progress=progress)
        try:
            encoder.body.load_state_dict(sd, strict=True)
        except RuntimeError as err:
            raise ValueError(f"pretrained weights {desc!r} do not fit a {arch} body: "
                             f"{str(err).splitlines()[0]} (weights of another architecture?)") from None
        encoder.config["pretrained"] = desc
    model = TripletModel(encoder)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    cbs = []
    if checkpoint_dir is not None:
        cbs.append(CheckpointCallback(checkpoint_dir))
    if freeze_body:
        cbs.append(BnFreeze())
    learn = Learner(
        dls, model, loss_func=loss_func, opt_func=Adam, lr=lr, splitter=_splitter,
        metrics=[dist_an, dist_ad, triplet_acc], path=path or dls.path, wd=wd,
        train_bn=not freeze_body, cbs=cbs,
    )
    model.to(dev)
    if freeze_body:
        learn.freeze()
    if mp == "bf16" and dev.type == "cpu":
        learn.add_cb(CPUAutocast())
    elif mp == "bf16":
        learn.to_bf16()
    elif mp == "fp16":
        learn.to_fp16()
    return learn


def resolve_precision(mixed_precision: str | bool | None, dev: torch.device) -> str | None:
    """``"bf16"``, ``"fp16"`` or None (float32) for ``make_learner``'s ``mixed_precision`` on ``dev``."""
    mp = mixed_precision
    if mp in (False, "no", "none", "off", "fp32"):
        return None
    if mp is None or mp is True or mp == "auto":
        if dev.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if dev.type == "cpu" and cpu_has_native_bf16() else None
    if mp not in ("bf16", "fp16"):
        raise ValueError(f"mixed_precision={mixed_precision!r}; use None (auto), 'bf16', 'fp16' or 'no'")
    if dev.type == "cuda" or (mp == "bf16" and dev.type == "cpu"):
        return mp
    raise ValueError(f"mixed_precision={mixed_precision!r} is not available on {dev} "
                     f"(fp16 needs CUDA; bf16 works on CUDA and CPU); use 'bf16' or 'no'")


# --------------------------------------------------------------------------
# model files
# --------------------------------------------------------------------------
def save_model(learn_or_model: Any, path: str | Path, **extra_config: Any) -> Path:
    """Write the encoder's weights and config to ``path`` (atomic: temp file + rename).

    ``learn_or_model`` is a fastai Learner from :func:`make_learner`, a
    :class:`TripletModel` or a :class:`TripletEncoder`. ``extra_config``
    (plain values) is added to the stored config.
    """
    enc = _encoder_of(learn_or_model)
    obj = _file_dict(enc, MODEL_FORMAT)
    obj["config"].update(_plain(extra_config))
    _atomic_save(obj, Path(path))
    return Path(path)


def load_model(
    path: str | Path,
    device: str | torch.device | None = None,
    arch: str | None = None,
    emb_dim: int | None = None,
    n_input_channels: int | None = None,
) -> TripletEncoder:
    """Rebuild the encoder from a model file (or checkpoint) without a Learner.

    Reads with ``torch.load(weights_only=True)``: files holding pickled
    Python objects are refused. ``arch``/``emb_dim``/``n_input_channels``,
    when given, must match the file. Returns a :class:`TripletEncoder` in
    eval mode on ``device`` (``None``: CUDA when available), with ``.config``.
    """
    path = Path(path)
    obj = read_model_file(path)
    _check_expected(obj["config"], path, arch=arch, emb_dim=emb_dim, n_input_channels=n_input_channels)
    enc = _encoder_from_file_dict(obj, path)
    return enc.to(resolve_device(device)).eval()


@torch.no_grad()
def embed_tiles(
    encoder: TripletEncoder,
    tiles: torch.Tensor | np.ndarray | TileDataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    resize: bool = True,
    progress: bool = False,
) -> torch.Tensor:
    """Embeddings of tiles: ``(N, C, H, W)`` (``uint8`` 0..255, or float in [0, 1]) -> ``(N, emb_dim)``.

    Tiles are normalised with the encoder's stored statistics and, when
    ``resize`` and the training tile size differs, resized to it. Accepts a
    :class:`~convml_tt.data.dataset.TileDataset` too. Returns float32 on CPU.
    """
    enc = _encoder_of(encoder)
    dev = resolve_device(device) if device is not None else next(enc.parameters()).device
    was_training = enc.training
    enc.to(dev).eval()
    cfg = enc.config
    size = cfg.get("tile_size")
    tf = TripletBatchTransform(cfg["normalization"]["mean"], cfg["normalization"]["std"],
                               tile_size=size if (resize and isinstance(size, int)) else None)
    if isinstance(tiles, np.ndarray):
        tiles = torch.from_numpy(tiles)
    n = len(tiles)
    c_expected = cfg["n_input_channels"]
    out = []
    from tqdm.auto import tqdm

    for start in tqdm(range(0, n, batch_size), desc="embedding", disable=not progress, leave=False):
        idx = list(range(start, min(n, start + batch_size)))
        x = tiles.load_batch(idx) if isinstance(tiles, TileDataset) else tiles[start:start + batch_size]
        if x.ndim != 4 or x.shape[1] != c_expected:
            raise ValueError(f"tiles have shape {tuple(x.shape)}; the encoder expects (N, {c_expected}, H, W)")
        x = tf.normalize(tf.to_float(x.to(dev)))
        with torch.autocast(dev.type, enabled=False):
            out.append(enc(x).float().cpu())
    enc.train(was_training)
    if not out:
        return torch.empty((0, cfg["emb_dim"]))
    return torch.cat(out)


def embed_dataset(
    encoder: TripletEncoder,
    dataset_path: str | Path,
    stage: str = "study",
    tile_type: str = "anchor",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[list[int], np.ndarray]:
    """Embed every ``tile_type`` tile of a stage: returns ``(triplet ids, (N, emb_dim) array)``."""
    ds = TileDataset(dataset_path, stage=stage, tile_type=tile_type)
    emb = embed_tiles(encoder, ds, batch_size=batch_size, device=device, progress=progress)
    return list(ds.ids), emb.numpy()


# --------------------------------------------------------------------------
# one-call training (used by the CLI)
# --------------------------------------------------------------------------
def train(
    dataset: str | Path,
    out: str | Path,
    epochs: int = 10,
    lr: float = 1e-3,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    **learner_kwargs: Any,
) -> Learner:
    """Train an encoder on ``dataset`` with one-cycle for ``epochs`` and write the model to ``out``.

    ``learner_kwargs`` go to :func:`make_learner`. With ``resume`` (a
    checkpoint), training continues after the epochs the checkpoint completed.
    Prints fastai's per-epoch table unless ``quiet``.
    """
    if epochs < 1:
        raise ValueError(f"epochs={epochs} must be at least 1")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr={lr} must be a positive number, e.g. 1e-3")
    out = Path(out)
    if out.exists() and out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a folder; give a file name such as model.pt")
    learn = make_learner(dataset, lr=lr, checkpoint_dir=checkpoint_dir, progress=not quiet, **learner_kwargs)
    start = 0
    if resume is not None:
        start = resume_from_checkpoint(learn, resume)
        if start >= epochs:
            raise ValueError(f"checkpoint {str(resume)!r} already completed {start} epoch(s); ask for "
                             f"more than {start} epochs to continue")
    with ExitStack() as stack:
        if quiet:
            stack.enter_context(learn.no_bar())
            stack.enter_context(learn.no_logging())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*upsample.*")
            learn.fit_one_cycle(epochs, lr, start_epoch=start)
    save_model(learn, out, epochs_trained=epochs)
    return learn


def time_training_step(
    arch: str = "resnet18",
    n_input_channels: int = 3,
    emb_dim: int = 100,
    tile_pixels: int = 64,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    mixed_precision: str | bool | None = None,
    channels_last: bool = True,
    negatives: str = "batch",
    steps: int = 3,
) -> float:
    """Seconds one training step takes here: forward of ``3 * batch_size``
    random tiles of ``tile_pixels`` px through a freshly initialised encoder,
    the triplet loss, backward and an Adam step, with the precision and memory
    format :func:`make_learner` would use on ``device``.

    One untimed warm-up step, then the median of ``steps`` timed ones. Used to
    fit training into a wall-time budget (the demo); the real Learner adds its
    data pipeline and callbacks on top (a few per cent, see
    ``bench/train.py``). Touches no global random state.
    """
    if steps < 1:
        raise ValueError(f"steps={steps} must be at least 1")
    dev = resolve_device(device)
    mp = resolve_precision(mixed_precision, dev)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(0)
        model = TripletModel(TripletEncoder(arch, n_input_channels, emb_dim, "fastai", 0.0)).to(dev)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        loss_func = TripletLoss(negatives=negatives)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = [torch.randn(batch_size, n_input_channels, tile_pixels, tile_pixels, device=dev)
             .contiguous(memory_format=fmt) for _ in range(3)]
        amp = torch.autocast(dev.type, dtype=torch.float16 if mp == "fp16" else torch.bfloat16, enabled=bool(mp))
        times = []
        for i in range(steps + 1):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            opt.zero_grad()
            with amp:
                pred = model(*x)
            loss = loss_func(pred.float())
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i:
                times.append(time.perf_counter() - t0)
    return float(np.median(times))
