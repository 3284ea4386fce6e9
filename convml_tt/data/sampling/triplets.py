"""Triplet sampling and the triplet dataset folder.

Sampling (as in the original 2019 convml_tt and Tile2Vec, Jean et al. 2019):

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
with an error saying the domain cannot fit the tiles.

Every triplet's random numbers come from ``numpy.random.default_rng((seed,
stage, id))``, so a dataset depends only on the seed, the parameters and the
composites, not on the number of worker processes or the order of work.

Dataset folder (compatible with datasets of earlier convml_tt versions)::

    {dataset}/meta.yaml                           all parameters, scenes, split, status
    {dataset}/{train,study}/{id:05d}_anchor.png   8-bit RGB, N x N, row 0 north
    {dataset}/{train,study}/{id:05d}_neighbor.png
    {dataset}/{train,study}/{id:05d}_distant.png
    {dataset}/{train,study}/{id:05d}_meta.yaml    scene times, source files, tile centres, size, pixels, regimes

Every file is written to a temporary name and renamed; a triplet's
``_meta.yaml`` is written last and marks it complete, so a killed run that
is restarted redoes only the unfinished triplets.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import struct
import tempfile
import zlib
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import yaml

from .abi import FixedGrid, check_bbox
from .composite import GAMMA, make_composites, to_uint8
from .tiles import ScanGrid, Tile, image_planes, index_window, interpolate, interpolate_planes, serial_blas

__all__ = [
    "TripletParams",
    "make_triplets",
    "sample_triplet",
    "split_scenes",
    "read_dataset_meta",
    "read_triplet_meta",
    "list_triplets",
    "plot_triplets",
    "TILE_TYPES",
    "STAGES",
]

TILE_TYPES = ("anchor", "neighbor", "distant")
STAGES = ("train", "study")
DATASET_FORMAT = "convml_tt-triplets/2"


# -----------------------------------------------------------------------------
# parameters
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TripletParams:
    """Everything that determines a triplet dataset (saved in ``meta.yaml``).

    Attributes
    ----------
    domain:
        ``(lon_min, lat_min, lon_max, lat_max)``, degrees.
    tile_size:
        tile side, metres.
    tile_pixels:
        tile side, pixels.
    n_train, n_study:
        number of triplets per stage.
    seed:
        seed of all sampling and of the train/study split.
    neighbor_distance:
        distance from anchor to neighbour centre, in tile sizes.
    distant:
        ``"other_scene"`` or ``"same_scene"``.
    distant_min_distance:
        with ``"same_scene"``: least distance anchor - distant, in tile sizes.
    resolution_km:
        composite resolution, km.
    method:
        tile interpolation, ``"bilinear"`` or ``"nearest"``.
    max_tries:
        draws per triplet before giving up.
    gamma:
        display gamma of the PNGs (``255 * clip(r, 0, 1) ** (1/gamma)``).
    """

    domain: tuple[float, float, float, float]
    tile_size: float = 200e3
    tile_pixels: int = 256
    n_train: int = 100
    n_study: int = 0
    seed: int = 0
    neighbor_distance: float = 1.0
    distant: Literal["other_scene", "same_scene"] = "other_scene"
    distant_min_distance: float = 3.0
    resolution_km: float = 1.0
    method: Literal["bilinear", "nearest"] = "bilinear"
    max_tries: int = 200
    gamma: float = GAMMA

    def __post_init__(self):
        object.__setattr__(self, "domain", check_bbox(self.domain))
        if not self.tile_size > 0:
            raise ValueError(f"tile_size={self.tile_size!r} must be a positive number of metres")
        if int(self.tile_pixels) != self.tile_pixels or self.tile_pixels < 2:
            raise ValueError(f"tile_pixels={self.tile_pixels!r} must be an integer >= 2")
        for name in ("n_train", "n_study"):
            v = getattr(self, name)
            if int(v) != v or v < 0:
                raise ValueError(f"{name}={v!r} must be a whole number >= 0")
        if self.distant not in ("other_scene", "same_scene"):
            raise ValueError(f"distant={self.distant!r} must be 'other_scene' or 'same_scene'")
        if self.method not in ("bilinear", "nearest"):
            raise ValueError(f"method={self.method!r} must be 'bilinear' or 'nearest'")
        if not self.neighbor_distance > 0:
            raise ValueError(f"neighbor_distance={self.neighbor_distance!r} must be > 0 (tile sizes)")

    def to_yaml_dict(self) -> dict:
        d = asdict(self)
        d["domain"] = [float(v) for v in self.domain]
        d["tile_size"] = float(self.tile_size)
        return d


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


# -----------------------------------------------------------------------------
# train/study split
# -----------------------------------------------------------------------------
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

    from .goes import split_train_study

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


# -----------------------------------------------------------------------------
# reading composites, per process
# -----------------------------------------------------------------------------
class _Composite:
    """An open composite file. Its image is read once, as float32 planes
    (:func:`~convml_tt.data.tiles.image_planes`), and kept while the
    per-process budget :data:`_PLANES_BUDGET` allows (least recently used
    images are dropped first); an image larger than the budget is read
    window by window, just the pixels each tile needs."""

    def __init__(self, path: str | os.PathLike):
        import netCDF4

        self.path = str(path)
        self.nc = netCDF4.Dataset(self.path)
        self.nc.set_auto_mask(False)
        name = self.nc.getncattr("composite_variable")
        self.var = self.nc[name]
        x = np.asarray(self.nc["x"][:], float)
        y = np.asarray(self.nc["y"][:], float)
        p = self.nc["goes_imager_projection"]
        grid = FixedGrid(
            perspective_point_height=float(p.perspective_point_height),
            semi_major_axis=float(p.semi_major_axis),
            semi_minor_axis=float(p.semi_minor_axis),
            longitude_of_projection_origin=float(p.longitude_of_projection_origin),
            sweep_angle_axis=str(getattr(p, "sweep_angle_axis", "x")),
        )
        self.sg = ScanGrid(
            grid, x[0], (x[-1] - x[0]) / (x.size - 1), y[0], (y[-1] - y[0]) / (y.size - 1), (y.size, x.size)
        )
        self.time = str(self.nc.getncattr("time_coverage_start"))
        self.satellite = int(self.nc.getncattr("satellite"))
        self.source_paths = str(self.nc.getncattr("source_paths")).split("\n")
        self.nbytes = 4 * int(np.prod(self.var.shape))

    def planes(self) -> np.ndarray | None:
        """The whole image as ``(C, H * W)`` float32 planes (cached), or None
        when it does not fit the budget."""
        p = _PLANES.get(self.path)
        if p is not None:
            _PLANES.move_to_end(self.path)
            return p
        if self.nbytes > _PLANES_BUDGET:
            return None
        while _PLANES and sum(v.nbytes for v in _PLANES.values()) + self.nbytes > _PLANES_BUDGET:
            _PLANES.popitem(last=False)
        p = image_planes(np.asarray(self.var[:], np.float32))
        _PLANES[self.path] = p
        return p

    def tile_planes(self, tile: Tile, method: str) -> np.ndarray | None:
        """The tile as ``(C, n, n)`` float32, or None when invalid."""
        rows, cols = self.sg.indices(tile)
        win = index_window(rows, cols, self.sg.shape)
        if win is None:
            return None
        planes = self.planes()
        if planes is not None:
            # indices into the whole image: same fractions, so the same values
            # as interpolating the window
            return interpolate_planes(planes, self.sg.shape, rows, cols, method)
        r0, r1, c0, c1 = win
        values = np.asarray(self.var[r0:r1, c0:c1], np.float32)
        return interpolate_planes(image_planes(values), (r1 - r0, c1 - c0), rows - r0, cols - c0, method)

    def tile(self, tile: Tile, method: str) -> np.ndarray | None:
        """The tile as ``(n, n, C)`` float32 (a view), or None when invalid."""
        out = self.tile_planes(tile, method)
        return None if out is None else np.moveaxis(out, 0, -1)

    def close(self):
        self.nc.close()
        _PLANES.pop(self.path, None)


_OPEN: "OrderedDict[str, _Composite]" = OrderedDict()
_MAX_OPEN = 32
#: bytes of composite images kept in memory per process (float32 planes)
_PLANES_BUDGET = int(os.environ.get("CONVML_TT_COMPOSITE_CACHE_MB", "512")) * 2**20
_PLANES: "OrderedDict[str, np.ndarray]" = OrderedDict()


def _open(path: str) -> _Composite:
    c = _OPEN.get(path)
    if c is None:
        c = _Composite(path)
        _OPEN[path] = c
        while len(_OPEN) > _MAX_OPEN:
            _OPEN.popitem(last=False)[1].close()
    else:
        _OPEN.move_to_end(path)
    return c


def _close_all() -> None:
    while _OPEN:
        _OPEN.popitem()[1].close()


# -----------------------------------------------------------------------------
# sampling one triplet
# -----------------------------------------------------------------------------
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


@dataclass
class _Drawn:
    tile: Tile
    scene: int
    image: np.ndarray


def sample_triplet(
    params: TripletParams,
    scenes: Sequence[str],
    stage: str,
    idx: int,
) -> dict[str, _Drawn]:
    """Draw one triplet: ``{"anchor": ..., "neighbor": ..., "distant": ...}``,
    each with its :class:`~convml_tt.data.tiles.Tile`, scene index (into
    ``scenes``, the stage's composite paths) and ``(n, n, C)`` float image.

    Deterministic in ``(params.seed, stage, idx)``.
    """
    stage_code = STAGES.index(stage)
    rng = np.random.default_rng([int(params.seed), stage_code, int(idx)])
    n_sc = len(scenes)
    size, n, dom = params.tile_size, params.tile_pixels, params.domain
    geod = _geod()
    tries = 0

    def draw_uniform(scene: int, avoid: Tile | None = None) -> _Drawn | None:
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
            img = _open(scenes[scene]).tile(t, params.method)
            if img is not None:
                return _Drawn(t, scene, img)
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
            img = _open(scenes[a_scene]).tile(t, params.method)
            if img is not None:
                neighbor = _Drawn(t, a_scene, img)
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


# -----------------------------------------------------------------------------
# writing
# -----------------------------------------------------------------------------
def _atomic_write_bytes(path: Path, writer) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def png_bytes(img: np.ndarray, level: int = 1) -> bytes:
    """An 8-bit image ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB) as PNG bytes:
    no row filter, zlib ``level`` (1: fast; PNG files of cloud tiles are
    within a few % of Pillow's adaptive filtering at level 1, encoded ~2x
    faster). Any PNG reader (Pillow, torchvision) reads it."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"PNG tiles must be uint8, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        color = 0
    elif a.ndim == 3 and a.shape[2] == 3:
        color = 2
    else:
        raise ValueError(f"PNG tiles must be (H, W) or (H, W, 3), got shape {a.shape}")
    h, w = a.shape[:2]
    raw = np.empty((h, 1 + a[0].size), np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    if a.flags.c_contiguous or a.ndim == 2:
        raw[:, 1:] = a.reshape(h, -1)
    else:  # e.g. channel-first memory: interleave channel by channel (4x faster than a reshape copy)
        body = raw[:, 1:].reshape(h, w, a.shape[2])
        for k in range(a.shape[2]):
            body[:, :, k] = a[:, :, k]
    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        _png_chunk(b"IDAT", zlib.compress(raw.data, level)),
        _png_chunk(b"IEND", b""),
    ))


