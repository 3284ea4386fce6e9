"""The triplet encoder: a registered backbone and an embedding head.

:class:`TripletEncoder` maps normalised tiles ``(N, C, H, W)`` to
embeddings ``(N, emb_dim)``; :class:`TripletModel` is what fastai trains:
three tile batches in, ``(B, 3, emb_dim)`` out.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .. import __version__
from ..data.dataset.torch import IMAGENET_MEAN, IMAGENET_STD
from .backbones import feature_count, get_backbone
from .heads import make_head

__all__ = ["TripletEncoder", "TripletModel", "splitter", "imagenet_stats"]


def imagenet_stats(n_channels: int) -> tuple[list[float], list[float]]:
    """ImageNet per-channel mean and std (pixels in [0, 1]); for other than 3
    channels, the mean of the three repeated ``n_channels`` times."""
    if n_channels == 3:
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    return [float(np.mean(IMAGENET_MEAN))] * n_channels, [float(np.mean(IMAGENET_STD))] * n_channels


class TripletEncoder(nn.Module):
    """Backbone body + head: normalised tiles ``(N, C, H, W)`` -> embeddings ``(N, emb_dim)``.

    ``arch`` names a backbone of the registry
    (:func:`~convml_tt.architectures.backbones.list_backbones`); its number
    of feature maps is found from the body itself. ``config`` is a plain dict
    (architecture, channels, embedding size, head, normalisation statistics,
    tile size, ...) saved with the weights. Inputs must already be scaled to
    [0, 1] and normalised with ``config["normalization"]``;
    :func:`~convml_tt.architectures.inference.embed_tiles` does that from ``uint8``.
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
        c = int(n_input_channels)
        self.body = get_backbone(arch).build(c)
        n_features = feature_count(self.body, c, name=f"backbone {arch!r}")
        self.head = make_head(head, n_features, int(emb_dim), float(dropout))
        cfg = dict(config or {})
        cfg.update(arch=arch, n_input_channels=c, emb_dim=int(emb_dim), head=head, dropout=float(dropout))
        cfg.setdefault("normalization", {"kind": "imagenet", **dict(zip(("mean", "std"), imagenet_stats(c)))})
        cfg.setdefault("tile_pixels", None)
        cfg.setdefault("convml_tt_version", __version__)
        self.config = cfg

    @classmethod
    def from_config(cls, config: dict) -> "TripletEncoder":
        """A new (randomly initialised) encoder as described by a model ``config``
        (``arch``, ``n_input_channels``, ``emb_dim``, ``head``, ``dropout``;
        missing ones take the constructor's defaults), keeping the whole config."""
        return cls(config.get("arch", "resnet18"), config.get("n_input_channels", 3),
                   config.get("emb_dim", 100), config.get("head", "fastai"),
                   config.get("dropout", 0.5), config=config)

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


def splitter(model: TripletModel) -> list[list[nn.Parameter]]:
    """Two parameter groups for fastai's freeze/unfreeze and discriminative lrs: body, head."""
    return [list(model.encoder.body.parameters()), list(model.encoder.head.parameters())]
