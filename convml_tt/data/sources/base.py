"""The Source protocol: what every kind of input (an imager, a product, model
output, your own files) tells the rest of the library.

A *source* is a small class registered under a name (``goes_abi``,
``abi_l2``, ``satpy``, ``gridded``; plugins add more through the entry-point
group ``convml_tt.sources``). Composites, tiles, samplers, co-located fields
and the command line use only what is defined here:

- :class:`Band` / :class:`BandTable`: a sensor's bands *as data* (name,
  central wavelength in micrometres, reflective / emissive / field, native
  resolution in km, units). Recipes name bands of a band table.
- :meth:`Source.identify`: whether a file belongs to the source, from its
  name (cheap, no I/O) -> a :class:`SceneFile` (platform, product, sector,
  scan start, the bands it holds), or None.
- :class:`Scene`: the files of one scan, grouped by
  :func:`group_scenes` from the :class:`SceneFile` of any folder layout.
- :meth:`Source.check_scene`: the files of a scene really belong together
  (platform, scan start and sector read from inside each file, not trusted
  from names).
- :meth:`Source.open_window`: a :class:`Window` over a lat/lon domain: the
  raster (a grid of :mod:`convml_tt.data.geometry.grids`, 1-D ``x``/``y``
  coordinates, 2-D lat/lon), calibrated planes per band read into arrays the
  caller gives, and how pixels flagged by the producer are treated
  (:data:`QUALITY_POLICIES`).

Platforms are strings: ``goes16`` .. ``goes19``, ``himawari8``/``9``,
``meteosat8`` .. ``12``, ``mtg-i1``, or any id a source gives (``icon-les``).
The ``--satellite 16`` flag of the GOES path still means ``goes16``
(:func:`platform_id`).
"""
from __future__ import annotations

import datetime as dt
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Hashable, Iterable, Literal, Mapping, Sequence

import numpy as np

from ...config import QUALITY_POLICIES, _satellite, checked_quality  # noqa: F401  (part of the protocol's face)

__all__ = [
    "Band",
    "BandTable",
    "SceneFile",
    "Scene",
    "Window",
    "Source",
    "QUALITY_POLICIES",
    "Quality",
    "SourceFileError",
    "SceneMismatchError",
    "UnknownBandError",
    "platform_id",
    "platform_label",
    "group_scenes",
]

Quality = Literal["strict", "keep-saturated", "all"]

BandId = Hashable


class SourceFileError(ValueError):
    """A file that no source (or not the named one) can read, or one that does
    not hold what its name says."""


class SceneMismatchError(ValueError):
    """Files grouped as one scene whose contents say they are not (another
    platform, scan time or sector inside the file than in its name or than
    the other bands)."""


class UnknownBandError(ValueError):
    """A band that the sensor's band table does not have."""


def platform_id(platform: Any) -> str | None:
    """The platform id of ``platform``: ``16``, ``"16"``, ``"G16"`` or
    ``"GOES-16"`` -> ``"goes16"``; other ids lower-cased (``"Himawari9"`` ->
    ``"himawari9"``); None stays None. The settings' own parser
    (``convml_tt.config``) decides what is a platform."""
    v = _satellite(platform)
    return f"goes{v}" if isinstance(v, int) else v


def platform_label(platform: str) -> str:
    """A title-case label: ``goes16`` -> ``GOES-16``, ``himawari9`` -> ``Himawari-9``."""
    m = re.fullmatch(r"([a-z-]+?)-?(\d+)", platform)
    if not m:
        return platform
    name = m.group(1).rstrip("-")
    return f"{name.upper() if name in ('goes', 'mtg-i', 'noaa') else name.capitalize()}-{m.group(2)}"


@dataclass(frozen=True)
class Band:
    """One band of a sensor (or one variable of gridded output).

    ``name``: as the band table names it (``C01``, ``B03``, ``VIS006``,
    ``lwp``); ``wavelength_um``: central wavelength, micrometres (None for a
    field); ``kind``: ``reflective`` (values are reflectance factor, unit
    ``"1"``), ``emissive`` (brightness temperature, K) or ``field`` (any
    quantity in ``units``); ``resolution_km``: native pixel size at the
    sub-satellite point, km (None: unknown or varying); ``number``: the
    sensor's band number where it has one (ABI ``13`` for ``C13``).
    """

    name: str
    wavelength_um: float | None
    kind: Literal["reflective", "emissive", "field"]
    resolution_km: float | None = None
    units: str = "1"
    number: int | None = None
    description: str = ""

    @property
    def reflective(self) -> bool:
        return self.kind == "reflective"


