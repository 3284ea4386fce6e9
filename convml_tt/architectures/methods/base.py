"""The method seam: :class:`Method`, its registry, and the parts view methods share.

A method decides

- ``sample``: what one training sample is: ``"triplet"`` (anchor, neighbour,
  distant tile of a triplet folder) or ``"views"`` (``n_views`` augmented
  views of one tile; every tile of a triplet folder is a tile);
- :meth:`Method.build_model`: the module fastai trains around the encoder
  (projector, predictor, momentum target), returning ``(B, k, D)``;
- :meth:`Method.loss`, :meth:`Method.metrics`, :meth:`Method.callbacks`;
- :meth:`Method.batch_transform`: uint8 batches -> the model's inputs and
  fastai's dummy target (augmentation is part of the method).

Only the encoder (backbone + head) is saved in a model file, with the
method's :attr:`Method.config` as ``config["method"]``, so ``embed`` and
``map`` use any method's model the same way.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...registry import Registry

__all__ = ["METHODS", "Method", "register_method", "get_method", "list_methods", "make_method",
           "ViewModel", "PairLoss", "mlp", "view_acc", "pos_cos"]


def _method_entry(name: str, obj: Any) -> type:
    if not (isinstance(obj, type) and issubclass(obj, Method)):
        raise TypeError(f"method {name!r}: expected a subclass of convml_tt.architectures.methods.Method, "
                        f"got {obj!r}")
    return obj


#: the method registry: name -> a :class:`Method` subclass (entry-point group ``convml_tt.methods``)
METHODS = Registry("methods", "method", "convml_tt.architectures.methods.register_method(name, cls)",
                   _method_entry, builtins=("convml_tt.architectures.methods.builtin",))


class Method:
    """A training method. Subclasses set :attr:`sample`, :attr:`defaults` and
    :attr:`augmentations` and implement :meth:`build_model` and :meth:`loss`.

    ``params`` override :attr:`defaults` (hyper-parameters such as a
    temperature or a projector width); unknown ones are refused.
    """

    name: str = ""
    #: ``"triplet"`` or ``"views"``
    sample: str = "views"
    n_views: int = 2
    #: hyper-parameters and their defaults
    defaults: dict = {}
    #: what the method does to a tile to make a training sample (documentation)
    augmentations: tuple[str, ...] = ()

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(f"method {self.name!r} has no parameter(s) {unknown}; its parameters are "
                             f"{sorted(self.defaults) or 'none'}")
        self.params = {**self.defaults, **params}

    @property
    def config(self) -> dict:
        """What the model file records: ``{"name": ..., "sample": ..., **params}``."""
        return {"name": self.name, "sample": self.sample, **self.params}

    def build_model(self, encoder: nn.Module, settings: Any) -> nn.Module:
        raise NotImplementedError

    def loss(self, settings: Any) -> nn.Module:
        raise NotImplementedError

    def metrics(self) -> list[Callable]:
        return []

    def callbacks(self, settings: Any) -> list:
        return []

    def splitter(self) -> Callable:
        """fastai's parameter groups of the model :meth:`build_model` makes (body, the rest)."""
        return view_splitter

    def batch_transform(self, mean: Sequence[float], std: Sequence[float], settings: Any,
                        channels_last: bool):
        from ..transforms import TileAugment
        from .views import ViewBatchTransform

        return ViewBatchTransform(mean, std, TileAugment(flips=settings.augment, rot90=settings.augment,
                                                         jitter=settings.jitter),
                                  crop=self.params.get("crop", 1.0), n_views=self.n_views,
                                  tile_pixels=settings.tile_pixels, channels_last=channels_last)


def register_method(name: str, cls: type, overwrite: bool = False) -> type:
    """Register the :class:`Method` subclass ``cls`` as method ``name``; returns it."""
    return METHODS.register(name, cls, overwrite=overwrite)


def get_method(name: str) -> type:
    """The :class:`Method` subclass of ``name`` (any case); a ValueError listing the registered ones."""
    return METHODS.get(name)


def list_methods() -> list[str]:
    """Names of the registered methods, in registration order."""
    return METHODS.names()


def make_method(name: str, **params: Any) -> Method:
    """A new method ``name`` with ``params``; its ``name`` is the registered one."""
    canonical = METHODS.canonical(name)
    m = METHODS.get(canonical)(**params)
    m.name = canonical
    return m


