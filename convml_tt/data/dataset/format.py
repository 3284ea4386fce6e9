"""The triplet dataset folder: the one definition of its names, ids and metadata.

Layout (compatible with datasets of earlier convml_tt versions)::

    {dataset}/meta.yaml                           all parameters, scenes, split, status, and the
                                                  components that made it (sampler, labeler, recipe)
    {dataset}/{train,study}/{id:05d}_anchor.png   8-bit tile, N x N, row 0 north
    {dataset}/{train,study}/{id:05d}_neighbor.png
    {dataset}/{train,study}/{id:05d}_distant.png
    {dataset}/{train,study}/{id:05d}_meta.yaml    one :class:`TripletMeta`

A triplet is *complete* when its three PNGs exist and, in a folder written
by :func:`convml_tt.data.dataset.writer.make_triplets` (one with a
dataset-level ``meta.yaml``), its ``_meta.yaml`` too: the writer writes the
metadata last, so a triplet without it was cut short by a killed run.
Folders of earlier convml_tt versions have no metadata at all; their
triplets are complete with their three PNGs.

Per-triplet metadata (``{id:05d}_meta.yaml``)::

    id: 0
    stage: train
    tile_size_m: 64000.0
    tile_pixels: 64
    anchor:   {lat, lon, time, satellite, composite, source_files, <labels>}
    neighbor: {...}
    distant:  {...}

``lat``/``lon``: tile centre, degrees north/east; ``time``: scene scan
start (ISO 8601, UTC); ``composite``: path relative to the data root;
``source_files``: names of the scene's band files; ``<labels>``: whatever
the dataset's labeler knew about the tile (e.g. ``regime``,
``regime_name``, ``regime_fraction`` for synthetic scenes); ``indices``:
the organisation indices of the tile (``cloud_fraction``, ``iorg``,
``scai``, ``cop``, ``n_objects``, ``mean_object_size_m``,
``max_object_size_m``, ``open_sky``; absent in older datasets and for
recipes without a cloud mask); ``fields``: per-tile statistics of the
dataset's co-located fields (``C13_min``, ``C13_mean``, ``C13_max``, in the
units the dataset's ``meta.yaml`` gives under ``fields:``).

A dataset may instead be *packed* (``meta.yaml``'s ``layout: packed``):
the same tiles in uint8 shards, the same ``_meta.yaml`` files and the same
rule for a complete triplet (:mod:`.packed`); the functions here that list,
check and verify triplets follow either layout.

This module needs no torch; the torch datasets and the interpretation code
read folders through it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..._io import write_bytes

__all__ = [
    "TILE_TYPES",
    "STAGES",
    "DATASET_FORMAT",
    "DATASET_META",
    "TileMeta",
    "TripletMeta",
    "tile_name",
    "meta_name",
    "parse_tile_name",
    "stage_index",
    "scan_stage",
    "is_complete",
    "list_triplets",
    "tile_ids",
    "incomplete_triplets",
    "read_dataset_meta",
    "dataset_recipe",
    "component_name",
    "write_dataset_meta",
    "read_triplet_meta",
    "write_triplet_meta",
    "read_tile_array",
    "damaged_triplets",
    "verify_dataset",
    "yaml_bytes",
]

TILE_TYPES = ("anchor", "neighbor", "distant")
STAGES = ("train", "study")
#: the ``format`` of a dataset-level ``meta.yaml`` written by this version
DATASET_FORMAT = "convml_tt-triplets/2"
#: the dataset-level metadata file
DATASET_META = "meta.yaml"

#: PIL modes of 8-bit tiles and their channel counts
MODE_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_TILE_RE = re.compile(r"^(\d+)_(anchor|neighbor|distant)\.png$")
#: libyaml's emitter when available (same text as yaml.safe_dump, faster)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# -----------------------------------------------------------------------------
# names and ids
# -----------------------------------------------------------------------------
def tile_name(idx: int, tile_type: str) -> str:
    """File name of one tile: ``{id:05d}_{tile_type}.png``."""
    if tile_type not in TILE_TYPES:
        raise ValueError(f"tile_type {tile_type!r} is not one of {TILE_TYPES}")
    return f"{int(idx):05d}_{tile_type}.png"


def meta_name(idx: int) -> str:
    """File name of one triplet's metadata: ``{id:05d}_meta.yaml``."""
    return f"{int(idx):05d}_meta.yaml"


