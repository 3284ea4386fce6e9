"""Augmented views of tiles for the view methods (SimCLR, VICReg, BYOL, Barlow Twins).

Augmentations that respect what the pixels are:

- **dihedral**: a random one of the 8 flips and quarter turns (cloud fields
  have no preferred orientation on these scales; the same as the triplet
  method's augmentation, :class:`~convml_tt.architectures.transforms.TileAugment`);
- **crop without resizing**: a window of ``crop`` x the tile's side at a
  random place; pixels keep their size, so object sizes and spacings, which
  tell regimes apart (gravel and flowers have the same cloud fraction),
  are not changed as a resized crop would change them;
- **brightness/contrast**: only when ``jitter`` > 0 (off by default):
  reflectances are calibrated (and sun-zenith corrected by default) and
  brightness temperatures are physical, so brightness tells something.

Colour jitter, greyscale and blur (the ImageNet recipes) are left out:
channels are bands, and blur removes the small cells that separate sugar
from clear sky.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..transforms import TileAugment, TripletBatchTransform

__all__ = ["ViewBatchTransform", "random_crop"]


def random_crop(x: torch.Tensor, side: int, generator: torch.Generator,
                part: tuple[int, int] | None = None) -> torch.Tensor:
    """A ``side`` x ``side`` window of each image of ``x`` ``(N, C, H, W)`` at an offset drawn per
    image from ``generator`` (for the whole batch when ``x`` is part ``i`` of ``k``, as
    :meth:`TileAugment.__call__`); returns ``(N, C, side, side)``."""
    n, _, h, w = x.shape
    if side >= h and side >= w:
        return x
    i, k = part if part is not None else (0, 1)
    sl = slice(i * n, (i + 1) * n)
    oy = torch.randint(0, h - side + 1, (n * k,), generator=generator)[sl].tolist()
    ox = torch.randint(0, w - side + 1, (n * k,), generator=generator)[sl].tolist()
    return torch.stack([x[j, :, y:y + side, z:z + side] for j, (y, z) in enumerate(zip(oy, ox))])


class ViewBatchTransform(TripletBatchTransform):
    """uint8 tiles -> ``n_views`` augmented, normalised views and fastai's dummy target.

    Called on a batch ``(B, C, H, W)`` of single tiles or ``(B, 3, C, H, W)`` of
    triplets (each of the ``3B`` tiles is then a sample), it returns ``(view_1,
    ..., view_n, target)``: float32 ``(N, C, s, s)`` with ``s = round(crop *
    side)``, and zeros ``(N,)``. Views are always augmented (they are the
    method's samples), on training and validation batches alike; each loader
    draws from its own seeded generator.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], augment: TileAugment | None = None,
                 crop: float = 1.0, n_views: int = 2, tile_pixels: int | None = None,
                 channels_last: bool = False) -> None:
        super().__init__(mean, std, augment=augment, tile_pixels=tile_pixels, channels_last=channels_last)
        if not 0.25 <= float(crop) <= 1.0:
            raise ValueError(f"crop={crop} must be in [0.25, 1] (the side of the crop / the tile's)")
        if int(n_views) < 2:
            raise ValueError(f"n_views={n_views} must be at least 2")
        self.crop, self.n_views = float(crop), int(n_views)
        self.n_inp = self.n_views

    def __call__(self, batch: torch.Tensor, generator: torch.Generator | None = None, train: bool = True,
                 part: tuple[int, int] | None = None):
        if batch.ndim == 5:
            batch = batch.reshape(-1, *batch.shape[2:])
        if batch.ndim != 4:
            raise ValueError(f"expected tiles (B, C, H, W) or triplets (B, 3, C, H, W), got {tuple(batch.shape)}")
        x = self.to_float(batch)
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        side = max(8, int(round(self.crop * min(x.shape[-2:]))))
        views = []
        for _ in range(self.n_views):
            v = self.augment(x, generator, part=part) if self.augment is not None else x
            views.append(self.normalize(random_crop(v, side, generator, part=part)))
        target = torch.zeros(x.shape[0], device=batch.device, dtype=torch.float32)
        return (*views, target)
