"""Surface type (land or ocean) of pixels, tiles and map cells.

The land/sea mask is the 30 arc-second (~1 km) GLOBE mask that ships inside
the ``global-land-mask`` package (``globe_combined_mask_compressed.npz``,
21600 x 43200 booleans, True = ocean, row 0 at 90 N, column 0 at 180 W; lakes
count as land). Nothing is downloaded at run time. Only the latitude
blocks asked for are decompressed (:data:`BLOCK_DEGREES` degrees, kept
bit-packed, 3.2 MB each; the last :data:`CACHED_BLOCKS` per process). The
deflate stream is read from its start, so a block costs 0.5-5 s once per
process (the further south, the longer); then a tile's surface costs
~0.7 ms (24 x 24 points, :func:`tile_surface`).

A *tile's* surface is summarised by its ``land_fraction`` (share of its
pixels on land, 0-1) and its ``surface`` class (:data:`SURFACE_TYPES`):

``ocean``
    ``land_fraction`` <= :data:`COAST_TOLERANCE` (0.01);
``land``
    ``land_fraction`` >= 1 - :data:`COAST_TOLERANCE`;
``coast``
    anything between (a coast runs through the tile).

``--surface ocean|land|any`` (triplets and maps) keeps tiles and cells of
that class only: ``ocean`` keeps ``ocean`` tiles, ``land`` keeps ``land``
tiles, ``any`` (the default) keeps all; ``coast`` tiles are kept only by
``any``.
"""
from __future__ import annotations

import functools
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = [
    "SURFACE_TYPES",
    "SURFACE_CHOICES",
    "SURFACE_CODES",
    "COAST_TOLERANCE",
    "land_mask",
    "land_fraction",
    "surface_class",
    "tile_surface",
    "keeps",
    "check_surface",
]

#: surface classes of a tile, in code order (``surface`` coordinate: 0, 1, 2)
SURFACE_TYPES = ("ocean", "land", "coast")
#: integer code of each class (CF flag_values of the ``surface`` variable of maps)
SURFACE_CODES = {name: k for k, name in enumerate(SURFACE_TYPES)}
#: what ``--surface`` accepts
SURFACE_CHOICES = ("ocean", "land", "any")
#: largest land (ocean) fraction of a tile still called ocean (land)
COAST_TOLERANCE = 0.01
#: the mask is read in latitude blocks of this many degrees (600 rows, 3.2 MB bit-packed)
BLOCK_DEGREES = 5
#: how many blocks a process keeps (26 MB: domains up to 40 degrees of latitude)
CACHED_BLOCKS = 8

_ROWS_PER_DEGREE = 120
_N_ROWS, _N_COLS = 21600, 43200
BLOCK_ROWS = BLOCK_DEGREES * _ROWS_PER_DEGREE
_BLOCKS: "OrderedDict[int, np.ndarray]" = OrderedDict()


def _mask_file() -> Path:
    try:
        import global_land_mask
    except ImportError as e:  # a declared dependency (setup.py)
        raise ImportError("the land/sea mask needs the package global-land-mask "
                          "(pip install 'global-land-mask>=1.0,<2')") from e
    return Path(global_land_mask.__file__).parent / "globe_combined_mask_compressed.npz"


def _ocean_blocks(ks) -> dict[int, np.ndarray]:
    """Latitude blocks ``ks`` of the GLOBE ocean mask (bool rows, True =
    ocean), decompressed from the package's npz in one pass from its start
    (a deflate stream cannot be entered in the middle), nothing else kept."""
    out = {}
    with zipfile.ZipFile(_mask_file()) as z, z.open("mask.npy") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        if shape != (_N_ROWS, _N_COLS) or fortran or dtype != np.dtype(bool):
            raise ValueError(f"unexpected land/sea mask layout in {_mask_file()}: {shape} {dtype}")
        start = f.tell()
        for k in sorted(ks):
            r0, r1 = k * BLOCK_ROWS, min(_N_ROWS, (k + 1) * BLOCK_ROWS)
            f.seek(start + r0 * _N_COLS)
            out[k] = np.frombuffer(f.read((r1 - r0) * _N_COLS), bool).reshape(r1 - r0, _N_COLS)
    return out


def _rows(lat: np.ndarray) -> np.ndarray:
    # the package's own indexing: rows from 90 N down, truncated
    return np.clip(((90.0 - lat) * _ROWS_PER_DEGREE).astype(np.int64), 0, _N_ROWS - 1)


