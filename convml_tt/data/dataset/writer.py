"""Writing a triplet dataset folder: :func:`make_triplets`.

Composites of the cached scenes are made (or reused), split into train and
study by date, and each triplet is drawn by a sampler
(:class:`~convml_tt.data.sampling.triplets.TripletSampler` by default, or
any sampler of anchor, neighbour and distant tiles given as ``sampler=``),
stretched for display (:func:`~convml_tt.data.composites.enhance.to_display`)
and written as PNGs plus its metadata (:mod:`.format`; or, with
``layout="packed"``, into uint8 shards, :mod:`.packed`), optionally with what
a labeler (:mod:`convml_tt.data.labels`) knows about each tile. Each tile's
metadata also holds the organisation indices of its cloud mask (from its
physical values, before the stretch, when the recipe has a cloud mask) and,
with ``fields=`` (``TripletSettings.fields``, ``--fields C13``), the
statistics of co-located fields of the same scan (:mod:`convml_tt.data.colocated`).

Every triplet's random numbers come from ``(seed, stage, id)``, so a dataset
depends only on the seed, the settings and the composites, not on the
number of worker processes. Every file is written to a temporary name and
renamed; a triplet's ``_meta.yaml`` is written last and marks it complete,
so a killed run that is restarted redoes only the unfinished triplets.

Blocks of triplets are the tasks of :mod:`convml_tt.compute`: written in
this process (``workers=1``), by a local pool (``workers=K``) or on a dask
cluster (``scheduler=``/``client=``); each task carries the stage and ids,
and a worker opens the composites itself. With ``workers > 1`` the worker
processes exit when the calling process dies, even by SIGKILL
(:func:`convml_tt._io.die_with_parent`); SIGTERM or Ctrl-C of the calling
process stops the pool (pending work cancelled, workers terminated) before
:class:`convml_tt._io.Terminated` (exit status 143) or ``KeyboardInterrupt``
propagates. A block whose worker died is written again (by a restarted pool
or another dask worker). Temporary files a killed run left in the stage
folders are removed by the next run (one writer per dataset folder).
"""
from __future__ import annotations

import contextlib

import datetime as dt
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..._io import check_writable_folder, remove_stale_temps
from ...compute import compute_settings, iter_tasks, session
from ..._sizing import check_request
from ...config import DEFAULT_TILE_PIXELS, DEFAULT_TILE_SIZE_M, TripletSettings, _triplet_bytes, accepts_old_names
from ..composites.build import make_composites
from ..composites.enhance import display_stretch, to_display
from ..composites.reader import CompositeReader, close_composites, open_composite
from ..composites.stretch import dataset_stretches, recorded_channels
from ..cloud_threshold import dataset_thresholds
from ..colocated import field_composites, fields_meta, tile_physical
from ..fields.colocate import Environment, environment_of
from ..composites.recipes import channel_units, get_recipe
from ..composites.scenes import choose_satellite, satellite_counts, scan_sources
from ..labels import Labeler, check_labeler_sources, check_labels
from ..sampling.base import Sampler, get_sampler
from ..sampling.triplets import TripletSampler, check_tile_fits, daylit_scenes, split_scenes
from ..tiles import serial_blas
from .format import (
    DATASET_FORMAT,
    STAGES,
    TILE_TYPES,
    TileMeta,
    TripletMeta,
    component_name,
    list_triplets,
    read_dataset_meta,
    scan_stage,
    tile_name,
    write_dataset_meta,
    write_triplet_meta,
)
from .packed import pack_pieces, resolve_layout, write_piece
from .png import write_png

__all__ = ["make_triplets", "channels_meta"]


