"""Scenes of the source cache or of your own folders, the ones left out, and the platform.

A *scene* (:class:`~convml_tt.data.sources.base.Scene`) is the files of one
scan: one source, platform, product, sector, scan mode and scan start.
:func:`scan_sources` finds the files (the source cache
``{data_root}/sources/`` by default, or ``inputs``: folders in any layout,
glob patterns or files), asks the registered sources which reads each
(:func:`convml_tt.data.sources.identify`), groups them into scenes and says
which scans it could not use, and why (:class:`SkippedScene`: a band
missing, a file in another platform's cache folder, or, reported by
:func:`~convml_tt.data.composites.make_composites`, a sector that does not
cover the domain); :func:`find_scenes` gives the complete scenes only.
Scenes of different platforms never form one scene, even at the same scan
time: composites are made per platform, under ``composites/{platform}``.

A triplet dataset is made from one platform: :func:`choose_satellite`
refuses a set of scenes from several platforms unless one is chosen, and
:func:`describe_satellites` names them with their scene counts. (The names
say *satellite* because the GOES path's ``--satellite 16`` means the
platform ``goes16``; other platforms are ids such as ``himawari9``.)
"""
from __future__ import annotations

import datetime as dt
import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..sources import get_source, identify, list_sources
from ..sources.base import Scene, SceneFile, SourceFileError, group_scenes, platform_id, platform_label
from .recipes import TRUECOLOR_BANDS

__all__ = ["SkippedScene", "scan_sources", "find_scenes", "satellite_counts", "choose_satellite",
           "describe_satellites", "no_scenes_error", "input_files", "platform_number", "coverage_table"]

log = logging.getLogger(__name__)


def platform_number(platform: str) -> int | str:
    """A platform as the library's ``satellite`` value: the GOES number
    (``goes16`` -> 16), else the platform id itself."""
    if platform.startswith("goes") and platform[4:].isdigit():
        return int(platform[4:])
    return platform


def _label(satellite: int | str) -> str:
    return f"GOES-{satellite}" if isinstance(satellite, int) else platform_label(str(satellite))


@dataclass(frozen=True)
class SkippedScene:
    """A scan that was not composited.

    ``satellite`` (a GOES number, or another platform's id), ``product``,
    ``sector`` and scan ``start`` (naive UTC) name the scan; ``reason`` says
    why, ``missing`` the bands it lacks (empty for other reasons) and
    ``files`` the names of its files that were found.
    """

    satellite: int | str
    product: str
    sector: str
    start: dt.datetime
    reason: str
    missing: tuple = ()
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: the scan, why it was skipped and the files found."""
        found = ", ".join(self.files) if self.files else "none"
        return (f"skipped {_label(self.satellite)} {self.product}{self.sector} scene "
                f"{self.start:%Y-%m-%dT%H:%M:%S}: {self.reason} (files found: {found})")

    @classmethod
    def of(cls, scene: Scene, reason: str, missing: tuple = ()) -> "SkippedScene":
        return cls(platform_number(scene.platform), scene.product, scene.sector, scene.start, reason, missing,
                   scene.file_names())


_DATA_SUFFIXES = (".nc", ".nc4", ".h5", ".hdf", ".zarr", ".dat", ".bz2", ".grib", ".grb2", ".DAT")


def _walk(folder: Path) -> list[Path]:
    """The files below ``folder`` in any layout, sorted; hidden files and
    folders (``.name``: partial downloads, part files) left out; a ``.zarr``
    folder counts as one file."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            (out if d.endswith(".zarr") else keep).append(Path(dirpath) / d if d.endswith(".zarr") else d)
        dirnames[:] = keep
        out.extend(Path(dirpath) / f for f in filenames if not f.startswith("."))
    return sorted(out)


def input_files(inputs: Sequence[str | os.PathLike]) -> tuple[list[Path], list[Path]]:
    """The files named by ``inputs`` (folders, searched in any layout; glob
    patterns, ``**`` for any depth; files): ``(files, explicit)``, where
    ``explicit`` are the ones named one by one (an error if no source reads
    them). Hidden files (``.name``, e.g. partial downloads) are left out; a
    ``.zarr`` folder is one input. ``FileNotFoundError`` for an input that
    matches nothing."""
    files: list[Path] = []
    explicit: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        path = Path(text).expanduser()
        if path.is_dir() and path.suffix != ".zarr":
            files.extend(_walk(path))
        elif path.exists():
            files.append(path)
            explicit.append(path)
        elif glob.has_magic(text):
            matched = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True))
            if not matched:
                raise FileNotFoundError(f"--input {text!r} matches no file; give a folder, a file or a glob "
                                        f"pattern that matches your files (quote it so the shell does not expand it)")
            files.extend(m for m in matched if m.is_file() or m.suffix == ".zarr")
        else:
            raise FileNotFoundError(f"--input {text!r} does not exist; give a folder, a file or a glob pattern "
                                    f"of your files")
    return files, explicit


