"""The methods that ship: triplet, SimCLR, VICReg, BYOL and Barlow Twins (see :mod:`.base`)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..training._fastai import Callback
from . import losses as L
from .base import METHODS, Method, PairLoss, ViewModel, mlp, pos_cos, view_acc

__all__ = ["TripletMethod", "SimCLR", "VICReg", "BYOL", "BarlowTwins", "MomentumTarget"]

_VIEW_AUGMENTATIONS = (
    "a random flip / quarter turn of each view (8 dihedral transforms)",
    "a crop of `crop` x the side at a random place, not resized (pixel size kept)",
    "brightness/contrast by at most `jitter` (TrainingSettings.jitter; default 0: off)",
)


class TripletMethod(Method):
    """Tile2Vec / Denby (2020): ``(anchor, neighbour, distant)`` through the encoder, the
    triplet loss named by the settings (``loss``, ``margin``, ``l2``, ``negatives``)."""

    sample = "triplet"
    n_views = 3
    augmentations = ("a random flip / quarter turn of each tile (augment)",
                     "brightness/contrast by at most `jitter` (default 0: off)")

    def build_model(self, encoder: nn.Module, settings: Any) -> nn.Module:
        from ..encoder import TripletModel

        return TripletModel(encoder)

    def loss(self, settings: Any) -> nn.Module:
        from ..losses import default_loss

        return default_loss(settings)

    def metrics(self) -> list:
        from ..losses import dist_ad, dist_an, triplet_acc

        return [dist_an, dist_ad, triplet_acc]

    def batch_transform(self, mean: Sequence[float], std: Sequence[float], settings: Any, channels_last: bool):
        from ..transforms import TileAugment, TripletBatchTransform

        return TripletBatchTransform(mean, std, augment=TileAugment(flips=settings.augment, rot90=settings.augment,
                                                                    jitter=settings.jitter),
                                     tile_pixels=settings.tile_pixels, channels_last=channels_last)

    def splitter(self):
        from ..encoder import splitter

        return splitter

    @property
    def config(self) -> dict:
        return {"name": self.name, "sample": self.sample}


class _TwoViews(Method):
    """Two views of each tile through encoder and projector; the loss of ``(z_a, z_b)``."""

    augmentations = _VIEW_AUGMENTATIONS
    #: the projector's layers, and the loss function of :mod:`.losses` with its parameter names
    layers = 2
    last_bn = False
    loss_fn: Any = None
    loss_params: tuple[str, ...] = ()

    def projector(self, emb_dim: int) -> nn.Module:
        return mlp(emb_dim, self.params["hidden_dim"], self.params["proj_dim"], self.layers, self.last_bn)

    def build_model(self, encoder: nn.Module, settings: Any) -> nn.Module:
        return ViewModel(encoder, self.projector(int(settings.emb_dim)))

    def loss(self, settings: Any) -> nn.Module:
        fn = type(self).loss_fn
        return PairLoss(self.name, fn, **{k: self.params[k] for k in self.loss_params})

    def metrics(self) -> list:
        return [pos_cos, view_acc]


class SimCLR(_TwoViews):
    """SimCLR (Chen et al. 2020): NT-Xent over the batch, temperature ``temperature``."""

    defaults = {"temperature": 0.2, "proj_dim": 64, "hidden_dim": 256, "crop": 0.75}
    loss_fn = staticmethod(L.nt_xent)
    loss_params = ("temperature",)


class VICReg(_TwoViews):
    """VICReg (Bardes et al. 2022): invariance, variance and covariance terms on a 3-layer expander."""

    defaults = {"lambda_param": 25.0, "mu_param": 25.0, "nu_param": 1.0, "proj_dim": 256, "hidden_dim": 256,
                "crop": 0.75}
    layers = 3
    loss_fn = staticmethod(L.vicreg)
    loss_params = ("lambda_param", "mu_param", "nu_param")


class BarlowTwins(_TwoViews):
    """Barlow Twins (Zbontar et al. 2021): the views' cross-correlation pushed to the identity."""

    defaults = {"lambda_param": 5e-3, "proj_dim": 256, "hidden_dim": 256, "crop": 0.75}
    layers = 3
    loss_fn = staticmethod(L.barlow_twins)
    loss_params = ("lambda_param",)


class BYOL(_TwoViews):
    """BYOL (Grill et al. 2020): an online projector + predictor regress the momentum target's
    projection of the other view; the target follows the online network by an exponential
    moving average (``momentum`` rising to 1 on a cosine schedule; :class:`MomentumTarget`)."""

    defaults = {"momentum": 0.99, "proj_dim": 64, "hidden_dim": 256, "crop": 0.75}

    def build_model(self, encoder: nn.Module, settings: Any) -> nn.Module:
        p = self.params
        return ViewModel(encoder, self.projector(int(settings.emb_dim)),
                         predictor=mlp(p["proj_dim"], p["hidden_dim"], p["proj_dim"], 2))

    def loss(self, settings: Any) -> nn.Module:
        return PairLoss(self.name, L.negative_cosine, pairs=[(0, 3), (1, 2)])

    def callbacks(self, settings: Any) -> list:
        return [MomentumTarget(self.params["momentum"])]


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)


class MomentumTarget(Callback):
    """After each optimiser step: target = tau * target + (1 - tau) * online, with tau rising from
    ``base`` to 1 over the fit on a cosine schedule (BYOL); buffers (batchnorm statistics) are copied."""

    order = 20

    def __init__(self, base: float = 0.99) -> None:
        if not 0.0 <= base < 1.0:
            raise ValueError(f"momentum={base} must be in [0, 1)")
        self.base = float(base)

    def after_step(self) -> None:
        model = _unwrap(self.learn.model)
        tau = 1 - (1 - self.base) * (math.cos(math.pi * float(getattr(self.learn, "pct_train", 0.0))) + 1) / 2
        params, buffers = model.online_target_pairs()
        with torch.no_grad():
            for online, target in params:
                target.mul_(tau).add_(online.detach(), alpha=1 - tau)
            for online, target in buffers:
                target.copy_(online)


for _name, _cls in (("triplet", TripletMethod), ("simclr", SimCLR), ("vicreg", VICReg), ("byol", BYOL),
                    ("barlow", BarlowTwins)):
    METHODS.register(_name, _cls, aliases=("barlowtwins", "barlow_twins") if _name == "barlow" else ())
del _name, _cls
