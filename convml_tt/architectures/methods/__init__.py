"""Training methods: what a sample is, the model parts, the loss and the metrics.

A method (:class:`~.base.Method`) turns a :class:`~convml_tt.architectures.encoder.TripletEncoder`
(backbone + head; the part that is saved and later embeds and maps) into
what fastai trains. Registered in :data:`METHODS` (entry-point group
``convml_tt.methods``; the ``method`` of :class:`~convml_tt.config.TrainingSettings`,
CLI ``train --method``). Built in:

- ``triplet``: Tile2Vec / Denby (2020): anchor, neighbour and distant tile,
  the triplet loss of :mod:`convml_tt.architectures.losses` (the default);
- ``simclr``: two augmented views of each tile, a projector, NT-Xent (Chen et al. 2020);
- ``vicreg``: two views, an expander, variance-invariance-covariance (Bardes et al. 2022);
- ``byol``: two views, projector + predictor against a momentum target
  updated by a fastai callback (Grill et al. 2020);
- ``barlow``: two views, a projector, the Barlow Twins cross-correlation loss (Zbontar et al. 2021).

The view methods' losses take ``(z_a, z_b)``, two ``(B, D)`` batches of
projections (lightly's convention); :mod:`.losses`. Their augmentations
(:mod:`.views`) keep the pixel scale: dihedral turns and flips, crops
without resizing, brightness only when asked.
"""
from __future__ import annotations

from .base import METHODS, Method, get_method, list_methods, register_method

__all__ = ["METHODS", "Method", "get_method", "list_methods", "register_method"]
