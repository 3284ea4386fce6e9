"""Samplers: how tiles are drawn from composites.

- :mod:`.base`: the :class:`Sampler` base class, seeded by ``(seed, stage, index)``,
  and the sampler registry :data:`SAMPLERS` (``"triplet"``, ``"grid"``);
- :mod:`.triplets`: :class:`TripletSampler` (anchor, neighbour, distant) and the
  train/study split of scenes by date;
- :mod:`.grid`: :class:`GridSampler`, one tile per cell of a regular grid of
  centres over a domain (sliding windows, for embedding maps);
- :mod:`.trajectory`: :class:`TrajectorySampler`, one tile centred on each point of
  Lagrangian trajectories, from the scene nearest the point's time.
"""
from .base import SAMPLERS, DrawnTile, Sampler, get_sampler, register_sampler
from .grid import GridSampler
from .trajectory import TrajectorySampler
from .triplets import TripletSampler, check_tile_fits, split_scenes

__all__ = ["DrawnTile", "Sampler", "SAMPLERS", "register_sampler", "get_sampler", "TripletSampler", "GridSampler",
           "TrajectorySampler",
           "check_tile_fits", "split_scenes"]