def parse_tile_name(name: str) -> tuple[int, str] | None:
    """``(id, tile_type)`` of a tile file name, None for other names."""
    m = _TILE_RE.match(name)
    return (int(m.group(1)), m.group(2)) if m else None


def stage_index(stage: str) -> int:
    """Position of ``stage`` in :data:`STAGES` (part of every triplet's seed)."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} is not one of {STAGES}")
    return STAGES.index(stage)


def scan_stage(stage_dir: str | os.PathLike) -> dict[int, dict[str, Path]]:
    """Map triplet id -> ``{tile_type: path}`` of the PNG tiles in a stage folder,
    plus ``"meta": path`` where the triplet's metadata file exists."""
    stage_dir = Path(stage_dir)
    found: dict[int, dict[str, Path]] = {}
    if not stage_dir.is_dir():
        return found
    metas = set()
    for p in stage_dir.iterdir():
        parsed = parse_tile_name(p.name)
        if parsed:
            found.setdefault(parsed[0], {})[parsed[1]] = p
        elif p.name.endswith("_meta.yaml"):
            metas.add(p.name)
    for i, m in found.items():
        if meta_name(i) in metas:
            m["meta"] = stage_dir / meta_name(i)
    return found


def _packed(stage_dir: Path, broken_ok: bool = False) -> Any:
    """The :class:`~.packed.PackedStage` of a packed stage folder, None for a PNG one."""
    from .packed import PackedStage, is_packed_stage

    return PackedStage(stage_dir, broken_ok) if is_packed_stage(stage_dir) else None


def _needs_meta(stage_dir: Path) -> bool:
    return (stage_dir.parent / DATASET_META).exists()


def _members(stage_dir: Path) -> tuple[str, ...]:
    return TILE_TYPES + (("meta",) if _needs_meta(stage_dir) else ())


def is_complete(stage_dir: str | os.PathLike, idx: int) -> bool:
    """Whether triplet ``idx`` of a stage folder is complete (see the module docstring)."""
    stage_dir = Path(stage_dir)
    if _packed(stage_dir):
        return not _packed(stage_dir).missing(idx)
    if not all((stage_dir / tile_name(idx, t)).exists() for t in TILE_TYPES):
        return False
    return not _needs_meta(stage_dir) or (stage_dir / meta_name(idx)).exists()


def incomplete_triplets(stage_dir: str | os.PathLike,
                        found: dict[int, dict[str, Path]] | None = None) -> dict[int, list[Path]]:
    """Triplets of a stage folder that have some files but are not complete:
    ``{id: [missing paths]}``."""
    stage_dir = Path(stage_dir)
    packed = _packed(stage_dir)
    if packed:
        return {i: packed.missing(i) for i in packed.found if packed.missing(i)}
    found = scan_stage(stage_dir) if found is None else found
    members = _members(stage_dir)
    out = {}
    for i, m in sorted(found.items()):
        missing = [stage_dir / (meta_name(i) if t == "meta" else tile_name(i, t)) for t in members if t not in m]
        if missing:
            out[i] = missing
    return out


def tile_ids(dataset: str | os.PathLike, stage: str, tile_type: str = "anchor") -> list[int]:
    """Sorted ids of the tiles of one type in ``{dataset}/{stage}`` (whether or
    not their triplets are complete). Raises ``FileNotFoundError`` for a
    missing stage folder or one without such tiles."""
    folder = Path(dataset) / stage
    if not folder.is_dir():
        raise FileNotFoundError(
            f"stage folder {folder} does not exist; a dataset folder holds train/ and study/ subfolders"
        )
    if tile_type not in TILE_TYPES:
        raise ValueError(f"tile_type must be one of {TILE_TYPES}, got {tile_type!r}")
    packed = _packed(folder)
    ids = sorted(packed.where) if packed else sorted(i for i, m in scan_stage(folder).items() if tile_type in m)
    if not ids:
        raise FileNotFoundError(f"no {tile_type} tiles (#####_{tile_type}.png) in {folder}")
    return ids