class BandTable:
    """The bands of a sensor, looked up by name (any case), by number
    (``13`` -> ``C13`` for ABI) or by the nearest central wavelength."""

    def __init__(self, sensor: str, bands: Iterable[Band]):
        self.sensor = str(sensor)
        self.bands: tuple[Band, ...] = tuple(bands)
        self._by_name = {b.name.lower(): b for b in self.bands}
        self._by_number = {b.number: b for b in self.bands if b.number is not None}

    def __iter__(self):
        return iter(self.bands)

    def __len__(self) -> int:
        return len(self.bands)

    def __contains__(self, key: Any) -> bool:
        return self.find(key) is not None

    def find(self, key: Any) -> Band | None:
        """The band named (or numbered) ``key``, or None."""
        if isinstance(key, Band):
            return key if key in self.bands else None
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self._by_number.get(int(key))
        if isinstance(key, str):
            found = self._by_name.get(key.strip().lower())
            if found is None and key.strip().isdigit():
                return self._by_number.get(int(key))
            return found
        return None

    def get(self, key: Any, what: str = "") -> Band:
        """The band ``key``; :class:`UnknownBandError` naming the table otherwise."""
        found = self.find(key)
        if found is None:
            of = f" {what}" if what else ""
            raise UnknownBandError(f"{self.sensor} has no band {key!r}{of}; its bands are {self.describe()}")
        return found

    def nearest(self, wavelength_um: float, kind: str | None = None) -> Band:
        """The band whose central wavelength is nearest ``wavelength_um``."""
        cands = [b for b in self.bands if b.wavelength_um is not None and (kind is None or b.kind == kind)]
        if not cands:
            raise UnknownBandError(f"{self.sensor} has no band with a wavelength{f' of kind {kind}' if kind else ''}")
        return min(cands, key=lambda b: abs(b.wavelength_um - wavelength_um))

    def describe(self) -> str:
        """``C01 (0.47 um), C02 (0.64 um), ...``."""
        return ", ".join(f"{b.name} ({b.wavelength_um:g} um)" if b.wavelength_um else b.name for b in self.bands)


@dataclass(frozen=True)
class SceneFile:
    """One file a source recognised: which source reads it, the ``platform``,
    ``product`` (e.g. ``ABI-L1b-Rad``), ``sector`` (``F``, ``C``, ``M1``,
    ``FLDK``, a model domain; ``""`` when none), scan start (naive UTC) and
    the ``bands`` it holds (band ids of the source's band table; one for ABI
    L1b, several for MCMIP or model output). ``times``: every time step of a
    file that holds several (model output with a time dimension; ``start``
    is the first), each its own scene in :func:`group_scenes`; empty for a
    file of one scan."""

    path: Path
    source: str
    platform: str
    product: str
    sector: str
    start: dt.datetime
    bands: tuple[BandId, ...]
    mode: str = ""
    times: tuple[dt.datetime, ...] = ()

    def steps(self) -> list["SceneFile"]:
        """One :class:`SceneFile` per time step of :attr:`times` (start: that
        step), or ``[self]`` for a file of one scan."""
        return [replace(self, start=t, times=()) for t in self.times] if self.times else [self]

    @property
    def scene_key(self) -> tuple:
        return (self.source, self.platform, self.product, self.sector, self.mode,
                self.start.replace(microsecond=0))


@dataclass(frozen=True, eq=False)
class Scene(Mapping):
    """The files of one scan: ``files`` maps each band id to the file that
    holds it (several bands may share one file). ``start`` is the scan start
    (naive UTC). A scene is also the mapping ``{band: path}`` itself
    (``scene[13]``, ``scene.items()``), as the library's functions took
    scenes before sources had names."""

    source: str
    platform: str
    product: str
    sector: str
    start: dt.datetime
    files: Mapping[BandId, Path]
    mode: str = ""

    def __getitem__(self, band: BandId) -> Path:
        return self.files[band]

    def __iter__(self):
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return f"Scene({self.describe()}, bands {list(self.files)})"

    def describe(self) -> str:
        """``GOES-16 Rad M1 scan 2020-01-02T14:00:00``."""
        return f"{platform_label(self.platform)} {self.product}{self.sector} scan {self.start:%Y-%m-%dT%H:%M:%S}"

    def file_names(self) -> tuple[str, ...]:
        return tuple(sorted({Path(p).name for p in self.files.values()}))

    def paths(self) -> list[Path]:
        """The distinct files, in band order."""
        seen: dict[str, Path] = {}
        for p in self.files.values():
            seen.setdefault(str(p), Path(p))
        return list(seen.values())


def _order(item) -> tuple:
    band = item[0]
    return (0, band, "") if isinstance(band, (int, np.integer)) else (1, 0, str(band))


