"""Samplers: how tiles are drawn from composites.

- :mod:`.base`: the :class:`Sampler` base class, seeded by ``(seed, stage, index)``;
- :mod:`.triplets`: :class:`TripletSampler` (anchor, neighbour, distant) and the
  train/study split of scenes by date.
"""
from .base import DrawnTile, Sampler
from .triplets import TripletSampler, check_tile_fits, split_scenes

__all__ = ["DrawnTile", "Sampler", "TripletSampler", "check_tile_fits", "split_scenes"]
