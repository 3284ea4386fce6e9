"""GOES-16..19 ABI as a :class:`~convml_tt.data.sources.base.Source`.

Reads the NOAA files as they are delivered, in any folder layout: L1b
radiances (``OR_ABI-L1b-Rad{F,C,M1,M2}-M6C{01..16}_G{16..19}_s..._e..._c....nc``)
and L2 cloud and moisture imagery (``CMIP``, one band per file, and
``MCMIP``, all sixteen bands in one file as ``CMI_C01`` .. ``CMI_C16`` with
their ``DQF_Cnn``; already calibrated). A scene is the band files of one scan (platform, product,
sector, scan mode and start); windows are read straight through netCDF4
(:class:`~convml_tt.data.sources.goes_abi.reader.WindowReader`) onto a
raster of the fixed grid (:mod:`~convml_tt.data.sources.goes_abi.window`).

The files of a scene must belong together: the platform (``platform_ID``),
scan start (``time_coverage_start``, to the second), sector (``scene_id``)
and original name (``dataset_name``) inside every file must agree with its
name (:class:`~convml_tt.data.sources.base.SceneMismatchError` otherwise),
so a file renamed or copied over another scan's name is refused, not
composited.

Quality flags (``DQF``: 0 good, 1 conditionally usable, 2 out of range, e.g.
saturated, 3 no value): ``strict`` makes DQF > 1 NaN; ``keep-saturated``
(default, as satpy does) keeps DQF 2 pixels at their stored (saturation)
value, counted in :attr:`ABIWindow.flagged`, and makes DQF 3 NaN; ``all``
ignores DQF. Fill values and values outside ``valid_range`` are NaN always.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

import numpy as np

from ..base import Band, BandTable, Quality, Scene, SceneFile, SceneMismatchError, Source, Window, checked_quality
from .keys import ABIKey
from .navigation import FixedGrid
from .reader import BAND_RESOLUTION_KM, EMISSIVE_BANDS, WindowReader
from .window import _latlon_raster, _read_band, _spacing, _target_raster

__all__ = ["GOESABISource", "ABIWindow", "ABI_BANDS", "dqf_max_for"]

#: central wavelengths of the ABI bands, micrometres
WAVELENGTH_UM = {1: 0.47, 2: 0.64, 3: 0.86, 4: 1.37, 5: 1.6, 6: 2.2, 7: 3.9, 8: 6.2, 9: 6.9,
                 10: 7.3, 11: 8.4, 12: 9.6, 13: 10.3, 14: 11.2, 15: 12.3, 16: 13.3}
#: the ABI band table (the same for GOES-16..19)
ABI_BANDS = BandTable("abi", (
    Band(f"C{b:02d}", WAVELENGTH_UM[b], "emissive" if b in EMISSIVE_BANDS else "reflective",
         BAND_RESOLUTION_KM[b], "K" if b in EMISSIVE_BANDS else "1", number=b)
    for b in range(1, 17)
))
#: the sectors' ``scene_id`` attribute in NOAA files
_SCENE_IDS = {"F": "Full Disk", "C": "CONUS", "M1": "Mesoscale", "M2": "Mesoscale"}


def dqf_max_for(quality: Quality) -> int | None:
    """The largest DQF kept under a quality policy (None: DQF ignored)."""
    return {"strict": 1, "keep-saturated": 2, "all": None}[checked_quality(quality)]


class GOESABISource(Source):
    """GOES-16..19 ABI L1b radiances, L2 CMIP (a band per file) and L2 MCMIP (all bands in one file)."""

    name = "goes_abi"
    sensor = "abi"
    description = ("GOES-16..19 ABI: L1b radiances (Rad), L2 cloud and moisture imagery one band per file (CMIP) "
                   "or all bands in one (MCMIP); NOAA file names (OR_ABI-...nc)")
    patterns = ("OR_ABI-L1b-Rad*_G1[6-9]_s*.nc", "OR_ABI-L2-CMIP*_G1[6-9]_s*.nc", "OR_ABI-L2-MCMIP*_G1[6-9]_s*.nc")

    def identify(self, path: Path) -> SceneFile | None:
        name = Path(path).name
        if not name.startswith("OR_ABI-") or not name.endswith(".nc"):
            return None
        try:
            key = ABIKey.parse(name)
        except ValueError:
            return None
        if key.product == "MCMIP" and key.band is None:
            bands: tuple = tuple(range(1, 17))  # the multi-band L2 product holds CMI_C01 .. CMI_C16
        elif key.band is not None and key.product in ("Rad", "CMIP"):
            bands = (key.band,)
        else:
            return None
        return SceneFile(Path(path), self.name, f"goes{key.satellite}", key.product, key.sector, key.start,
                         bands, mode=f"M{key.mode}")

    def band_table(self, platform: str | None = None) -> BandTable:
        return ABI_BANDS

    def open_window(self, scene: Scene, bands: Sequence, domain: Sequence[float], resolution_km: float,
                    margin: int = 2, quality: Quality = "keep-saturated", dqf_max: int | None | str = "policy"
                    ) -> "ABIWindow":
        return ABIWindow(scene, [int(ABI_BANDS.get(b).number) for b in bands], domain, resolution_km, margin,
                         dqf_max_for(quality) if dqf_max == "policy" else dqf_max)


def _header_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text).rstrip("Z")).replace(tzinfo=None, microsecond=0)
    except ValueError:
        return None


def check_file_header(path: Path, nc) -> None:
    """The platform, scan start, sector and original name inside an ABI file
    (its open ``netCDF4.Dataset`` ``nc``) must agree with its file name;
    :class:`SceneMismatchError` naming the difference otherwise. Attributes a
    file lacks are not checked."""
    key = ABIKey.parse(Path(path).name)
    attrs = {k: nc.getncattr(k) for k in ("platform_ID", "time_coverage_start", "scene_id", "dataset_name")
             if k in nc.ncattrs()}
    says = []
    plat = attrs.get("platform_ID")
    if plat is not None and str(plat).strip() != f"G{key.satellite}":
        says.append(f"platform {plat} (the name says G{key.satellite})")
    start = _header_time(attrs.get("time_coverage_start", ""))
    if start is not None and abs((start - key.start.replace(microsecond=0)).total_seconds()) > 1:
        says.append(f"scan start {start:%Y-%m-%dT%H:%M:%S} (the name says {key.start:%Y-%m-%dT%H:%M:%S})")
    scene_id = attrs.get("scene_id")
    if scene_id is not None and str(scene_id) != _SCENE_IDS.get(key.sector, str(scene_id)):
        says.append(f"scene {scene_id!r} (the name says sector {key.sector})")
    original = attrs.get("dataset_name")
    if original is not None and not says:
        try:
            okey = ABIKey.parse(str(original))
        except ValueError:
            okey = None
        if okey is not None and (okey.satellite, okey.product, okey.sector, okey.band,
                                 okey.start.replace(microsecond=0)) != (
                key.satellite, key.product, key.sector, key.band, key.start.replace(microsecond=0)):
            says.append(f"the original name {original}")
    if says:
        raise SceneMismatchError(
            f"{path}: its name says GOES-{key.satellite} {key.product}{key.sector} band {key.band} scan "
            f"{key.start:%Y-%m-%dT%H:%M:%S} but the file holds {', '.join(says)}; it is not the file its name "
            f"says (renamed or copied over?): use the original file")


class ABIWindow(Window):
    """A window of an ABI scene on a raster of its fixed grid (scan angles in
    radians, row 0 north); see :class:`~convml_tt.data.sources.base.Window`."""

    def __init__(self, scene: Scene, bands: Sequence[int], domain, resolution_km: float, margin: int,
                 dqf_max: int | None):
        self.scene = scene
        self.dqf_max = dqf_max
        self.flagged: dict = {}
        files = {b: Path(scene.files[b]) for b in bands}
        self.files = files
        self.readers: dict[int, WindowReader] = {}
        try:
            for b in bands:
                self.readers[b] = WindowReader(files[b], band=b)
                check_file_header(files[b], self.readers[b].nc)
            self.headers = {b: self.readers[b].header for b in bands}
            grids = {b: FixedGrid.from_dataset(self.headers[b]) for b in bands}
            if len(set(grids.values())) > 1:
                raise ValueError(f"the band files {sorted(map(str, files.values()))} have different projections")
            self.grid = grids[bands[0]]
            ref = max(bands, key=lambda b: abs(_spacing(self.headers[b]["x"].values)))
            self.xaxis, self.yaxis = _target_raster(self.headers[ref], domain, resolution_km, margin,
                                                    f"band {ref} ({files[ref].name})")
        except BaseException:
            self.close()
            raise
        (x0, dx, nx), (y0, dy, ny) = self.xaxis, self.yaxis
        self.x = x0 + dx * np.arange(nx)
        self.y = y0 + dy * np.arange(ny)
        # the grid read from the files writes their goes_imager_projection back as it is
        self.grid_mapping = self.grid.to_cf()
        self.x_attrs, self.y_attrs = self.grid.coordinate_attrs()

    def read(self, band, out: np.ndarray) -> np.ndarray:
        b = int(ABI_BANDS.get(band).number)
        src = f"band {b} ({self.files[b].name})"
        _read_band(self.readers[b], self.headers[b], self.xaxis, self.yaxis, self.dqf_max, out, src)
        if self.dqf_max is not None and self.dqf_max >= 2:
            n = self.readers[b].flagged_count
            if n:
                self.flagged[f"C{b:02d}"] = n
        return out

    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        return _latlon_raster(self.grid, self.x, self.y)

    def close(self) -> None:
        for r in self.readers.values():
            r.close()
        self.readers = {}
