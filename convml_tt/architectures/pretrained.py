"""Pretrained backbone weights: what the registry entry offers, or a local file.

The first convolution (found with
:func:`~convml_tt.architectures.backbones.first_conv`) is adapted when the
weights were made for another number of input channels.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .backbones import first_conv, get_backbone
from .model_file import CHECKPOINT_FORMAT, MODEL_FORMAT, read_weights_file

__all__ = ["load_pretrained_weights", "adapt_first_conv", "init_from_pretrained"]

_REGISTERED = ("imagenet", "torchvision", "default")


def adapt_first_conv(sd: dict, key: str, n_channels: int) -> dict:
    """Adapt the first convolution's weight ``sd[key]`` ``(F, C0, kh, kw)`` to ``n_channels`` input channels.

    Each new channel gets the mean over the original channels, scaled by
    ``C0 / n_channels`` so that a uniform input gives the same activations.
    """
    w = sd[key]
    c0 = w.shape[1]
    if c0 != n_channels:
        mean = w.float().mean(dim=1, keepdim=True)
        sd = dict(sd)
        sd[key] = (mean.repeat(1, n_channels, 1, 1) * (c0 / n_channels)).to(w.dtype)
    return sd


def _registered_weights(arch: str, weights, progress: bool) -> tuple[dict, str]:
    if weights is None:
        raise ValueError(f"backbone {arch!r} has no pretrained weights registered (register_backbone(..., "
                         f"pretrained_weights=...)); give pretrained a weights file (a state_dict of its "
                         f"body or a convml_tt model file) or leave it unset")
    if hasattr(weights, "url") and hasattr(weights, "get_state_dict"):  # a torchvision weights enum member
        from urllib.parse import urlparse

        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
        if cached.exists():
            sd = read_weights_file(cached, "pretrained weights file")
        else:  # the real download path (not reachable offline)
            sd = weights.get_state_dict(progress=progress, check_hash=True)
        return sd, f"torchvision:{weights}"
    return dict(weights(progress=progress)), f"{arch}:pretrained"


def _file_weights(arch: str, path: Path, n_channels: int) -> tuple[dict, str, dict | None]:
    if not path.exists():
        raise FileNotFoundError(
            f"pretrained weights file {str(path)!r} does not exist; give a torchvision ResNet "
            f"state_dict (.pth), a convml_tt model file, or 'imagenet'"
        )
    norm = None
    obj = read_weights_file(path, "pretrained weights file")
    if isinstance(obj, dict) and obj.get("format") in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        cfg = obj.get("config", {})
        if cfg.get("arch") != arch:
            raise ValueError(f"pretrained model file {str(path)!r} is a {cfg.get('arch')} encoder; "
                             f"it cannot initialise a {arch}")
        sd = {k[len("body."):]: v for k, v in obj["state_dict"].items() if k.startswith("body.")}
        if cfg.get("n_input_channels") == n_channels:
            norm = cfg.get("normalization")
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        sd = obj["state_dict"]
    elif isinstance(obj, dict):
        sd = obj
    else:
        raise ValueError(f"pretrained weights file {str(path)!r} holds a {type(obj).__name__}, "
                         f"not a state_dict")
    sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
    return sd, str(path.resolve()), norm


def load_pretrained_weights(
    arch: str, source: bool | str | Path, n_channels: int = 3, progress: bool = True,
    *, body: nn.Module | None = None,
) -> tuple[dict, str, dict | None]:
    """Backbone (body) weights for ``arch`` from ``source``.

    ``source`` is ``True``/``"imagenet"`` (the weights the backbone was
    registered with; for torchvision's, read from the torch hub cache
    ``$TORCH_HOME/hub/checkpoints`` when present, else downloaded by
    torchvision's weights API), or a path to a local file: a ``state_dict``
    of the body (e.g. a torchvision ResNet ``.pth``), or a convml_tt model
    file (its body is reused). Entries under names the body does not have
    (a classifier such as torchvision's ``fc``) are dropped and the first
    convolution is adapted to ``n_channels``. ``body``: a body of ``arch``
    to read the names from (default: one is built, leaving torch's random
    generator as it was). Returns ``(state_dict, description,
    normalization_or_None)``.
    """
    entry = get_backbone(arch)
    if body is None:
        with torch.random.fork_rng(devices=[]):
            body = entry.build(n_channels)
    if source is True or (isinstance(source, str) and source.lower() in _REGISTERED):
        sd, desc = _registered_weights(arch, entry.pretrained_weights, progress)
        norm = None
    else:
        sd, desc, norm = _file_weights(arch, Path(source), n_channels)
    names = {k.split(".", 1)[0] for k in body.state_dict()}
    sd = {k: v for k, v in sd.items() if k.split(".", 1)[0] in names}
    key = f"{first_conv(body, n_channels)}.weight"
    if key not in sd:
        raise ValueError(f"pretrained weights {desc!r} have no {key}; expected a {arch} state_dict")
    return adapt_first_conv(sd, key, n_channels), desc, norm


def init_from_pretrained(body: nn.Module, arch: str, source: bool | str | Path, n_channels: int,
                         progress: bool = True) -> str:
    """Load pretrained weights (see :func:`load_pretrained_weights`) into ``body``,
    strictly; returns their description."""
    sd, desc, _ = load_pretrained_weights(arch, source, n_channels, progress=progress, body=body)
    try:
        body.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise ValueError(f"pretrained weights {desc!r} do not fit a {arch} body: "
                         f"{str(err).splitlines()[0]} (weights of another architecture?)") from None
    return desc
