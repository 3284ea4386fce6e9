"""The sliding-window grid sampler: one tile per cell of a regular grid over a domain.

Geometry
--------
The grid lives in a local Lambert azimuthal equal-area (LAEA) frame centred
on the domain's centre ``(lat_c, lon_c) = ((lat_min + lat_max) / 2,
(lon_min + lon_max) / 2)``, on the GRS80 ellipsoid (that of the GOES-R fixed
grid and of :class:`~convml_tt.data.tiles.Tile`): ``x`` metres east, ``y``
metres north of the centre.

1. The domain's outline (:data:`OUTLINE_POINTS` points along each of its
   four edges, which are meridians and parallels) is projected into that
   frame. Its *inner extent* is the rectangle ``[x_w, x_e] x [y_s, y_n]``
   with ``x_w`` the easternmost point of the projected west edge, ``x_e``
   the westernmost point of the east edge, ``y_s`` the northernmost point of
   the south edge and ``y_n`` the southernmost point of the north edge: the
   largest axis-aligned rectangle inside the projected domain.
2. Along each axis, with ``L`` the inner extent's length (m), ``s`` the tile
   size and ``d`` the stride, there are ``n = floor((L - s) / d) + 1``
   centres, ``d`` apart, placed symmetrically about the middle of the inner
   extent; the first and last tiles then end at most ``d / 2`` inside the
   extent's edges (their centres are within ``s / 2 + d / 2`` of them).
3. Each cell's tile is a :class:`~convml_tt.data.tiles.Tile` centred on the
   cell's lat/lon (its own LAEA, north-up at its centre, as triplet tiles),
   so it is turned slightly against the grid frame away from the centre.
   While some tile of the grid's outer columns (rows) leaves the lat/lon
   domain, the grid has one column (row) fewer, still placed symmetrically;
   every tile of the grid then lies inside the domain, and the first and
   last centres are within ``s / 2 + d`` of the extent's edges.

Rows go north to south (``y`` decreasing, row 0 northernmost, like the
composites and the tiles), columns west to east; cell ``c`` is row
``c // nx``, column ``c % nx``.

Tiles are cut from each composite exactly as
:meth:`CompositeReader.tile <convml_tt.data.composites.reader.CompositeReader.tile>`
cuts them (same mapping, same interpolation, same values); a cell whose tile
touches masked or off-disk pixels or leaves the composite is *invalid* (its
image is None), never dropped; so is, with ``max_sza``, a cell whose centre
has a solar zenith angle above ``max_sza`` degrees at the scene's scan start.
The exact coarse mapping of each tile to the composite's grid
(:meth:`Tile.coarse_projection`; any grid of
:mod:`convml_tt.data.geometry.grids`: a satellite's fixed grid, a lat/lon
or projected grid of model output) does not depend on the scene, so it is
computed once per cell and grid and kept (up to :data:`COARSE_CACHE_BYTES`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from ..geometry.grids import Grid, check_bbox
from ..composites.reader import CompositeReader, open_composite
from ..tiles import GRS80, Tile, index_window, interpolate_planes
from ..._sizing import check_request
from ...config import accepts_old_names
from .base import SAMPLERS, DrawnTile, Sampler
from .triplets import check_tile_fits

__all__ = ["GridSampler", "grid_shape", "check_map_request", "OUTLINE_POINTS", "COARSE_CACHE_BYTES", "GROUP"]

#: points per edge of the domain outline projected to find its extent
OUTLINE_POINTS = 256
#: most bytes of per-cell coarse mappings kept by one sampler (4.6 kB a cell and grid)
COARSE_CACHE_BYTES = 256 * 2**20
#: tiles interpolated together by :meth:`GridSampler.scene_tiles` (a gather over a few
#: tiles at once is faster than tile by tile; many more fall out of the CPU caches)
GROUP = 16
#: tolerance (degrees) of the test that a tile lies inside the domain
_INSIDE_TOL = 1e-9
#: the coarse sub-grid of Tile.scan_angles (its default; tiles of at most as many pixels are
#: mapped pixel by pixel) and the bytes of one cell's mapping
_COARSE = 17
_COARSE_CELL_BYTES = 2 * _COARSE * _COARSE * 8
#: bytes a sampler keeps per cell (centre coordinates, layout temporaries, its Tile: 160 B)
SAMPLER_CELL_BYTES = 224


@SAMPLERS.register("grid")
@accepts_old_names(tile_size="tile_size_m")
class GridSampler(Sampler):
    """One tile per cell of a regular grid of centres over a domain, in every scene.

    Parameters
    ----------
    domain:
        ``(lon_min, lat_min, lon_max, lat_max)``, degrees.
    tile_size_m:
        tile side, metres.
    tile_pixels:
        tile side, pixels.
    stride:
        distance between neighbouring tile centres along ``x`` and ``y``, metres.
    scenes:
        ``{stage: [composite paths]}``.
    method:
        tile interpolation, ``"bilinear"`` (default) or ``"nearest"``.
    max_sza:
        largest solar zenith angle (degrees) at a cell's centre, at the
        scene's scan start, for the cell to be valid (None: no limit).

    Attributes
    ----------
    x:
        ``(nx,)`` cell-centre eastings, metres, increasing (west to east).
    y:
        ``(ny,)`` cell-centre northings, metres, decreasing (north to south).
    lat, lon:
        ``(ny, nx)`` cell centres, degrees north / east.
    shape:
        ``(ny, nx)``; ``n_cells = ny * nx``.
    extent:
        the domain's inner extent ``(x_w, x_e, y_s, y_n)`` in the grid frame, metres.

    Raises
    ------
    ValueError
        a bad domain, a stride that is not a positive number of metres or is
        larger than the domain, a tile larger than the domain, a bad method.
    """

    tile_types = ("tile",)

    def __init__(self, domain: Sequence[float], tile_size_m: float, tile_pixels: int, stride: float,
                 scenes: Mapping[str, Sequence[str]], method: str = "bilinear",
                 max_sza: float | None = None) -> None:
        super().__init__(scenes, seed=0)
        self.max_sza = None if max_sza is None else self.checked_max_sza(max_sza)
        self._dark: dict[str, np.ndarray] = {}
        #: ``--surface``: cells of another surface class are not mapped (invalid); "any": all
        self.surface = "any"
        self._off_surface: np.ndarray | None = None
        self.domain = check_bbox(domain)
        tile_size_m, stride = float(tile_size_m), float(stride)
        if not (math.isfinite(tile_size_m) and tile_size_m > 0):
            raise ValueError(f"tile_size_m {tile_size_m!r} must be a positive number of metres")
        if int(tile_pixels) != tile_pixels or tile_pixels < 2:
            raise ValueError(f"tile_pixels {tile_pixels!r} must be an integer >= 2")
        if not (math.isfinite(stride) and stride > 0):
            raise ValueError(f"stride {stride!r} must be a positive number of metres (the distance "
                             f"between tile centres), e.g. half the tile size")
        if method not in ("bilinear", "nearest"):
            raise ValueError(f"method {method!r} must be 'bilinear' or 'nearest'")
        check_tile_fits(self.domain, tile_size_m)
        self.tile_size_m, self.tile_pixels, self.stride, self.method = tile_size_m, int(tile_pixels), stride, method
        ny, nx = self._frame(stride)
        # the cells' centres and tiles are kept: refused before allocating when they cannot fit in memory
        check_request("the grid", memory=nx * ny * SAMPLER_CELL_BYTES,
                      memory_detail=f"{nx:,} x {ny:,} cells {stride:g} m apart", force=True,
                      smaller="a larger stride or a smaller domain")
        while True:
            if nx < 1 or ny < 1:
                raise ValueError(
                    f"tile size {tile_size_m / 1e3:g} km does not fit inside the domain {self.domain} "
                    f"(about {width / 1e3:.0f} km x {height / 1e3:.0f} km); choose smaller tiles or a "
                    f"larger domain")
            self._layout(nx, ny)
            drop_x, drop_y = self._perimeter_outside()
            if not (drop_x or drop_y):
                break
            nx, ny = nx - int(drop_x), ny - int(drop_y)
        self._coarse: dict[Grid, list] = {}
        self._n_coarse = 0

    # -- geometry ----------------------------------------------------------------
    def _frame(self, stride: float) -> tuple[int, int]:
        """Set the grid frame of ``self.domain`` (centre, inner extent) and return
        ``(ny, nx)`` before the perimeter is trimmed (an upper bound of the shape)."""
        lon_min, lat_min, lon_max, lat_max = self.domain
        self.lat_0, self.lon_0 = (lat_min + lat_max) / 2, (lon_min + lon_max) / 2
        self.extent = self._inner_extent()
        x_w, x_e, y_s, y_n = self.extent
        width, height = x_e - x_w, y_n - y_s
        if stride > min(width, height):
            raise ValueError(
                f"stride {stride / 1e3:g} km is larger than the domain {self.domain} (about "
                f"{width / 1e3:.0f} km x {height / 1e3:.0f} km); choose a stride below "
                f"{min(width, height) / 1e3:.0f} km or a larger domain")
        return _count(height, self.tile_size_m, stride), _count(width, self.tile_size_m, stride)

    @property
    def proj4(self) -> str:
        """PROJ string of the grid frame (LAEA on GRS80, metres)."""
        return (f"+proj=laea +lat_0={self.lat_0!r} +lon_0={self.lon_0!r} +a={GRS80[0]!r} "
                f"+b={GRS80[1]!r} +units=m +no_defs")

    def grid_mapping_attrs(self) -> dict[str, object]:
        """CF grid-mapping attributes of the grid frame (for a ``crs`` variable)."""
        return {
            "grid_mapping_name": "lambert_azimuthal_equal_area",
            "latitude_of_projection_origin": float(self.lat_0),
            "longitude_of_projection_origin": float(self.lon_0),
            "false_easting": 0.0,
            "false_northing": 0.0,
            "semi_major_axis": float(GRS80[0]),
            "semi_minor_axis": float(GRS80[1]),
            "reference_ellipsoid_name": "GRS 1980",
            "proj4_params": self.proj4,
        }

    def _transformer(self, inverse: bool):
        """PROJ pipeline grid metres <-> geodetic degrees (on GRS80, as the tiles)."""
        import pyproj

        laea = self.proj4.replace(" +units=m +no_defs", "")
        steps = f"+step +inv {laea} +step +proj=unitconvert +xy_in=rad +xy_out=deg"
        if not inverse:
            steps = f"+step +proj=unitconvert +xy_in=deg +xy_out=rad +step {laea}"
        return pyproj.Transformer.from_pipeline(f"+proj=pipeline {steps}")

    def to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` in degrees of grid-frame coordinates ``x``, ``y`` (metres)."""
        lon, lat = self._transformer(inverse=True).transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lat, float), (np.asarray(lon, float) + 180.0) % 360.0 - 180.0

    def to_xy(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Grid-frame ``(x, y)`` in metres of ``lat``, ``lon`` (degrees)."""
        x, y = self._transformer(inverse=False).transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def _inner_extent(self) -> tuple[float, float, float, float]:
        lon_min, lat_min, lon_max, lat_max = self.domain
        t = np.linspace(0.0, 1.0, OUTLINE_POINTS)
        lats, lons = lat_min + t * (lat_max - lat_min), lon_min + t * (lon_max - lon_min)
        x_west, _ = self.to_xy(lats, np.full_like(t, lon_min))
        x_east, _ = self.to_xy(lats, np.full_like(t, lon_max))
        _, y_south = self.to_xy(np.full_like(t, lat_min), lons)
        _, y_north = self.to_xy(np.full_like(t, lat_max), lons)
        return float(x_west.max()), float(x_east.min()), float(y_south.max()), float(y_north.min())

    def _layout(self, nx: int, ny: int) -> None:
        x_w, x_e, y_s, y_n = self.extent
        self.x = (x_w + x_e) / 2 + (np.arange(nx) - (nx - 1) / 2) * self.stride
        self.y = (y_s + y_n) / 2 + ((ny - 1) / 2 - np.arange(ny)) * self.stride
        xx, yy = np.meshgrid(self.x, self.y)
        self.lat, self.lon = self.to_latlon(xx, yy)
        self.shape = (int(ny), int(nx))
        self.n_cells = int(nx * ny)
        self.__dict__.pop("_tiles", None)

    def _perimeter_outside(self) -> tuple[bool, bool]:
        """Whether some tile of the outer columns / rows leaves the domain."""
        ny, nx = self.shape
        cols = {(r, c) for r in range(ny) for c in (0, nx - 1)}
        rows = {(r, c) for r in (0, ny - 1) for c in range(nx)}
        out_x = any(not self._inside(self.tile(r * nx + c)) for r, c in sorted(cols))
        out_y = any(not self._inside(self.tile(r * nx + c)) for r, c in sorted(rows))
        return out_x, out_y

    def _inside(self, tile: Tile) -> bool:
        lat, lon = tile.outline(points_per_side=8)
        lon_min, lat_min, lon_max, lat_max = self.domain
        tol = _INSIDE_TOL
        return bool(np.all((lat >= lat_min - tol) & (lat <= lat_max + tol)
                           & (lon >= lon_min - tol) & (lon <= lon_max + tol)))

    def tile(self, cell: int) -> Tile:
        """The :class:`~convml_tt.data.tiles.Tile` of ``cell`` (row-major, row 0 north)."""
        if not 0 <= int(cell) < self.n_cells:
            raise IndexError(f"cell {cell} is not in the grid of {self.n_cells} cells ({self.shape[0]} x "
                             f"{self.shape[1]})")
        tiles = self.__dict__.get("_tiles")
        if tiles is None:
            tiles = self._tiles = [
                Tile(float(la), float(lo), self.tile_size_m, self.tile_pixels)
                for la, lo in zip(self.lat.ravel(), self.lon.ravel())
            ]
        return tiles[int(cell)]

    # -- sampling ----------------------------------------------------------------
    def n_samples(self, stage: str) -> int:
        """Samples of ``stage``: one per cell and scene."""
        return len(self.scenes[stage]) * self.n_cells

    def sample(self, stage: str, index: int) -> dict[str, DrawnTile]:
        """Sample ``index = scene * n_cells + cell`` of ``stage``: ``{"tile": DrawnTile}``
        with the cell's tile cut from the scene's composite (image ``(n, n, C)``
        float32, composite units) or image None when the cell is invalid in
        that scene."""
        n = self.n_samples(stage)
        if not 0 <= int(index) < n:
            raise IndexError(f"sample {index} of {stage!r}: there are {n} ({len(self.scenes[stage])} scenes "
                             f"x {self.n_cells} cells)")
        scene, cell = divmod(int(index), self.n_cells)
        reader = open_composite(self.scenes[stage][scene])
        planes = self.cut(reader, cell)
        image = None if planes is None else np.moveaxis(planes, 0, -1)
        return {"tile": DrawnTile(self.tile(cell), scene, image)}

    def scene_tiles(self, stage: str, scene: int, cells: Sequence[int] | None = None
                    ) -> Iterator[tuple[int, np.ndarray | None]]:
        """The tiles of one scene, cell by cell: ``(cell, image)`` with image
        ``(C, n, n)`` float32 (channel first, composite units) or None when
        the cell is invalid. ``cells``: those cells only (default all, in
        order). The composite is opened once (and its image read once)."""
        reader = open_composite(self.scenes[stage][scene])
        cells = list(range(self.n_cells) if cells is None else cells)
        for g in range(0, len(cells), GROUP):
            group = cells[g:g + GROUP]
            valid, images = self.cut_cells(reader, group)
            k = 0
            for cell, ok in zip(group, valid):
                yield int(cell), (images[k] if ok else None)
                k += int(ok)

    def cut(self, reader: CompositeReader, cell: int) -> np.ndarray | None:
        """The tile of ``cell`` cut from an open composite: ``(C, n, n)`` float32
        or None when invalid; the same values as ``reader.tile_planes(self.tile(cell), method)``."""
        valid, images = self.cut_cells(reader, [cell])
        return images[0] if valid[0] else None

    def cut_cells(self, reader: CompositeReader, cells: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The tiles of ``cells`` cut from an open composite, interpolated
        together (one gather for the group: keep groups small, e.g.
        :data:`GROUP`): ``(valid, images)``, ``valid`` bool ``(len(cells),)``
        and ``images`` float32 ``(n_valid, C, n, n)`` of the valid cells in
        order, each the same values as ``reader.tile_planes(self.tile(cell), method)``."""
        grid, sg = reader.sg.grid, reader.sg
        valid = np.zeros(len(cells), bool)
        done: dict[int, np.ndarray] = {}
        rows, cols, mapped = [], [], []
        dark = self.dark_cells(reader.time)
        off = self.off_surface_cells()
        for k, cell in enumerate(cells):
            if dark is not None and dark[int(cell)]:
                continue  # beyond max_sza: invalid
            if off is not None and off[int(cell)]:
                continue  # not of the --surface asked for: invalid
            tile, proj = self.tile(int(cell)), self._projection(grid, int(cell))
            if proj is False:  # partly off the disk: the exact per-pixel mapping
                image = reader.tile_planes(tile, self.method)
                if image is not None:
                    done[k] = image
                continue
            angles = proj[1:] if proj[0] == "exact" else tile.upsample_projection(grid, *proj[1:])
            r, c = sg.angles_to_indices(*angles)
            rows.append(r)
            cols.append(c)
            mapped.append(k)
        if mapped:
            rows, cols = np.stack(rows), np.stack(cols)
            # index_window of each tile from its extreme indices (the same test, reduced once per group)
            lo_r, hi_r = rows.min(axis=(1, 2)), rows.max(axis=(1, 2))
            lo_c, hi_c = cols.min(axis=(1, 2)), cols.max(axis=(1, 2))
            inside = [j for j in range(len(mapped)) if index_window(
                np.array([lo_r[j], hi_r[j]]), np.array([lo_c[j], hi_c[j]]), sg.shape) is not None]
            if len(inside) < len(mapped):
                rows, cols, mapped = rows[inside], cols[inside], [mapped[j] for j in inside]
        together = None
        if mapped and reader.planes() is not None:
            # elementwise the same operations as one tile at a time; None when
            # some tile touches a masked pixel (then tile by tile)
            together = interpolate_planes(reader.planes(), sg.shape, rows, cols, self.method)
        for j, k in enumerate(mapped):
            image = together[:, j] if together is not None else reader.cut(rows[j], cols[j], self.method)
            if image is not None:
                done[k] = image
        valid[list(done)] = True
        n_ch = _channels(reader)
        images = np.stack([done[k] for k in sorted(done)]) if done else \
            np.zeros((0, n_ch, self.tile_pixels, self.tile_pixels), np.float32)
        return valid, images

    @staticmethod
    def checked_max_sza(v) -> float:
        """``v`` as a float; ``ValueError`` unless 0 < v <= 180 (degrees)
        (:func:`convml_tt.config.checked_max_sza`, the one check)."""
        from ...config import checked_max_sza

        return checked_max_sza(v)

    def dark_cells(self, time: str) -> np.ndarray | None:
        """``(n_cells,)`` bool: cells whose centre's solar zenith angle exceeds
        :attr:`max_sza` at ``time`` (ISO 8601, UTC; a composite's scan start),
        or None without a limit (cached per time)."""
        if self.max_sza is None:
            return None
        dark = self._dark.get(time)
        if dark is None:
            from ..geometry.solar import solar_zenith_angle

            t = np.datetime64(time.rstrip("Z"), "ns")
            dark = self._dark[time] = (solar_zenith_angle(t, self.lat, self.lon) > self.max_sza).ravel()
        return dark

    def off_surface_cells(self) -> np.ndarray | None:
        """``(n_cells,)`` bool: cells whose tile is not of :attr:`surface`
        (:func:`convml_tt.data.surface.keeps`), or None for ``"any"``
        (computed once)."""
        if self.surface == "any":
            return None
        if self._off_surface is None or len(self._off_surface) != self.n_cells:
            from ..surface import keeps, tile_surface

            self._off_surface = np.array([not keeps(self.surface, tile_surface(self.tile(c))["surface"])
                                          for c in range(self.n_cells)], bool)
        return self._off_surface

    def why_no_valid_cell(self, times: Sequence[str], kind: str | None, made_for: str = "") -> str:
        """Why no cell is valid in the scenes of scan starts ``times`` (composites
        of recipe ``kind``): the sun (every cell's centre beyond :attr:`max_sza`
        in every scene: night, low sun), the domain outside the scenes' valid
        data (``made_for``: where they were made for), or both."""
        from ..geometry.solar import solar_zenith_angle
        from .triplets import sun_advice

        grid = (f"no cell of the {self.shape[0]} x {self.shape[1]} grid over the domain {tuple(self.domain)} is "
                f"valid in any of the {len(times)} composites")
        outside = f"the domain lies outside the scenes' valid data; choose a domain inside them{made_for}"
        if self.max_sza is None:
            return f"{grid}: {outside}"
        dark = np.stack([self.dark_cells(t) for t in times])
        if dark.all():
            z, when = min((float(np.nanmin(solar_zenith_angle(np.datetime64(t.rstrip("Z"), "ns"), self.lat,
                                                             self.lon))), t) for t in times)
            return (f"{grid}: the sun is beyond --max-sza {self.max_sza:g} degrees at every cell's centre in every "
                    f"scene (night or low sun; the smallest solar zenith angle is {z:.1f} degrees, at {when}); "
                    f"{sun_advice(kind or 'truecolor')}")
        if dark.any():
            return (f"{grid}: {int(dark.sum())} of the {dark.size} cells x scenes are beyond --max-sza "
                    f"{self.max_sza:g} degrees and the others lie outside the scenes' valid data; choose a domain "
                    f"inside them{made_for}, or {sun_advice(kind or 'truecolor')}")
        return f"{grid}: {outside}"

    def _projection(self, grid: Grid, cell: int):
        """The cell's mapping to ``grid`` as :meth:`Tile.scan_angles` computes it (cached):
        ``("coarse", px, py)`` to upsample, ``("exact", x, y)`` scan angles of
        tiles of at most ``_COARSE`` pixels (mapped pixel by pixel), or False
        when partly off the disk (then only the exact mapping says which pixels)."""
        cache = self._coarse.get(grid)
        if cache is None:
            cache = self._coarse[grid] = [None] * self.n_cells
        proj = cache[cell]
        if proj is None:
            tile = self.tile(cell)
            if tile.n <= _COARSE:
                proj = ("exact", *tile.scan_angles(grid, coarse=None))
            else:
                proj = tile.coarse_projection(grid, _COARSE)
                proj = False if proj is None else ("coarse", *proj)
            if (self._n_coarse + 1) * _COARSE_CELL_BYTES <= COARSE_CACHE_BYTES:
                cache[cell] = proj
                self._n_coarse += 1
        return proj

    def __getstate__(self) -> dict:
        # worker processes rebuild their own caches
        state = self.__dict__.copy()
        state["_coarse"], state["_n_coarse"] = {}, 0
        state["_dark"] = {}
        state.pop("_tiles", None)
        return state


def _channels(reader: CompositeReader) -> int:
    return int(reader.var.shape[2]) if len(reader.var.shape) == 3 else 1


def grid_shape(domain: Sequence[float], tile_size_m: float, stride: float) -> tuple[int, int]:
    """``(ny, nx)`` of the grid of :class:`GridSampler` over ``domain`` before its
    outer rows and columns are checked (at most one more each way): cheap, no
    cell is laid out. Errors as :class:`GridSampler`'s."""
    g = GridSampler.__new__(GridSampler)
    g.domain = check_bbox(domain)
    g.tile_size_m = float(tile_size_m)
    check_tile_fits(g.domain, g.tile_size_m)
    if not (math.isfinite(float(stride)) and float(stride) > 0):
        raise ValueError(f"stride {stride!r} must be a positive number of metres")
    return g._frame(float(stride))


def check_map_request(domain: Sequence[float], tile_size_m: float, stride: float, tile_pixels: int,
                      n_scenes: int, emb_dim: int, channels: int, batch_size: int,
                      out: str | Any | None = None, force: bool = False) -> tuple[int, int]:
    """Size a map before any work (:func:`convml_tt._sizing.check_request`):
    tiles (cells x scenes), memory of one scene's map (``emb_dim`` float32 and
    the indices per cell, the sampler's cells, a batch of ``batch_size`` tiles
    of ``channels`` x ``tile_pixels`` x ``tile_pixels``) and disk (the parts and the
    combined map). Returns the grid's ``(ny, nx)``; one-line ``ValueError``
    when too large (unless ``force``; never when above the physical memory)."""
    ny, nx = grid_shape(domain, tile_size_m, stride)
    cells = ny * nx
    per_cell = 4 * int(emb_dim) + 64  # embedding float32, indices, valid, labels
    batch = int(batch_size) * int(channels) * int(tile_pixels) ** 2 * 9  # float32 cut + float32 + uint8
    memory = cells * (per_cell + SAMPLER_CELL_BYTES) + batch + COARSE_CACHE_BYTES
    n = max(1, int(n_scenes))
    smaller = ("fewer --tile-pixels or a smaller --batch-size (a batch of tiles is "
               f"{int(batch_size)} x {int(channels)} x {int(tile_pixels)} x {int(tile_pixels)})"
               if batch > memory / 2 else "a larger --stride (metres), a smaller --domain or fewer scenes")
    check_request("the map", tiles=cells * n, tiles_detail=f"{ny:,} x {nx:,} cells {stride:g} m apart x "
                  f"{n} scene{'s' if n != 1 else ''}", memory=memory, memory_detail="one scene at a time",
                  disk=2 * cells * n * per_cell, disk_path=None if out is None else Path(out).parent,
                  force=force, smaller=smaller)
    return ny, nx


def _count(length: float, tile_size_m: float, stride: float) -> int:
    """Centres ``stride`` apart whose tiles fit in ``length`` metres."""
    if tile_size_m > length:
        return 0
    # a hair of slack so that an exact fit is not lost to rounding
    return int(math.floor((length - tile_size_m) / stride + 1e-9)) + 1
