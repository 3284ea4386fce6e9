"""Embedding tiles with a trained encoder: the one embedding loop.

:func:`embed_tiles` runs any encoder (an ``nn.Module`` mapping normalised
tiles ``(B, C, H, W)`` to ``(B, emb_dim)``, with a ``.config`` dict) over
tiles given as one array or as a dataset, scaling, resizing and normalising
them as in training (from the encoder's config).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .._io import resolve_device
from ..data.dataset.torch import TileDataset
from .transforms import TripletBatchTransform

__all__ = ["embed_tiles", "embed_dataset", "model_normalization", "model_input_channels"]


def _module_of(model: Any) -> nn.Module:
    """The encoder of a fastai Learner (``.model``) or a TripletModel (``.encoder``), or ``model``."""
    if not isinstance(model, nn.Module) and isinstance(getattr(model, "model", None), nn.Module):
        model = model.model
    inner = getattr(model, "encoder", None)
    if isinstance(inner, nn.Module) and not hasattr(model, "config"):
        model = inner
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an encoder (torch.nn.Module), a TripletModel or a fastai Learner, "
                        f"got {type(model).__name__}")
    return model


def _config_of(model: nn.Module) -> dict:
    cfg = getattr(model, "config", None)
    return cfg if isinstance(cfg, dict) else {}


def model_normalization(model: nn.Module, n_channels: int) -> tuple[list[float], list[float]]:
    """Per-channel ``(mean, std)`` applied after scaling pixels to [0, 1]: from
    ``model.config["normalization"]`` (as :func:`~convml_tt.architectures.save_model`
    stores it); mean 0 and std 1 when the model has none."""
    norm = _config_of(model).get("normalization")
    mean, std = (norm.get("mean"), norm.get("std")) if isinstance(norm, dict) else (None, None)
    if mean is None or std is None:
        return [0.0] * n_channels, [1.0] * n_channels
    return [float(v) for v in mean], [float(v) for v in std]


def model_input_channels(model: nn.Module) -> int | None:
    """Input channels of ``model``: its config's ``n_input_channels``, else those
    of its first ``nn.Conv2d``; None if neither says."""
    n = _config_of(model).get("n_input_channels")
    if isinstance(n, int):
        return n
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    return None


def _batches(tiles: Any, batch_size: int, num_workers: int, pin: bool):
    """Batches ``(B, C, H, W)`` of an array/tensor (slices) or of a dataset (a torch DataLoader)."""
    if isinstance(tiles, np.ndarray):
        tiles = torch.from_numpy(tiles)
    if isinstance(tiles, torch.Tensor):
        for start in range(0, len(tiles), batch_size):
            yield tiles[start:start + batch_size]
        return
    loader = torch.utils.data.DataLoader(tiles, batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers, pin_memory=pin)
    for batch in loader:
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f"the dataset yields {type(batch).__name__} batches; embed_tiles needs items "
                            f"that are tiles (C, H, W), e.g. a TileDataset")
        yield batch


def embed_tiles(
    model: Any,
    tiles: torch.Tensor | np.ndarray | torch.utils.data.Dataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    resize: bool = True,
    progress: bool = False,
    num_workers: int = 0,
    desc: str = "embedding",
) -> torch.Tensor:
    """Embeddings of tiles: ``(N, C, H, W)`` (``uint8`` 0..255, or float in [0, 1]) -> ``(N, emb_dim)``.

    ``model``: an encoder ``nn.Module`` with a ``.config`` dict (e.g. from
    :func:`~convml_tt.architectures.model_file.load_model`), a TripletModel
    or a fastai Learner. ``tiles``: a tensor or array, or a dataset whose
    items are tiles ``(C, H, W)`` (a :class:`~convml_tt.data.dataset.torch.TileDataset`,
    a ``torch.utils.data.Subset`` of one, ...), read through a torch
    ``DataLoader`` with ``num_workers`` processes.

    Tiles are normalised with the config's statistics (mean 0, std 1 when
    it has none) and, when ``resize`` and the config's integer
    ``tile_pixels`` differs, resized to it. Runs on ``device`` (None: where
    the model is) in inference mode with autocast off; the model is left in
    the training mode it had. Returns float32 on CPU.
    """
    model = _module_of(model)
    p = next(model.parameters(), None)
    dev = resolve_device(device) if device is not None else (p.device if p is not None else torch.device("cpu"))
    cfg = _config_of(model)
    c_expected = model_input_channels(model)
    size = cfg.get("tile_pixels")
    size = size if (resize and isinstance(size, int)) else None
    tf = None
    was_training = model.training
    model.to(dev).eval()
    n = len(tiles)
    out = []
    from tqdm.auto import tqdm

    try:
        with torch.inference_mode(), torch.autocast(dev.type, enabled=False), \
                tqdm(total=n, desc=desc, unit="tile", disable=not progress, leave=False) as bar:
            for x in _batches(tiles, batch_size, num_workers, pin=dev.type == "cuda"):
                if x.ndim != 4 or (c_expected is not None and x.shape[1] != c_expected):
                    raise ValueError(f"tiles have shape {tuple(x.shape)}; the encoder expects "
                                     f"(N, {c_expected if c_expected is not None else 'C'}, H, W)")
                if tf is None:
                    tf = TripletBatchTransform(*model_normalization(model, x.shape[1]), tile_pixels=size)
                x = tf.normalize(tf.to_float(x.to(dev, non_blocking=True)))
                out.append(model(x).float().cpu())
                bar.update(len(x))
    finally:
        model.train(was_training)
    if not out:
        return torch.empty((0, int(cfg.get("emb_dim", 0))))
    return torch.cat(out)


def embed_dataset(
    model: Any,
    dataset_path: str | Path,
    stage: str = "study",
    tile_type: str = "anchor",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = True,
    num_workers: int = 0,
) -> tuple[list[int], np.ndarray]:
    """Embed every ``tile_type`` tile of a stage: returns ``(triplet ids, (N, emb_dim) array)``."""
    ds = TileDataset(dataset_path, stage=stage, tile_type=tile_type)
    emb = embed_tiles(model, ds, batch_size=batch_size, device=device, progress=progress,
                      num_workers=num_workers)
    return list(ds.ids), emb.numpy()
