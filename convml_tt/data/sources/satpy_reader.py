"""Any geostationary imager satpy reads, as a :class:`~convml_tt.data.sources.base.Source`
named ``satpy`` (satpy is an optional extra: ``pip install convml_tt[satpy]``).

Files are recognised by satpy's own file-name patterns (the readers'
YAML ``file_patterns``, :mod:`~convml_tt.data.sources.imagers`), without
importing satpy: Himawari-8/9 AHI (``ahi_hsd``: ``HS_H09_20230615_0300_B03_FLDK_R05_S0110.DAT``),
Meteosat SEVIRI level 1.5 netCDF (``seviri_l1b_nc``), MTG-I FCI level 1c
(``fci_l1c_nc``) and, only when this source is named (``--source satpy``),
GOES ABI L1b (``abi_l1b``; the ``goes_abi`` source, registered first, reads
those files natively). A file's name gives the platform (``himawari9``,
``meteosat11``, ``mtg-i1``, ``goes16``), the sector (``FLDK``, ``JP01``,
``FD``, ``M1``; ``""`` for SEVIRI netCDF), the nominal scan start and the
bands it holds; the product of its :class:`~convml_tt.data.sources.base.SceneFile`
is the satpy reader's name. The sensor whose recipes apply to a scene is
``band_table(scene.platform).sensor`` (``ahi``, ``seviri``, ``fci``, ``abi``).

Segmented products (AHI HSD: 10 segments per band of a full disk; FCI
FDHSI/HRFI: 40 chunks of all bands) are grouped into one scene by band,
keeping one file per band; :meth:`SatpySource.open_window` adds the other
segments of that scan found beside it (same folder, same name but for the
segment fields). A run of consecutive segments is read on its own area, so
a folder of the chunks covering a domain is enough (a domain beyond them is
outside the scene's sector); with gaps between the segments, satpy pads
them (and the rest of the disc) with no-value pixels (NaN).

:meth:`SatpySource.open_window` makes a ``satpy.Scene`` of the scene's files
and loads the bands lazily (dask; reflective bands with calibration
``reflectance``, given by satpy in percent and returned here as the
reflectance factor, 0-1, *not* sun-zenith corrected; emissive bands as
``brightness_temperature``, K; no modifiers). Only the window covering the
domain (plus ``margin`` pixels of the coarsest band) is computed, for all
the bands in one dask computation, from dask chunks of at most
:data:`CHUNK_SIZE` (so little beyond the window is read). The raster
is the imager's fixed grid (:class:`~convml_tt.data.sources.goes_abi.navigation.FixedGrid`:
scan angles in radians = the area's projected coordinates / the perspective
height, the area's sweep axis: ``y`` for AHI, SEVIRI and FCI, ``x`` for ABI;
row 0 north and x increasing eastward, whatever the file's orientation,
e.g. FCI's south-up rows), at ``resolution_km``: finer bands are
block-averaged (NaN if any input is NaN), coarser bands replicated, exactly
as the native ABI path does (:mod:`convml_tt.data.sources.goes_abi.window`).

Quality policies (:data:`~convml_tt.data.sources.base.QUALITY_POLICIES`):
``keep-saturated`` (default) is satpy's own masking: fill values, values
outside the valid range and space pixels (AHI) are NaN, saturated counts
keep their value; SEVIRI scan lines that the producer flagged as bad
(validity "missing" or "corrupted" and both qualities "do not use", satpy's
criterion) are NaN too. ``strict`` adds the per-pixel flags satpy exposes:
FCI ``pixel_quality`` other than 0 (good) is NaN (AHI HSD has no per-pixel
flags beyond the error counts satpy already masks, SEVIRI netCDF only its
line flags, and satpy's ``abi_l1b`` reader does not read ABI's DQF: use the
``goes_abi`` source for DQF policies); ``all`` also keeps SEVIRI's flagged
lines. The counts of :attr:`Window.flagged` stay empty: satpy does not say
which pixels it kept although flagged.

SEVIRI's line flags are read here from the file, not masked by satpy:
satpy 0.60's netCDF reader flips the image to north-up but applies the
flags in the file's (south-first) order, so it would blank the mirror image
of a flagged line and keep the line itself.
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import os
import re
import warnings
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import (Band, BandTable, Quality, Scene, SceneFile, SceneMismatchError, Source, SourceFileError,
                   UnknownBandError, Window, checked_quality)
from .goes_abi.navigation import FixedGrid, bbox_window
from .goes_abi.reader import PROJECTION_VARIABLE
from .imagers import IMAGERS, Imager, match_file

__all__ = ["SatpySource", "SatpyWindow", "fixed_grid_of", "CHUNK_SIZE"]

#: dask chunk size while satpy loads a scene (its readers size their chunks
#: from dask's ``array.chunk-size``, 128 MiB by default): a window computes
#: whole chunks, so smaller ones read less beyond it (bench/composite.py,
#: large case, a 1500 km window of a 5000 km ABI scene: 0.65 s and 448 MB
#: peak at 16 MiB against 1.83 s and 896 MB at the default)
CHUNK_SIZE = "16MiB"
#: largest difference between the scan start that satpy reads inside a file
#: and the one its name says (s) before the file counts as another scan's
_START_TOLERANCE_S = 30.0


def _import_satpy():
    try:
        import satpy
    except ImportError as err:
        raise ImportError(f"the satpy source needs satpy (pip install 'convml_tt[satpy]'): {err}") from None
    return satpy


@contextmanager
def _quiet():
    """satpy and pyproj warn about things that are not the user's to fix
    (e.g. PROJ strings losing information, missing orbit polynomials)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"(pyproj|satpy|pyresample)(\.|$)")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"(satpy|dask)(\.|$)")
        # satpy pads the integer quality of missing FCI chunks with NaN (then cast)
        warnings.filterwarnings("ignore", message="invalid value encountered in cast", category=RuntimeWarning)
        yield