def component_name(component: Any) -> str | None:
    """The name a dataset's ``meta.yaml`` records for a component that made it
    (a sampler class or factory, a labeler, ...): its ``registry_name``
    attribute when it has one, else ``module.QualifiedName`` of the class or
    function (of an instance: of its class); None for None."""
    if component is None:
        return None
    name = getattr(component, "registry_name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(component, type) or (callable(component) and hasattr(component, "__qualname__")):
        return f"{component.__module__}.{component.__qualname__}"
    cls = type(component)
    return f"{cls.__module__}.{cls.__qualname__}"


def list_triplets(dataset: str | os.PathLike, stage: str = "train") -> list[int]:
    """Ids of the complete triplets of a stage, sorted (folders of earlier
    convml_tt versions too; a missing stage folder has none)."""
    stage_dir = Path(dataset) / stage
    if _packed(stage_dir):
        return _packed(stage_dir).complete_ids()
    found = scan_stage(stage_dir)
    members = _members(stage_dir)
    return [i for i, m in sorted(found.items()) if all(t in m for t in members)]


# -----------------------------------------------------------------------------
# metadata
# -----------------------------------------------------------------------------
_TILE_KEYS = ("lat", "lon", "time", "satellite", "composite", "source_files")
#: nested mappings of a tile's record: organisation indices and co-located field statistics
_NESTED_KEYS = ("indices", "fields", "env")


@dataclass
class TileMeta:
    """What is known about one tile of a triplet.

    ``lat``, ``lon``: centre, degrees north/east; ``time``: scene scan start
    (ISO 8601 text, UTC); ``satellite``: GOES number; ``composite``: the
    composite file, relative to the data root; ``source_files``: band file
    names; ``labels``: the labeler's values (e.g. ``regime``), in the order
    they were given; ``indices``: the organisation indices of the tile's
    cloud mask (:func:`convml_tt.data.organisation.tile_indices`: keys
    ``cloud_fraction``, ``iorg``, ... ; written as a nested ``indices:``
    mapping); ``fields``: statistics of co-located fields over the tile
    (``{C13_min: K, C13_mean: K, C13_max: K}``, nested ``fields:``);
    ``env``: environment fields over the tile (``{EIS_mean: K, EIS_std: K}``,
    ``{name}_reason`` where there is no value, nested ``env:``; see
    :mod:`convml_tt.data.fields.colocate`). Fields
    that are None (and empty mappings) are not written; records of older
    datasets have no ``indices``/``fields`` and read with empty ones.
    """

    lat: float | None = None
    lon: float | None = None
    time: str | None = None
    satellite: int | None = None
    composite: str | None = None
    source_files: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)
    indices: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in _TILE_KEYS:
            v = getattr(self, k)
            if v is not None and not (k == "source_files" and not v):
                d[k] = v
        d.update(self.labels)
        for k in _NESTED_KEYS:
            if getattr(self, k):
                d[k] = dict(getattr(self, k))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TileMeta":
        d = dict(d or {})
        kw = {k: d.pop(k) for k in _TILE_KEYS if k in d}
        kw["source_files"] = list(kw.get("source_files") or [])
        for k in _NESTED_KEYS:
            if isinstance(d.get(k), dict):
                kw[k] = dict(d.pop(k))
        return cls(**kw, labels=d)

    def get(self, key: str, default: Any = None) -> Any:
        """A field, a label, an organisation index or a field statistic by name."""
        if key in _TILE_KEYS:
            v = getattr(self, key)
            return default if v is None else v
        for where in (self.labels, self.indices, self.fields, self.env):
            if key in where:
                return where[key]
        return default


@dataclass
class TripletMeta:
    """One triplet's metadata (``{id:05d}_meta.yaml``): id, stage, tile size
    (m) and pixels, and a :class:`TileMeta` per tile type. ``extra`` keeps
    any other keys a file holds."""

    id: int
    stage: str
    tile_size_m: float | None = None
    tile_pixels: int | None = None
    anchor: TileMeta = field(default_factory=TileMeta)
    neighbor: TileMeta = field(default_factory=TileMeta)
    distant: TileMeta = field(default_factory=TileMeta)
    extra: dict[str, Any] = field(default_factory=dict)

    def tile(self, tile_type: str) -> TileMeta:
        """The :class:`TileMeta` of ``tile_type``."""
        if tile_type not in TILE_TYPES:
            raise ValueError(f"tile_type {tile_type!r} is not one of {TILE_TYPES}")
        return getattr(self, tile_type)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": int(self.id), "stage": self.stage}
        if self.tile_size_m is not None:
            d["tile_size_m"] = float(self.tile_size_m)
        if self.tile_pixels is not None:
            d["tile_pixels"] = int(self.tile_pixels)
        for t in TILE_TYPES:
            td = self.tile(t).to_dict()
            if td:
                d[t] = td
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str | os.PathLike = "?") -> "TripletMeta":
        if not isinstance(d, dict) or "id" not in d or "stage" not in d:
            raise ValueError(f"triplet metadata {str(path)!r} is not a convml_tt triplet record "
                             f"(a mapping with at least 'id' and 'stage'); found {d!r:.80}")
        d = dict(d)
        kw: dict[str, Any] = {"id": int(d.pop("id")), "stage": str(d.pop("stage"))}
        for k in ("tile_size_m", "tile_pixels"):
            if k in d:
                kw[k] = d.pop(k)
        for t in TILE_TYPES:
            kw[t] = TileMeta.from_dict(d.pop(t, None))
        return cls(**kw, extra=d)


