"""The triplet loss and the metrics fastai reports while training.

Every function here takes embeddings ``pred`` of shape ``(B, 3, emb_dim)``
(axis 1: anchor, neighbour, distant) and ignores fastai's dummy target.
:func:`default_loss` is the loss ``make_learner``, ``time_training_step``
and the demo use unless given another: the entry of :data:`LOSSES` named by
the settings' ``loss`` (CLI ``--loss``), built from the settings. Built in:
``"euclidean"`` and ``"squared"`` (:class:`TripletLoss` distances); more
with :func:`register_loss` or the entry-point group ``convml_tt.losses``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn

from ..config import TrainingSettings
from ..registry import Registry, check_signature
from .collectives import all_gather_cat

__all__ = ["LOSSES", "TripletLoss", "default_loss", "register_loss", "dist_an", "dist_ad", "triplet_acc"]

#: the fields of :class:`~convml_tt.config.TrainingSettings` that describe the loss
LOSS_SETTINGS = ("loss", "margin", "l2", "negatives")


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
    from :mod:`convml_tt.data.sampling.triplets`, whose distant tiles are random tiles
    of another place or time; use ``"own"`` for a dataset whose distant tiles
    were chosen to differ from their anchor.

    Data-parallel training (torch DDP, :mod:`convml_tt.architectures.training.distributed`):
    with ``negatives="batch"`` and ``gather_negatives`` (default), "the
    batch" is the *global* batch: while gradients are recorded, the distant
    embeddings of all ranks are gathered (an autograd-aware all-gather, a
    few kB per step) and each rank's anchors are compared with all ``N * B``
    of them. This gives ``N`` times more negatives at no extra forward or
    backward cost, and makes ``N`` ranks with ``B`` triplets each train
    exactly like one process with ``N * B`` (DDP averages the per-rank mean
    losses, which equals the global mean for equal per-rank batches).
    ``gather_negatives=False`` keeps each rank's own batch. Under
    ``torch.no_grad`` (validation, on every rank's full validation set)
    nothing is gathered. Without a multi-process group nothing changes.

    The target (fastai's dummy, zeros) is ignored. ``reduction`` is
    ``"mean"`` or ``"none"`` (per triplet), as fastai expects.
    """

    def __init__(self, margin: float = 1.0, l2: float | None = None, distance: str = "euclidean",
                 reduction: str = "mean", negatives: str = "own", gather_negatives: bool = True) -> None:
        super().__init__()
        self.gather_negatives = bool(gather_negatives)
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
            if self.gather_negatives and torch.is_grad_enabled():
                d = all_gather_cat(d)  # (N*B, E): the distant tiles of every rank (DDP); else d
            d_ad = (a[:, None, :] - d[None, :, :]).pow(2).sum(2)  # (B anchors, N*B distant tiles)
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
        cfg = {"distance": self.distance, "margin": self.margin, "l2": self.l2, "negatives": self.negatives}
        if not self.gather_negatives:  # the default is left out: configs of older models stay equal
            cfg["gather_negatives"] = False
        return cfg


def _loss_entry(name: str, factory: Any) -> Callable[[TrainingSettings], nn.Module]:
    check_signature(factory, (None,), f"loss {name!r}: the factory must be callable as factory(settings)")
    return factory


#: the loss registry: name -> ``factory(settings: TrainingSettings) -> nn.Module`` taking ``(B, 3, emb_dim)``
LOSSES = Registry("losses", "loss", "convml_tt.architectures.losses.register_loss(name, factory)", _loss_entry)


def register_loss(name: str, factory: Callable[[TrainingSettings], nn.Module], overwrite: bool = False):
    """Register ``factory(settings) -> loss module`` as loss ``name`` (the
    ``loss`` of :class:`~convml_tt.config.TrainingSettings`); the module is
    called as ``loss(pred, target)`` with embeddings ``pred`` ``(B, 3,
    emb_dim)`` (anchor, neighbour, distant) and returns a scalar. Returns it."""
    return LOSSES.register(name, factory, overwrite=overwrite)


for _distance in ("euclidean", "squared"):
    LOSSES.register(_distance, lambda s, d=_distance: TripletLoss(margin=s.margin, l2=s.l2, distance=d,
                                                                 negatives=s.negatives))
del _distance


def default_loss(settings: TrainingSettings | None = None, **overrides: Any) -> nn.Module:
    """The default training loss: the :data:`LOSSES` entry named by the loss
    fields of ``settings`` (default :class:`~convml_tt.config.TrainingSettings`:
    a :class:`TripletLoss` of euclidean distance, margin 1, l2 0.01,
    ``negatives="batch"``) with ``overrides`` among ``loss``, ``margin``,
    ``l2``, ``negatives``."""
    unknown = sorted(set(overrides) - set(LOSS_SETTINGS))
    if unknown:
        raise TypeError(f"default_loss has no setting(s) {unknown}; its settings are {list(LOSS_SETTINGS)}")
    s = settings if settings is not None else TrainingSettings()
    if overrides:
        s = s.replace(**overrides)
    return LOSSES.call(s.loss, LOSSES.get(s.loss), s, returns=nn.Module, returns_name="torch.nn.Module")


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
