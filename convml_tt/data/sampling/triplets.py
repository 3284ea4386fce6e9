"""The random triplet sampler (Tile2Vec, Jean et al. 2019; convml_tt 2019).

- the *anchor* tile is centred uniformly (in lat/lon) inside the domain, with
  the whole tile inside the domain, in a scene drawn uniformly from the
  stage's scenes;
- the *neighbour* tile is centred ``neighbor_distance * tile_size`` metres
  (geodesic; default one tile size, so the tiles touch) from the anchor's
  centre in a uniformly random direction, in the same scene;
- the *distant* tile is centred uniformly inside the domain in another scene
  of the same stage (``distant="other_scene"``, default) or in the same
  scene at least ``distant_min_distance * tile_size`` metres away
  (``distant="same_scene"``).

A tile that touches masked (space, bad-quality) pixels or leaves the domain
is redrawn; after ``max_tries`` failed draws for one triplet the run stops
with an error saying the domain cannot fit the tiles. Scenes are split into
train and study by date (:func:`split_scenes`).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Mapping, Sequence

import numpy as np

from ...config import TripletSettings
from ..abi.navigation import check_bbox
from ..composites.reader import open_composite
from ..tiles import Tile
from .base import DrawnTile, Sampler

__all__ = ["TripletSampler", "split_scenes", "check_tile_fits"]


def _geod():
    import pyproj

    return pyproj.Geod(ellps="GRS80")


def check_tile_fits(domain: Sequence[float], tile_size: float) -> None:
    """Raise ValueError when a tile of ``tile_size`` m cannot fit inside ``domain``."""
    lon_min, lat_min, lon_max, lat_max = check_bbox(domain)
    g = _geod()
    # narrowest east-west extent is at the latitude furthest from the equator
    lat_far = lat_max if abs(lat_max) > abs(lat_min) else lat_min
    lat_far = float(np.clip(lat_far, -89.0, 89.0))
    _, _, width = g.inv(lon_min, lat_far, lon_max, lat_far)
    _, _, height = g.inv(lon_min, lat_min, lon_min, lat_max)
    if tile_size >= min(width, height):
        raise ValueError(
            f"tile size {tile_size / 1e3:g} km is larger than the domain {tuple(domain)} "
            f"(about {width / 1e3:.0f} km x {height / 1e3:.0f} km); choose a smaller "
            "--tile-size or a larger --domain"
        )


def split_scenes(times: Sequence[dt.datetime], seed: int = 0, study_fraction: float = 0.25) -> dict[str, list[int]]:
    """Split scenes into train and study by date.

    If some date has two or more scenes, the rule of
    :func:`convml_tt.data.goes.split_train_study` applies: one scene of every
    date (drawn with ``seed``) is held out for study, the rest are train (a
    date with a single scene then goes to study). If every date has a single
    scene, whole dates are held out instead: ``max(1, round(study_fraction *
    n_dates))`` dates drawn with ``seed`` (none when there is one scene).

    Returns ``{"train": [indices], "study": [indices]}`` into ``times``.
    """
    from types import SimpleNamespace

    from ..goes.catalogue import split_train_study

    by_date: dict[dt.date, list[int]] = {}
    for i, t in enumerate(times):
        by_date.setdefault(t.date(), []).append(i)
    if any(len(v) > 1 for v in by_date.values()):
        items = [SimpleNamespace(time=t, index=i) for i, t in enumerate(times)]
        _, study_items = split_train_study(items, seed=int(seed))
        study = [s.index for s in study_items]
    elif len(by_date) > 1:
        dates = sorted(by_date)
        rng = np.random.default_rng([int(seed), 7])
        k = max(1, int(round(study_fraction * len(dates))))
        study = [by_date[dates[j]][0] for j in sorted(rng.choice(len(dates), size=k, replace=False))]
    else:
        study = []
    study_set = set(study)
    return {
        "train": [i for i in range(len(times)) if i not in study_set],
        "study": sorted(study_set),
    }


def _inside(tile: Tile, domain) -> bool:
    lat, lon = tile.outline(points_per_side=4)
    lon_min, lat_min, lon_max, lat_max = domain
    return bool(
        np.all((lat >= lat_min) & (lat <= lat_max) & (lon >= lon_min) & (lon <= lon_max))
    )


def _uniform_centre(rng: np.random.Generator, domain, tile_size: float) -> tuple[float, float]:
    lon_min, lat_min, lon_max, lat_max = domain
    half_lat = np.rad2deg(tile_size / 2 / 6.371e6)
    lat = rng.uniform(min(lat_min + half_lat, (lat_min + lat_max) / 2), max(lat_max - half_lat, (lat_min + lat_max) / 2))
    half_lon = half_lat / max(math.cos(math.radians(lat)), 1e-3)
    lon = rng.uniform(min(lon_min + half_lon, (lon_min + lon_max) / 2), max(lon_max - half_lon, (lon_min + lon_max) / 2))
    return float(lat), float(lon)


class TripletSampler(Sampler):
    """Random triplets (anchor, neighbour, distant) from each stage's composites.

    Parameters
    ----------
    settings:
        the :class:`~convml_tt.config.TripletSettings` (domain, tile size and
        pixels, neighbour distance, where distant tiles come from,
        interpolation, ``max_tries``, ``seed``).
    scenes:
        ``{stage: [composite paths]}``.
    """

    tile_types = ("anchor", "neighbor", "distant")

    def __init__(self, settings: TripletSettings, scenes: Mapping[str, Sequence[str]]) -> None:
        super().__init__(scenes, seed=settings.seed)
        self.settings = settings

    def sample(self, stage: str, index: int) -> dict[str, DrawnTile]:
        """Draw triplet ``index`` of ``stage``: ``{"anchor", "neighbor", "distant"}``,
        each a :class:`DrawnTile` with its scene index into ``self.scenes[stage]``.
        Deterministic in ``(seed, stage, index)``."""
        return _draw(self.settings, self.scenes[stage], stage, index, self.rng(stage, index))


def _draw(params: TripletSettings, scenes: Sequence[str], stage: str, idx: int,
          rng: np.random.Generator) -> dict[str, DrawnTile]:
    n_sc = len(scenes)
    size, n, dom = params.tile_size, params.tile_pixels, params.domain
    geod = _geod()
    tries = 0

    def draw_uniform(scene: int, avoid: Tile | None = None) -> DrawnTile | None:
        nonlocal tries
        while tries < params.max_tries:
            tries += 1
            lat, lon = _uniform_centre(rng, dom, size)
            if avoid is not None:
                _, _, dist = geod.inv(avoid.lon0, avoid.lat0, lon, lat)
                if dist < params.distant_min_distance * size:
                    continue
            t = Tile(lat, lon, size, n)
            if not _inside(t, dom):
                continue
            img = open_composite(scenes[scene]).tile(t, params.method)
            if img is not None:
                return DrawnTile(t, scene, img)
        return None

    while tries < params.max_tries:
        a_scene = int(rng.integers(n_sc))
        anchor = draw_uniform(a_scene)
        if anchor is None:
            break
        neighbor = None
        for _ in range(8):
            if tries >= params.max_tries:
                break
            tries += 1
            az = rng.uniform(-180.0, 180.0)
            lon, lat, _ = geod.fwd(anchor.tile.lon0, anchor.tile.lat0, az, params.neighbor_distance * size)
            t = Tile(float(lat), float((lon + 180) % 360 - 180), size, n)
            if not _inside(t, dom):
                continue
            img = open_composite(scenes[a_scene]).tile(t, params.method)
            if img is not None:
                neighbor = DrawnTile(t, a_scene, img)
                break
        if neighbor is None:
            continue
        if params.distant == "other_scene":
            d_scene = int(rng.integers(n_sc - 1))
            d_scene += d_scene >= a_scene
            distant = draw_uniform(d_scene)
        else:
            distant = draw_uniform(a_scene, avoid=anchor.tile)
        if distant is None:
            break
        return {"anchor": anchor, "neighbor": neighbor, "distant": distant}
    raise RuntimeError(
        f"{stage} triplet {idx}: no valid triplet in {params.max_tries} draws: tiles of "
        f"{size / 1e3:g} km keep touching masked/space pixels or leaving the domain {dom}"
        + (f" (neighbour at {params.neighbor_distance:g} tile sizes, distant >= "
           f"{params.distant_min_distance:g} tile sizes away in the same scene)"
           if params.distant == "same_scene" else "")
        + "; choose a larger domain, smaller tiles, or raise max_tries"
    )
