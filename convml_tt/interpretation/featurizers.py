"""Featurizers of embedding maps: what turns 8-bit tiles into embedding vectors.

* a network: a model file (``convml_tt train`` output, loaded as
  :func:`~convml_tt.interpretation.get_embeddings` loads it) or an encoder
  ``nn.Module`` (e.g. :func:`~convml_tt.interpretation.evaluate.untrained_like`),
  run through the one embedding loop
  (:func:`~convml_tt.architectures.inference.embed_tiles`); recorded as
  ``"model"`` or, when the caller says so, ``"untrained"``;
* a registered name (:data:`FEATURIZER_REGISTRY`, entry-point group
  ``convml_tt.featurizers``: ``factory(device, batch_size) -> Featurizer``),
  built in ``"tile_statistics"``: the hand-crafted features of
  :func:`~convml_tt.interpretation.evaluate.tile_statistics_features` of
  each tile scaled to 0..1 (raw, not z-scored).

Used by :func:`convml_tt.interpretation.maps.embed_domain`; torch is
imported only for a network.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..registry import Registry, check_signature
from ..config import accepts_old_names

__all__ = ["FEATURIZERS", "FEATURIZER_REGISTRY", "Featurizer", "make_featurizer", "model_recipe", "model_sha256",
           "register_featurizer"]

#: names of the built-in featurizers recorded in a map's ``featurizer`` attribute (a registered
#: featurizer records its own name)
FEATURIZERS = ("model", "untrained", "tile_statistics")


@accepts_old_names(tile_size="tile_size_m")
@dataclass
class Featurizer:
    """What turns 8-bit tiles into embeddings: ``embed((N, C, n, n) uint8) -> (N, E) float32``.

    ``name`` is one of :data:`FEATURIZERS`; ``in_channels`` the channels it
    takes (None: any); ``config``, ``path`` and ``sha256`` describe the
    network (empty for ``tile_statistics``); ``tile_pixels`` / ``tile_size_m``
    (m) are the defaults its training data suggests (None when unknown);
    ``recipe`` the composite recipe of its training tiles (the model
    config's ``recipe``, else its training dataset's; None: any, e.g.
    ``tile_statistics``, or unknown).
    """

    name: str
    embed: Callable[[np.ndarray], np.ndarray]
    in_channels: int | None = None
    config: dict = field(default_factory=dict)
    path: str = ""
    sha256: str = ""
    tile_pixels: int | None = None
    tile_size_m: float | None = None
    emb_dim: int | None = None
    recipe: str | None = None


def model_sha256(model: Any) -> str:
    """Hex sha256 of a model file's bytes (a path) or of a module's
    ``state_dict`` tensors (names and bytes, in order)."""
    h = hashlib.sha256()
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    import torch

    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _training_meta(config: dict) -> dict:
    """The ``params`` of the training dataset's ``meta.yaml`` (empty when unknown)."""
    from ..data.dataset.format import read_dataset_meta

    p = config.get("training_data_path")
    if not p:
        return {}
    for folder in (Path(p), Path(p).parent):
        try:
            meta = read_dataset_meta(folder)
        except (OSError, ValueError):
            meta = None
        if meta and isinstance(meta.get("params"), dict):
            return meta["params"]
    return {}


def _featurizer_entry(name: str, factory: Any) -> Callable[..., "Featurizer"]:
    check_signature(factory, (None, 256), f"featurizer {name!r}: the factory must be callable as "
                                          f"factory(device, batch_size)")
    return factory


#: named featurizers (no model file): name -> ``factory(device, batch_size) -> Featurizer``
FEATURIZER_REGISTRY = Registry("featurizers", "featurizer",
                               "convml_tt.interpretation.featurizers.register_featurizer(name, factory)",
                               _featurizer_entry)


def register_featurizer(name: str, factory: Callable[..., "Featurizer"], overwrite: bool = False):
    """Register ``factory(device, batch_size) -> Featurizer`` as the featurizer
    ``name`` (given instead of a model: ``embed_domain(name, ...)``, CLI
    ``convml_tt map NAME``); returns it."""
    return FEATURIZER_REGISTRY.register(name, factory, overwrite=overwrite)


def is_featurizer_name(model: Any) -> bool:
    """Whether ``model`` names a registered featurizer (and is not a file)."""
    return isinstance(model, str) and not Path(model).exists() and model in FEATURIZER_REGISTRY


@FEATURIZER_REGISTRY.register("tile_statistics")
def tile_statistics_featurizer(device: Any = None, batch_size: int = 256) -> "Featurizer":
    """The hand-crafted tile statistics (no network; ``device`` and ``batch_size`` unused)."""
    from .evaluate import tile_statistics_features

    def stats(tiles: np.ndarray) -> np.ndarray:
        return np.stack([tile_statistics_features(np.moveaxis(t, 0, -1) / 255.0) for t in tiles]
                        ).astype(np.float32)

    return Featurizer("tile_statistics", stats)


def make_featurizer(model: Any, device: Any = None, batch_size: int = 256,
                    featurizer_name: str | None = None) -> Featurizer:
    """The :class:`Featurizer` of ``model``: a registered featurizer's name
    (e.g. ``"tile_statistics"``), a model file (loaded as
    :func:`~convml_tt.interpretation.get_embeddings` loads it) or an encoder
    ``nn.Module``; ``featurizer_name`` ("model", "untrained") is what the map
    records for a network (default "model")."""
    if is_featurizer_name(model):
        name = FEATURIZER_REGISTRY.canonical(model)
        if featurizer_name not in (None, name):
            raise ValueError(f"featurizer_name={featurizer_name!r} does not fit the {name!r} "
                             f"featurizer; leave it unset")
        return FEATURIZER_REGISTRY.call(name, FEATURIZER_REGISTRY.get(name), device, batch_size,
                                        returns=Featurizer)
    name = featurizer_name or "model"
    if name not in ("model", "untrained"):
        raise ValueError(f"featurizer_name={featurizer_name!r}: a network is recorded as 'model' or "
                         f"'untrained'")
    from .._io import resolve_device
    from ..architectures.inference import embed_tiles, model_input_channels
    from .embeddings import _load_model

    dev = resolve_device(device)
    module, path = _load_model(model, dev)
    module = module.to(dev).eval()
    config = dict(getattr(module, "config", None) or {})
    sha = model_sha256(model if isinstance(model, (str, os.PathLike)) else module)
    params = _training_meta(config)
    size = config.get("tile_pixels")
    pixels = size if isinstance(size, int) and not isinstance(size, bool) else params.get("tile_pixels")

    def embed(tiles: np.ndarray) -> np.ndarray:
        return embed_tiles(module, tiles, batch_size=batch_size, device=dev).numpy()

    emb_dim = config.get("emb_dim")
    return Featurizer(name, embed, model_input_channels(module), config, path, sha,
                      int(pixels) if pixels else None,
                      float(params["tile_size_m"]) if params.get("tile_size_m") else None,
                      emb_dim if isinstance(emb_dim, int) and not isinstance(emb_dim, bool) else None,
                      model_recipe(config, params))


def model_recipe(config: dict, params: dict | None = None) -> str | None:
    """The composite recipe a model was trained on: its config's ``recipe``,
    else ``params.recipe`` of its training dataset's ``meta.yaml``
    (``"truecolor"`` when that leaves it out); None when neither is known."""
    if config.get("recipe"):
        return str(config["recipe"])
    params = _training_meta(config) if params is None else params
    return str(params.get("recipe", "truecolor")) if params else None


