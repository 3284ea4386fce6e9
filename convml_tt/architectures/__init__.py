"""The triplet-trained encoder (needs torch and fastai, imported on first use).

- :mod:`.backbones`: the backbone registry (:func:`register_backbone`,
  :func:`list_backbones`, :func:`get_backbone`; torchvision ResNets built in);
- :mod:`.heads`: embedding heads; :mod:`.encoder`: :class:`TripletEncoder`,
  :class:`TripletModel`;
- :mod:`.losses`: :class:`TripletLoss`, :func:`default_loss` and the metrics;
- :mod:`.methods`: the training methods (triplet, SimCLR, VICReg, BYOL,
  Barlow Twins; :func:`list_methods`, :func:`register_method`);
- :mod:`.upstream`: :func:`import_upstream`, weights of upstream convml_tt models;
- :mod:`.pretrained`: pretrained backbone weights;
- :mod:`.model_file`: :func:`save_model`, :func:`load_model`, :func:`read_model_file`;
- :mod:`.inference`: :func:`embed_tiles`, :func:`embed_dataset`;
- :mod:`.training`: :func:`make_learner`, :func:`train`, data loaders,
  precision, checkpoints, :func:`time_training_step`.

``import convml_tt.architectures`` does not import torch; each name below
loads its module when first used.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "register_backbone": "backbones",
    "list_backbones": "backbones",
    "get_backbone": "backbones",
    "load_plugin": "backbones",
    "list_methods": "methods",
    "register_method": "methods",
    "get_method": "methods",
    "Method": "methods",
    "import_upstream": "upstream",
    "TripletEncoder": "encoder",
    "TripletModel": "encoder",
    "TripletLoss": "losses",
    "default_loss": "losses",
    "load_pretrained_weights": "pretrained",
    "save_model": "model_file",
    "load_model": "model_file",
    "read_model_file": "model_file",
    "MODEL_FORMAT": "model_file",
    "CHECKPOINT_FORMAT": "model_file",
    "embed_tiles": "inference",
    "embed_dataset": "inference",
    "make_learner": "training.learner",
    "train": "training.learner",
    "make_dataloaders": "training.dataloaders",
    "CheckpointCallback": "training.checkpoints",
    "resume_from_checkpoint": "training.checkpoints",
    "CPUAutocast": "training.precision",
    "cpu_has_native_bf16": "training.precision",
    "time_training_step": "training.timing",
    "resolve_device": "convml_tt._io",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        where = _LAZY[name]
        module = importlib.import_module(where if where.startswith("convml_tt.") else f".{where}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