def _identified(data_root, inputs, source: str | None, sensors: set[str] | None) -> tuple[list[SceneFile], Path]:
    """The source files of the cache (``{data_root}/sources``) or of
    ``inputs``, as :class:`SceneFile` (files no source reads are left out:
    an error when named one by one, a warning for ``inputs`` folders)."""
    names = [source] if source else [n for n in list_sources()
                                     if sensors is None or _sensors(n) & sensors or "*" in _sensors(n)]
    if source:
        get_source(source)  # an unknown source lists the registered ones
    if inputs is None:
        root = Path(data_root) / "sources"
        paths = _walk(root) if root.is_dir() else []
        explicit: list[Path] = []
    else:
        root = Path(data_root) / "sources"
        paths, explicit = input_files(inputs)
    found: list[SceneFile] = []
    unknown: list[Path] = []
    for p in paths:
        f = identify(p, names)
        if f is None:
            if p in explicit:
                raise SourceFileError(_unrecognised(p, source))
            unknown.append(p)
        else:
            found.append(f)
    if inputs is not None:
        data = [p for p in unknown if p.suffix in _DATA_SUFFIXES and not p.name.startswith("convml_tt-")]
        if data and not found:
            raise SourceFileError(_unrecognised(data[0], source, more=len(data) - 1))
        if data:
            log.warning("%d file(s) of %s are read by no source%s and left out, e.g. %s",
                        len(data), ", ".join(map(str, inputs)), f" ({source})" if source else "", data[0].name)
    return found, root


def _sensors(name: str) -> set[str]:
    src = get_source(name)
    return set(getattr(src, "sensors", (src.sensor,)))


def _explained(path: Path, names: Iterable[str]) -> str:
    """What the first of the sources ``names`` that says why it does not read
    ``path`` (:meth:`Source.explain <convml_tt.data.sources.base.Source.explain>`,
    e.g. the gridded source: no lat/lon or CRS) says, without the path, in
    brackets; ``""`` when none does."""
    for n in names:
        text = get_source(n).explain(path)
        if text:
            return f" ({n}: {text.removeprefix(f'{path}: ')})"
    return ""


def _unrecognised(path: Path, source: str | None, more: int = 0) -> str:
    also = f" (and {more} more file(s))" if more else ""
    if source:
        return (f"{path}{also}: the source {source!r} does not read this file{_explained(path, [source])}; "
                f"{get_source(source).describe()}; leave out --source to let any registered source "
                f"({', '.join(list_sources())}) recognise it")
    return (f"{path}{also}: no registered source recognises this file{_explained(path, list_sources())}; the "
            f"sources are " + "; ".join(get_source(n).describe() for n in list_sources())
            + " (name one with --source, or add one: docs/architecture.md, 'Where to extend')")


