"""How long one training step takes here (to fit training into a time budget)."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn

from ..._io import resolve_device
from ..encoder import TripletEncoder, TripletModel
from ..losses import default_loss
from .precision import resolve_precision

__all__ = ["time_training_step"]


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
    loss_func: nn.Module | None = None,
) -> float:
    """Seconds one training step takes here: forward of ``3 * batch_size``
    random tiles of ``tile_pixels`` px through a freshly initialised encoder,
    the loss (``loss_func``; default :func:`~convml_tt.architectures.losses.default_loss`
    with ``negatives``), backward and an Adam step, with the precision and
    memory format :func:`~.learner.make_learner` would use on ``device``.

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
        if loss_func is None:
            loss_func = default_loss(negatives=negatives)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        x = [torch.randn(batch_size, n_input_channels, tile_pixels, tile_pixels, device=dev)
             .contiguous(memory_format=fmt) for _ in range(3)]
        target = torch.zeros(batch_size, device=dev)  # fastai's dummy target
        amp = torch.autocast(dev.type, dtype=torch.float16 if mp == "fp16" else torch.bfloat16, enabled=bool(mp))
        times = []
        for i in range(steps + 1):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            opt.zero_grad()
            with amp:
                pred = model(*x)
            loss = loss_func(pred.float(), target)
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i:
                times.append(time.perf_counter() - t0)
    return float(np.median(times))