def _write_png(path: Path, rgb: np.ndarray) -> None:
    data = png_bytes(rgb)
    _atomic_write_bytes(path, lambda fh: fh.write(data))


def _write_yaml(path: Path, data: dict) -> None:
    text = yaml.dump(data, Dumper=_YAML_DUMPER, sort_keys=False).encode()
    _atomic_write_bytes(path, lambda fh: fh.write(text))


def _to_display(img: np.ndarray, kind_units: str, gamma: float) -> np.ndarray:
    if kind_units == "K":
        # brightness temperature: 200 K (white) .. 320 K (black), like IR imagery
        v = (320.0 - np.nan_to_num(img, nan=320.0)) / 120.0
        return to_uint8(v, gamma=1.0)
    return to_uint8(img, gamma=gamma)


#: libyaml's emitter when available (same text as yaml.safe_dump, ~10x faster)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# per-process state, set by _init
_STATE: dict[str, Any] = {}


def _init(config: dict) -> None:
    _STATE.clear()
    _STATE.update(config)
    _STATE["params"] = TripletParams(**config["params"])


#: points per side of the grid on which a tile's regime fractions are counted
_REGIME_SAMPLES = 16


def _regime(source_paths: Sequence[str], tile: Tile) -> tuple[int, str, float] | None:
    """``(label, name, fraction)`` of the synthetic regime covering most of a
    tile (counted on a 16 x 16 grid of points over the tile) and the fraction
    of the tile it covers; None for scenes without a label map (real data)."""
    try:
        from .synthetic import load_regime_labels, regime_at
    except ImportError:
        return None
    cache = _STATE.setdefault("_labels", {})
    key = tuple(source_paths)
    if key not in cache:
        labels = None
        for p in source_paths:
            try:
                labels = load_regime_labels(p)
                break
            except (FileNotFoundError, ValueError, OSError):
                continue
        cache[key] = labels
    labels = cache[key]
    if labels is None:
        return None
    m = _REGIME_SAMPLES
    u = (np.arange(m) + 0.5) / m * tile.size - tile.size / 2
    uu, vv = np.meshgrid(u, -u)
    lat, lon = tile.latlon(uu, vv)
    found = np.asarray(regime_at(labels, lat, lon)).ravel()
    found = found[found >= 0]
    if found.size == 0:
        return None
    counts = np.bincount(found)
    label = int(np.argmax(counts))
    names = labels.attrs.get("regimes") or ()
    name = str(names[label]) if label < len(names) else str(label)
    return label, name, round(float(counts[label]) / (m * m), 4)