def scan_sources(
    data_root: str | os.PathLike,
    bands: Iterable = TRUECOLOR_BANDS,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    satellite: int | str | None = None,
    product: str | None = None,
    sector: str | None = None,
    *,
    inputs: Sequence[str | os.PathLike] | None = None,
    source: str | None = None,
    sensor: str | None = None,
) -> tuple[list[Scene], list[SkippedScene]]:
    """The scenes with scan start in ``[start, end]`` of the source cache
    (``{data_root}/sources``, any layout below it) or of ``inputs`` (folders,
    glob patterns or files of your own, in any layout).

    Returns ``(scenes, skipped)``: the :class:`~convml_tt.data.sources.base.Scene`
    that hold every band of ``bands`` (band ids of the source's band table,
    e.g. ABI numbers), sorted by scan start then platform, and the scans
    (sorted alike) that hold some but not all of them (the missing bands
    named), or whose file lies in another platform's cache folder
    (``sources/goes16/`` holding a GOES-17 file). ``satellite`` (a platform:
    16-19 or an id), ``product`` and ``sector`` filter; ``source`` names the
    one source to read the files with; ``sensor``, the sensor whose band ids
    ``bands`` are (only sources of that sensor are asked). Works offline.
    """
    want = tuple(dict.fromkeys(bands))
    plat = platform_id(satellite) if satellite is not None else None
    files, root = _identified(data_root, inputs, source, None if sensor is None else {sensor})
    keep: list[SceneFile] = []
    skipped: list[SkippedScene] = []
    for f in (step for f in files for step in f.steps()):  # a file of several time steps: each its own scan
        if not set(f.bands) & set(want):
            continue
        if plat is not None and f.platform != plat:
            continue
        if product is not None and f.product.lower() != str(product).lower():
            continue
        if sector is not None and f.sector.lower() != str(sector).lower():
            continue
        if (start is not None and f.start < start) or (end is not None and f.start > end):
            continue
        folder = _cache_folder(f.path, root) if inputs is None else None
        if folder is not None and folder != f.platform:
            band = ", ".join(map(str, f.bands))
            skipped.append(SkippedScene(
                platform_number(f.platform), f.product, f.sector, f.start,
                f"band {band} file is in {folder}/, not {f.platform}/, so it is left out; move it to "
                f"{root / f.platform}", (), (f.path.name,)))
            continue
        keep.append(f)
    scenes = []
    for s in group_scenes(keep):
        missing = tuple(b for b in want if b not in s.files)
        if not missing:
            scenes.append(s)
            continue
        what = "band" if len(missing) == 1 else "bands"
        skipped.append(SkippedScene.of(s, f"{what} {', '.join(map(str, missing))} missing (needs bands "
                                          f"{', '.join(map(str, want))})", missing))
    order = lambda s: (s.start, str(s.satellite))  # noqa: E731
    return scenes, sorted(skipped, key=order)


def _cache_folder(path: Path, root: Path) -> str | None:
    """The platform folder (``goes16``) a cache file lies in, or None."""
    try:
        top = path.relative_to(root).parts[0]
    except (ValueError, IndexError):
        return None
    if len(path.relative_to(root).parts) < 2:
        return None
    try:
        return platform_id(top)
    except ValueError:
        return None


def find_scenes(
    data_root: str | os.PathLike,
    bands: Iterable = TRUECOLOR_BANDS,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    satellite: int | str | None = None,
    product: str | None = None,
    sector: str | None = None,
    **kwargs: Any,
) -> list[Scene]:
    """The complete scenes of :func:`scan_sources` (same arguments): every
    band of ``bands``, scan start in ``[start, end]``, sorted by scan start
    then platform. Works offline; nothing is downloaded."""
    return scan_sources(data_root, bands, start, end, satellite, product, sector, **kwargs)[0]


def satellite_counts(scenes: Iterable[Scene]) -> dict[int | str, int]:
    """``{satellite: number of scenes}`` (GOES numbers, or platform ids) of scenes."""
    counts: dict[int | str, int] = {}
    for s in scenes:
        sat = platform_number(s.platform)
        counts[sat] = counts.get(sat, 0) + 1
    return counts


