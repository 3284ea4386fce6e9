"""Models trained with upstream convml_tt (github.com/leifdenby/convml_tt) as model files of this library.

Two layouts of a ResNet encoder's weights are read (``torch.load(...,
weights_only=True)``: a file holding pickled objects is refused, never
unpickled):

``fastai1``
    the fastai v1 model of Denby (2020): ``nn.Sequential(body, head)``, the body
    ``create_body(resnet)`` (``0.0`` conv1, ``0.1`` bn1, ``0.4``-``0.7`` layer1-4)
    and the head ``create_head`` (``1.*``: BatchNorm1d(2F), Dropout, Linear(2F, 512),
    ReLU, BatchNorm1d(512), Dropout, Linear(512, emb_dim), after the concat
    pooling, which is counted in the indices or not, depending on how it was
    saved: ``learn.save`` writes ``{"model": state_dict, "opt": ...}``, or the
    plain ``state_dict``);
``lightning``
    a pytorch-lightning checkpoint of ``TripletTrainerModel``: ``{"state_dict":
    {"backbone.N...", "head.N..."}, "hyper_parameters": {"base_arch",
    "n_input_channels", "n_embedding_dims", "head_type", ...}, ...}``; head
    ``orig_fastai`` (the layers above) or ``linear`` (``head.2``: Linear(F, emb_dim)).

Both bodies are torchvision ResNets without ``avgpool`` and ``fc``, which
are this library's ``resnet18/34/50`` bodies under other names; the
``orig_fastai`` head is the ``fastai`` head here. Upstream normalised tiles
with the ImageNet statistics; the imported model does too.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from .backbones import _RESNET_LAYERS
from .encoder import TripletEncoder, imagenet_stats
from .model_file import read_weights_file, save_model

__all__ = ["LAYOUTS", "detect_layout", "convert_upstream", "import_upstream"]

LAYOUTS = ("fastai1", "lightning")
#: the fastai head's layers with weights, in order: (our name, kind)
_FASTAI_HEAD = (("bn1", "bn"), ("lin1", "linear"), ("bn2", "bn"), ("lin2", "linear"))
_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _unwrap(obj: Any) -> tuple[dict, dict]:
    """(state_dict, hyper-parameters) of what a file holds."""
    if not isinstance(obj, dict):
        raise ValueError(f"holds a {type(obj).__name__}, not a state_dict or checkpoint dict")
    hp = obj.get("hyper_parameters") or obj.get("hparams") or {}
    for key in ("state_dict", "model"):
        if isinstance(obj.get(key), dict):
            return obj[key], dict(hp)
    return obj, dict(hp)


def detect_layout(sd: dict) -> str | None:
    """``"lightning"`` (keys ``backbone.*`` / ``head.*``), ``"fastai1"`` (``0.*`` / ``1.*``) or None."""
    keys = [k[len("model."):] if k.startswith("model.") else k for k in sd]
    if keys and all(k.startswith(("backbone.", "head.")) for k in keys):
        return "lightning"
    if keys and all(re.match(r"^[01]\.\d", k) for k in keys):
        return "fastai1"
    return None


def _resnet_arch(body: dict) -> str:
    blocks = {int(m.group(1)) for k in body if (m := re.match(r"^4\.(\d+)\.", k))}
    bottleneck = any(re.match(r"^4\.\d+\.conv3\.", k) for k in body)
    if bottleneck:
        return "resnet50"
    return "resnet18" if len(blocks) == 2 else "resnet34"


def _body(body: dict) -> dict:
    out = {}
    for k, v in body.items():
        i, rest = k.split(".", 1)
        if not i.isdigit() or int(i) >= len(_RESNET_LAYERS):
            raise ValueError(f"the backbone has a layer {k!r} beyond a ResNet's {len(_RESNET_LAYERS)} "
                             f"children (conv1 ... layer4)")
        out[f"body.{_RESNET_LAYERS[int(i)]}.{rest}"] = v
    return out


def _head(head: dict) -> tuple[dict, str]:
    """Map head entries ``{"N.param": tensor}`` to ``head.<name>.param`` of the fastai or linear head."""
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in head.items():
        i, param = k.split(".", 1)
        layers.setdefault(int(i), {})[param] = v
    kinds = ["bn" if "running_mean" in p else "linear" for _, p in sorted(layers.items())]
    ordered = [p for _, p in sorted(layers.items())]
    if kinds == [kind for _, kind in _FASTAI_HEAD]:
        names, head_kind = [n for n, _ in _FASTAI_HEAD], "fastai"
    elif kinds == ["linear"]:
        names, head_kind = ["lin"], "linear"
    else:
        raise ValueError(f"its head has layers {kinds} (indices {sorted(layers)}); expected the fastai head "
                         f"(batchnorm, linear, batchnorm, linear) or one linear layer")
    return {f"head.{n}.{param}": v for n, p in zip(names, ordered) for param, v in p.items()}, head_kind


def convert_upstream(obj: Any, layout: str | None = None) -> tuple[dict, dict]:
    """Upstream weights (what ``torch.load`` gave) -> ``(state_dict, config)`` of a
    :class:`~convml_tt.architectures.encoder.TripletEncoder`; ``layout`` None: detected."""
    sd, hp = _unwrap(obj)
    sd = {(k[len("model."):] if k.startswith("model.") else k): v for k, v in sd.items()}
    found = detect_layout(sd)
    if layout is None:
        layout = found
    if layout not in LAYOUTS:
        raise ValueError(f"its keys ({', '.join(sorted(sd)[:4])}, ...) are in neither upstream layout: "
                         f"fastai1 (0.* body, 1.* head) or lightning (backbone.*, head.*)")
    if found != layout:
        raise ValueError(f"is not in the {layout} layout (its keys look {found or 'like neither'}: "
                         f"{', '.join(sorted(sd)[:4])}, ...)")
    body_p, head_p = ("0.", "1.") if layout == "fastai1" else ("backbone.", "head.")
    body = {k[len(body_p):]: v for k, v in sd.items() if k.startswith(body_p)}
    head = {k[len(head_p):]: v for k, v in sd.items() if k.startswith(head_p)}
    if not body or not head:
        raise ValueError(f"lacks its {'backbone' if not body else 'head'} ({body_p}* / {head_p}* keys)")
    arch = hp.get("base_arch") if hp.get("base_arch") not in (None, "unknown") else _resnet_arch(body)
    state = _body(body)
    head_sd, head_kind = _head(head)
    state.update(head_sd)
    conv = state.get("body.conv1.weight")
    if conv is None:
        raise ValueError("has no first convolution (0.0.weight / backbone.0.weight)")
    last = head_sd["head.lin2.weight" if head_kind == "fastai" else "head.lin.weight"]
    c, emb_dim = int(conv.shape[1]), int(last.shape[0])
    mean, std = imagenet_stats(c)
    config = {"arch": str(arch), "n_input_channels": c, "emb_dim": emb_dim, "head": head_kind,
              "dropout": 0.5, "normalization": {"kind": "imagenet", "mean": mean, "std": std},
              "tile_pixels": int(hp.get("tile_size", 256)) if str(hp.get("tile_size", 256)).isdigit() else 256,
              "method": {"name": "triplet", "sample": "triplet"}, "imported_from": layout}
    return state, config


def _fit(state: dict, config: dict, what: str) -> TripletEncoder:
    enc = TripletEncoder.from_config(config)
    want = enc.state_dict()
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    shapes = sorted(k for k in set(want) & set(state) if tuple(want[k].shape) != tuple(state[k].shape))
    if missing or extra or shapes:
        parts = [f"{label} {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", extra), ("of other shape", shapes)) if keys]
        raise ValueError(f"{what} does not fit a {config['arch']} encoder with the {config['head']} head: keys "
                         + "; ".join(parts))
    enc.load_state_dict(state, strict=True)
    return enc


def import_upstream(path: str | Path, out: str | Path, layout: str | None = None, **config: Any) -> Path:
    """Read upstream convml_tt weights at ``path`` (see the module) and write a model file ``out``
    that ``embed`` and ``map`` use as any other (method ``triplet``); ``config`` overrides entries
    of the model config (e.g. ``tile_pixels=256``, ``normalization=...``). Returns ``out``."""
    path = Path(path)
    obj = read_weights_file(path, "upstream model file")
    try:
        state, cfg = convert_upstream(obj, layout)
    except ValueError as err:
        raise ValueError(f"upstream model file {str(path)!r} {err}") from None
    cfg.update(config)
    cfg["imported_from"] = f"{cfg['imported_from']}:{path.name}"
    enc = _fit(state, cfg, f"upstream model file {str(path)!r}")
    return save_model(enc, out)
