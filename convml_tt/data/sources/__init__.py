"""Sources of scenes: one package or module per kind of input.

:mod:`~convml_tt.data.sources.base` defines the protocol (:class:`Source`,
:class:`Band`, :class:`BandTable`, :class:`SceneFile`, :class:`Scene`,
:class:`Window`); the registry here maps names to source classes
(:func:`register_source`, :func:`get_source`, :func:`list_sources`), and
:func:`identify` asks each registered source whether it reads a file.

Registered: ``goes_abi`` (GOES-16..19 ABI L1b radiances and L2 CMIP/MCMIP,
:mod:`~convml_tt.data.sources.goes_abi`) and ``gridded`` (model output and
reanalysis, CF netCDF / zarr on lat/lon or projected grids,
:mod:`~convml_tt.data.sources.gridded`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .base import (  # noqa: F401  (the protocol is part of this package's face)
    QUALITY_POLICIES,
    Band,
    BandTable,
    Scene,
    SceneFile,
    SceneMismatchError,
    Source,
    SourceFileError,
    UnknownBandError,
    Window,
    group_scenes,
    platform_id,
    platform_label,
)

_SOURCES: dict[str, type[Source]] = {}
_INSTANCES: dict[str, Source] = {}


def register_source(cls: type[Source], overwrite: bool = False) -> type[Source]:
    """Register a :class:`Source` subclass under ``cls.name``; returns it (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Source)) or not cls.name:
        raise TypeError(f"register_source takes a Source subclass with a name, got {cls!r}")
    if cls.name in _SOURCES and not overwrite:
        raise ValueError(f"a source named {cls.name!r} is already registered; pick another name or pass "
                         f"overwrite=True")
    _SOURCES[cls.name] = cls
    _INSTANCES.pop(cls.name, None)
    return cls


def list_sources() -> list[str]:
    """The registered source names."""
    _builtins()
    return list(_SOURCES)


def get_source(name: str | Source) -> Source:
    """The (one per process) instance of the source ``name``."""
    if isinstance(name, Source):
        return name
    _builtins()
    key = str(name).strip().lower()
    if key not in _SOURCES:
        raise ValueError(f"unknown source {name!r}; registered sources: {', '.join(_SOURCES)}")
    if key not in _INSTANCES:
        _INSTANCES[key] = _SOURCES[key]()
    return _INSTANCES[key]


def identify(path: str | Path, sources: Iterable[str] | None = None) -> SceneFile | None:
    """The :class:`SceneFile` of ``path`` from the first source (of
    ``sources``, default all registered) that reads it, or None."""
    path = Path(path)
    for name in (list_sources() if sources is None else sources):
        found = get_source(name).identify(path)
        if found is not None:
            return found
    return None


def _builtins() -> None:
    if "goes_abi" not in _SOURCES:
        from .goes_abi.source import GOESABISource

        _SOURCES.setdefault("goes_abi", GOESABISource)
    if "gridded" not in _SOURCES:
        from .gridded import GriddedSource

        _SOURCES.setdefault("gridded", GriddedSource)


__all__ = ["register_source", "get_source", "list_sources", "identify", "Band", "BandTable", "Scene",
           "SceneFile", "Source", "Window", "group_scenes", "platform_id", "platform_label",
           "QUALITY_POLICIES", "SceneMismatchError", "SourceFileError", "UnknownBandError"]