@accepts_old_names(tile_size="tile_size_m")
def make_triplets(
    data_root: str | os.PathLike,
    domain: Sequence[float] | None = None,
    out: str | os.PathLike | None = None,
    n_train: int | None = None,
    n_study: int = 0,
    tile_size_m: float = DEFAULT_TILE_SIZE_M,
    tile_pixels: int = DEFAULT_TILE_PIXELS,
    seed: int = 0,
    workers: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    progress: bool = True,
    composites: Sequence[str | os.PathLike] | None = None,
    labeler: Labeler | None = None,
    settings: TripletSettings | None = None,
    sampler: Callable[[TripletSettings, Mapping[str, Sequence[str]]], Sampler] = TripletSampler,
    scheduler: str | os.PathLike | None = None,
    client: Any = None,
    sources: Mapping[str, Any] | None = None,
    force: bool = False,
    layout: str | None = None,
    shard_size: int | None = None,
    **options: Any,
) -> Path:
    """Make (or complete) a triplet dataset.

    Parameters
    ----------
    data_root:
        root of the source cache; composites are made (or reused) under
        ``{data_root}/composites`` for every cached scene with scan start in
        ``[start, end]``.
    domain:
        ``(lon_min, lat_min, lon_max, lat_max)``, degrees.
    out:
        the dataset folder.
    n_train, n_study:
        triplets per stage.
    tile_size_m, tile_pixels:
        tile side in metres and pixels.
    seed:
        all randomness (split and sampling); same seed -> same dataset,
        whatever ``workers``.
    workers:
        processes (None or 1: in this process); not with ``scheduler``/``client``.
    scheduler, client:
        run the composites and triplet blocks on a dask cluster: its
        scheduler's address (``tcp://host:8786``) or scheduler file, or a
        ``distributed.Client`` (see :mod:`convml_tt.compute`); the
        composites, the data root and ``out`` must be on storage the workers
        share.
    composites:
        use these composite files instead of compositing the cache.
    labeler:
        a :class:`~convml_tt.data.labels.Labeler` whose values are stored
        with each tile (e.g. :class:`convml_tt.data.synthetic.RegimeLabeler`);
        None: place and time only.
    settings:
        a :class:`~convml_tt.config.TripletSettings` instead of ``domain``,
        ``n_train``, ``n_study``, ``tile_size_m``, ``tile_pixels``, ``seed``
        and ``options``.
    sampler:
        how triplets are drawn: a :class:`~convml_tt.data.sampling.base.Sampler`
        class (or factory, or the name of one in the sampler registry,
        e.g. ``"triplet"``) called as ``sampler(settings, {stage: [composite
        paths]})`` whose ``tile_types`` are anchor, neighbor, distant; default
        :class:`~convml_tt.data.sampling.triplets.TripletSampler`. It must be
        picklable (a module-level class) when ``workers > 1`` or on a cluster.
    force:
        make a dataset above the sane bounds (more than ten million tiles,
        half the memory, 100 GiB or the free disk; see
        :func:`convml_tt._sizing.check_request`), which is refused otherwise
        before any work.
    layout, shard_size:
        ``"png"`` (a PNG per tile, the default and exchange format) or
        ``"packed"`` (uint8 shards of ``shard_size`` triplets, default 256,
        that loaders memory-map: :mod:`.packed`); None: the layout of the
        dataset already in ``out``, else PNG. The other layout than the one
        in ``out`` is refused, saying how to convert it (``convml_tt pack``).
    options:
        further :class:`~convml_tt.config.TripletSettings` fields
        (``neighbor_distance``, ``distant``, ``distant_min_distance``,
        ``resolution_km``, ``method``, ``max_tries``, ``gamma``, ``satellite``:
        the one GOES satellite whose composites are used; ``recipe``: the
        composite recipe of the tiles, e.g. ``"C13"`` or ``"C13+C14+C15"``,
        1-4 channels, each stretched by its units and recorded in
        ``meta.yaml`` under ``channels``, see :func:`channels_meta`;
        ``fields``: co-located single-plane recipes, e.g. ``("C13",)``, whose
        composites are made for the same scans, tile by tile ``{C13_min,
        C13_mean, C13_max}``; a scan lacking a field's band is refused before
        sampling; ``stretch``: the display range of brightness-temperature
        channels, by default the dataset's own 1st-99th percentiles,
        chosen once and recorded in ``meta.yaml``, see
        :mod:`convml_tt.data.composites.stretch`).
    sources:
        where the scenes come from when ``composites`` is None (the
        keywords of :func:`~convml_tt.data.composites.make_composites`):
        ``inputs`` (your own folders, glob patterns or files instead of the
        source cache), ``source`` (a source registry name), ``product``,
        ``sector``, ``quality``.

    Returns
    -------
    The dataset folder.

    Raises
    ------
    ValueError
        tile larger than the domain, composites of several satellites and
        no ``satellite`` setting (or none of the one chosen), fewer than
        two scenes where distant tiles need another scene, an existing
        dataset made with other parameters.
    PermissionError
        an unwritable ``out``.
    """
    if out is None:
        raise TypeError("make_triplets needs out=, the dataset folder to write")
    compute = compute_settings(workers, scheduler, client)  # where the tasks run; bad choices fail first
    if settings is None:
        if domain is None or n_train is None:
            raise TypeError("make_triplets needs domain= and n_train= (or settings=TripletSettings(...))")
        settings = TripletSettings(
            domain=tuple(domain), tile_size_m=float(tile_size_m), tile_pixels=int(tile_pixels),
            n_train=int(n_train), n_study=int(n_study), seed=int(seed), **options,
        )
    elif domain is not None or n_train is not None or options:
        raise TypeError("give make_triplets either settings= or domain=/n_train=/... keywords, not both")
    sampler = get_sampler(sampler)  # a class, or the name of a registered one
    if tuple(getattr(sampler, "tile_types", TILE_TYPES)) != TILE_TYPES:
        raise ValueError(f"sampler {sampler!r} draws {getattr(sampler, 'tile_types', None)} tiles; a triplet "
                         f"dataset needs a sampler of {TILE_TYPES}")
    if labeler is not None and not isinstance(labeler, Labeler):
        raise TypeError(f"labeler {labeler!r} has no label(tile, source_paths) method; see convml_tt.data.labels")
    params = settings
    check_tile_fits(params.domain, params.tile_size_m)
    _size_dataset(params, compute.workers or 1, out, force)
    out = Path(out)
    created = not out.exists()
    check_writable_folder(out, "the triplet dataset", "choose a writable --out folder")
    if created:
        # made again once the inputs are checked, so a refused run leaves no empty folder
        out.rmdir()
    data_root = Path(data_root)
    if composites is None:
        # one satellite: refused before anything is composited when the cache mixes them
        when = f" with scan start {start or '...'} to {end or '...'}" if start or end else ""
        recipe = get_recipe(params.recipe)
        where = {k: v for k, v in (sources or {}).items() if v is not None}
        cached = scan_sources(data_root, recipe.bands, start, end, product=where.get("product"),
                              sector=where.get("sector"), inputs=where.get("inputs"), source=where.get("source"),
                              sensor=recipe.sensor)[0]
        choose_satellite(satellite_counts(cached), params.satellite, f"the cached scenes{when}")
        composites = make_composites(
            data_root, params.domain, start=start, end=end, kind=params.recipe,
            resolution_km=params.resolution_km, satellite=params.satellite, progress=progress,
            workers=workers, scheduler=scheduler, client=client, **where,
        )
    scenes = _split(composites, params)
    check_labeler_sources(labeler, [p for s in STAGES for p in scenes[s]])  # e.g. synthetic names on real scenes
    # scenes wholly beyond --max-sza are left out (warned); none daylit: a "no daylit tiles" error
    scenes = daylit_scenes(params, scenes)
    need = {"train": params.n_train, "study": params.n_study}
    # co-located fields: each scan's field composites, found (or refused) before sampling
    field_paths = field_composites(data_root, [p for s in STAGES for p in scenes[s]], params.fields,
                                   params.domain, params.resolution_km, progress, workers=workers,
                                   scheduler=scheduler, client=client) if params.fields else {}

    # environment fields: the files opened (and the variables each field needs checked) before sampling
    env = environment_of(params)
    # each scene's cloud thresholds of the organisation indices (the threshold asked for, or its own)
    thresholds = dataset_thresholds([p for st in STAGES for p in scenes[st]], params.recipe, params.cloud_threshold)

    meta = {
        "format": DATASET_FORMAT,
        "params": params.to_yaml_dict(),
        "data_root": str(data_root.resolve()),
        "scenes": {s: [os.path.relpath(p, data_root.resolve()) for p in scenes[s]] for s in STAGES},
        "channels": channels_meta(params.recipe, params.gamma,
                                  _composite_units(scenes) if "" in channel_units(params.recipe) else None),
    }
    # brightness temperatures: the dataset's own display range, chosen once (a resumed dataset keeps its record)
    meta["channels"] = dataset_stretches(meta["channels"], params.stretch, sorted(p for s in STAGES for p in scenes[s]),
                                         recorded_channels(read_dataset_meta(out), meta))
    if params.fields:
        meta["fields"] = fields_meta(params.fields, _field_units(field_paths))
    if env is not None:
        meta["env"] = env.units
    if thresholds:
        meta["cloud_thresholds"] = {os.path.relpath(p, data_root.resolve()): v for p, v in thresholds.items()}
    # what drew, labelled and cut the tiles: a resumed dataset must be made by the same
    meta["components"] = {"sampler": component_name(sampler), "labeler": component_name(labeler),
                          "recipe": params.recipe}
    layout, shard_size = resolve_layout(out, layout, shard_size)
    if layout == "packed":
        meta.update(layout=layout, shard_size=shard_size)
    _check_existing(out, meta)
    for s in STAGES:
        (out / s).mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out / s)
    write_dataset_meta(out, {**meta, "status": "incomplete"})

    done = {s: set(list_triplets(out, s)) for s in STAGES}
    todo = [(s, i) for s in STAGES for i in range(need[s]) if i not in done[s]]
    config = {
        "settings": params,
        "scenes": scenes,
        "out": str(out),
        "data_root": str(data_root.resolve()),
        "labeler": labeler,
        "sampler": sampler,
        "field_paths": field_paths,
        "env": None if env is None else env.spec,
        "thresholds": thresholds,
        "layout": layout,
        "stretches": [c["stretch"] if c["units"] == "K" else None for c in meta["channels"]],
    }
    total = need["train"] + need["study"]
    # blocks of triplets of one stage are the tasks: about 4 per worker process (16 triplets at
    # most), so that workers finish together; in this process about 16 blocks (a progress bar
    # that moves, little overhead)
    try:
        with session(workers, scheduler, client) as (where, n_workers):
            per = 4 * n_workers if compute.mode != "process" else 16
            chunk = max(1, min(16, len(todo) // per))
            jobs = []
            for s in STAGES:
                ids = [i for st, i in todo if st == s]
                jobs += [(s, ids[k : k + chunk]) for k in range(0, len(ids), chunk)]
            for _ in iter_tasks(_make_block, jobs, setup=_init, config=config, progress=progress, desc="triplets",
                                unit="triplet", sizes=[len(ids) for _, ids in jobs], initial=total - len(todo),
                                **where):
                pass
        # a worker that died (or was stopped with its pool) may have left a temporary file; its
        # triplets were written again, and every task is done: no writer is left
        for s in STAGES:
            remove_stale_temps(out / s)
            if layout == "packed":  # every triplet is written: into shards
                pack_pieces(out / s, shard_size)
    except BaseException:
        # interrupted (Ctrl-C, SIGTERM) or failed: the local pool is stopped, and a worker killed
        # mid-write may have left a temporary file; no local writer is left (dask workers may be)
        if compute.mode != "dask":
            for s in STAGES:
                with contextlib.suppress(OSError):  # never hide what stopped the run
                    remove_stale_temps(out / s)
        raise
    finally:
        close_composites()
    write_dataset_meta(out, {**meta, "status": "complete"})
    return out


def _size_dataset(params: TripletSettings, workers: int, out: Any, force: bool) -> None:
    """Size a dataset before any work: its tiles, the memory of drawing one
    triplet per worker process and the disk of its PNGs (uncompressed, the
    most they take); a one-line error above the bounds unless ``force``."""
    n = int(params.n_train) + int(params.n_study)
    px, channels = int(params.tile_pixels), get_recipe(params.recipe).n_planes
    procs = max(1, min(int(workers), n))
    check_request("the dataset", tiles=3 * n, tiles_detail=f"{n:,} triplet(s) of {px} x {px} pixels",
                  memory=_triplet_bytes(px) * procs,
                  memory_detail=f"a triplet drawn at a time by each of {procs} process(es)",
                  disk=n * (3 * px * px * channels + 2048), disk_path=Path(out).absolute().parent, force=force,
                  smaller="fewer --tile-pixels" + (", fewer --workers" if procs > 1 else "")
                  + " or fewer triplets (--n-train, --n-study)")


def channels_meta(recipe: Any, gamma: float, units: Sequence[str] | None = None) -> list[dict]:
    """What each channel of a dataset's tiles holds, as its ``meta.yaml``
    records it under ``channels``: per channel (PNG channel order: L; L, A;
    R, G, B; R, G, B, A) its ``name`` (the recipe's channel, or the recipe's
    name for one plane), ``units`` of the composite values (the recipe's, or
    ``units``, the composites', where the recipe leaves them to the source
    files: a field recipe) and the display ``stretch`` that made the bytes
    (:func:`~convml_tt.data.composites.enhance.display_stretch`; invert it
    with :func:`~convml_tt.data.composites.enhance.from_display`)."""
    r = get_recipe(recipe)
    names = r.channels if r.channels is not None else (r.name,)
    given = channel_units(r)
    if units is not None and "" in given:
        given = tuple(units)
    return [{"name": str(n), "units": u, "stretch": display_stretch(u, gamma)} for n, u in zip(names, given)]


def _composite_units(scenes: dict[str, list[str]]) -> tuple[str, ...] | None:
    """The channel units of the first composite of ``scenes`` (None without one)."""
    first = next((p for s in STAGES for p in scenes.get(s, ())), None)
    if first is None:
        return None
    c = CompositeReader(first)
    try:
        return c.channel_units
    finally:
        c.close()


def _field_units(field_paths: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """``{field: units}`` of the first composite of each co-located field."""
    units: dict[str, str] = {}
    for by_field in field_paths.values():
        for name, path in by_field.items():
            if name not in units:
                c = CompositeReader(path)
                units[name] = c.units
                c.close()
    return units


def _split(composites: Sequence[str | os.PathLike], params: TripletSettings) -> dict[str, list[str]]:
    """``{stage: composite paths in time order}``, checking that every stage
    asked for has the scenes it needs."""
    paths = [str(Path(p).resolve()) for p in composites]
    infos = []
    for p in paths:
        c = CompositeReader(p)
        infos.append((dt.datetime.fromisoformat(c.time), c.satellite))
        kind = str(c.nc.getncattr("kind")) if "kind" in c.nc.ncattrs() else None
        c.close()
        # the tiles' channels and stretch are those of the dataset's recipe
        if kind is not None and kind != params.recipe:
            raise ValueError(f"composite {p} is a {kind!r} composite but the dataset's recipe is "
                             f"{params.recipe!r}: give composites of that recipe, or recipe={kind!r} "
                             f"(--recipe {kind})")
    # a dataset is made from one satellite: the chosen one, or the only one there is
    counts: dict[int | str, int] = {}
    for _, sat in infos:
        counts[sat] = counts.get(sat, 0) + 1
    chosen = choose_satellite(counts, params.satellite, f"the {len(paths)} composites")
    keep = [i for i in range(len(paths)) if infos[i][1] == chosen]
    paths, infos = [paths[i] for i in keep], [infos[i] for i in keep]
    order = sorted(range(len(paths)), key=lambda i: (infos[i][0], paths[i]))
    paths = [paths[i] for i in order]
    infos = [infos[i] for i in order]
    split = split_scenes([t for t, _ in infos], seed=params.seed)
    scenes = {s: [paths[i] for i in split[s]] for s in STAGES}
    need = {"train": params.n_train, "study": params.n_study}
    for s in STAGES:
        if need[s] == 0:
            continue
        if not scenes[s]:
            raise ValueError(
                f"no scenes for the {s} split ({len(paths)} scene(s) in all, split by date: "
                f"train {len(split['train'])}, study {len(split['study'])}); fetch scenes on more "
                "dates or ask for 0 study triplets"
            )
        if params.distant == "other_scene" and len(scenes[s]) < 2:
            raise ValueError(
                f"the {s} split has {len(scenes[s])} scene but distant tiles must come from "
                "another scene: fetch more scenes (dates), or use distant='same_scene' "
                "(--distant same_scene)"
            )
    return scenes


def _check_existing(out: Path, meta: dict) -> None:
    """Refuse to add to a folder holding a dataset made otherwise (other
    format, parameters, scenes or components; datasets written before the
    components were recorded are compared without them). A dataset without
    a single complete triplet (a run that failed at its start) is started
    afresh with the new settings: its partial files are removed."""
    existing = read_dataset_meta(out)
    if existing is not None:
        keys = ("format", "params", "scenes") + (("components",) if "components" in existing else ())
        if {k: existing.get(k) for k in keys} != {k: meta[k] for k in keys}:
            if not any(list_triplets(out, s) for s in STAGES):
                _clear_stages(out)
                return
            raise ValueError(
                f"{out} already holds a triplet dataset made with other parameters "
                f"({_describe_diff(existing, meta)}); refusing to mix them: delete {out} "
                f"(or choose another --out) to start fresh"
            )
    elif any(out.glob("*/*_anchor.png")):
        raise ValueError(
            f"{out} already holds triplet PNGs without a meta.yaml (an older dataset?); "
            "refusing to mix: choose another --out or delete the folder to start fresh"
        )


def _clear_stages(out: Path) -> None:
    """Remove the triplet files (tiles, metadata, temporaries) of the stage
    folders of a dataset that has no complete triplet."""
    for s in STAGES:
        for i, files in scan_stage(out / s).items():
            for p in files.values():
                p.unlink(missing_ok=True)
        for p in [*(out / s).glob("shard-*.*"), *(out / s).glob("*_tiles.npy"), *(out / s).glob("*_meta.yaml")]:
            p.unlink()
        if (out / s).is_dir():
            remove_stale_temps(out / s)


def _describe_diff(old: dict, new: dict) -> str:
    parts = []
    if old.get("format") != new.get("format"):
        parts.append(f"format {old.get('format')!r} != {new.get('format')!r}")
    op, np_ = old.get("params") or {}, new["params"]
    for k in sorted(set(op) | set(np_)):
        if op.get(k) != np_.get(k):
            parts.append(f"{k}: {op.get(k)!r} -> {np_.get(k)!r}")
    if "components" in old:
        oc, nc = old.get("components") or {}, new.get("components") or {}
        for k in sorted(set(oc) | set(nc)):
            if oc.get(k) != nc.get(k) and not (k == "recipe" and op.get(k) != np_.get(k)):
                parts.append(f"{k}: {oc.get(k) or 'none'} -> {nc.get(k) or 'none'}")
    if old.get("scenes") != new.get("scenes"):
        parts.append("different scenes")
    return "; ".join(parts) or "different metadata"


# -----------------------------------------------------------------------------
# per process: one triplet at a time
# -----------------------------------------------------------------------------
_STATE: dict[str, Any] = {}


def _init(config: dict) -> None:
    _STATE.clear()
    _STATE.update(config)
    _STATE["sampler"] = config["sampler"](config["settings"], config["scenes"])
    # the dataset's recipe (its cloud mask gives the organisation indices); a plugin recipe must
    # be importable where the tasks run (docs/cluster.md)
    _STATE["recipe"] = get_recipe(config["settings"].recipe)
    _STATE["environment"] = Environment.from_spec(config["env"]) if config.get("env") else None


def _make_block(job: tuple[str, list[int]]) -> list[int]:
    """A task of :mod:`convml_tt.compute`: the triplets ``ids`` of ``stage``
    (``job = (stage, ids)``) in a process set up by :func:`_init`."""
    stage, ids = job
    with serial_blas():
        return [_make_one(stage, i) for i in ids]


def _make_one(stage: str, idx: int) -> int:
    params: TripletSettings = _STATE["settings"]
    sampler: Sampler = _STATE["sampler"]
    labeler = _STATE["labeler"]
    out = Path(_STATE["out"])
    drawn = sampler.sample(stage, idx)
    packed = [] if _STATE.get("layout") == "packed" else None  # the display tiles of a packed dataset
    recipe = _STATE["recipe"]
    pixel_m = float(params.tile_size_m) / int(params.tile_pixels)
    meta = TripletMeta(id=int(idx), stage=stage, tile_size_m=float(params.tile_size_m),
                       tile_pixels=int(params.tile_pixels))
    for kind in sampler.tile_types:
        d = drawn[kind]
        comp = open_composite(sampler.scenes[stage][d.scene])
        tile = to_display(d.image, comp.channel_units, params.gamma, stretches=_STATE.get("stretches"))
        if packed is None:
            write_png(out / stage / tile_name(idx, kind), tile)
        else:
            packed.append(tile)
        labels = check_labels(labeler.label(d.tile, comp.source_paths), labeler) if labeler is not None else {}
        # organisation indices (physical values, before the stretch) and co-located field statistics
        indices, fields = tile_physical(d.image, recipe, pixel_m, d.tile,
                                        _STATE.get("field_paths", {}).get(str(comp.path)), params.method,
                                        (_STATE.get("thresholds") or {}).get(sampler.scenes[stage][d.scene]),
                                        params.wavelet_indices)
        env = _STATE.get("environment")
        env_values = env.tile_meta(d.tile, comp.time) if env is not None else {}
        setattr(meta, kind, TileMeta(
            lat=round(float(d.tile.lat0), 6),
            lon=round(float(d.tile.lon0), 6),
            time=comp.time,
            satellite=comp.satellite,
            composite=os.path.relpath(comp.path, _STATE["data_root"]),
            source_files=[Path(p).name for p in comp.source_paths],
            labels=labels,
            indices=indices,
            fields=fields,
            env=env_values,
        ))
    if packed is not None:
        write_piece(out / stage, idx, packed)
    write_triplet_meta(out, meta)
    return idx