def fixed_grid_of(area, what: str) -> FixedGrid:
    """The :class:`FixedGrid` of a pyresample ``AreaDefinition`` in PROJ's
    ``geos`` projection; :class:`SourceFileError` naming ``what`` otherwise."""
    crs = getattr(area, "crs", None)
    op = getattr(crs, "coordinate_operation", None)
    method = str(getattr(op, "method_name", ""))
    if not method.startswith("Geostationary Satellite"):
        raise SourceFileError(
            f"{what} is not on a geostationary fixed grid ({type(area).__name__} {method or 'without a projection'}): "
            f"the satpy source reads geostationary imagers (AHI, SEVIRI, FCI, ABI); resample swath data first")
    params = {p.name: p.value for p in op.params}
    return FixedGrid(
        perspective_point_height=float(params["Satellite Height"]),
        semi_major_axis=float(crs.ellipsoid.semi_major_metre),
        semi_minor_axis=float(crs.ellipsoid.semi_minor_metre),
        longitude_of_projection_origin=float(params["Longitude of natural origin"]),
        sweep_angle_axis="x" if "Sweep X" in method else "y",
    )


def grid_mapping_attrs(grid: FixedGrid) -> dict:
    """CF ``geostationary`` grid-mapping attributes of ``grid`` (as in ABI
    files' ``goes_imager_projection``)."""
    return {"grid_mapping_name": "geostationary",
            "perspective_point_height": grid.perspective_point_height,
            "semi_major_axis": grid.semi_major_axis, "semi_minor_axis": grid.semi_minor_axis,
            "longitude_of_projection_origin": grid.longitude_of_projection_origin,
            "latitude_of_projection_origin": 0.0, "sweep_angle_axis": grid.sweep_angle_axis}


def _nominal_km(step_rad: float, grid: FixedGrid) -> float:
    """A pixel's nominal size (km at the sub-satellite point, to 0.5 km: ABI's
    1.002 km is 1 km, SEVIRI's 3.0004 km is 3 km) from its scan-angle step."""
    km = abs(step_rad) * grid.perspective_point_height / 1e3
    return max(0.5, round(km * 2) / 2) if km >= 0.4 else km