def yaml_bytes(data: dict) -> bytes:
    """``data`` as the YAML text every convml_tt metadata file uses (keys in
    insertion order, UTF-8)."""
    return yaml.dump(data, Dumper=_YAML_DUMPER, sort_keys=False).encode()


def _read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_YAML_LOADER)
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"metadata file {str(path)!r} is not valid YAML ({first}); delete it and "
                         f"re-run `convml_tt triplets` to rewrite it") from None


def read_dataset_meta(dataset: str | os.PathLike) -> dict | None:
    """The dataset-level ``meta.yaml`` as a dict (None for folders without one,
    e.g. datasets of earlier convml_tt versions)."""
    p = Path(dataset) / DATASET_META
    if not p.exists():
        return None
    d = _read_yaml(p)
    if not isinstance(d, dict):
        raise ValueError(f"{str(p)!r} is not a convml_tt dataset meta.yaml (expected a mapping)")
    params = d.get("params")
    if isinstance(params, dict) and "tile_size" in params and "tile_size_m" not in params:
        # datasets written before the rename call the tile side in metres ``tile_size``
        params["tile_size_m"] = params.pop("tile_size")
    return d


def dataset_recipe(dataset: str | os.PathLike) -> dict:
    """``{"recipe": name, "channels": [...]}`` of a dataset folder (or one of
    its stage folders): the recipe its tiles were cut from (``params.recipe``
    of its ``meta.yaml``, ``"truecolor"`` when left out) and what each tile
    channel holds (its ``channels``: name, units, display stretch; None in
    datasets made before they were recorded). Both None for folders without
    a ``meta.yaml``."""
    folders = [Path(dataset)] + ([Path(dataset).parent] if Path(dataset).name in STAGES else [])
    for folder in folders:
        try:
            meta = read_dataset_meta(folder)
        except (OSError, ValueError):
            meta = None
        if meta is not None:
            params = meta.get("params") if isinstance(meta.get("params"), dict) else {}
            return {"recipe": str(params.get("recipe", "truecolor")), "channels": meta.get("channels")}
    return {"recipe": None, "channels": None}


def write_dataset_meta(dataset: str | os.PathLike, meta: dict) -> Path:
    """Write the dataset-level ``meta.yaml`` (atomically)."""
    return write_bytes(Path(dataset) / DATASET_META, yaml_bytes(meta))


def read_triplet_meta(dataset: str | os.PathLike, stage: str, idx: int) -> TripletMeta | None:
    """One triplet's metadata (None when its file is absent, e.g. in folders of
    earlier convml_tt versions). ``dataset`` is the dataset folder."""
    p = Path(dataset) / stage / meta_name(idx)
    if not p.exists():
        return None
    return TripletMeta.from_dict(_read_yaml(p), p)


def write_triplet_meta(dataset: str | os.PathLike, meta: TripletMeta) -> Path:
    """Write one triplet's metadata (atomically) as ``{dataset}/{stage}/{id:05d}_meta.yaml``."""
    return write_bytes(Path(dataset) / meta.stage / meta_name(meta.id), yaml_bytes(meta.to_dict()))


def read_tile_array(path: str | os.PathLike) -> np.ndarray:
    """One PNG tile as ``uint8`` ``(H, W, C)`` (C = 1 for greyscale). Raises
    ``FileNotFoundError`` or a ``ValueError`` naming an unreadable file."""
    from PIL import Image

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"tile image {path} not found")
    try:
        with Image.open(path) as im:
            mode = im.mode
            a = np.asarray(im) if mode in MODE_CHANNELS else None
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for broken or truncated files
        raise ValueError(f"tile {str(path)!r} is not a readable PNG image ({err}); re-run "
                         f"`convml_tt triplets` with the dataset's settings and --verify to rewrite "
                         f"damaged tiles") from None
    if a is None:
        raise ValueError(f"tile {str(path)!r} has PIL mode {mode!r}; expected an 8-bit "
                         f"image in one of the modes {sorted(MODE_CHANNELS)}")
    if a.ndim == 2:
        a = a[:, :, None]
    if not a.flags.writeable:  # single-channel tiles: a view of PIL's read-only buffer
        a = a.copy()
    return a



