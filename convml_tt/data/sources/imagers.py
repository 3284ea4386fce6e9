"""The imagers the ``satpy`` source reads, and their files recognised by
satpy's own file-name patterns, without importing satpy.

Band tables: AHI, SEVIRI and FCI in :mod:`~convml_tt.data.sources.bands`;
ABI files read through satpy use the ``goes_abi`` source's table
(``C01`` .. ``C16``, numbers 1-16).

Files are recognised by the ``file_patterns`` of satpy's reader
configuration files (``satpy/etc/readers/{reader}.yaml``, read as YAML
here, plus any ``SATPY_CONFIG_PATH`` folders), parsed with trollsift: the
platform, sector, scan start and the bands a file holds come from its
name (:func:`match_file`). The readers and what their file names say are
:data:`IMAGERS`.
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .bands import AHI_BANDS, FCI_BANDS, SEVIRI_BANDS
from .base import BandTable
from .goes_abi.source import ABI_BANDS

__all__ = ["Imager", "IMAGERS", "FileMatch",
           "match_file", "reader_patterns", "satpy_config_dirs"]


#: FCI file types and the bands each holds (the rest are single-band ``fci_l1c_af_*`` files)
_FCI_FILE_BANDS = {"fci_l1c_fdhsi": tuple(b.name for b in FCI_BANDS),
                   "fci_l1c_hrfi": ("vis_06", "nir_22", "ir_38", "ir_105")}
#: seconds after an AHI file name's time (the 10-minute timeline) at which a
#: sector's scan nominally starts, per observation of the timeline (JMA)
_AHI_SECTOR_STEP_S = {"JP": 150, "R3": 150, "R4": 30, "R5": 30}
#: nominal repeat cycle of FCI coverages, minutes
_FCI_CYCLE_MIN = {"FD": 10.0, "AF": 10.0, "Q4": 2.5}


def _ahi_start(info: dict) -> dt.datetime:
    area, start = str(info["area"]), info["start_time"]
    step = _AHI_SECTOR_STEP_S.get(area[:2])
    if step is not None and area[2:].isdigit():
        start = start + dt.timedelta(seconds=step * (int(area[2:]) - 1))
    return start


def _fci_start(info: dict) -> dt.datetime:
    """The repeat cycle's nominal start (what satpy calls the FCI start
    time): the observation day + (cycle in day - 1) x the cycle length."""
    cycle = _FCI_CYCLE_MIN.get(str(info["coverage"]))
    if cycle is None:
        return info["start_time"]
    day = info["start_time"].replace(hour=0, minute=0, second=0, microsecond=0)
    return day + dt.timedelta(minutes=(int(info["repeat_cycle_in_day"]) - 1) * cycle)


def _fci_bands(file_type: str) -> tuple:
    if file_type in _FCI_FILE_BANDS:
        return _FCI_FILE_BANDS[file_type]
    name = file_type.removeprefix("fci_l1c_af_")
    return (name[:6] if name.startswith("vis_06") else name,)


@dataclass(frozen=True)
class Imager:
    """What the satpy source knows of one satpy reader: the ``reader`` name,
    the ``sensor`` (whose recipes apply), its band table, and functions of a
    file name's parsed fields (``info``, trollsift) and file type giving the
    platform id, sector, nominal scan start, the bands the file holds and,
    for segmented products, ``(segment, total)``. ``varying``: the name
    fields that differ between the segments of one scan. ``explicit``: the
    files are recognised only when the satpy source is asked for by name
    (``--source satpy``), because a native source reads them (ABI).
    ``threads``: whether satpy's reader may be computed in several threads
    (FCI's reads netCDF4 handles without a lock: several channels read at
    once fail with "NetCDF: HDF error" now and then, so it is computed in
    one thread)."""

    reader: str
    sensor: str
    table: BandTable
    description: str
    platform: Callable[[dict], str | None]
    sector: Callable[[dict], str]
    start: Callable[[dict], dt.datetime]
    bands: Callable[[str, dict], tuple]
    segment: Callable[[dict], tuple[int, int] | None] = lambda info: None
    varying: tuple[str, ...] = ()
    explicit: bool = False
    mode: Callable[[dict], str] = lambda info: ""
    threads: bool = True


def _platform(prefix: str, numbers: dict) -> Callable[[dict], str | None]:
    def platform(value: Any) -> str | None:
        n = numbers.get(str(value).upper())
        return None if n is None else f"{prefix}{n}"
    return platform


_AHI_PLATFORM = _platform("himawari", {"H08": 8, "H09": 9})
_SEVIRI_PLATFORM = _platform("meteosat", {"MSG1": 8, "MSG2": 9, "MSG3": 10, "MSG4": 11})
_FCI_PLATFORM = _platform("mtg-i", {str(n): n for n in range(1, 5)})
_ABI_PLATFORM = _platform("goes", {f"G{n}": n for n in range(16, 20)})

#: the satpy readers the ``satpy`` source recognises, by reader name
IMAGERS: dict[str, Imager] = {i.reader: i for i in (
    Imager("ahi_hsd", "ahi", AHI_BANDS, "Himawari-8/9 AHI, JMA Himawari Standard Data (HSD), one band per file",
           platform=lambda i: _AHI_PLATFORM(i["platform_shortname"]), sector=lambda i: str(i["area"]),
           start=_ahi_start, bands=lambda ft, i: (f"B{int(ft[-2:]):02d}",),
           segment=lambda i: (int(i["segment"]), int(i["total_segments"])), varying=("segment",)),
    Imager("seviri_l1b_nc", "seviri", SEVIRI_BANDS, "Meteosat-8..11 SEVIRI level 1.5 netCDF (EUMETSAT), all bands "
           "in one file (its HRV channel is not read by satpy's netCDF reader)",
           platform=lambda i: _SEVIRI_PLATFORM(i["satid"]), sector=lambda i: "", start=lambda i: i["start_time"],
           bands=lambda ft, i: tuple(b.name for b in SEVIRI_BANDS if b.name != "HRV")),
    Imager("fci_l1c_nc", "fci", FCI_BANDS, "MTG-I FCI level 1c netCDF (EUMETSAT): FDHSI/HRFI chunks of all "
           "bands, or African single-band files",
           platform=lambda i: _FCI_PLATFORM(i["spacecraft_id"]), sector=lambda i: str(i["coverage"]),
           start=_fci_start, bands=lambda ft, i: _fci_bands(ft),
           segment=lambda i: (int(i["count_in_repeat_cycle"]), 40) if i["coverage"] == "FD" else None,
           varying=("count_in_repeat_cycle", "start_time", "end_time", "processing_time"), threads=False),
    Imager("abi_l1b", "abi", ABI_BANDS, "GOES-16..19 ABI L1b radiances read by satpy (only with --source satpy: "
           "the goes_abi source reads these files natively)",
           platform=lambda i: _ABI_PLATFORM(i["platform_shortname"]), sector=lambda i: str(i["scene_abbr"]),
           start=lambda i: i["start_time"], bands=lambda ft, i: (int(ft[1:]),), explicit=True,
           mode=lambda i: str(i["scan_mode"])),
)}


def satpy_config_dirs() -> list[Path]:
    """Folders holding satpy's ``readers/*.yaml``: the ``SATPY_CONFIG_PATH``
    folders, then the installed package's ``etc`` (found without importing
    satpy); empty when satpy is not installed."""
    dirs = [Path(p) for p in os.environ.get("SATPY_CONFIG_PATH", "").split(os.pathsep) if p]
    try:
        spec = importlib.util.find_spec("satpy")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        dirs.append(Path(spec.origin).parent / "etc")
    return dirs


@functools.lru_cache(maxsize=None)
def reader_patterns(reader: str) -> tuple[tuple[str, str], ...]:
    """``(file_type, pattern)`` of every file name pattern of the satpy
    reader ``reader`` (its YAML ``file_types``, all configuration folders);
    empty when satpy or the reader is not installed."""
    import yaml

    class _Loader(yaml.SafeLoader):
        """Reads satpy's YAML; its ``!!python/name:`` tags stay strings."""

    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)
    found: list[tuple[str, str]] = []
    for d in satpy_config_dirs():
        path = d / "readers" / f"{reader}.yaml"
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as f:
            config = yaml.load(f, Loader=_Loader) or {}
        for file_type, spec in (config.get("file_types") or {}).items():
            for pattern in spec.get("file_patterns", ()):
                if (file_type, pattern) not in found:
                    found.append((file_type, pattern))
    return tuple(found)


