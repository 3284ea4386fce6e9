"""The random triplet sampler (Tile2Vec, Jean et al. 2019; convml_tt 2019).

- the *anchor* tile is centred uniformly (in lat/lon) inside the domain, with
  the whole tile inside the domain, in a scene drawn uniformly from the
  stage's scenes;
- the *neighbour* tile is centred ``neighbor_distance * tile_size_m`` metres
  (geodesic; default one tile size, so the tiles touch) from the anchor's
  centre in a uniformly random direction, in the same scene;
- the *distant* tile is centred uniformly inside the domain in another scene
  of the same stage (``distant="other_scene"``, default) or in the same
  scene at least ``distant_min_distance * tile_size_m`` metres away
  (``distant="same_scene"``).

A tile that touches masked (space, bad-quality) pixels or leaves the domain
is redrawn; after ``max_tries`` failed draws for one triplet the run stops
with an error saying the domain cannot fit the tiles. Scenes are split into
train and study by date (:func:`split_scenes`).

Daylight (``max_sza``): with a solar zenith angle limit (``settings.max_sza``,
or the recipe's default ``Recipe.max_sza``: 80 degrees for true colour and
the reflective bands, none for infrared bands), a tile whose centre has a
solar zenith angle above the limit at the scene's scan start (or, with
``max_sza_fraction``, more than that fraction of a 9 x 9 grid of its
pixels) is redrawn like a masked one. Scenes in which no point of the
domain is within the limit are left out beforehand with a warning
(:func:`daylit_scenes`), and when none is left the run stops with a
one-line "no daylit tiles" error.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ...config import TripletSettings
from ..sources.goes_abi.navigation import check_bbox
from ..composites.reader import open_composite
from ..tiles import Tile
from .base import SAMPLERS, DrawnTile, Sampler

__all__ = ["TripletSampler", "split_scenes", "check_tile_fits", "effective_max_sza", "daylit_scenes",
           "tile_is_daylit", "sun_advice"]

log = logging.getLogger(__name__)
#: points along each side of the lat/lon grid over the domain on which a
#: scene's smallest solar zenith angle is found (:func:`daylit_scenes`)
DOMAIN_SZA_POINTS = 17
#: points along each side of the grid of a tile's pixels on which its
#: fraction beyond ``max_sza`` is found (``max_sza_fraction``)
TILE_SZA_POINTS = 9


def _geod():
    import pyproj

    return pyproj.Geod(ellps="GRS80")


def check_tile_fits(domain: Sequence[float], tile_size_m: float) -> None:
    """Raise ValueError when a tile of ``tile_size_m`` m cannot fit inside ``domain``."""
    lon_min, lat_min, lon_max, lat_max = check_bbox(domain)
    g = _geod()
    # narrowest east-west extent is at the latitude furthest from the equator
    lat_far = lat_max if abs(lat_max) > abs(lat_min) else lat_min
    lat_far = float(np.clip(lat_far, -89.0, 89.0))
    _, _, width = g.inv(lon_min, lat_far, lon_max, lat_far)
    _, _, height = g.inv(lon_min, lat_min, lon_min, lat_max)
    if tile_size_m >= min(width, height):
        raise ValueError(
            f"tile size {tile_size_m / 1e3:g} km is larger than the domain {tuple(domain)} "
            f"(about {width / 1e3:.0f} km x {height / 1e3:.0f} km); choose a smaller "
            "--tile-size or a larger --domain"
        )


def split_scenes(times: Sequence[dt.datetime], seed: int = 0, study_fraction: float = 0.25) -> dict[str, list[int]]:
    """Split scenes into train and study by date.

    If some date has two or more scenes, the rule of
    :func:`convml_tt.data.sources.goes_abi.split_train_study` applies: one scene of every
    date (drawn with ``seed``) is held out for study, the rest are train (a
    date with a single scene then goes to study). If every date has a single
    scene, whole dates are held out instead: ``max(1, round(study_fraction *
    n_dates))`` dates drawn with ``seed`` (none when there is one scene).

    Returns ``{"train": [indices], "study": [indices]}`` into ``times``.
    """
    from types import SimpleNamespace

    from ..sources.goes_abi.catalogue import split_train_study

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


def _uniform_centre(rng: np.random.Generator, domain, tile_size_m: float) -> tuple[float, float]:
    lon_min, lat_min, lon_max, lat_max = domain
    half_lat = np.rad2deg(tile_size_m / 2 / 6.371e6)
    lat = rng.uniform(min(lat_min + half_lat, (lat_min + lat_max) / 2), max(lat_max - half_lat, (lat_min + lat_max) / 2))
    half_lon = half_lat / max(math.cos(math.radians(lat)), 1e-3)
    lon = rng.uniform(min(lon_min + half_lon, (lon_min + lon_max) / 2), max(lon_max - half_lon, (lon_min + lon_max) / 2))
    return float(lat), float(lon)


# -----------------------------------------------------------------------------
# daylight
# -----------------------------------------------------------------------------
def effective_max_sza(params: TripletSettings) -> float | None:
    """The solar zenith angle limit (degrees) of a dataset: ``params.max_sza``
    or, when None, the default of its recipe (``Recipe.max_sza``; None: no limit)."""
    if params.max_sza is not None:
        return float(params.max_sza)
    from ..composites.recipes import get_recipe

    limit = get_recipe(getattr(params, "recipe", "truecolor")).max_sza
    return None if limit is None else float(limit)


def _scan_time(path: str) -> np.datetime64:
    return np.datetime64(open_composite(path).time.rstrip("Z"), "ns")


def _domain_min_sza(domain, time: np.datetime64) -> float:
    """Smallest solar zenith angle (degrees) over a lat/lon grid of the domain
    (corners, edges and inside, :data:`DOMAIN_SZA_POINTS` a side) at ``time``."""
    from ..geometry.solar import solar_zenith_angle

    lon_min, lat_min, lon_max, lat_max = domain
    lat = np.linspace(lat_min, lat_max, DOMAIN_SZA_POINTS)[:, None]
    lon = np.linspace(lon_min, lon_max, DOMAIN_SZA_POINTS)[None, :]
    return float(np.min(solar_zenith_angle(time, lat, lon)))


def tile_is_daylit(tile: Tile, time: np.datetime64, max_sza: float, fraction: float | None = None) -> bool:
    """Whether ``tile`` is within the solar zenith angle limit ``max_sza``
    (degrees) at ``time``: its centre's angle (``fraction`` None), or at most
    ``fraction`` of a :data:`TILE_SZA_POINTS` x :data:`TILE_SZA_POINTS`
    grid of its pixel centres beyond the limit."""
    from ..geometry.solar import solar_zenith_angle

    if fraction is None:
        return bool(solar_zenith_angle(time, tile.lat0, tile.lon0) <= max_sza)
    u, _ = tile.local_coords()
    pick = np.linspace(0, tile.n - 1, min(TILE_SZA_POINTS, tile.n)).round().astype(int)
    g = u[pick]
    lat, lon = tile.latlon(*np.meshgrid(g, -g))
    beyond = solar_zenith_angle(time, lat, lon) > max_sza
    return bool(np.mean(beyond) <= fraction)


def sun_advice(recipe: Any, other_scene: bool = False) -> str:
    """What to do when the solar zenith angle limit leaves too little: for a
    recipe that needs daylight (reflective bands), daytime scenes or an
    infrared recipe; for an infrared recipe, which needs no sunlight, no
    (or a larger) ``--max-sza``."""
    from ..composites.recipes import get_recipe

    try:
        r = get_recipe(recipe)
    except ValueError:
        r = None
    if r is not None and r.max_sza is None:
        return (f"the {r.name} recipe (infrared) needs no sunlight: leave out --max-sza (or give a larger one)"
                + (", or use distant='same_scene' (--distant same_scene)" if other_scene else ""))
    return ("use daytime scenes, " + ("distant='same_scene' (--distant same_scene), " if other_scene else "")
            + "an infrared recipe (--recipe C13) or a larger --max-sza")


def _no_daylight(params: TripletSettings, limit: float, stage: str, paths: Sequence[str], smallest) -> ValueError:
    lo = min(smallest, key=lambda v: v[0]) if smallest else (float("nan"), "")
    return ValueError(
        f"no daylit tiles: the solar zenith angle at every point of the domain {tuple(params.domain)} "
        f"exceeds --max-sza {limit:g} degrees in all {len(paths)} {stage} scene(s) (the smallest is "
        f"{lo[0]:.1f} degrees, at {lo[1]}); {sun_advice(params.recipe)}")


def _daylit_indices(params: TripletSettings, scenes: Mapping[str, Sequence[str]], warn: bool = True
                    ) -> dict[str, list[int]]:
    """``{stage: indices of its scenes with a point of the domain within the
    limit}`` (all of them without a limit); raises the "no daylit tiles"
    ``ValueError`` for a stage that has scenes and triplets to draw but no daylit scene."""
    limit = effective_max_sza(params)
    if limit is None:
        return {s: list(range(len(v))) for s, v in scenes.items()}
    need = {"train": params.n_train, "study": params.n_study}
    out = {}
    for stage, paths in scenes.items():
        keep, smallest = [], []
        for i, p in enumerate(paths):
            t = _scan_time(str(p))
            z = _domain_min_sza(params.domain, t)
            smallest.append((z, str(t)[:19]))
            if z <= limit:
                keep.append(i)
        if paths and not keep and need.get(stage, 1) > 0:
            raise _no_daylight(params, limit, stage, paths, smallest)
        if params.distant == "other_scene" and need.get(stage, 1) > 0 and len(keep) == 1 < len(paths):
            raise ValueError(
                f"the {stage} split has 1 daylit scene (of {len(paths)}; the others exceed --max-sza "
                f"{limit:g} degrees over the domain) but distant tiles must come from another scene: "
                f"{sun_advice(params.recipe, other_scene=True)}")
        if warn:
            for i, p in enumerate(paths):
                if i not in keep:
                    log.warning("%s: left out: the solar zenith angle over the domain is %.1f degrees or more "
                                "at its scan start %s, beyond --max-sza %g", p, smallest[i][0], smallest[i][1],
                                limit)
        out[stage] = keep
    return out


def daylit_scenes(params: TripletSettings, scenes: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """``scenes`` (``{stage: [composite paths]}``) without the scenes in
    which no point of the domain (a grid of :data:`DOMAIN_SZA_POINTS` a side)
    has a solar zenith angle within the dataset's limit
    (:func:`effective_max_sza`) at the scan start; each one left out is
    logged as a warning.

    Raises ``ValueError`` ("no daylit tiles: ...") when a stage with
    triplets to draw keeps no scene, or keeps one where distant tiles must
    come from another scene."""
    idx = _daylit_indices(params, scenes)
    return {s: [scenes[s][i] for i in idx[s]] for s in scenes}


@SAMPLERS.register("triplet")
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
        #: the solar zenith angle limit (degrees; None: none) and, per stage,
        #: the scenes that have a point of the domain within it
        self.max_sza = effective_max_sza(settings)
        self.daylit = _daylit_indices(settings, self.scenes)

    def sample(self, stage: str, index: int) -> dict[str, DrawnTile]:
        """Draw triplet ``index`` of ``stage``: ``{"anchor", "neighbor", "distant"}``,
        each a :class:`DrawnTile` with its scene index into ``self.scenes[stage]``.
        Deterministic in ``(seed, stage, index)``."""
        return _draw(self.settings, self.scenes[stage], stage, index, self.rng(stage, index),
                     self.daylit[stage], self.max_sza)


def _draw(params: TripletSettings, scenes: Sequence[str], stage: str, idx: int,
          rng: np.random.Generator, daylit: Sequence[int] | None = None,
          max_sza: float | None = None) -> dict[str, DrawnTile]:
    # scenes are drawn from ``daylit`` (all of them without a limit: the same
    # draws as before the limit existed)
    daylit = list(range(len(scenes))) if daylit is None else list(daylit)
    size, n, dom = params.tile_size_m, params.tile_pixels, params.domain
    geod = _geod()
    tries = 0
    times: dict[int, np.datetime64] = {}

    def dark(t: Tile, scene: int) -> bool:
        if max_sza is None:
            return False
        if scene not in times:
            times[scene] = _scan_time(scenes[scene])
        return not tile_is_daylit(t, times[scene], max_sza, params.max_sza_fraction)

    surface = getattr(params, "surface", "any")

    def off_surface(t: Tile) -> bool:  # --surface ocean|land: a tile of another surface class
        if surface == "any":
            return False
        from ..surface import keeps, tile_surface

        return not keeps(surface, tile_surface(t)["surface"])

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
            if not _inside(t, dom) or dark(t, scene) or off_surface(t):
                continue
            img = open_composite(scenes[scene]).tile(t, params.method)
            if img is not None:
                return DrawnTile(t, scene, img)
        return None

    while tries < params.max_tries:
        a_scene = daylit[int(rng.integers(len(daylit)))]
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
            if not _inside(t, dom) or dark(t, a_scene) or off_surface(t):
                continue
            img = open_composite(scenes[a_scene]).tile(t, params.method)
            if img is not None:
                neighbor = DrawnTile(t, a_scene, img)
                break
        if neighbor is None:
            continue
        if params.distant == "other_scene":
            others = [s for s in daylit if s != a_scene]
            distant = draw_uniform(others[int(rng.integers(len(others)))])
        else:
            distant = draw_uniform(a_scene, avoid=anchor.tile)
        if distant is None:
            break
        return {"anchor": anchor, "neighbor": neighbor, "distant": distant}
    raise RuntimeError(
        f"{stage} triplet {idx}: no valid triplet in {params.max_tries} draws: tiles of "
        f"{size / 1e3:g} km keep touching masked/space pixels or leaving the domain {dom}"
        + (f" or lying where the solar zenith angle exceeds --max-sza {max_sza:g} degrees"
           if max_sza is not None else "")
        + (f" or not over --surface {surface}" if surface != "any" else "")
        + (f" (neighbour at {params.neighbor_distance:g} tile sizes, distant >= "
           f"{params.distant_min_distance:g} tile sizes away in the same scene)"
           if params.distant == "same_scene" else "")
        + "; choose a larger domain, smaller tiles" + (", a larger --max-sza" if max_sza is not None else "")
        + ", or raise max_tries"
    )