def _make_one(stage: str, idx: int) -> int:
    params: TripletParams = _STATE["params"]
    scenes: list[str] = _STATE["scenes"][stage]
    folder = Path(_STATE["out"]) / stage
    drawn = sample_triplet(params, scenes, stage, idx)
    meta: dict[str, Any] = {
        "id": int(idx),
        "stage": stage,
        "tile_size_m": float(params.tile_size),
        "tile_pixels": int(params.tile_pixels),
    }
    for kind in TILE_TYPES:
        d = drawn[kind]
        comp = _open(scenes[d.scene])
        units = str(getattr(comp.var, "units", "1"))
        _write_png(folder / f"{idx:05d}_{kind}.png", _to_display(d.image, units, params.gamma))
        entry = {
            "lat": round(float(d.tile.lat0), 6),
            "lon": round(float(d.tile.lon0), 6),
            "time": comp.time,
            "satellite": comp.satellite,
            "composite": os.path.relpath(comp.path, _STATE["data_root"]),
            "source_files": [Path(p).name for p in comp.source_paths],
        }
        regime = _regime(comp.source_paths, d.tile)
        if regime is not None:
            entry["regime"], entry["regime_name"], entry["regime_fraction"] = regime
        meta[kind] = entry
    _write_yaml(folder / f"{idx:05d}_meta.yaml", meta)
    return idx