def no_scenes_error(data_root: str | os.PathLike, bands: Iterable, start: dt.datetime | None,
                    end: dt.datetime | None, satellite: int | str | None,
                    skipped: list[SkippedScene], **where: Any) -> FileNotFoundError:
    """The error for a request that finds no complete scene of ``bands``:
    what was searched, a scan that lacks bands and, under a ``satellite``
    filter, the platforms there are. ``where``: the ``inputs``, ``source``,
    ``sensor`` (and ``product``, ``sector``) of the search."""
    bands = list(dict.fromkeys(bands))
    inputs = where.get("inputs")
    when = f" between {start} and {end}" if start or end else ""
    of = f" of {_label(satellite)}" if satellite is not None else ""
    filters = "".join(f" {k} {where[k]}" for k in ("product", "sector") if where.get(k))
    place = Path(data_root) / "sources" if inputs is None else ", ".join(map(str, inputs))
    cached = "cached " if inputs is None else ""
    msg = f"no {cached}scenes{of}{filters} with bands {bands} in {place}{when}"
    search = {k: where[k] for k in ("inputs", "source", "sensor") if where.get(k) is not None}
    if satellite is not None and not (where.get("product") or where.get("sector")):
        counts = satellite_counts(scan_sources(data_root, bands, start, end, **search)[0])
        if counts:
            fetch = f"fetch {_label(satellite)} scenes with `convml_tt fetch --satellite {satellite}`" \
                if isinstance(satellite, int) else f"add {_label(satellite)} scenes"
            return FileNotFoundError(f"{msg}; the {'cache' if inputs is None else 'files given'} has scenes{when} of "
                                     f"{describe_satellites(counts)}: choose one of those with --satellite "
                                     f"(satellite=N), or {fetch}")
    if satellite is not None or where.get("product") or where.get("sector"):
        others = scan_sources(data_root, bands, start, end, **search)[0]
        if others:
            seen = sorted({f"{_label(platform_number(s.platform))} {s.product}{s.sector}" for s in others})
            return FileNotFoundError(f"{msg}; there are scenes{when} of {', '.join(seen)}: choose one of "
                                     f"those with --satellite / --product / --sector, or fetch the scenes you "
                                     f"asked for with `convml_tt fetch`")
    if skipped:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        msg += f"; {skipped[0].describe()}{more}"
    else:
        # no file of any band asked for: name the scans there are, with the files found
        others = []
        for s in scan_sources(data_root, range(1, 17), start, end, satellite, **search)[1]:
            if s.missing:
                others.append(s)
        if others:
            o = others[0]
            more = f" (and {len(others) - 1} more scan(s))" if len(others) > 1 else ""
            what = "band" if len(bands) == 1 else "bands"
            msg += (f"; the {cached}{_label(o.satellite)} {o.product}{o.sector} scan {o.start:%Y-%m-%dT%H:%M:%S} "
                    f"lacks {what} {', '.join(map(str, bands))} (files found: {', '.join(o.files)}){more}")
        else:  # e.g. gridded output: the variables its files hold
            sensor = where.get("sensor")
            found = _identified(data_root, inputs, where.get("source"), {sensor} if sensor else None)[0]
            held = list(dict.fromkeys(str(b) for f in found for b in f.bands))
            if held:
                msg += (f"; the files found hold {', '.join(held[:20])}{' ...' if len(held) > 20 else ''} "
                        f"({found[0].path.name}{' ...' if len(found) > 1 else ''})")
    remedy = ("fetch some with `convml_tt fetch` (or make synthetic ones with `convml_tt synthetic`)"
              if inputs is None else "check the folder and the recipe's bands (convml_tt composite --list-recipes)")
    return FileNotFoundError(f"{msg}; {remedy}")


def describe_satellites(counts: Mapping[int | str, int]) -> str:
    """``"GOES-16 (3 scenes), GOES-19 (1 scene)"``."""
    return ", ".join(f"{_label(s)} ({n} scene{'' if n == 1 else 's'})"
                     for s, n in sorted(counts.items(), key=lambda kv: str(kv[0])))


def choose_satellite(counts: Mapping[int | str, int], satellite: int | str | None, what: str) -> int | str | None:
    """The one platform of scenes counted as ``{satellite: number}``.

    ``satellite`` None: the only platform there is (None when there are no
    scenes), and a ``ValueError`` listing them when there are several; a
    platform given must be among them. ``what`` names the scenes in errors,
    e.g. ``"the cached scenes between A and B"``.
    """
    counts = {s: int(n) for s, n in counts.items() if n}
    if satellite is not None:
        if counts and satellite not in counts:
            raise ValueError(f"{what} include no scene of {_label(satellite)}; there are scenes of "
                             f"{describe_satellites(counts)}: choose one of those with --satellite "
                             f"(satellite=N), or fetch {_label(satellite)} scenes")
        return satellite
    if len(counts) > 1:
        raise ValueError(f"{what} come from several satellites: {describe_satellites(counts)}; a triplet "
                         f"dataset is made from one satellite: choose one with --satellite N "
                         f"(satellite=N, one of {', '.join(map(str, sorted(counts, key=str)))})")
    return next(iter(counts), None)


def coverage_table(made: Sequence[Any], skipped: Sequence[SkippedScene]) -> str:
    """A plain-text table of the scenes used and left out: scan, status, reason."""
    rows = [("scene", "status", "reason")]
    for p in made:
        rows.append((Path(p).stem, "composited", ""))
    for s in skipped:
        rows.append((f"{_label(s.satellite)} {s.product}{s.sector} {s.start:%Y-%m-%dT%H:%M:%S}", "skipped",
                     s.reason))
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{a:<{width[0]}}  {b:<{width[1]}}  {c}".rstrip() for a, b, c in rows)
