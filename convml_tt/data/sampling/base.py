"""The sampler protocol: how tiles are drawn from composites.

A sampler draws one *sample* (a named group of tiles: a triplet's anchor,
neighbour and distant tile; a grid cell's single tile) at a time, for a
``(stage, index)`` pair, from the composites of that stage. Every sample's
random numbers come from ``numpy.random.default_rng((seed, stage, index))``
(:meth:`Sampler.rng`), so a dataset depends only on the seed, the settings
and the composites, never on the number of worker processes or the order in
which samples are drawn.

A new sampler is one subclass: set :attr:`Sampler.tile_types` and
implement :meth:`Sampler.sample`; registered in :data:`SAMPLERS` (built in:
``"triplet"``, ``"grid"``; entry-point group ``convml_tt.samplers``) it
can be named, e.g. ``make_triplets(..., sampler="triplet")``. The triplet dataset writer
(:func:`convml_tt.data.dataset.writer.make_triplets`, ``sampler=``) takes
any sampler of ``("anchor", "neighbor", "distant")`` tiles; a sampler of
other tiles (e.g. one tile per cell of a grid over the domain) serves
writers of other outputs.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ...registry import Registry
from ..dataset.format import stage_index
from ..tiles import Tile

__all__ = ["DrawnTile", "Sampler", "SAMPLERS", "register_sampler", "get_sampler"]


@dataclass
class DrawnTile:
    """One drawn tile: its geometry, the index of its scene in the stage's
    composites and its image ``(n, n, C)`` (float32, composite units), or
    None where a sampler reports a tile it could not cut (a grid cell whose
    tile leaves the composite's valid area; triplet samplers redraw instead)."""

    tile: Tile
    scene: int
    image: np.ndarray | None


class Sampler(ABC):
    """Base class of samplers.

    Parameters
    ----------
    scenes:
        ``{stage: [composite paths]}``: the scenes each stage samples from.
    seed:
        seed of all sampling.
    """

    #: names of the tiles of one sample, in order
    tile_types: tuple[str, ...] = ()

    def __init__(self, scenes: Mapping[str, Sequence[str]], seed: int = 0) -> None:
        self.scenes = {s: [str(p) for p in v] for s, v in scenes.items()}
        self.seed = int(seed)

    def rng(self, stage: str, index: int) -> np.random.Generator:
        """The random generator of sample ``index`` of ``stage``: seeded by
        ``(seed, stage, index)`` only."""
        return np.random.default_rng([self.seed, stage_index(stage), int(index)])

    @abstractmethod
    def sample(self, stage: str, index: int) -> dict[str, DrawnTile]:
        """Draw sample ``index`` of ``stage``: ``{tile_type: DrawnTile}``, with
        scene indices into ``self.scenes[stage]``. Deterministic in
        ``(seed, stage, index)``."""


def _sampler_entry(name: str, cls: Any) -> type:
    if not (isinstance(cls, type) and callable(getattr(cls, "sample", None)) and hasattr(cls, "tile_types")):
        raise TypeError(f"sampler {name!r} must be a class with tile_types and a sample(stage, index) method "
                        f"(a subclass of convml_tt.data.sampling.Sampler); got {cls!r}")
    return cls


#: the sampler registry: name -> a :class:`Sampler` class
SAMPLERS = Registry("samplers", "sampler", "convml_tt.data.sampling.register_sampler(name, cls)", _sampler_entry)


def register_sampler(name: str, cls: type, overwrite: bool = False) -> type:
    """Register the sampler class ``cls`` as ``name``; returns it."""
    return SAMPLERS.register(name, cls, overwrite=overwrite)


def get_sampler(sampler: Any) -> Any:
    """``sampler`` itself, or the class registered under the name ``sampler``."""
    return SAMPLERS.get(sampler) if isinstance(sampler, str) else sampler
