"""The backbone registry: the convolutional bodies an encoder can be built on.

A backbone is registered under a name with a ``factory(in_channels)`` that
returns a fresh ``nn.Module`` mapping tiles ``(B, in_channels, H, W)`` to
feature maps ``(B, F, h, w)``::

    from convml_tt.architectures import register_backbone, make_learner

    def tiny(in_channels):
        return nn.Sequential(nn.Conv2d(in_channels, 16, 3, stride=2), nn.ReLU(),
                             nn.Conv2d(16, 32, 3, stride=2), nn.ReLU())

    register_backbone("tiny", tiny)
    learn = make_learner("data/triplets", arch="tiny")

The library finds what else it needs from the module itself:
:func:`feature_count` (``F``, from one forward pass of a small zeros input)
and :func:`first_conv` (the first ``nn.Conv2d`` taking ``in_channels``,
whose weights are adapted when pretrained weights have another number of
input channels). ``pretrained_weights`` (optional) is what
``pretrained=True`` loads: a torchvision weights enum member (e.g.
``ResNet18_Weights.DEFAULT``) or a callable ``progress -> state_dict``.

torchvision's ``resnet18``, ``resnet34`` and ``resnet50`` are registered
here, with ImageNet weights.

The registry is :data:`BACKBONES` (a :class:`~convml_tt.registry.Registry`,
names compare case-insensitively). The command line reaches user backbones
through ``--plugin FILE|MODULE`` (:func:`load_plugin`), which imports a
module that calls :func:`register_backbone`, or through a package declaring
an entry point in the group ``convml_tt.backbones`` (``name = module:factory``).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
import torchvision

from ..registry import Registry, check_signature, load_plugin

__all__ = [
    "BACKBONES",
    "Backbone",
    "register_backbone",
    "list_backbones",
    "get_backbone",
    "feature_count",
    "first_conv",
    "load_plugin",
]

#: side (pixels) of the zeros input :func:`feature_count` passes through a backbone
PROBE_PIXELS = 64


@dataclass(frozen=True)
class Backbone:
    """A registry entry: ``name``, ``factory(in_channels) -> nn.Module`` and
    the ``pretrained_weights`` that ``pretrained=True`` loads (None: none)."""

    name: str
    factory: Callable[[int], nn.Module]
    pretrained_weights: Any = None

    def build(self, in_channels: int) -> nn.Module:
        """A new body for tiles of ``in_channels`` channels (the factory's own initialisation).

        A factory that fails or returns something else than an ``nn.Module``
        is a :class:`~convml_tt.registry.PluginError` naming the plugin that
        registered it (a ``TypeError`` for other callers' backbones)."""
        n = int(in_channels)
        return BACKBONES.call(self.name, self.factory, n, what=f"its factory({n})", returns=nn.Module,
                              returns_name="torch.nn.Module")


def _backbone_entry(name: str, obj: Any) -> Backbone:
    if isinstance(obj, Backbone):
        return obj if obj.name == name else Backbone(name, obj.factory, obj.pretrained_weights)
    check_signature(obj, (3,), f"backbone {name!r}: the factory must be callable as factory(in_channels)")
    return Backbone(name, obj)


#: the backbone registry (entry-point group ``convml_tt.backbones``: a factory, registered under the
#: entry point's name, or a module registering its own)
BACKBONES = Registry("backbones", "backbone", "convml_tt.architectures.register_backbone(name, factory)",
                     _backbone_entry)


def register_backbone(
    name: str,
    factory: Callable[[int], nn.Module],
    *,
    pretrained_weights: Any = None,
    overwrite: bool = False,
) -> Backbone:
    """Register ``factory`` as backbone ``name`` (the ``arch`` of
    :class:`~convml_tt.config.TrainingSettings`); returns the entry.

    ``factory(in_channels)`` returns a new ``nn.Module`` mapping ``(B,
    in_channels, H, W)`` to feature maps ``(B, F, h, w)``; weights it
    initialises randomly draw from torch's global generator (seeded by
    ``make_learner``). ``pretrained_weights``: a torchvision weights enum
    member or a callable ``progress -> state_dict`` of the body, or None.
    A name already registered is refused unless ``overwrite``; a factory
    that cannot be called with one argument is a ``TypeError``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone name {name!r} must be a non-empty string")
    check_signature(factory, (3,), f"backbone {name!r}: the factory must be callable as factory(in_channels)")
    return BACKBONES.register(name, Backbone(name, factory, pretrained_weights), overwrite=overwrite)


def list_backbones() -> list[str]:
    """Names of the registered backbones, sorted."""
    return sorted(BACKBONES.names())


def get_backbone(name: str) -> Backbone:
    """The registry entry of ``name`` (any case); a ValueError listing the registered names if there is none."""
    return BACKBONES.get(name)


def feature_count(body: nn.Module, in_channels: int, name: str = "backbone") -> int:
    """``F``, the number of feature maps ``body`` makes of ``(B, in_channels, H, W)`` tiles.

    Found with one no-grad forward pass of a ``(1, in_channels, 64, 64)``
    zeros input in eval mode: batchnorm statistics and torch's random
    generator are left as they were, and so is the training flag.
    """
    p = next(body.parameters(), None)
    kw = {"device": p.device, "dtype": p.dtype} if p is not None else {}
    x = torch.zeros(1, int(in_channels), PROBE_PIXELS, PROBE_PIXELS, **kw)
    modes = [(m, m.training) for m in body.modules()]
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            body.eval()
            out = body(x)
    except Exception as err:
        raise ValueError(f"{name} does not take {in_channels}-channel tiles of {PROBE_PIXELS} x "
                         f"{PROBE_PIXELS} pixels: {type(err).__name__}: {err}") from None
    finally:
        for m, mode in modes:
            m.training = mode
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{name} returned {shape} for a (1, {in_channels}, {PROBE_PIXELS}, {PROBE_PIXELS}) "
                         f"input; a backbone must return feature maps (B, F, h, w)")
    return int(out.shape[1])


def first_conv(body: nn.Module, in_channels: int) -> str:
    """Qualified name (state_dict prefix) of the first ``nn.Conv2d`` of ``body``
    taking ``in_channels`` channels, e.g. ``"conv1"`` for a torchvision ResNet."""
    for qualname, m in body.named_modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == int(in_channels):
            return qualname
    raise ValueError(f"the backbone has no nn.Conv2d taking {in_channels} input channels, so pretrained "
                     f"weights cannot be fitted to it")


# --------------------------------------------------------------------------
# torchvision ResNets
# --------------------------------------------------------------------------
_RESNET_LAYERS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


def _torchvision_resnet(arch: str) -> Callable[[int], nn.Module]:
    def factory(in_channels: int) -> nn.Module:
        net = getattr(torchvision.models, arch)(weights=None)
        if in_channels != 3:
            old = net.conv1
            net.conv1 = nn.Conv2d(in_channels, old.out_channels, kernel_size=old.kernel_size,
                                  stride=old.stride, padding=old.padding, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        # the same child names as torchvision's ResNet, so its state_dict loads as is
        return nn.Sequential(OrderedDict((name, getattr(net, name)) for name in _RESNET_LAYERS))

    factory.__name__ = factory.__qualname__ = arch
    return factory


for _arch, _weights in (("resnet18", torchvision.models.ResNet18_Weights.DEFAULT),
                        ("resnet34", torchvision.models.ResNet34_Weights.DEFAULT),
                        ("resnet50", torchvision.models.ResNet50_Weights.DEFAULT)):
    register_backbone(_arch, _torchvision_resnet(_arch), pretrained_weights=_weights)
del _arch, _weights

# timm's ConvNeXt, EfficientNet and ViT, when timm is installed (backbones_timm)
from . import backbones_timm as _timm  # noqa: E402

_timm.register_builtin()
