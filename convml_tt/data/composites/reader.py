"""Reading composites, per process: tiles out of composite files.

A :class:`CompositeReader` holds one composite file open (netCDF4) and
interpolates tiles (:class:`~convml_tt.data.tiles.Tile`) out of its image.
:func:`open_composite` keeps the readers of a process in a small
least-recently-used table, so that a worker sampling many tiles from the
same composites opens each once; :func:`release_composite` closes one,
:func:`close_composites` closes them all.

The images themselves are kept in memory, as float32 planes, up to a
per-process budget of ``CONVML_TT_COMPOSITE_CACHE_MB`` megabytes (default
512; read when this module is imported).
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from ..geometry.grids import GOES_PROJECTION_VARIABLE, grid_from_cf
from .scenes import platform_number
from ..tiles import ScanGrid, Tile, image_planes, index_window, interpolate_planes

__all__ = ["CompositeReader", "open_composite", "release_composite", "close_composites"]


class CompositeReader:
    """An open composite file. Its image is read once, as float32 planes
    (:func:`~convml_tt.data.tiles.image_planes`), and kept while the
    per-process budget :data:`_PLANES_BUDGET` allows (least recently used
    images are dropped first); an image larger than the budget is read
    window by window, just the pixels each tile needs.

    Attributes
    ----------
    path:
        the file (str); ``nc``: its open ``netCDF4.Dataset``; ``var``: the
        composite variable (``(y, x)`` or ``(y, x, channel)``).
    sg:
        the :class:`~convml_tt.data.tiles.ScanGrid` of its pixels, on the
        grid (:mod:`~convml_tt.data.geometry.grids`) of the grid-mapping
        variable its composite variable's ``grid_mapping`` attribute names
        (``goes_imager_projection`` for GOES composites, ``crs`` for others).
    time:
        scan start, ISO 8601 (UTC); ``platform``: the platform id
        (``goes16``, ``icon-les``); ``satellite``: its GOES number (16) or,
        for other platforms, the id.
    source_paths:
        the band files it was made from.
    nbytes:
        size of its image as float32, bytes.
    units:
        units of its values (``"K"``, ``"1"``: reflectance factor; ``"mixed"``
        when its channels differ).
    channel_units:
        units of each channel (a tuple; the variable's ``channel_units``
        attribute, else ``units`` for every channel): what
        :func:`~convml_tt.data.composites.enhance.to_display` takes.
    """

    def __init__(self, path: str | os.PathLike):
        import netCDF4

        self.path = str(path)
        self.nc = netCDF4.Dataset(self.path)
        self.nc.set_auto_mask(False)
        name = self.nc.getncattr("composite_variable")
        self.var = self.nc[name]
        x = np.asarray(self.nc["x"][:], float)
        y = np.asarray(self.nc["y"][:], float)
        mapping = str(getattr(self.var, "grid_mapping", GOES_PROJECTION_VARIABLE)).split(":")[0].strip()
        p = self.nc[mapping]
        grid = grid_from_cf(mapping, {k: p.getncattr(k) for k in p.ncattrs()}, self.path)
        self.sg = ScanGrid(
            grid, x[0], (x[-1] - x[0]) / (x.size - 1), y[0], (y[-1] - y[0]) / (y.size - 1), (y.size, x.size)
        )
        self.time = str(self.nc.getncattr("time_coverage_start"))
        names = self.nc.ncattrs()
        #: the platform id (``goes16``, ``himawari9``) and, for the library's
        #: ``satellite`` settings, its GOES number or the id itself
        self.platform = str(self.nc.getncattr("platform")) if "platform" in names else \
            f"goes{int(self.nc.getncattr('satellite'))}"
        self.satellite = platform_number(self.platform)
        self.source_paths = str(self.nc.getncattr("source_paths")).split("\n")
        self.nbytes = 4 * int(np.prod(self.var.shape))
        self.units = str(getattr(self.var, "units", "1"))
        n_ch = int(self.var.shape[2]) if len(self.var.shape) == 3 else 1
        given = str(getattr(self.var, "channel_units", "")).split()
        self.channel_units: tuple[str, ...] = tuple(given) if len(given) == n_ch else (self.units,) * n_ch

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
        values = np.asarray(self.var[:], np.float32)
        self.check_values(values)
        p = image_planes(values)
        _PLANES[self.path] = p
        return p

    def check_values(self, values: np.ndarray) -> None:
        """Refuse values read from a channel whose units are K that are no
        brightness temperatures (:func:`~convml_tt.data.composites.enhance.check_kelvin`):
        e.g. degrees Celsius, which would all read as cold, cloudy pixels."""
        from .enhance import check_kelvin

        v = values if values.ndim == 3 else values[:, :, None]
        for c, units in enumerate(self.channel_units):
            if units == "K":
                name = f"channel {c} of " if len(self.channel_units) > 1 else ""
                check_kelvin(v[:, :, c], f"{name}composite {self.path!r}")

    def tile_planes(self, tile: Tile, method: str) -> np.ndarray | None:
        """The tile as ``(C, n, n)`` float32, or None when invalid."""
        rows, cols = self.sg.indices(tile)
        return self.cut(rows, cols, method)

    def cut(self, rows: np.ndarray, cols: np.ndarray, method: str) -> np.ndarray | None:
        """The image interpolated at fractional pixel indices ``rows``, ``cols``
        (each ``(n, n)``, e.g. from :meth:`ScanGrid.indices`): ``(C, n, n)``
        float32, or None when a point needs a pixel outside the image or a
        masked one."""
        planes = self.planes()
        if planes is not None and method == "bilinear":
            # indices into the whole image: same fractions, so the same values
            # as interpolating the window; bilinear refuses the same points as
            # index_window (not finite, outside [0, H - 1] x [0, W - 1])
            return interpolate_planes(planes, self.sg.shape, rows, cols, method)
        win = index_window(rows, cols, self.sg.shape)
        if win is None:
            return None
        if planes is not None:
            return interpolate_planes(planes, self.sg.shape, rows, cols, method)
        r0, r1, c0, c1 = win
        values = np.asarray(self.var[r0:r1, c0:c1], np.float32)
        self.check_values(values)
        return interpolate_planes(image_planes(values), (r1 - r0, c1 - c0), rows - r0, cols - c0, method)

    def tile(self, tile: Tile, method: str) -> np.ndarray | None:
        """The tile as ``(n, n, C)`` float32 (a view), or None when invalid."""
        out = self.tile_planes(tile, method)
        return None if out is None else np.moveaxis(out, 0, -1)

    def close(self) -> None:
        """Close the file and drop its cached image."""
        self.nc.close()
        _PLANES.pop(self.path, None)


_OPEN: "OrderedDict[str, CompositeReader]" = OrderedDict()
_MAX_OPEN = 32
#: bytes of composite images kept in memory per process (float32 planes)
_PLANES_BUDGET = int(os.environ.get("CONVML_TT_COMPOSITE_CACHE_MB", "512")) * 2**20
_PLANES: "OrderedDict[str, np.ndarray]" = OrderedDict()


def open_composite(path: str | os.PathLike) -> CompositeReader:
    """The process's open :class:`CompositeReader` of ``path`` (opened on first
    use; the least recently used of more than :data:`_MAX_OPEN` are closed)."""
    path = str(path)
    c = _OPEN.get(path)
    if c is None:
        c = CompositeReader(path)
        _OPEN[path] = c
        while len(_OPEN) > _MAX_OPEN:
            _OPEN.popitem(last=False)[1].close()
    else:
        _OPEN.move_to_end(path)
    return c


def release_composite(path: str | os.PathLike) -> None:
    """Close the reader :func:`open_composite` holds for ``path`` (if any) and
    drop its cached image, e.g. when a loop over scenes is done with one (the
    next :func:`open_composite` of it opens it again)."""
    c = _OPEN.pop(str(path), None)
    if c is not None:
        c.close()


def close_composites() -> None:
    """Close every reader :func:`open_composite` opened in this process (and
    drop their cached images)."""
    while _OPEN:
        _OPEN.popitem()[1].close()