# --------------------------------------------------------------------------
# parts the view methods share
# --------------------------------------------------------------------------
def mlp(n_in: int, hidden: int, n_out: int, layers: int = 2, last_bn: bool = False) -> nn.Sequential:
    """``layers`` linear layers ``n_in -> hidden -> ... -> n_out`` with batchnorm and ReLU between
    (a projector, expander or predictor); ``last_bn``: a batchnorm without affine after the last."""
    mods: list[nn.Module] = []
    d = n_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
        d = hidden
    mods.append(nn.Linear(d, n_out, bias=not last_bn))
    if last_bn:
        mods.append(nn.BatchNorm1d(n_out, affine=False))
    return nn.Sequential(*mods)


class ViewModel(nn.Module):
    """Encoder + projector (+ predictor and momentum target): ``k`` view batches
    ``(B, C, H, W)`` in, ``(B, k, D)`` projections out, or with a predictor
    ``(B, 2k, D)``: the online predictions of the ``k`` views, then the
    momentum target's projections of them (no gradient).

    All views go through the encoder in one pass (one batch for batchnorm).
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module, predictor: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder, self.projector, self.predictor = encoder, projector, predictor
        if predictor is not None:
            self.target_encoder = copy.deepcopy(encoder)
            self.target_projector = copy.deepcopy(projector)
            for p in (*self.target_encoder.parameters(), *self.target_projector.parameters()):
                p.requires_grad_(False)

    def forward(self, *views: torch.Tensor) -> torch.Tensor:
        k, b = len(views), views[0].shape[0]
        x = torch.cat(views)
        z = self.projector(self.encoder(x))
        if self.predictor is None:
            return z.view(k, b, -1).transpose(0, 1)
        p = self.predictor(z)
        with torch.no_grad():
            t = self.target_projector(self.target_encoder(x))
        return torch.cat([p.view(k, b, -1), t.view(k, b, -1).to(p.dtype)]).transpose(0, 1)

    def online_target_pairs(self):
        """``(online, target)`` parameter and buffer pairs of the momentum target."""
        online = [*self.encoder.parameters(), *self.projector.parameters()]
        target = [*self.target_encoder.parameters(), *self.target_projector.parameters()]
        buffers = list(zip([*self.encoder.buffers(), *self.projector.buffers()],
                           [*self.target_encoder.buffers(), *self.target_projector.buffers()]))
        return list(zip(online, target)), buffers


def view_splitter(model: ViewModel) -> list[list[nn.Parameter]]:
    """Parameter groups for fastai: the backbone body, then head, projector and predictor
    (the momentum target is left out: it follows by the callback, not the optimiser)."""
    rest = [*model.encoder.head.parameters(), *model.projector.parameters()]
    if model.predictor is not None:
        rest += list(model.predictor.parameters())
    return [list(model.encoder.body.parameters()), rest]


class PairLoss(nn.Module):
    """A loss of two projection batches, ``fn(z_a, z_b, **params)``, on a model
    output ``pred`` ``(B, k, D)``: ``pairs`` are the ``(i, j)`` columns compared
    (averaged), e.g. ``[(0, 1)]`` or, for BYOL, ``[(0, 3), (1, 2)]``. fastai's
    dummy target is ignored."""

    def __init__(self, name: str, fn: Callable, pairs: Sequence[tuple[int, int]] = ((0, 1),), **params: Any):
        super().__init__()
        self.name, self.fn, self.pairs, self.params = name, fn, [tuple(p) for p in pairs], params

    def forward(self, pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        losses = [self.fn(pred[:, i], pred[:, j], **self.params) for i, j in self.pairs]
        return torch.stack(losses).mean()

    @property
    def config(self) -> dict:
        return {"name": self.name, **self.params}


def _pair(pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # BYOL's output has 4 columns: (p_a, p_b, t_a, t_b); compare p_a with t_b
    j = 3 if pred.shape[1] == 4 else 1
    return F.normalize(pred[:, 0].float(), dim=1), F.normalize(pred[:, j].float(), dim=1)


def view_acc(pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of tiles whose first view's nearest (cosine) second view in the batch is its own (fastai metric)."""
    a, b = _pair(pred)
    return ((a @ b.T).argmax(1) == torch.arange(len(a), device=a.device)).float().mean()


def pos_cos(pred: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cosine similarity of the two views of a tile (fastai metric)."""
    a, b = _pair(pred)
    return (a * b).sum(1).mean()
