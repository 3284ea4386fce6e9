"""Embedding maps: a sliding window of tiles over a whole domain, every scene, embedded.

``embed_domain(model, composites, tile_size_m, stride)`` cuts one tile per cell
of the regular grid of :class:`~convml_tt.data.sampling.grid.GridSampler`
(centres ``stride`` metres apart in the domain's local equal-area frame)
out of every composite, converts each to 8-bit exactly as the triplet
writer does for PNG tiles (:func:`~convml_tt.data.composites.enhance.to_display`;
brightness temperatures with the model's recorded range,
:func:`~convml_tt.data.composites.stretch.model_stretches`),
and embeds them through the one embedding loop
(:func:`~convml_tt.architectures.inference.embed_tiles`). The result, an
*embedding map*, is an :class:`xarray.Dataset`:

* ``embedding(time, y, x, emb_dim)`` float32, NaN where a cell is invalid;
* ``valid(time, y, x)`` int8: 1, or 0 where the tile leaves the
  composite's valid area (space, masked pixels, outside the composite);
* ``x(x)``, ``y(y)`` metres in the grid frame (``y`` decreasing: row 0 is
  the northernmost), ``lat(y, x)``, ``lon(y, x)`` degrees of the cell
  centres, ``time`` (scan start, UTC), ``composite(time)`` (its file), a
  ``crs`` variable with the CF grid-mapping attributes (Lambert azimuthal
  equal-area, GRS80);
* the organisation indices of each cell's tile (physical values, before the
  stretch; :func:`convml_tt.data.organisation.tile_indices` with the
  composites' recipe, when it has a cloud mask): ``cloud_fraction``,
  ``iorg``, ``scai``, ``cop``, ``mean_object_size_m``,
  ``max_object_size_m``, ``open_sky`` float32 and ``n_objects`` int32
  ``(time, y, x)`` (NaN / -1 where invalid), with CF units and long names;
* with a labeler, ``true_<key>(time, y, x)`` for each numeric value it
  gives (``true_regime`` int16, -1 unknown/invalid; ``true_regime_fraction``
  float32, NaN invalid) and the attribute ``regime_names`` (JSON list); a
  labeler's ``value_names`` ``{key: names}`` (e.g. the human classes of
  ``--labels human:FILE``: ``true_human_class``) become the attribute
  ``<key>_names`` and that variable's ``flag_values``/``flag_meanings``;
* attributes ``tile_size_m`` (m), ``tile_pixels``, ``stride`` (m), ``domain``,
  ``model_path``, ``model_config`` (JSON), ``model_sha256``, ``featurizer``,
  ``method``, ``gamma``, ``convml_tt_version``, ``Conventions = "CF-1.8"``;
  ``display_stretch`` (JSON, per channel) when the model records a
  brightness-temperature range other than the fixed 200-320 K.

Featurizers: a model file, an encoder ``nn.Module`` (``featurizer="model"``;
pass ``featurizer_name="untrained"`` for a network with its initial weights,
e.g. :func:`convml_tt.interpretation.evaluate.untrained_like`), or the
string ``"tile_statistics"``: the hand-crafted features of
:func:`~convml_tt.interpretation.evaluate.tile_statistics_features` of each
8-bit tile (scaled to 0..1; raw, not z-scored).

Scenes are processed one at a time (memory: one scene's composite and map
plus one batch of tiles). With ``out=``, each scene's result is written, as
it is done, to a hidden parts folder beside ``out`` (``.{name}.parts``),
under a fingerprint of the model, the settings and the composite; a rerun
after an interruption skips the scenes already there, the parts are
combined into ``out`` scene by scene (atomic) and the folder is removed.
The featurizers live in :mod:`.featurizers`, the netCDF I/O in
:mod:`._map_io` (:func:`save_map`, :func:`load_map`).
This module imports torch only inside the functions that need a network.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import __version__
from .._io import atomic_path, remove_stale_temps
from ..config import accepts_old_names
from ..data.sources.goes_abi.navigation import check_bbox
from ..data.composites.enhance import GAMMA, to_display
from ..data.colocated import cell_indices, composite_recipe
from ..data.surface import check_surface
from ..data.composites.reader import open_composite, release_composite
from ..data.labels import check_labeler_sources, check_labels
from ..data.sampling.grid import GROUP, GridSampler, check_map_request
from ..data.tiles import serial_blas
from ._map_io import combine_parts, load_map, read_part, save_map, write_part
from .featurizers import FEATURIZERS, Featurizer, make_featurizer, model_sha256

__all__ = ["embed_domain", "make_featurizer", "Featurizer", "model_sha256", "save_map", "load_map",
           "FEATURIZERS"]

#: the sampler stage of map scenes
_STAGE = "map"
log = logging.getLogger("convml_tt.interpretation.maps")


# --- the scenes ---------------------------------------------------------------------------
@dataclass
class _Scene:
    """What the map needs of one composite: scan start (ISO 8601), channels, domain (or None), GOES number."""

    time: str
    channels: int
    domain: tuple[float, ...] | None
    satellite: int | str
    kind: str | None = None


def _scenes(composites: Any) -> tuple[list[str], dict[str, _Scene]]:
    """The composite paths, checked, in order of scan start (then path), and
    what each holds. The files are closed again (worker processes open their own)."""
    if isinstance(composites, (str, os.PathLike)):
        composites = [composites]
    paths = list(dict.fromkeys(str(Path(p).resolve()) for p in (composites or [])))
    if not paths:
        raise ValueError("no composites given: embed_domain needs the composite files of the scenes "
                         "(make_composites(...) or `convml_tt composite`)")
    info = {}
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"composite {p!r} does not exist; make it with `convml_tt composite`")
        r = open_composite(p)
        dom = r.nc.getncattr("domain") if "domain" in r.nc.ncattrs() else None
        info[p] = _Scene(r.time, int(r.var.shape[2]) if len(r.var.shape) == 3 else 1,
                         None if dom is None else tuple(round(float(v), 6) for v in str(dom).split()),
                         r.satellite, str(r.nc.getncattr("kind")) if "kind" in r.nc.ncattrs() else None)
        release_composite(p)
    sats = sorted({s.satellite for s in info.values()}, key=str)
    if len(sats) > 1:
        example = {s.satellite: p for p, s in info.items()}
        names = ", ".join(f"GOES-{s}" if isinstance(s, int) else str(s) for s in sats)
        raise ValueError(f"the composites come from {len(sats)} satellites ({names}, "
                         f"e.g. {example[sats[0]]!r} and {example[sats[1]]!r}); a map is made from one "
                         f"satellite's scenes: choose the composites of one of them")
    return sorted(paths, key=lambda p: (info[p].time, p)), info


def _composite_domain(info: dict[str, _Scene]) -> tuple[float, ...]:
    """The domain the composites were made for (their ``domain`` attribute)."""
    missing = [p for p, s in info.items() if s.domain is None]
    if missing:
        raise ValueError(f"composite {missing[0]!r} does not record its domain; pass domain=(lon_min, "
                         f"lat_min, lon_max, lat_max)")
    found = {s.domain for s in info.values()}
    if len(found) > 1:
        raise ValueError(f"the composites were made for {len(found)} different domains {sorted(found)}; "
                         f"pass domain=(lon_min, lat_min, lon_max, lat_max)")
    return found.pop()


def _fingerprint(run: dict, path: str) -> str:
    st = os.stat(path)
    text = json.dumps(run, sort_keys=True) + f"\n{path}\n{st.st_size} {st.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()


# --- cutting: one chunk of cells of one scene ------------------------------------------------
class _Chunks:
    """Chunks of cells to embed, item ``i`` -> the 8-bit tiles of the valid
    cells of chunk ``items[i] = (scene, start, stop)`` (and their labels);
    also a map-style source for a torch DataLoader (cutting in workers)."""

    def __init__(self, sampler: GridSampler, items: list[tuple[int, int, int]], gamma: float,
                 labeler: Any, channels: int, env: dict | None = None, stretches: list | None = None) -> None:
        self.sampler, self.items, self.gamma, self.labeler = sampler, items, gamma, labeler
        self.stretches = stretches  # the model's recorded K stretches (None: the fixed ones)
        self.channels = channels
        self.env_spec = env  # an Environment's spec: made again where the chunks are cut
        self._env: Any = None
        self._scene: int | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_env": None}

    def _cell_env(self, cells: np.ndarray, time: str) -> list[dict]:
        """Environment fields of each cell (``{name}_mean``, ``{name}_std``; NaN: no value)."""
        if self.env_spec is None:
            return []
        if self._env is None:
            from ..data.fields.colocate import Environment

            self._env = Environment.from_spec(self.env_spec)
        got = self._env.scene_values([self.sampler.tile(int(cell)) for cell in cells], time)  # all cells at once
        return [{k: np.nan if v is None else float(v) for k, v in g.items() if not k.endswith("_reason")} for g in got]

    def _thresholds(self, scene: int, recipe: Any) -> dict | None:
        """The cloud thresholds of ``scene`` (:mod:`convml_tt.data.cloud_threshold`; cached)."""
        if recipe is None or recipe.cloud_mask is None:
            return None
        cache = self.__dict__.setdefault("_threshold_cache", {})
        if scene not in cache:
            from ..data.cloud_threshold import composite_threshold

            cache[scene] = composite_threshold(self.sampler.scenes[_STAGE][scene], recipe,
                                               getattr(self.sampler, "cloud_threshold", None))
        return cache[scene]

    def __len__(self) -> int:
        return len(self.items)

    def release(self) -> None:
        """Close the composite of the scene being cut (it is done)."""
        if self._scene is not None:
            release_composite(self.sampler.scenes[_STAGE][self._scene])
            self._scene = None

    def __getitem__(self, i: int) -> dict:
        scene, start, stop = self.items[i]
        if self._scene != scene:
            self.release()
            self._scene = scene
        s = self.sampler
        reader = open_composite(s.scenes[_STAGE][scene])
        valid = np.zeros(stop - start, bool)
        tiles, labels, indices, env = [], [], [], []
        # no recipe: the surface alone (no cloud mask, no indices, no thresholds)
        recipe = composite_recipe(reader) if s.indices else None
        for g in range(start, stop, GROUP):
            cells = list(range(g, min(g + GROUP, stop)))
            ok, images = s.cut_cells(reader, cells)
            valid[g - start:g - start + len(cells)] = ok
            if len(images):
                # the same stretch (and bytes) as the triplet writer's PNG tiles
                tiles.append(to_display(images, reader.channel_units, self.gamma, channel_axis=1,
                                        stretches=self.stretches))
                # organisation indices and surface of each valid cell, from its physical values
                indices += cell_indices(images, recipe, s.tile_size_m / s.tile_pixels,
                                        [s.tile(int(c)) for c in np.asarray(cells)[ok]],
                                        self._thresholds(scene, recipe))
                env += self._cell_env(np.asarray(cells)[ok], reader.time)
            if self.labeler is not None:
                for cell in np.asarray(cells)[ok]:
                    got = self.labeler.label(s.tile(int(cell)), reader.source_paths)
                    labels.append(check_labels(got, self.labeler))
        if env:  # environment fields beside the organisation indices of each valid cell
            indices = [{**i, **e} for i, e in zip(indices, env)]
        n = s.tile_pixels
        arr = np.concatenate(tiles) if tiles else np.zeros((0, self.channels, n, n), np.uint8)
        return {"scene": scene, "start": start, "stop": stop, "valid": valid, "tiles": arr, "labels": labels,
                "indices": indices}


def _as_is(item: Any) -> Any:
    return item


def _init_worker(worker_id: int) -> None:
    """A cutting worker: numpy's BLAS single-threaded for its whole life
    (the spline upsampling of each tile is faster so, see ``tiles.serial_blas``)."""
    serial_blas().__enter__()


_CUT: dict[str, Any] = {}


def _cut_setup(source: _Chunks) -> None:
    """Set a process up for :func:`_cut_task` (the chunks of this map)."""
    _CUT["source"] = source


def _cut_task(i: int) -> dict:
    """A task of :mod:`convml_tt.compute`: chunk ``i`` of the map's cells cut
    (its 8-bit tiles, validity and labels), BLAS single-threaded."""
    with serial_blas():
        return _CUT["source"][i]


def _chunk_stream(source: _Chunks, num_workers: int, compute: dict | None = None):
    """The chunks in order: cut here (``num_workers=0``), by a torch
    DataLoader's worker processes, or as tasks of :mod:`convml_tt.compute`
    (``compute``: its ``workers``/``scheduler``/``client``), a few chunks
    (two per worker) ahead of the model."""
    if compute and len(source):
        from ..compute import iter_tasks

        yield from iter_tasks(_cut_task, range(len(source)), setup=_cut_setup, config=source, progress=False,
                              window_per_worker=2, **compute)
        return
    if num_workers == 0 or len(source) == 0:
        try:
            for i in range(len(source)):
                yield source[i]
        finally:
            source.release()
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(source, batch_size=None, shuffle=False, num_workers=num_workers,
                        collate_fn=_as_is, prefetch_factor=2, worker_init_fn=_init_worker)
    yield from loader


class _SceneMap:
    """The map of one scene being filled: validity and labels chunk by
    chunk, embeddings batch by batch (``pending``: valid cells cut but not
    embedded yet; ``cut``: cells cut so far)."""

    def __init__(self, scene: int, shape: tuple[int, int], emb_dim: int) -> None:
        self.scene, self.shape = scene, shape
        self.embedding = np.full((shape[0] * shape[1], emb_dim), np.nan, np.float32)
        self.valid = np.zeros(shape[0] * shape[1], np.int8)
        self.labels: dict[str, dict[int, Any]] = {}
        self.indices: dict[str, dict[int, Any]] = {}
        self.cut = self.pending = 0

    def add(self, chunk: dict) -> np.ndarray:
        """Record a cut chunk; returns its valid cells."""
        cells = chunk["start"] + np.flatnonzero(chunk["valid"])
        self.valid[cells] = 1
        for cell, lab in zip(cells, chunk["labels"]):
            for k, v in lab.items():
                self.labels.setdefault(k, {})[int(cell)] = v
        for cell, ind in zip(cells, chunk.get("indices", ())):
            for k, v in ind.items():
                self.indices.setdefault(k, {})[int(cell)] = v
        self.cut += chunk["stop"] - chunk["start"]
        self.pending += len(cells)
        return cells


class _Batcher:
    """Valid tiles of consecutive chunks (and scenes) gathered into batches
    of exactly ``batch_size`` for the featurizer (a new batch shape costs a
    network a lot the first time), the last one of a run smaller."""

    def __init__(self, feat: Featurizer, batch_size: int) -> None:
        self.feat, self.batch_size = feat, batch_size
        self.queue: deque = deque()  # (scene map, cells, tiles)
        self.n = 0

    def put(self, scene: _SceneMap, cells: np.ndarray, tiles: np.ndarray) -> None:
        if len(cells):
            self.queue.append((scene, cells, tiles))
            self.n += len(cells)
        while self.n >= self.batch_size:
            self._embed(self.batch_size)

    def flush(self) -> None:
        if self.n:
            self._embed(self.n)

    def _embed(self, size: int) -> None:
        parts, left = [], size
        while left:
            scene, cells, tiles = self.queue.popleft()
            if len(cells) > left:
                self.queue.appendleft((scene, cells[left:], tiles[left:]))
                cells, tiles = cells[:left], tiles[:left]
            parts.append((scene, cells, tiles))
            left -= len(cells)
        emb = self.feat.embed(np.concatenate([t for _, _, t in parts]) if len(parts) > 1 else parts[0][2])
        at = 0
        for scene, cells, _ in parts:
            scene.embedding[cells] = emb[at:at + len(cells)]
            scene.pending -= len(cells)
            at += len(cells)
        self.n -= size


# --- the map ----------------------------------------------------------------------------
@accepts_old_names(tile_size="tile_size_m")
def embed_domain(
    model: Any,
    composites: Sequence[str | os.PathLike] | str | os.PathLike,
    tile_size_m: float | None = None,
    stride: float | None = None,
    tile_pixels: int | None = None,
    domain: Sequence[float] | None = None,
    out: str | os.PathLike | None = None,
    batch_size: int = 256,
    device: Any = None,
    progress: bool = True,
    labeler: Any = None,
    method: str = "bilinear",
    gamma: float = GAMMA,
    num_workers: int = 0,
    featurizer_name: str | None = None,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    client: Any = None,
    max_sza: float | None = None,
    any_recipe: bool = False,
    env: Any = None,
    force: bool = False,
    surface: str = "any",
    cloud_threshold: float | None = None,
    indices: bool = True,
):
    """Embed a sliding-window grid of tiles over a domain in every scene: an embedding map.

    Parameters
    ----------
    model:
        a model file (``convml_tt train`` output), an encoder ``nn.Module``
        (e.g. ``load_model(...)``, ``evaluate.untrained_like(config)``) or
        ``"tile_statistics"`` (hand-crafted features, no network).
    composites:
        composite files (from :func:`~convml_tt.data.composites.make_composites`), one per scene:
        of the recipe the model was trained on, unless ``any_recipe``.
    tile_size_m:
        tile side, metres; None: that of the model's training dataset.
    stride:
        distance between tile centres, metres; None: half the tile size.
    tile_pixels:
        tile side, pixels; None: the model's training tile size (its
        config's ``tile_pixels``, else the training dataset's ``tile_pixels``).
    domain:
        ``(lon_min, lat_min, lon_max, lat_max)`` degrees; None: the domain
        the composites were made for.
    out:
        netCDF file to write (resumable, see the module docstring); None:
        nothing is kept on disk.
    batch_size:
        cells cut and embedded at a time (one forward pass).
    device:
        torch device; None: CUDA when available, else CPU.
    progress:
        show a progress bar over the cells of all scenes.
    labeler:
        a :class:`~convml_tt.data.labels.Labeler` (e.g.
        :class:`~convml_tt.data.synthetic.RegimeLabeler`) whose numeric
        values become ``true_<key>`` variables.
    method:
        tile interpolation, ``"bilinear"`` or ``"nearest"``.
    gamma:
        display gamma of the 8-bit conversion (as the triplet writer's).
    num_workers:
        worker processes cutting tiles while the model runs (0: in this process).
    featurizer_name:
        recorded as the map's ``featurizer`` for a network: ``"model"``
        (default) or ``"untrained"``.
    workers, scheduler, client:
        cut the tiles as tasks of :mod:`convml_tt.compute` (a chunk of
        ``batch_size`` cells of a scene each): ``workers`` local processes,
        or the workers of a dask cluster (scheduler address or file, or a
        ``distributed.Client``), who open the composites themselves (shared
        storage); embedding stays in this process, on ``device``. The map is
        the same in every mode. Not with ``num_workers``.
    max_sza:
        cells whose centre has a solar zenith angle above this (degrees) at
        the scene's scan start are invalid (``valid = 0``); None: the
        default of the composites' recipe (``Recipe.max_sza``: 80 for true
        colour and the reflective bands, no limit for infrared bands).
    any_recipe:
        embed composites of another recipe than the model was trained on
        (only the number of channels must agree), e.g. a model's simulated
        reflectance (``gridded.refl``) with a model trained on ABI ``C02``
        tiles: the tiles get the display stretch of their own units.
    env:
        a :class:`~convml_tt.data.fields.colocate.Environment`: its fields'
        mean and spread over each valid cell's tile at the scene's scan
        time become ``{name}_mean``, ``{name}_std`` ``(time, y, x)``
        float32 variables (the field's units; NaN where there is no value,
        e.g. a scan outside the field file's times).
    surface:
        ``"ocean"``, ``"land"`` or ``"any"``: cells whose tile is of
        another surface class (:mod:`convml_tt.data.surface`) are not mapped
        (``valid = 0``); every cell carries ``land_fraction`` and
        ``surface`` (0 ocean, 1 land, 2 coast).
    cloud_threshold:
        the cloud-mask threshold of the cells' organisation indices (the
        recipe's mask units) for every scene; None: each scene's own
        (:mod:`convml_tt.data.cloud_threshold`); the one used is each cell's
        ``cloud_threshold``.
    indices:
        compute the organisation indices of every valid cell from its
        physical values (True, default); False: the map carries the
        embeddings and each cell's surface only. The indices take ~1 ms
        per 64 px cell on a CPU core, about a tenth of ResNet-18's CPU
        inference and many times its GPU inference (docs/benchmarks.md).

    Returns
    -------
    The map (:class:`xarray.Dataset`, layout in the module docstring); with
    ``out``, opened lazily from it (close it when done), else in memory.
    """
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size {batch_size!r} must be a positive number of tiles")
    if int(num_workers) != num_workers or num_workers < 0:
        raise ValueError(f"num_workers {num_workers!r} must be a whole number >= 0")
    from ..compute import compute_settings

    compute = None
    if compute_settings(workers, scheduler, client).mode != "process":
        if num_workers:
            raise ValueError(f"give num_workers ({num_workers}, DataLoader processes) or workers/scheduler "
                             f"(tasks of convml_tt.compute) to cut the tiles, not both")
        compute = {"workers": workers, "scheduler": scheduler, "client": client}
    if out is not None and Path(out).is_dir():
        raise ValueError(f"out {str(out)!r} is a folder; give a file name such as map.nc")
    paths, info = _scenes(composites)
    check_labeler_sources(labeler, paths)  # e.g. synthetic names on real scenes: refused
    domain = check_bbox(domain) if domain is not None else _composite_domain(info)
    feat = make_featurizer(model, device, int(batch_size), featurizer_name)
    if tile_size_m is None:
        if feat.tile_size_m is None:
            raise ValueError("tile_size_m is needed (metres): the model does not record its training dataset's "
                             "tile size; pass tile_size_m=... (CLI: --tile-size-m)")
        tile_size_m = feat.tile_size_m
    if tile_pixels is None:
        if feat.tile_pixels is None:
            raise ValueError(f"tile_pixels is needed: the {feat.name} featurizer does not record the tile size "
                             f"it was trained on; pass tile_pixels=... (CLI: --tile-pixels)")
        tile_pixels = feat.tile_pixels
    stride = float(tile_size_m) / 2 if stride is None else stride
    channels = sorted({s.channels for s in info.values()})
    if len(channels) > 1:
        raise ValueError(f"the composites have different numbers of channels {channels}; make a map from "
                         f"composites of one recipe")
    n_ch = channels[0]
    emb_dim = feat.emb_dim if feat.name != "tile_statistics" else 2 * n_ch + 2
    # sized before any cell is laid out (tiles, memory, disk): refused above the bounds unless forced
    check_map_request(domain, float(tile_size_m), float(stride), int(tile_pixels), len(paths), emb_dim or 128, n_ch,
                      int(batch_size), out, force)
    sampler = GridSampler(domain, tile_size_m, tile_pixels, stride, {_STAGE: paths}, method=method)
    kinds = sorted({s.kind for s in info.values() if s.kind is not None})
    if len(kinds) > 1:
        raise ValueError(f"the composites are of {len(kinds)} recipes {kinds}; make a map from composites of one "
                         f"recipe")
    if feat.recipe is not None and kinds and kinds[0] != feat.recipe and not any_recipe:
        raise ValueError(f"the model was trained on {feat.recipe!r} tiles but the composites are {kinds[0]!r} "
                         f"composites ({paths[0]!r}); make {feat.recipe!r} composites (`convml_tt map` does "
                         f"by default, or --recipe {feat.recipe})")
    if max_sza is None and kinds:
        from ..data.composites.recipes import get_recipe

        try:
            max_sza = get_recipe(kinds[0]).max_sza
        except ValueError:  # a recipe this process has not registered: no default limit
            max_sza = None
    sampler.max_sza = None if max_sza is None else GridSampler.checked_max_sza(max_sza)
    sampler.surface = check_surface(surface)
    sampler.indices = bool(indices)
    sampler.cloud_threshold = None
    if cloud_threshold is not None:
        from ..data.cloud_threshold import check_threshold
        from ..data.composites.recipes import get_recipe

        if not kinds:
            raise ValueError("cloud_threshold needs composites of a recipe with a cloud mask")
        sampler.cloud_threshold = check_threshold(cloud_threshold, get_recipe(kinds[0]))
    if feat.in_channels is not None and feat.in_channels != n_ch:
        raise ValueError(f"the model takes {feat.in_channels}-channel tiles but the composites have {n_ch} "
                         f"channel(s) ({paths[0]!r}); use a model trained on this recipe's tiles")
    if emb_dim is None:  # a module that does not say: one tile through it
        emb_dim = int(feat.embed(np.zeros((1, n_ch, sampler.tile_pixels, sampler.tile_pixels), np.uint8)).shape[1])
    run = {"model_sha256": feat.sha256, "featurizer": feat.name, "tile_size_m": sampler.tile_size_m,
           "tile_pixels": sampler.tile_pixels, "stride": sampler.stride, "domain": list(domain),
           "method": method, "gamma": float(gamma), "shape": list(sampler.shape), "emb_dim": emb_dim,
           "labeler": "" if labeler is None else f"{type(labeler).__module__}.{type(labeler).__qualname__}",
           "convml_tt_version": __version__,
           # version of a part's content: 2 = parts carry the organisation indices per cell,
           # 3 = with NaN reasons, surface and thresholds (parts written before are not reused)
           "part_format": 3, "surface": sampler.surface}
    if sampler.cloud_threshold is not None:
        run["cloud_threshold"] = sampler.cloud_threshold
    if not sampler.indices:  # parts without indices are not those of a run with them
        run["indices"] = False
    stretches = _model_stretches(feat, paths[0])
    if stretches is not None:
        run["stretch"] = stretches
    if sampler.max_sza is not None:
        run["max_sza"] = sampler.max_sza
    if env is not None:
        run["env"] = env.spec
    attrs = _global_attrs(feat, sampler, method, gamma, labeler)
    if stretches is not None:  # the brightness-temperature ranges of the tiles (the model's)
        attrs["display_stretch"] = json.dumps(stretches, sort_keys=True)

    tmp_dir = None
    if out is None:
        tmp_dir = tempfile.TemporaryDirectory(prefix="convml_tt-map-")
        target = Path(tmp_dir.name) / "map.nc"
    else:
        target = Path(out)
    parts_dir = target.parent / f".{target.name}.parts"
    try:
        parts_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(parts_dir)
        fps = [_fingerprint(run, p) for p in paths]
        part_paths = [parts_dir / f"{fp[:32]}.nc" for fp in fps]
        keep = set(part_paths)
        for old in parts_dir.iterdir():  # parts of another run never mix in
            if old not in keep:
                old.unlink() if old.is_file() else shutil.rmtree(old)
        todo = [k for k, pp in enumerate(part_paths) if read_part(pp, fps[k]) is None]
        _run_scenes(sampler, feat, todo, part_paths, fps, {p: s.time for p, s in info.items()}, n_ch, emb_dim,
                    int(batch_size), gamma, labeler, int(num_workers), progress, compute,
                    None if env is None else env.spec, stretches)
        n_valid = sum(read_part(pp, fps[k])["n_valid"] for k, pp in enumerate(part_paths))
        if n_valid == 0:
            shutil.rmtree(parts_dir, ignore_errors=True)
            try:
                made_for = f" (they were made for {_composite_domain(info)})"
            except ValueError:
                made_for = ""
            raise ValueError(sampler.why_no_valid_cell([info[p].time for p in paths], info[paths[0]].kind,
                                                       made_for))
        with atomic_path(target) as tmp:
            combine_parts(part_paths, tmp, sampler, attrs, emb_dim, progress=progress)
        shutil.rmtree(parts_dir, ignore_errors=True)
        if tmp_dir is not None:
            return load_map(target, load=True)
        return load_map(target, load=False)
    finally:
        # a run that failed before any scene was done leaves no (empty) parts folder behind
        with contextlib.suppress(OSError):
            if parts_dir.is_dir() and not any(parts_dir.iterdir()):
                parts_dir.rmdir()
        if tmp_dir is not None:
            tmp_dir.cleanup()


def _run_scenes(sampler: GridSampler, feat: Featurizer, todo: list[int], part_paths: list[Path],
                fps: list[str], times: dict[str, str], channels: int, emb_dim: int, batch_size: int,
                gamma: float, labeler: Any, num_workers: int, progress: bool,
                compute: dict | None = None, env: dict | None = None, stretches: list | None = None) -> None:
    """Cut, embed and write the parts of the scenes ``todo``, one scene at a time."""
    from tqdm.auto import tqdm

    n = sampler.n_cells
    items = [(k, s, min(s + batch_size, n)) for k in todo for s in range(0, n, batch_size)]
    paths = sampler.scenes[_STAGE]
    source = _Chunks(sampler, items, gamma, labeler, channels, env, stretches)
    batcher = _Batcher(feat, batch_size)
    scenes: deque = deque()  # scene maps in order, until written

    def write_done() -> None:
        while scenes and scenes[0].cut == n and scenes[0].pending == 0:
            done = scenes.popleft()
            k = done.scene
            _write_part(part_paths[k], fps[k], done, paths[k], times[paths[k]], sampler.shape)

    # serial BLAS for the cutting done here (torch's own BLAS and threads are not affected)
    with serial_blas(), tqdm(total=len(todo) * n, desc="map", unit="tile", disable=not progress) as bar:
        for chunk in _chunk_stream(source, num_workers, compute):
            if not scenes or scenes[-1].scene != chunk["scene"]:
                scenes.append(_SceneMap(chunk["scene"], sampler.shape, emb_dim))
            cells = scenes[-1].add(chunk)
            batcher.put(scenes[-1], cells, np.asarray(chunk["tiles"]))
            bar.update(chunk["stop"] - chunk["start"])
            write_done()
        batcher.flush()
        write_done()


def _model_stretches(feat: Featurizer, path: str) -> list | None:
    """The display stretches of the model's training tiles for composites
    like ``path`` (:func:`~convml_tt.data.composites.stretch.model_stretches`:
    its recorded brightness-temperature ranges; None: the fixed ones), said
    once in a log line."""
    from ..data.composites.stretch import model_stretches, stretch_text

    reader = open_composite(path)
    units = reader.channel_units
    release_composite(path)
    stretches = model_stretches(feat.config, units)
    if stretches is not None:
        names = [c.get("name") for c in feat.config.get("channels") or []]
        log.info("map: tiles stretched with the model's recorded range %s, not the scenes' own",
                 stretch_text(stretches, names))
    return stretches


def _write_part(path: Path, fingerprint: str, scene: _SceneMap, composite: str, time: str,
                shape: tuple[int, int]) -> None:
    """Write one scene's finished map (a module function so that tests can interrupt a run here)."""
    write_part(path, fingerprint, scene, composite, time, shape)


def _global_attrs(feat: Featurizer, sampler: GridSampler, method: str, gamma: float, labeler: Any) -> dict:
    from .embeddings import _json_default

    attrs: dict[str, Any] = {
        "Conventions": "CF-1.8",
        "title": f"convml_tt embedding map ({feat.name})",
        "source": "convml_tt.interpretation.maps.embed_domain",
        "tile_size_m": float(sampler.tile_size_m),
        "tile_pixels": int(sampler.tile_pixels),
        "stride": float(sampler.stride),
        "domain": np.asarray(sampler.domain, np.float64),
        "method": method,
        "gamma": float(gamma),
        "model_path": feat.path,
        "model_config": json.dumps(feat.config, default=_json_default, sort_keys=True),
        "model_sha256": feat.sha256,
        "featurizer": feat.name,
        "convml_tt_version": __version__,
    }
    names = _regime_names(labeler)
    if names is not None:
        attrs["regime_names"] = json.dumps(list(names))
    for key, names in (getattr(labeler, "value_names", None) or {}).items():  # e.g. the human classes
        attrs[f"{key}_names"] = json.dumps([str(n) for n in names])
    return attrs


def _regime_names(labeler: Any) -> Sequence[str] | None:
    """The names of a labeler's integer labels: its ``regimes`` (or
    ``REGIMES``) attribute, e.g. those of
    :class:`~convml_tt.data.synthetic.RegimeLabeler`; None when it has none."""
    if labeler is None:
        return None
    names = getattr(labeler, "regimes", None) or getattr(labeler, "REGIMES", None)
    return None if names is None else [str(n) for n in names]