def _blocks(ks) -> dict[int, np.ndarray]:
    """Latitude blocks ``ks`` of the ocean mask, bit-packed along longitude
    (``np.packbits``, 1 = ocean; block ``k``: rows ``k * BLOCK_ROWS`` on,
    :data:`BLOCK_DEGREES` degrees), those missing read in one pass and kept
    while among the :data:`CACHED_BLOCKS` used last."""
    missing = [k for k in ks if k not in _BLOCKS]
    if missing:
        for k, rows in _ocean_blocks(missing).items():
            _BLOCKS[k] = np.packbits(rows, axis=1)  # 3.2 MB a block
    out = {}
    for k in ks:
        _BLOCKS.move_to_end(k)
        out[k] = _BLOCKS[k]
    while len(_BLOCKS) > max(CACHED_BLOCKS, len(ks)):
        _BLOCKS.popitem(last=False)
    return out


def land_mask(lat, lon) -> np.ndarray:
    """True where ``(lat, lon)`` (degrees north / east, any matching shapes;
    longitudes in any 360-degree range) is on land (lakes included), False
    over the ocean; the nearest-cell lookup of the 1 km GLOBE mask. NaN
    coordinates (off the disk) come back False (not land).

    Raises ``ValueError`` for latitudes outside [-90, 90]."""
    lat, lon = np.broadcast_arrays(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
    ok = np.isfinite(lat) & np.isfinite(lon)
    out = np.zeros(lat.shape, bool)
    if not ok.any():
        return out
    la, lo = lat[ok], lon[ok]
    if la.min() < -90 or la.max() > 90:
        raise ValueError(f"latitudes must lie in [-90, 90] degrees north, got {la.min():g} .. {la.max():g}")
    rows = _rows(la)
    cols = np.clip((np.mod(lo + 180.0, 360.0) * _ROWS_PER_DEGREE).astype(np.int64), 0, _N_COLS - 1)
    blocks = rows // BLOCK_ROWS
    land = np.empty(rows.shape, bool)
    ks = [int(k) for k in np.unique(blocks)]
    packed = _blocks(ks)
    for k in ks:
        sel = blocks == k
        c = cols[sel]
        byte = packed[k][rows[sel] - k * BLOCK_ROWS, c >> 3]
        land[sel] = ((byte >> (7 - (c & 7)).astype(np.uint8)) & 1) == 0  # the packed bit: 1 = ocean
    out[ok] = land
    return out


def land_fraction(lat, lon) -> float:
    """Share (0-1) of the points ``(lat, lon)`` (degrees) on land; NaN when
    no point has finite coordinates."""
    lat = np.asarray(lat, np.float64)
    ok = np.isfinite(lat) & np.isfinite(np.asarray(lon, np.float64))
    if not ok.any():
        return float("nan")
    return float(land_mask(lat, lon)[ok].mean())


def surface_class(fraction: float) -> str:
    """``ocean``, ``land`` or ``coast`` for a tile's land fraction (0-1);
    ``""`` for NaN (unknown)."""
    if not np.isfinite(fraction):
        return ""
    if fraction <= COAST_TOLERANCE:
        return "ocean"
    if fraction >= 1.0 - COAST_TOLERANCE:
        return "land"
    return "coast"


def tile_surface(tile, max_points: int = 24) -> dict[str, object]:
    """``{"land_fraction": float, "surface": str}`` of a
    :class:`~convml_tt.data.tiles.Tile`, from the mask at its pixel centres
    (every k-th pixel so that at most ``max_points`` x ``max_points`` are
    looked up: 24 x 24 points, ~0.7 ms, a land fraction to ~1/576).
    Remembered per tile (the last 65536 tiles): a map's grid cells are the
    same tiles in every scene."""
    frac = _tile_land_fraction(tile, int(max_points))
    return {"land_fraction": frac, "surface": surface_class(frac)}


@functools.lru_cache(maxsize=1 << 16)
def _tile_land_fraction(tile, max_points: int) -> float:
    u, v = tile.local_coords()
    step = max(1, -(-len(u) // max_points))
    uu, vv = np.meshgrid(u[::step], v[::step])
    lat, lon = tile.latlon(uu, vv)
    return land_fraction(lat, lon)


def check_surface(surface: object) -> str:
    """``surface`` if it is one of :data:`SURFACE_CHOICES`, else a one-line
    ``ValueError`` naming them."""
    if surface not in SURFACE_CHOICES:
        raise ValueError(f"surface must be one of {', '.join(SURFACE_CHOICES)}, got {surface!r}")
    return str(surface)


def keeps(surface: str, tile_class: str) -> bool:
    """Whether ``--surface surface`` keeps a tile of class ``tile_class``."""
    return surface == "any" or tile_class == surface
