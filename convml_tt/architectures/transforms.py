"""Batch-level conversion, augmentation and normalisation of tiles (torch).

Datasets hand out ``uint8`` tiles ``(C, H, W)`` (pixel values 0..255);
conversion to float, augmentation and normalisation happen here, on whole
batches on whichever device they are (CPU or GPU), from a CPU random
generator, so the same seed gives the same augmentations on either device.
Training (:mod:`.training.dataloaders`) and embedding (:mod:`.inference`)
use the same :class:`TripletBatchTransform`.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..config import accepts_old_names

__all__ = ["TileAugment", "TripletBatchTransform"]


class TileAugment:
    """Random dihedral transforms (flips, 90 degree rotations) and optional colour jitter.

    Each image of a batch draws its own transform from a CPU
    ``torch.Generator``; the transforms themselves are exact tensor
    permutations applied batch-wise on whatever device the batch is on, so a
    given seed gives identical results on CPU and GPU. Rotations by 90 degrees
    are only used for square tiles.

    Parameters
    ----------
    flips, rot90:
        allow mirror flips / rotations by multiples of 90 degrees.
    jitter:
        maximum relative change of brightness and contrast (e.g. 0.05 for
        +-5 %); 0 disables colour jitter.
    """

    def __init__(self, flips: bool = True, rot90: bool = True, jitter: float = 0.0) -> None:
        if not 0.0 <= jitter < 1.0:
            raise ValueError(f"jitter={jitter} must be in [0, 1), e.g. 0.05")
        self.flips, self.rot90, self.jitter = flips, rot90, float(jitter)

    @property
    def active(self) -> bool:
        return self.flips or self.rot90 or self.jitter > 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator,
                 part: tuple[int, int] | None = None) -> torch.Tensor:
        """Augment ``x`` (float, ``(N, C, H, W)``, values in [0, 1]); returns a new tensor.

        ``part=(i, k)``: ``x`` is part ``i`` of ``k`` equal consecutive parts of
        a larger batch (data-parallel training: one rank's share of the global
        batch). The draws are made for the whole ``k * N`` images and part
        ``i``'s are used, so each image gets the transform it would get in the
        undivided batch from the same generator state."""
        n, _, h, w = x.shape
        i, k_parts = part if part is not None else (0, 1)
        if not (0 <= i < k_parts):
            raise ValueError(f"part={part!r}: expected (index, count) with 0 <= index < count")
        total, sl = n * k_parts, slice(i * n, (i + 1) * n)
        rot = self.rot90 and h == w
        # dihedral element k = 4*flip + quarter turns
        turns = torch.randint(0, 4, (total,), generator=generator)[sl]
        if not rot:
            turns = (turns // 2) * 2  # 0 or 180 degrees keep non-square shapes
        flip = (torch.randint(0, 2, (total,), generator=generator)[sl] if self.flips
                else torch.zeros(n, dtype=torch.long))
        if not (self.rot90 or self.flips):
            turns = torch.zeros(n, dtype=torch.long)
        k = turns + 4 * flip
        out = x
        if (k != 0).any():
            out = torch.empty_like(x)
            for code in torch.unique(k).tolist():
                sel = torch.nonzero(k == code).flatten().to(x.device)
                part = x.index_select(0, sel)
                if code >= 4:
                    part = part.flip(-1)
                if code % 4:
                    part = torch.rot90(part, code % 4, dims=(-2, -1))
                out.index_copy_(0, sel, part)
        if self.jitter > 0:
            j = self.jitter
            bright = 1 + (torch.rand(total, generator=generator)[sl] * 2 - 1) * j
            contrast = 1 + (torch.rand(total, generator=generator)[sl] * 2 - 1) * j
            bright = bright.to(x.device, x.dtype).view(n, 1, 1, 1)
            contrast = contrast.to(x.device, x.dtype).view(n, 1, 1, 1)
            m = out.mean(dim=(1, 2, 3), keepdim=True)
            out = (((out - m) * contrast + m) * bright).clamp_(0, 1)
        return out


@accepts_old_names(tile_size="tile_pixels")
class TripletBatchTransform:
    """uint8 triplet batch -> normalised float inputs plus a dummy target.

    Called on a batch ``(B, 3, C, H, W)`` ``uint8`` (on any device), it
    returns ``(anchor, neighbor, distant, target)``: three float32 tensors of
    shape ``(B, C, H', W')`` (scaled to [0, 1], optionally resized to
    ``tile_pixels``, augmented per image, normalised by ``mean``/``std``) and a
    ``float32`` target of zeros, shape ``(B,)``.

    The dummy target is deliberate: fastai splits a batch into inputs and
    targets (here ``n_inp=3``) and only computes the loss and takes a step
    when there is at least one target.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        augment: TileAugment | None = None,
        tile_pixels: int | None = None,
        channels_last: bool = False,
    ) -> None:
        if len(mean) != len(std):
            raise ValueError(f"mean ({len(mean)} values) and std ({len(std)} values) differ in length")
        if any(s <= 0 for s in std):
            raise ValueError(f"std {list(std)} must be positive")
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]
        self.augment = augment
        self.tile_pixels = tile_pixels
        self.channels_last = channels_last

    def to_float(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 or float ``(N, C, H, W)`` -> float32 in [0, 1] resized to ``tile_pixels``."""
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        else:
            x = x.float()
        if self.tile_pixels is not None and tuple(x.shape[-2:]) != (self.tile_pixels, self.tile_pixels):
            x = F.interpolate(x, size=(self.tile_pixels, self.tile_pixels), mode="bilinear",
                              align_corners=False, antialias=True)
        return x

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` per channel, for ``(N, C, H, W)`` floats in [0, 1]."""
        c = x.shape[1]
        if c != len(self.mean):
            raise ValueError(f"batch has {c} channels but the normalisation statistics have "
                             f"{len(self.mean)}")
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, c, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, c, 1, 1)
        x = (x - mean).div_(std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __call__(
        self, batch: torch.Tensor, generator: torch.Generator | None = None, train: bool = True,
        part: tuple[int, int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``part=(rank, world_size)``: the batch is that rank's share of a global
        batch of ``world_size`` equal, consecutive shares; augmentations are drawn
        as for the global batch (see :meth:`TileAugment.__call__`)."""
        if batch.ndim != 5 or batch.shape[1] != 3:
            raise ValueError(f"expected a triplet batch of shape (B, 3, C, H, W), got {tuple(batch.shape)}")
        b, _, c, h, w = batch.shape
        x = self.to_float(batch.reshape(b * 3, c, h, w))
        if train and self.augment is not None and self.augment.active:
            if generator is None:
                generator = torch.Generator().manual_seed(0)
            x = self.augment(x, generator, part=part)
        x = self.normalize(x)
        x = x.reshape(b, 3, *x.shape[1:])
        target = torch.zeros(b, device=batch.device, dtype=torch.float32)
        a, n, d = x.unbind(1)
        if self.channels_last:
            a, n, d = (t.contiguous(memory_format=torch.channels_last) for t in (a, n, d))
        return a, n, d, target