def _simple(platform: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(platform).lower())


#: other names satpy gives a platform (MTG-I1 became Meteosat-12 in service)
_ALSO_KNOWN_AS = {"mtgi1": "meteosat12", "mtgi2": "meteosat13"}


class SatpySource(Source):
    """Geostationary imagers through ``satpy.Scene`` (see the module docstring)."""

    name = "satpy"
    sensor = ""  # several: band_table(platform).sensor says which a scene is
    sensors = ("ahi", "seviri", "fci", "abi")
    description = ("any geostationary imager satpy reads: Himawari AHI (HSD), Meteosat SEVIRI (netCDF), "
                   "MTG FCI (L1c netCDF); GOES ABI L1b when named (--source satpy)")
    patterns = ("HS_H0[89]_*_B??_*_R??_S????.DAT[.bz2]",
                "W_XX-EUMETSAT-Darmstadt,VIS+IR+HRV+IMAGERY,MSG?+SEVIRI_C_EUMG_*.nc",
                "W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI?+FCI-1C-RRAD-*-BODY-*.nc",
                "OR_ABI-L1b-Rad*_G1[6-9]_s*.nc (with --source satpy)")

    def __init__(self, readers: Sequence[str] | None = None):
        readers = tuple(IMAGERS) if readers is None else tuple(readers)
        unknown = [r for r in readers if r not in IMAGERS]
        if unknown:
            raise ValueError(f"the satpy source knows the readers {', '.join(IMAGERS)}, not {unknown}")
        self.readers = readers

    def identify(self, path) -> SceneFile | None:
        m = match_file(Path(path).name, self.readers)
        if m is None:
            return None
        return SceneFile(Path(path), self.name, m.platform, m.imager.reader, m.sector, m.start, m.bands,
                         mode=m.mode)

    def imager(self, platform: str | None) -> Imager:
        """The :class:`Imager` of a platform id: ``himawari8``/``9`` -> AHI,
        ``meteosat8`` .. ``11`` -> SEVIRI, ``mtg-i1`` .. (``meteosat12`` ..) ->
        FCI, ``goes16`` .. ``19`` -> ABI."""
        m = re.fullmatch(r"(himawari|meteosat|mtg-i|goes)(\d+)", str(platform).lower())
        if m:
            name, n = m.group(1), int(m.group(2))
            reader = {"himawari": "ahi_hsd", "mtg-i": "fci_l1c_nc", "goes": "abi_l1b"}.get(name)
            if name == "meteosat":
                reader = "seviri_l1b_nc" if n <= 11 else "fci_l1c_nc"
            return IMAGERS[reader]
        raise ValueError(f"the satpy source reads himawari8/9 (AHI), meteosat8..11 (SEVIRI), mtg-i1.. (FCI) and "
                         f"goes16..19 (ABI), not the platform {platform!r}")

    def band_table(self, platform: str | None = None) -> BandTable:
        return self.imager(platform).table

    def scene_paths(self, scene: Scene, bands: Sequence[Band]) -> list[Path]:
        """The files of ``scene`` that hold ``bands``, with the other segments
        of their scan found beside them (sorted, distinct)."""
        table = IMAGERS[scene.product].table
        paths: dict[str, Path] = {}
        for band in bands:
            path = scene.files.get(band.name, scene.files.get(band.number))
            if path is None:
                have = ", ".join(str(table.get(b).name) if b in table else str(b) for b in scene.files)
                raise ValueError(f"{scene.describe()} has no file with band {band.name} (it has {have})")
            paths[str(path)] = Path(path)
        for path in list(paths.values()):
            m = match_file(path.name, (scene.product,))
            if m is None or m.segment is None:
                continue
            folder = path.parent
            for name in os.listdir(folder):
                if name not in paths and fnmatch.fnmatchcase(name, m.glob):
                    other = match_file(name, (scene.product,))
                    if other is not None and m.is_sibling(other):
                        paths.setdefault(str(folder / name), folder / name)
        return sorted(paths.values())

    def open_window(self, scene: Scene, bands: Sequence, domain: Sequence[float], resolution_km: float,
                    margin: int = 2, quality: Quality = "keep-saturated") -> "SatpyWindow":
        if scene.product not in IMAGERS:
            raise SourceFileError(f"{scene.describe()}: the satpy source reads the readers {', '.join(IMAGERS)}, "
                                  f"not {scene.product!r}")
        table = IMAGERS[scene.product].table
        wanted = [table.get(b, f"(the bands of {scene.describe()})") for b in bands]
        return SatpyWindow(scene, IMAGERS[scene.product], wanted, self.scene_paths(scene, wanted), domain,
                           resolution_km, margin, checked_quality(quality))


