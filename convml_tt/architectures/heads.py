"""Embedding heads: feature maps ``(N, F, h, w)`` -> embeddings ``(N, emb_dim)``.

- ``"fastai"``: the head of the 2019 (fastai v1) model: concat pooling, then
  ``[BN, dropout p/2, linear 2F->512, ReLU]``, ``[BN, dropout p, linear 512->emb_dim]``;
- ``"linear"``: average pooling and one linear layer ``F -> emb_dim``.

Linear layers get Kaiming-normal weights and zero biases.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

__all__ = ["HEADS", "AdaptiveConcatPool2d", "make_head"]

HEADS = ("fastai", "linear")


class AdaptiveConcatPool2d(nn.Module):
    """Concatenation of adaptive max and average pooling: ``(N, F, H, W) -> (N, 2F, 1, 1)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([nn.functional.adaptive_max_pool2d(x, 1),
                          nn.functional.adaptive_avg_pool2d(x, 1)], dim=1)


def make_head(kind: str, n_features: int, emb_dim: int, dropout: float) -> nn.Sequential:
    """A new head of ``kind`` (one of :data:`HEADS`) for ``n_features`` feature maps."""
    if kind == "fastai":
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
