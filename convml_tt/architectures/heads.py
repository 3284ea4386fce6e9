"""Embedding heads: feature maps ``(N, F, h, w)`` -> embeddings ``(N, emb_dim)``.

A head is registered in :data:`HEADS` (entry-point group
``convml_tt.heads``) as ``factory(n_features, emb_dim, dropout) -> nn.Module``
(the ``head`` of :class:`~convml_tt.config.TrainingSettings`, CLI ``--head``).
Built in:

- ``"fastai"``: the head of the 2019 (fastai v1) model: concat pooling, then
  ``[BN, dropout p/2, linear 2F->512, ReLU]``, ``[BN, dropout p, linear 512->emb_dim]``;
- ``"linear"``: average pooling and one linear layer ``F -> emb_dim``.

Their linear layers get Kaiming-normal weights and zero biases.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import torch
import torch.nn as nn

from ..registry import Registry, check_signature

__all__ = ["HEADS", "AdaptiveConcatPool2d", "make_head", "register_head"]


def _head_entry(name: str, factory: Any) -> Callable[[int, int, float], nn.Module]:
    check_signature(factory, (8, 4, 0.5), f"head {name!r}: the factory must be callable as "
                                          f"factory(n_features, emb_dim, dropout)")
    return factory


#: the head registry: name -> ``factory(n_features, emb_dim, dropout) -> nn.Module``
HEADS = Registry("heads", "head", "convml_tt.architectures.heads.register_head(name, factory)", _head_entry)


def register_head(name: str, factory: Callable[[int, int, float], nn.Module], overwrite: bool = False):
    """Register ``factory(n_features, emb_dim, dropout) -> nn.Module`` (a
    module mapping feature maps ``(N, n_features, h, w)`` to ``(N, emb_dim)``)
    as head ``name``; returns it."""
    return HEADS.register(name, factory, overwrite=overwrite)


class AdaptiveConcatPool2d(nn.Module):
    """Concatenation of adaptive max and average pooling: ``(N, F, H, W) -> (N, 2F, 1, 1)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([nn.functional.adaptive_max_pool2d(x, 1),
                          nn.functional.adaptive_avg_pool2d(x, 1)], dim=1)


def make_head(kind: str, n_features: int, emb_dim: int, dropout: float) -> nn.Module:
    """A new head of ``kind`` (a name of :data:`HEADS`) for ``n_features`` feature maps."""
    return HEADS.call(kind, HEADS.get(kind), int(n_features), int(emb_dim), float(dropout), returns=nn.Module,
                      returns_name="torch.nn.Module")


def _kaiming(head: nn.Module) -> nn.Module:
    for m in head.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return head


@HEADS.register("fastai")
def fastai_head(n_features: int, emb_dim: int, dropout: float) -> nn.Module:
    """The 2019 head: concat pooling, ``[BN, dropout p/2, linear 2F->512, ReLU]``, ``[BN, dropout p, linear 512->emb_dim]``."""
    return _kaiming(nn.Sequential(OrderedDict([
        ("pool", AdaptiveConcatPool2d()),
        ("flatten", nn.Flatten()),
        ("bn1", nn.BatchNorm1d(2 * n_features)),
        ("drop1", nn.Dropout(dropout / 2)),
        ("lin1", nn.Linear(2 * n_features, 512)),
        ("relu", nn.ReLU(inplace=True)),
        ("bn2", nn.BatchNorm1d(512)),
        ("drop2", nn.Dropout(dropout)),
        ("lin2", nn.Linear(512, emb_dim)),
    ])))


@HEADS.register("linear")
def linear_head(n_features: int, emb_dim: int, dropout: float) -> nn.Module:
    """Average pooling and one linear layer ``F -> emb_dim`` (``dropout`` unused)."""
    return _kaiming(nn.Sequential(OrderedDict([
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("lin", nn.Linear(n_features, emb_dim)),
    ])))