class SatpyWindow(Window):
    """A window of a scene read through ``satpy.Scene`` on a raster of the
    imager's fixed grid; see :class:`~convml_tt.data.sources.base.Window`
    and the module docstring. ``scn``: the satpy Scene (bands loaded lazily);
    ``files``: the files it reads."""

    def __init__(self, scene: Scene, imager: Imager, bands: Sequence[Band], files: Sequence[Path],
                 domain: Sequence[float], resolution_km: float, margin: int, quality: str):
        _import_satpy()
        import xarray as xr
        from satpy import DataQuery
        from satpy import Scene as SatpyScene

        self.scene, self.imager, self.files, self.quality = scene, imager, list(files), quality
        self.bands = {b.name: b for b in bands}
        self.flagged: dict = {}
        names = ", ".join(p.name for p in self.files[:3]) + (f" and {len(self.files) - 3} more" if len(self.files) > 3 else "")
        self.what = f"{scene.describe()} ({names})"
        # SEVIRI's line flags are applied below, in the image's orientation (see the module docstring)
        kwargs = {"mask_bad_quality_scan_lines": False} if imager.reader == "seviri_l1b_nc" else {}
        import dask

        with _quiet(), dask.config.set({"array.chunk-size": CHUNK_SIZE}):
            try:
                self.scn = SatpyScene(filenames=[str(p) for p in self.files], reader=imager.reader,
                                      reader_kwargs=kwargs)
            except (ValueError, OSError, KeyError) as err:
                raise SourceFileError(f"satpy's {imager.reader} reader cannot open {self.what}: {err}") from None
            available = set(self.scn.available_dataset_names())
            missing = [n for n in self.bands if n not in available]
            if missing:
                raise SourceFileError(f"satpy's {imager.reader} reader finds no {', '.join(missing)} in {self.what}; "
                                      f"it reads {', '.join(sorted(available)) or 'nothing'} there")
            self.queries = {n: DataQuery(name=n, calibration="reflectance" if b.reflective else "brightness_temperature",
                                         modifiers=()) for n, b in self.bands.items()}
            qual = {n: f"{n}_pixel_quality" for n in self.bands
                    if quality == "strict" and f"{n}_pixel_quality" in available}
            load_kw = {} if _contiguous(self.files, imager) is None else {"pad_data": not _contiguous(self.files, imager)}
            self.scn.load(list(self.queries.values()) + list(qual.values()), **load_kw)
        self._check_platform_and_time()
        self.native: dict[str, tuple] = {}
        self._values: dict[str, tuple] = {}  # computed windows not read yet
        self._read: set[str] = set()
        grids = set()
        for n in self.bands:
            arr = self.scn[self.queries[n]]
            grid = fixed_grid_of(arr.attrs.get("area"), f"band {n} of {self.what}")
            grids.add(grid)
            mask = self.scn[qual[n]].data if n in qual else None
            data = arr.data
            if imager.reader == "seviri_l1b_nc" and quality != "all":
                bad = _seviri_bad_lines(self.files[0], self.bands[n].number)[::-1]  # north first, as satpy's image
                if bad.any():
                    data = _masked(data, np.broadcast_to(bad[:, None], data.shape).astype(np.uint8))
            self.native[n] = _oriented(arr.attrs["area"], data, mask, grid)
        if len(grids) > 1:
            raise SourceFileError(f"the bands of {self.what} are on different fixed grids: {sorted(map(str, grids))}")
        self.grid = grids.pop()
        self.grid_mapping = (PROJECTION_VARIABLE, grid_mapping_attrs(self.grid))
        # the raster: the domain's window on the coarsest band, at resolution_km
        ref = max(self.bands, key=lambda n: abs(_step(self.native[n][1])))
        _, xs, ys = self.native[ref][:3]
        header = xr.Dataset({PROJECTION_VARIABLE: ((), 0, self.grid_mapping[1])}, coords={"x": xs, "y": ys},
                            attrs={"convml_tt_source": self.what})
        rows, cols = bbox_window(header, domain, margin=margin, require_inside=True)
        self.xaxis, self.yaxis = _target_axes(xs, ys, rows, cols, resolution_km, self.grid, f"band {ref} of {self.what}")
        (x0, dx, nx), (y0, dy, ny) = self.xaxis, self.yaxis
        self.x = x0 + dx * np.arange(nx)
        self.y = y0 + dy * np.arange(ny)
        self.x_attrs = {"units": "rad", "long_name": "fixed-grid E/W scan angle", "axis": "X"}
        self.y_attrs = {"units": "rad", "long_name": "fixed-grid N/S scan angle", "axis": "Y"}

    def _check_platform_and_time(self) -> None:
        """The platform and scan start satpy reads inside the files must be
        those of the scene's file names (:class:`SceneMismatchError`)."""
        arr = self.scn[next(iter(self.queries.values()))]
        says = []
        inside = arr.attrs.get("platform_name")
        ours = _simple(self.scene.platform)
        if inside and _simple(inside) not in (ours, _ALSO_KNOWN_AS.get(ours)):
            says.append(f"platform {inside}")
        start = arr.attrs.get("start_time")
        if isinstance(start, dt.datetime):
            start = start.replace(tzinfo=None)
            if abs((start - self.scene.start).total_seconds()) > _START_TOLERANCE_S:
                says.append(f"scan start {start:%Y-%m-%dT%H:%M:%S}")
        if says:
            raise SceneMismatchError(
                f"{self.what}: the file names say {self.scene.platform} scan {self.scene.start:%Y-%m-%dT%H:%M:%S} but "
                f"satpy reads {' and '.join(says)} inside; they are not the files their names say (renamed or "
                f"copied over?): use the original files")

    def _window(self, name: str):
        """``(values, how rows, how columns)``: the band's window (a dask
        array, satpy's units) and how it reduces to the raster."""
        from .goes_abi.window import _source_index

        data, xs, ys, mask = self.native[name]
        src = f"band {name} of {self.what}"
        rsl, rhow = _source_index(ys, *self.yaxis, src)
        csl, chow = _source_index(xs, *self.xaxis, src)
        window = data[rsl, csl]
        return (window if mask is None else _masked(window, mask[rsl, csl])), rhow, chow

    def read(self, band, out: np.ndarray) -> np.ndarray:
        """See :meth:`Window.read`. The windows of every band opened and not
        read yet are computed together at the first read (one dask
        computation, as satpy's own loading does), and each is dropped once read."""
        import dask

        from .goes_abi.window import _reduce

        b = self.imager.table.get(band)
        if b.name not in self.native:
            raise UnknownBandError(f"band {b.name} was not opened in this window of {self.what} "
                                   f"(opened: {', '.join(self.native)})")
        if b.name not in self._values:
            names = [b.name] + [n for n in self.native if n != b.name and n not in self._read and n not in self._values]
            windows = [self._window(n) for n in names]
            with _quiet():
                computed = dask.compute(*[w[0] for w in windows],
                                        **({} if self.imager.threads else {"scheduler": "synchronous"}))
            self._values.update({n: (v, w[1], w[2]) for n, v, w in zip(names, computed, windows)})
        values, rhow, chow = self._values.pop(b.name)
        self._read.add(b.name)
        values = np.asarray(values, np.float32)
        if b.reflective:
            values = values / np.float32(100.0)  # satpy's percent -> reflectance factor
        out[...] = _reduce(_reduce(values, 0, rhow), 1, chow)
        return out

    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        from .goes_abi.window import _latlon_raster

        return _latlon_raster(self.grid, self.x, self.y)

    def close(self) -> None:
        self.native, self._values = {}, {}
        self.scn = None