def group_scenes(files: Iterable[SceneFile]) -> list[Scene]:
    """Scenes of files that share source, platform, product, sector, mode and
    scan start (to the second; the scene's ``start`` is its first file's,
    tenths of a second kept), sorted by scan start then platform, bands in
    order. A band held by two files of one scan keeps the first file (in
    path order). A file with several ``times`` is in one scene per time step."""
    groups: dict[tuple, dict[BandId, Path]] = {}
    first: dict[tuple, SceneFile] = {}
    steps = [step for f in files for step in f.steps()]
    for f in sorted(steps, key=lambda f: str(f.path)):
        key = f.scene_key
        first.setdefault(key, f)
        bands = groups.setdefault(key, {})
        for b in f.bands:
            bands.setdefault(b, f.path)
    scenes = [Scene(f.source, f.platform, f.product, f.sector, f.start, dict(sorted(groups[k].items(), key=_order)),
                    f.mode) for k, f in first.items()]
    return sorted(scenes, key=lambda s: (s.start, s.platform, s.product, s.sector))


class Window(ABC):
    """An open window of one scene over a domain, on one raster.

    Attributes (set by the source): ``grid`` (a grid of
    :mod:`convml_tt.data.geometry.grids`; ``grid.to_cf()`` names the grid
    mapping variable and its attributes), ``x``, ``y`` (1-D coordinates of the
    pixel centres in the grid's units, row 0 north), ``shape`` ``(ny, nx)``.
    ``flagged``: per band, how many pixels the quality policy kept although
    the producer flagged them (e.g. saturated).
    """

    grid: Any
    x: np.ndarray
    y: np.ndarray
    flagged: dict

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.y.size), int(self.x.size))

    @abstractmethod
    def read(self, band: BandId, out: np.ndarray) -> np.ndarray:
        """The band's calibrated values on the raster, written into ``out``
        (float32 ``(ny, nx)``): reflectance factor (not sun-zenith corrected),
        brightness temperature (K) or the field's units; NaN where there is
        no valid value under the quality policy."""

    @abstractmethod
    def latlon(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` of the pixel centres, degrees, float32 ``(ny, nx)``,
        NaN where the raster is off the Earth (or outside the data)."""

    def close(self) -> None:
        """Release the files."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Source(ABC):
    """A kind of input. Subclasses set ``name`` (registry name), ``sensor``
    (whose recipes apply: ``abi``, ``ahi``, ``seviri``, ``gridded``, ...) and
    ``description``, and implement :meth:`identify`, :meth:`band_table` and
    :meth:`open_window`."""

    name: ClassVar[str] = ""
    sensor: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: file name patterns (glob) this source may recognise, for listings and help
    patterns: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def identify(self, path: Path) -> SceneFile | None:
        """The :class:`SceneFile` of ``path`` if this source reads it (decided
        from the name, or a cheap header read), else None."""

    @abstractmethod
    def band_table(self, platform: str | None = None) -> BandTable:
        """The bands of this source's sensor on ``platform``."""

    def check_scene(self, scene: Scene) -> None:
        """Raise :class:`SceneMismatchError` when the files of ``scene`` do not
        belong together. The default trusts the names."""

    @abstractmethod
    def open_window(self, scene: Scene, bands: Sequence[BandId], domain: Sequence[float],
                    resolution_km: float, margin: int = 2, quality: Quality = "keep-saturated") -> Window:
        """A :class:`Window` of ``scene`` over ``domain`` (lon_min, lat_min,
        lon_max, lat_max, degrees) at ``resolution_km`` (km at the
        sub-satellite point, or the grid's own spacing where that is the
        unit), plus ``margin`` native pixels. Raises
        :class:`~convml_tt.data.sources.goes_abi.OffDiskError` (a ValueError)
        when the scene does not cover the domain."""

    def explain(self, path: Path) -> str:
        """Why :meth:`identify` does not take ``path``, as one line naming it
        and what would be right (e.g. the gridded source: a netCDF file
        without lat/lon or a CRS), or ``""`` when there is nothing more to
        say than :meth:`describe`. Used in the error for a file no source reads."""
        return ""

    def describe(self) -> str:
        return f"{self.name}: {self.description}"


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def hdf5_truncated(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(size, expected)`` in bytes when ``path`` is an HDF5 (netCDF-4) file
    shorter than the end-of-file address its superblock records (a partial
    download or a copy cut short), else None (complete, or not HDF5 with its
    superblock at the start). Reads the first 48 bytes only."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(48)
        size = os.path.getsize(path)
    except OSError:
        return None
    if len(head) < 12 or head[:8] != _HDF5_SIGNATURE:
        return None
    version = head[8]
    if version in (0, 1):
        offsets = head[13]
        at = 24 + (4 if version == 1 else 0) + 2 * offsets
    elif version in (2, 3):
        offsets = head[9]
        at = 12 + 2 * offsets
    else:
        return None
    if offsets not in (2, 4, 8) or len(head) < at + offsets:
        return None
    eof = int.from_bytes(head[at:at + offsets], "little")
    return (size, eof) if size < eof else None