# -----------------------------------------------------------------------------
# verification
# -----------------------------------------------------------------------------
def _tile_problem(path: Path, pixels: int | None, channels: int | None = None) -> str | None:
    try:
        a = read_tile_array(path)
    except (FileNotFoundError, ValueError) as err:
        return str(err).split(";")[0]
    if pixels is not None and a.shape[:2] != (pixels, pixels):
        return f"tile {str(path)!r} is {a.shape[1]} x {a.shape[0]} pixels, the dataset's are {pixels} x {pixels}"
    if channels is not None and a.shape[2] != channels:
        return f"tile {str(path)!r} has {a.shape[2]} channel(s), the dataset's have {channels}"
    return None


def damaged_triplets(dataset: str | os.PathLike, stage: str, progress: bool = False) -> dict[int, str]:
    """Triplets of ``{dataset}/{stage}`` whose files exist but cannot be used:
    ``{id: reason}``.

    Every PNG is decoded in full (a truncated file has a valid header), its
    size checked against the dataset's ``tile_pixels`` (when its
    ``meta.yaml`` says), its channel count against the dataset's
    ``channels`` (when recorded), and every ``_meta.yaml`` parsed. Triplets missing a
    file are :func:`incomplete_triplets`, not damaged. Costs one decode per
    tile (about a millisecond for a 64-pixel tile). A packed stage is
    checked by :func:`~.packed.damaged_packed` (shard sizes and checksums).
    """
    from tqdm.auto import tqdm

    stage_dir = Path(dataset) / stage
    found = scan_stage(stage_dir)
    meta = read_dataset_meta(dataset)
    pixels = (meta or {}).get("params", {}).get("tile_pixels")
    pixels = int(pixels) if isinstance(pixels, (int, float)) else None
    # the channel count its recipe gives (datasets that record their channels)
    channels = (meta or {}).get("channels")
    channels = len(channels) if isinstance(channels, list) and channels else None
    out: dict[int, str] = {}
    packed = _packed(stage_dir, broken_ok=True)
    if packed:  # shards: sizes and checksums (packed.damaged_packed)
        from .packed import damaged_packed

        found, out = packed.found, damaged_packed(stage_dir, pixels, channels)
    for i, files in tqdm(sorted(found.items()), desc=f"verifying {stage}", unit="triplet",
                         disable=not progress, leave=False):
        for t in TILE_TYPES if not packed else ():
            if t in files:
                problem = _tile_problem(files[t], pixels, channels)
                if problem:
                    out[i] = problem
                    break
        if i not in out and "meta" in files:
            try:
                TripletMeta.from_dict(_read_yaml(files["meta"]), files["meta"])
            except (ValueError, TypeError, KeyError, yaml.YAMLError) as err:
                out[i] = f"metadata {str(files['meta'])!r} is unreadable: {str(err).splitlines()[0]}"
    return out


def verify_dataset(dataset: str | os.PathLike, repair: bool = False,
                   progress: bool = False) -> dict[str, dict[int, str]]:
    """:func:`damaged_triplets` of both stages: ``{stage: {id: reason}}``.

    With ``repair``, every file of a damaged triplet is removed, so that the
    next :func:`~convml_tt.data.dataset.writer.make_triplets` with the same
    settings writes it again (each triplet depends only on the seed and its
    id, so the rewritten triplet is the one that was damaged). In a packed
    stage the whole shard holding a damaged triplet is removed (and written
    again, with the same bytes).
    """
    report = {s: damaged_triplets(dataset, s, progress=progress) for s in STAGES}
    if repair:
        for s, bad in report.items():
            stage_dir = Path(dataset) / s
            if bad and _packed(stage_dir, broken_ok=True):  # the shards holding them (their other triplets too)
                from .packed import remove_shards

                remove_shards(stage_dir, bad)
            for i in bad:
                for name in [tile_name(i, t) for t in TILE_TYPES] + [meta_name(i)]:
                    (stage_dir / name).unlink(missing_ok=True)
    return report