def _masked(data, quality):
    """``data`` (a dask array) with NaN where ``quality`` is not 0 (good)."""
    import dask.array as da

    return da.where(quality == 0, data, np.float32(np.nan))


def _contiguous(files: Sequence[Path], imager: Imager) -> bool | None:
    """Whether the segments of each file type among ``files`` are one run
    without gaps (None for products without segments). satpy then reads just
    those segments, on their own area (``pad_data=False``); otherwise it pads
    the gaps and the rest of the disc with no-value segments."""
    runs: dict[str, list[int]] = {}
    for p in files:
        m = match_file(Path(p).name, (imager.reader,))
        if m is not None and m.segment is not None:
            runs.setdefault(m.file_type, []).append(m.segment[0])
    if not runs:
        return None
    return all(sorted(r) == list(range(min(r), max(r) + 1)) for r in runs.values())


def _seviri_bad_lines(path: Path, channel: int) -> np.ndarray:
    """Which scan lines (in the file's order, south first) of SEVIRI channel
    ``channel`` (1-11) the producer flagged as bad: line validity 2 (missing
    data) or 3 (corrupted) with geometric and radiometric quality 4 (do not
    use), satpy's criterion (MSG Level 1.5 Image Data Format Description)."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        flags = [np.asarray(nc[f"channel_data_visir_data_line_{k}"][:, channel - 1])
                 for k in ("validity", "geometric_quality", "radiometric_quality")]
    validity, geometric, radiometric = flags
    return (validity >= 2) & (validity <= 3) & (geometric == 4) & (radiometric == 4)


def _step(coord: np.ndarray) -> float:
    return float((coord[-1] - coord[0]) / (coord.size - 1)) if coord.size > 1 else 1.0


def _oriented(area, data, mask, grid: FixedGrid):
    """``(data, x, y, mask)`` with ``x`` (scan angle, radians) increasing
    eastward and ``y`` decreasing (row 0 north): the dask arrays are flipped
    (lazily) where the area runs the other way (e.g. FCI south-up)."""
    x, y = area.get_proj_vectors()
    x = np.asarray(x, float) / grid.perspective_point_height
    y = np.asarray(y, float) / grid.perspective_point_height
    if x.size > 1 and x[0] > x[-1]:
        data, x = data[:, ::-1], x[::-1]
        mask = None if mask is None else mask[:, ::-1]
    if y.size > 1 and y[0] < y[-1]:
        data, y = data[::-1], y[::-1]
        mask = None if mask is None else mask[::-1]
    return data, x, y, mask


def _target_axes(xs, ys, rows: slice, cols: slice, resolution_km: float, grid: FixedGrid, src: str):
    """The raster ``((x0, dx, nx), (y0, dy, ny))`` of the window ``rows`` x
    ``cols`` of a band with pixel centres ``xs``, ``ys`` at ``resolution_km``."""
    from .goes_abi.window import _target_axis

    native = _nominal_km(_step(xs), grid)
    ratio = float(resolution_km) / native
    f = Fraction(ratio).limit_denominator(8)
    if abs(float(f) - ratio) > 1e-6 * ratio or (f.numerator != 1 and f.denominator != 1):
        ok = sorted({native / k for k in (4, 2, 1)} | {native * k for k in (2, 3, 4)})
        raise ValueError(f"{src}: resolution {resolution_km:g} km is not a whole multiple or divisor of its "
                         f"{native:g} km pixels; choose e.g. {', '.join(f'{v:g}' for v in ok)} km")
    return _target_axis(xs, cols, f), _target_axis(ys, rows, f)
