"""timm's architectures as backbones (optional: ``pip install convml_tt[timm]``).

Registered when timm is importable: small ConvNeXts (``convnext_atto``,
``convnext_femto``, ``convnext_pico``, ``convnext_nano``, ``convnext_tiny``),
EfficientNets (``efficientnet_b0``, ``efficientnet_b1``) and ViTs
(``vit_tiny_patch16_224``, ``vit_small_patch16_224``, any tile size: the
position embedding is interpolated); :func:`register_timm_backbone` adds any
other timm model. The body is timm's ``forward_features`` with the
classifier left out; channel counts are adapted by timm (``in_chans``), as
torchvision's first convolution is for the ResNets. A ViT's patch tokens
are returned as a feature map ``(B, D, H/16, W/16)``.

Pretrained weights (``pretrained=True``) are read from the Hugging Face
cache (``$HF_HOME/hub``, where ``timm.create_model(..., pretrained=True)``
puts them) when they are there, and never downloaded here; otherwise give
a weights file (``--pretrained FILE``: a timm state_dict, ``.pth`` or
``.safetensors`` converted to ``.pth``).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

__all__ = ["TIMM_BACKBONES", "TimmBody", "register_timm_backbone", "cached_timm_weights"]

TIMM_BACKBONES = ("convnext_atto", "convnext_femto", "convnext_pico", "convnext_nano", "convnext_tiny",
                  "efficientnet_b0", "efficientnet_b1", "vit_tiny_patch16_224", "vit_small_patch16_224")
#: children of timm models that only the classifier uses
_CLASSIFIER = ("head", "fc", "classifier", "global_pool", "fc_norm", "head_drop")


class TimmBody(nn.Module):
    """A timm model's feature extractor: ``(B, C, H, W)`` -> ``(B, F, h, w)``.

    The model's children other than the classifier (and its own parameters,
    such as a ViT's ``cls_token`` and ``pos_embed``) are registered here under
    timm's names, so a timm state_dict loads as it is."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "_net", net)  # not a child: its children are registered below
        for name, child in net.named_children():
            if name not in _CLASSIFIER:
                self.add_module(name, child)
        for name, p in net._parameters.items():
            if p is not None:
                self.register_parameter(name, p)
        self.prefix = int(getattr(net, "num_prefix_tokens", 0) or 0)

    def _apply(self, fn, recurse=True):
        out = super()._apply(fn, recurse)
        for name in self._parameters:  # moved or cast parameters: timm's model uses its own attributes
            self._net._parameters[name] = self._parameters[name]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self._net.forward_features(x)
        if f.ndim == 3:  # ViT tokens (B, N, D): the patch tokens on their grid
            b, _, d = f.shape
            h, w = x.shape[-2] // self._net.patch_embed.patch_size[0], x.shape[-1] // self._net.patch_embed.patch_size[1]
            f = f[:, self.prefix:].transpose(1, 2).reshape(b, d, h, w)
        return f


def cached_timm_weights(model_name: str) -> Callable[[bool], dict]:
    """``progress -> state_dict`` of the pretrained weights timm would load for ``model_name``,
    from the Hugging Face cache only; a ``ValueError`` saying how to get them when absent."""

    def load(progress: bool = True) -> dict:
        import timm
        from huggingface_hub import try_to_load_from_cache

        cfg = timm.create_model(model_name, pretrained=False).pretrained_cfg
        repo = cfg.get("hf_hub_id")
        for fname in ("model.safetensors", "pytorch_model.bin"):
            path = try_to_load_from_cache(repo, fname) if repo else None
            if isinstance(path, str):
                if fname.endswith(".safetensors"):
                    from safetensors.torch import load_file

                    return load_file(path)
                return torch.load(path, map_location="cpu", weights_only=True)
        raise ValueError(f"no pretrained weights of timm's {model_name!r} in the Hugging Face cache "
                         f"({repo or 'no hub id'}); fetch them once where there is a network with "
                         f"timm.create_model({model_name!r}, pretrained=True), or give a weights file")

    return load


def _factory(model_name: str) -> Callable[[int], nn.Module]:
    def factory(in_channels: int) -> nn.Module:
        import timm

        kw = {"dynamic_img_size": True} if model_name.startswith("vit") else {}
        return TimmBody(timm.create_model(model_name, pretrained=False, num_classes=0,
                                          in_chans=int(in_channels), **kw))

    factory.__name__ = factory.__qualname__ = model_name
    return factory


def register_timm_backbone(model_name: str, name: str | None = None, overwrite: bool = False):
    """Register timm's ``model_name`` as backbone ``name`` (default: the same name)."""
    from .backbones import register_backbone

    return register_backbone(name or model_name, _factory(model_name),
                             pretrained_weights=cached_timm_weights(model_name), overwrite=overwrite)


def register_builtin() -> None:
    """Register :data:`TIMM_BACKBONES` (nothing when timm is not installed)."""
    import importlib.util

    if importlib.util.find_spec("timm") is None:
        return
    for n in TIMM_BACKBONES:
        register_timm_backbone(n)
