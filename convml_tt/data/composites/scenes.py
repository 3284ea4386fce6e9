"""Scenes in the local source cache, the ones left out, and the satellite.

A *scene* is the band files of one scan: one satellite, product, sector,
scan mode and scan start. :func:`scan_sources` groups the cached files
(``{data_root}/sources/goesNN/...``) into scenes and says which scans it
could not use, and why (:class:`SkippedScene`: a band missing, or a file in
another satellite's folder); :func:`find_scenes` gives the complete scenes
only. Bands of different satellites never form one scene, even at the same
scan time: composites are made per satellite, under ``composites/goesNN``.

A triplet dataset is made from one satellite: :func:`choose_satellite`
refuses a set of scenes from several satellites unless one is chosen, and
:func:`describe_satellites` names them with their scene counts.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ..sources.goes_abi import ABIKey
from .recipes import TRUECOLOR_BANDS

__all__ = ["SkippedScene", "scan_sources", "find_scenes", "satellite_counts", "choose_satellite",
           "describe_satellites", "no_scenes_error"]


@dataclass(frozen=True)
class SkippedScene:
    """A scan of the cache that was not composited.

    ``satellite``, ``product``, ``sector`` and scan ``start`` (naive UTC)
    name the scan; ``reason`` says why, ``missing`` the bands it lacks
    (empty for other reasons) and ``files`` the names of its files that were
    found.
    """

    satellite: int
    product: str
    sector: str
    start: dt.datetime
    reason: str
    missing: tuple[int, ...] = ()
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: the scan, why it was skipped and the files found."""
        found = ", ".join(self.files) if self.files else "none"
        return (f"skipped GOES-{self.satellite} {self.product}{self.sector} scene "
                f"{self.start:%Y-%m-%dT%H:%M:%S}: {self.reason} (files found: {found})")


def _folder_satellite(path: Path, root: Path) -> int | None:
    """The satellite number of the ``goesNN`` folder ``path`` lies in."""
    top = path.relative_to(root).parts[0]
    try:
        return int(top[4:])
    except ValueError:
        return None


def scan_sources(
    data_root: str | os.PathLike,
    bands: Iterable[int] = TRUECOLOR_BANDS,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    satellite: int | None = None,
    product: str | None = None,
    sector: str | None = None,
) -> tuple[list[dict[int, Path]], list[SkippedScene]]:
    """The scenes of the source cache with scan start in ``[start, end]``.

    Returns ``(scenes, skipped)``: ``scenes`` as :func:`find_scenes` gives
    them, ``skipped`` the scans (sorted like the scenes) that hold some but
    not all of ``bands`` (the missing bands named), and files whose name says
    another satellite than the ``goesNN`` folder they are in. Works offline.
    """
    want = tuple(sorted(set(int(b) for b in bands)))
    root = Path(data_root) / "sources"
    groups: dict[tuple, dict[int, Path]] = {}
    skipped: list[tuple[tuple, SkippedScene]] = []
    for path in sorted(root.glob("goes*/**/OR_ABI-*.nc")):
        try:
            key = ABIKey.parse(path.name)
        except ValueError:
            continue
        if key.band not in want:
            continue
        if satellite is not None and key.satellite != satellite:
            continue
        if product is not None and key.product != product:
            continue
        if sector is not None and key.sector != sector:
            continue
        if (start is not None and key.start < start) or (end is not None and key.start > end):
            continue
        gid = (key.start.replace(microsecond=0), key.satellite, key.product, key.sector, key.mode)
        folder = _folder_satellite(path, root)
        if folder is not None and folder != key.satellite:
            skipped.append((gid, SkippedScene(
                key.satellite, key.product, key.sector, key.start,
                f"band {key.band} file is in {path.relative_to(root).parts[0]}/, not goes{key.satellite}/, "
                f"so it is left out; move it to {root / f'goes{key.satellite}'}", (), (path.name,))))
            continue
        groups.setdefault(gid, {})[key.band] = path
    scenes = []
    for gid, files in groups.items():
        missing = tuple(b for b in want if b not in files)
        if not missing:
            scenes.append((gid, dict(sorted(files.items()))))
            continue
        first = ABIKey.parse(files[min(files)].name)
        what = "band" if len(missing) == 1 else "bands"
        skipped.append((gid, SkippedScene(
            first.satellite, first.product, first.sector, first.start,
            f"{what} {', '.join(map(str, missing))} missing (needs bands {', '.join(map(str, want))})",
            missing, tuple(files[b].name for b in sorted(files)))))
    order = lambda item: (item[0][0], item[0][1])  # noqa: E731  (scan start, satellite)
    return ([files for _, files in sorted(scenes, key=order)],
            [s for _, s in sorted(skipped, key=order)])