@functools.lru_cache(maxsize=None)
def _compiled(reader: str) -> tuple:
    from trollsift import Parser, globify

    return tuple((file_type, globify(pattern), Parser(pattern)) for file_type, pattern in reader_patterns(reader))


@dataclass(frozen=True)
class FileMatch:
    """A file name that a satpy reader's pattern matched: the :class:`Imager`,
    satpy's file type, the parsed fields and what they say."""

    imager: Imager
    file_type: str
    info: dict
    platform: str
    sector: str
    start: dt.datetime
    bands: tuple
    segment: tuple[int, int] | None
    mode: str
    glob: str

    def is_sibling(self, other: "FileMatch") -> bool:
        """Whether ``other`` is another segment of this file's scan and file type."""
        if self.segment is None or other.imager is not self.imager or other.file_type != self.file_type:
            return False
        varying = self.imager.varying
        return ({k: v for k, v in self.info.items() if k not in varying}
                == {k: v for k, v in other.info.items() if k not in varying}
                and (other.platform, other.sector, other.start) == (self.platform, self.sector, self.start))


def _segment(imager: Imager, info: dict) -> tuple[int, int] | None:
    seg = imager.segment(info)
    return seg if seg is not None and seg[1] > 1 else None


def match_file(name: str, readers) -> FileMatch | None:
    """The :class:`FileMatch` of the file name ``name`` (no folders) under the
    first of the satpy ``readers`` (names of :data:`IMAGERS`) whose pattern
    matches it and says a known platform, or None."""
    for reader in readers:
        imager = IMAGERS[reader]
        for file_type, glob, parser in _compiled(reader):
            if not fnmatch.fnmatchcase(name, glob):
                continue
            try:
                info = parser.parse(name)
            except ValueError:
                continue
            try:
                platform = imager.platform(info)
                if platform is None:
                    continue
                return FileMatch(imager, file_type, info, platform, imager.sector(info),
                                 imager.start(info).replace(microsecond=0), imager.bands(file_type, info),
                                 _segment(imager, info), imager.mode(info), glob)
            except (KeyError, ValueError, TypeError):
                continue
    return None