def _make_chunk(stage: str, ids: list[int]) -> list[int]:
    with serial_blas():
        return [_make_one(stage, i) for i in ids]


def _complete(folder: Path, idx: int) -> bool:
    return (folder / f"{idx:05d}_meta.yaml").exists() and all(
        (folder / f"{idx:05d}_{k}.png").exists() for k in TILE_TYPES
    )


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(
            f"cannot write the triplet dataset to {out} ({err.strerror or err}); "
            "choose a writable --out folder"
        ) from err


def read_dataset_meta(dataset: str | os.PathLike) -> dict | None:
    """The dataset-level ``meta.yaml`` (None for folders without one, e.g.
    datasets of earlier convml_tt versions)."""
    p = Path(dataset) / "meta.yaml"
    if not p.exists():
        return None
    with open(p) as fh:
        return yaml.safe_load(fh)


def read_triplet_meta(dataset: str | os.PathLike, stage: str, idx: int) -> dict | None:
    """One triplet's ``{id:05d}_meta.yaml`` (None when absent, e.g. old datasets)."""
    p = Path(dataset) / stage / f"{idx:05d}_meta.yaml"
    if not p.exists():
        return None
    with open(p) as fh:
        return yaml.safe_load(fh)


def list_triplets(dataset: str | os.PathLike, stage: str = "train") -> list[int]:
    """Ids of the complete triplets (three PNGs) of a stage, sorted; works on
    folders of earlier convml_tt versions too."""
    folder = Path(dataset) / stage
    if not folder.is_dir():
        return []
    ids = sorted({int(p.name[:5]) for p in folder.glob("[0-9][0-9][0-9][0-9][0-9]_anchor.png")})
    return [i for i in ids if all((folder / f"{i:05d}_{k}.png").exists() for k in TILE_TYPES)]