def find_scenes(
    data_root: str | os.PathLike,
    bands: Iterable[int] = TRUECOLOR_BANDS,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    satellite: int | None = None,
    product: str | None = None,
    sector: str | None = None,
) -> list[dict[int, Path]]:
    """Scenes in the local source cache ``{data_root}/sources/goes*/`` that
    have every band of ``bands``, scan start in ``[start, end]``.

    Returns a list (sorted by scan start, satellite) of ``{band: path}``;
    files are grouped by satellite, product, sector, scan mode and scan start
    time, so bands of different satellites are never one scene. The scans
    left out are what :func:`scan_sources` reports. Works offline; nothing
    is downloaded.
    """
    return scan_sources(data_root, bands, start, end, satellite, product, sector)[0]


def satellite_counts(scenes: Iterable[Mapping[int, Path]]) -> dict[int, int]:
    """``{satellite: number of scenes}`` of scenes as :func:`find_scenes` gives them."""
    counts: dict[int, int] = {}
    for files in scenes:
        sat = ABIKey.parse(Path(files[min(files)]).name).satellite
        counts[sat] = counts.get(sat, 0) + 1
    return counts


def no_scenes_error(data_root: str | os.PathLike, bands: Iterable[int], start: dt.datetime | None,
                    end: dt.datetime | None, satellite: int | None,
                    skipped: list[SkippedScene]) -> FileNotFoundError:
    """The error for a request that finds no complete scene of ``bands``:
    what was searched, a scan that lacks bands and, under a ``satellite``
    filter, the satellites the cache has."""
    bands = sorted(int(b) for b in bands)
    when = f" between {start} and {end}" if start or end else ""
    of = f" of GOES-{satellite}" if satellite is not None else ""
    msg = f"no cached scenes{of} with bands {bands} in {Path(data_root) / 'sources'}{when}"
    if satellite is not None:
        counts = satellite_counts(scan_sources(data_root, bands, start, end)[0])
        if counts:
            return FileNotFoundError(f"{msg}; the cache has scenes{when} of {describe_satellites(counts)}: "
                                     f"choose one of those with --satellite (satellite=N), or fetch "
                                     f"GOES-{satellite} scenes with `convml_tt fetch --satellite {satellite}`")
    if skipped:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        msg += f"; {skipped[0].describe()}{more}"
    else:
        # no file of any band asked for: name the scans there are, with the files found
        others = [s for s in scan_sources(data_root, range(1, 17), start, end, satellite)[1]
                  if s.missing]
        if others:
            o = others[0]
            more = f" (and {len(others) - 1} more scan(s))" if len(others) > 1 else ""
            what = "band" if len(bands) == 1 else "bands"
            msg += (f"; the cached GOES-{o.satellite} {o.product}{o.sector} scan {o.start:%Y-%m-%dT%H:%M:%S} "
                    f"lacks {what} {', '.join(map(str, bands))} (files found: {', '.join(o.files)}){more}")
    return FileNotFoundError(
        msg + "; fetch some with `convml_tt fetch` (or make synthetic ones with `convml_tt synthetic`)")


def describe_satellites(counts: Mapping[int, int]) -> str:
    """``"GOES-16 (3 scenes), GOES-19 (1 scene)"``."""
    return ", ".join(f"GOES-{s} ({n} scene{'' if n == 1 else 's'})" for s, n in sorted(counts.items()))


def choose_satellite(counts: Mapping[int, int], satellite: int | None, what: str) -> int | None:
    """The one satellite of scenes counted as ``{satellite: number}``.

    ``satellite`` None: the only satellite there is (None when there are no
    scenes), and a ``ValueError`` listing them when there are several; a
    satellite given must be among them. ``what`` names the scenes in errors,
    e.g. ``"the cached scenes between A and B"``.
    """
    counts = {int(s): int(n) for s, n in counts.items() if n}
    if satellite is not None:
        if counts and satellite not in counts:
            raise ValueError(f"{what} include no scene of GOES-{satellite}; there are scenes of "
                             f"{describe_satellites(counts)}: choose one of those with --satellite "
                             f"(satellite=N), or fetch GOES-{satellite} scenes")
        return satellite
    if len(counts) > 1:
        raise ValueError(f"{what} come from several satellites: {describe_satellites(counts)}; a triplet "
                         f"dataset is made from one satellite: choose one with --satellite N "
                         f"(satellite=N, one of {', '.join(map(str, sorted(counts)))})")
    return next(iter(counts), None)