def make_triplets(
    data_root: str | os.PathLike,
    domain: Sequence[float],
    out: str | os.PathLike,
    n_train: int,
    n_study: int = 0,
    tile_size: float = 200e3,
    tile_pixels: int = 256,
    seed: int = 0,
    workers: int = 1,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    progress: bool = True,
    composites: Sequence[str | os.PathLike] | None = None,
    **options,
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
    tile_size, tile_pixels:
        tile side in metres and pixels.
    seed:
        all randomness (split and sampling); same seed -> same dataset,
        whatever ``workers``.
    workers:
        processes (1: in this process).
    composites:
        use these composite files instead of compositing the cache.
    options:
        further :class:`TripletParams` fields (``neighbor_distance``,
        ``distant``, ``distant_min_distance``, ``resolution_km``, ``method``,
        ``max_tries``, ``gamma``).

    Returns
    -------
    The dataset folder.

    Raises
    ------
    ValueError
        tile larger than the domain, mixed satellites in a split, fewer than
        two scenes where distant tiles need another scene, an existing
        dataset made with other parameters.
    PermissionError
        an unwritable ``out``.
    """
    from tqdm.auto import tqdm

    params = TripletParams(
        domain=tuple(domain), tile_size=float(tile_size), tile_pixels=int(tile_pixels),
        n_train=int(n_train), n_study=int(n_study), seed=int(seed), **options,
    )
    check_tile_fits(params.domain, params.tile_size)
    out = Path(out)
    _check_writable(out)
    data_root = Path(data_root)
    if composites is None:
        composites = make_composites(
            data_root, params.domain, start=start, end=end,
            resolution_km=params.resolution_km, progress=progress,
        )
    paths = [str(Path(p).resolve()) for p in composites]
    infos = []
    for p in paths:
        c = _Composite(p)
        infos.append((dt.datetime.fromisoformat(c.time), c.satellite))
        c.close()
    order = sorted(range(len(paths)), key=lambda i: (infos[i][0], paths[i]))
    paths = [paths[i] for i in order]
    infos = [infos[i] for i in order]
    split = split_scenes([t for t, _ in infos], seed=params.seed)
    scenes = {s: [paths[i] for i in split[s]] for s in STAGES}
    need = {"train": params.n_train, "study": params.n_study}
    for s in STAGES:
        if need[s] == 0:
            continue
        sats = sorted({infos[i][1] for i in split[s]})
        if len(sats) > 1:
            raise ValueError(
                f"the {s} split mixes scenes from GOES-{', GOES-'.join(map(str, sats))}; "
                "make a dataset from one satellite (pass --start/--end or select composites "
                "of one satellite)"
            )
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

    meta = {
        "format": DATASET_FORMAT,
        "params": params.to_yaml_dict(),
        "data_root": str(data_root.resolve()),
        "scenes": {s: [os.path.relpath(p, data_root.resolve()) for p in scenes[s]] for s in STAGES},
    }
    existing = read_dataset_meta(out)
    if existing is not None:
        same = {k: existing.get(k) for k in ("format", "params", "scenes")} == {
            k: meta[k] for k in ("format", "params", "scenes")
        }
        if not same:
            diff = _describe_diff(existing, meta)
            raise ValueError(
                f"{out} already holds a triplet dataset made with other parameters ({diff}); "
                f"refusing to mix them: delete {out} (or choose another --out) to start fresh"
            )
    elif any(out.glob("*/*_anchor.png")):
        raise ValueError(
            f"{out} already holds triplet PNGs without a meta.yaml (an older dataset?); "
            "refusing to mix: choose another --out or delete the folder to start fresh"
        )
    for s in STAGES:
        (out / s).mkdir(exist_ok=True)
        for tmp in (out / s).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    _write_yaml(out / "meta.yaml", {**meta, "status": "incomplete"})

    todo = [
        (s, i)
        for s in STAGES
        for i in range(need[s])
        if not _complete(out / s, i)
    ]
    config = {
        "params": params.to_yaml_dict(),
        "scenes": scenes,
        "out": str(out),
        "data_root": str(data_root.resolve()),
    }
    bar = tqdm(total=need["train"] + need["study"], initial=need["train"] + need["study"] - len(todo),
               desc="triplets", unit="triplet", disable=not progress)
    try:
        if workers <= 1 or len(todo) <= 1:
            _init(config)
            with serial_blas():
                for s, i in todo:
                    _make_one(s, i)
                    bar.update(1)
        else:
            chunk = max(1, min(16, len(todo) // (4 * workers)))
            jobs = []
            for s in STAGES:
                ids = [i for st, i in todo if st == s]
                jobs += [(s, ids[k : k + chunk]) for k in range(0, len(ids), chunk)]
            with ProcessPoolExecutor(
                max_workers=int(workers), mp_context=get_context("spawn"),
                initializer=_init, initargs=(config,),
            ) as pool:
                futures = [pool.submit(_make_chunk, s, ids) for s, ids in jobs]
                for f in as_completed(futures):
                    bar.update(len(f.result()))
    finally:
        bar.close()
        _close_all()
    _write_yaml(out / "meta.yaml", {**meta, "status": "complete"})
    return out


def _describe_diff(old: dict, new: dict) -> str:
    parts = []
    if old.get("format") != new.get("format"):
        parts.append(f"format {old.get('format')!r} != {new.get('format')!r}")
    op, np_ = old.get("params") or {}, new["params"]
    for k in sorted(set(op) | set(np_)):
        if op.get(k) != np_.get(k):
            parts.append(f"{k}: {op.get(k)!r} -> {np_.get(k)!r}")
    if old.get("scenes") != new.get("scenes"):
        parts.append("different scenes")
    return "; ".join(parts) or "different metadata"


# -----------------------------------------------------------------------------
# plotting
# -----------------------------------------------------------------------------
def plot_triplets(
    dataset: str | os.PathLike,
    stage: str = "train",
    ids: Iterable[int] | None = None,
    n: int = 5,
    ax=None,
    out: str | os.PathLike | None = None,
):
    """Plot the domain over the first chosen triplet's anchor composite, with
    the outlines of a few triplets' tiles (anchor solid, neighbour dashed,
    distant dotted; one colour per triplet). Axes are fixed-grid scan angles
    (mrad) with a lat/lon graticule; matplotlib only (no cartopy needed).

    Returns the matplotlib Figure (saved to ``out`` when given).
    """
    import matplotlib.pyplot as plt

    from .composite import load_composite

    dataset = Path(dataset)
    dmeta = read_dataset_meta(dataset)
    if dmeta is None:
        raise FileNotFoundError(f"{dataset} has no meta.yaml; plot_triplets needs a dataset made by make_triplets")
    ids = list(ids) if ids is not None else list_triplets(dataset, stage)[:n]
    if not ids:
        raise ValueError(f"{dataset}/{stage} holds no triplets to plot")
    metas = [read_triplet_meta(dataset, stage, i) for i in ids]
    root = Path(dmeta["data_root"])
    comp = load_composite(root / metas[0]["anchor"]["composite"], load=True)
    sg = ScanGrid.from_dataset(comp)
    name = comp.attrs["composite_variable"]
    img = comp[name].values
    img = to_uint8(img) if img.ndim == 3 else img
    x = comp["x"].values * 1e3
    y = comp["y"].values * 1e3
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 8 * len(y) / max(len(x), 1) + 0.5))
    else:
        fig = ax.figure
    ax.imshow(img, extent=(x[0], x[-1], y[-1], y[0]), origin="upper", cmap="gray")
    cs = ax.contour(x, y, comp["lat"].values, colors="w", linewidths=0.4, alpha=0.6)
    ax.clabel(cs, fontsize=6, fmt="%g°N")
    cs = ax.contour(x, y, comp["lon"].values, colors="w", linewidths=0.4, alpha=0.6)
    ax.clabel(cs, fontsize=6, fmt="%g°E")
    lon_min, lat_min, lon_max, lat_max = dmeta["params"]["domain"]
    t = np.linspace(0, 1, 50)
    blon = np.concatenate([lon_min + (lon_max - lon_min) * t, np.full(50, lon_max), lon_max - (lon_max - lon_min) * t, np.full(50, lon_min)])
    blat = np.concatenate([np.full(50, lat_min), lat_min + (lat_max - lat_min) * t, np.full(50, lat_max), lat_max - (lat_max - lat_min) * t])
    bx, by = sg.grid.latlon_to_scan(blat, blon)
    ax.plot(bx * 1e3, by * 1e3, "y-", lw=1.2, label="domain")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {"anchor": "-", "neighbor": "--", "distant": ":"}
    size, npx = dmeta["params"]["tile_size"], dmeta["params"]["tile_pixels"]
    for j, m in enumerate(metas):
        for kind in TILE_TYPES:
            tile = Tile(m[kind]["lat"], m[kind]["lon"], size, npx)
            lat, lon = tile.outline()
            tx, ty = sg.grid.latlon_to_scan(lat, lon)
            ax.plot(tx * 1e3, ty * 1e3, styles[kind], color=colors[j % len(colors)], lw=1.2,
                    label=f"{m['id']:05d}" if kind == "anchor" else None)
    ax.set_xlabel("scan angle x (mrad)")
    ax.set_ylabel("scan angle y (mrad)")
    ax.set_title(f"{dataset.name} {stage}: anchor (-), neighbour (--), distant (:)\n"
                 f"scene {metas[0]['anchor']['time']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    if out is not None:
        out = Path(out)
        _atomic_write_bytes(out, lambda fh: fig.savefig(fh, format=out.suffix.lstrip(".") or "png", dpi=120))
    return fig
