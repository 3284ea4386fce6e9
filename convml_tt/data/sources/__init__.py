"""Sources of scenes: one package or module per kind of input.

:mod:`~convml_tt.data.sources.base` defines the protocol (:class:`Source`,
:class:`Band`, :class:`BandTable`, :class:`SceneFile`, :class:`Scene`,
:class:`Window`); the registry here maps names to source classes
(:func:`register_source`, :func:`get_source`, :func:`list_sources`), and
:func:`identify` asks each registered source whether it reads a file.

Registered, in this order (:func:`identify` asks them in it): ``goes_abi``
(GOES-16..19 ABI L1b radiances and L2 CMIP/MCMIP,
:mod:`~convml_tt.data.sources.goes_abi`), ``satpy`` (geostationary imagers
through satpy: Himawari AHI, Meteosat SEVIRI, MTG FCI, and GOES ABI when
named, since ``goes_abi`` is asked first;
:mod:`~convml_tt.data.sources.satpy_reader`, which imports satpy only when it
opens a window) and ``gridded`` (model output and reanalysis, CF netCDF /
zarr on lat/lon or projected grids, :mod:`~convml_tt.data.sources.gridded`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ...registry import Registry
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

def _checked(name: str, cls: Any) -> type[Source]:
    if not (isinstance(cls, type) and issubclass(cls, Source)) or not getattr(cls, "name", ""):
        raise TypeError(f"a source must be a subclass of convml_tt.data.sources.base.Source with a name, got {cls!r}")
    if cls.name.lower() != name.lower():
        raise TypeError(f"source class {cls.__name__} is named {cls.name!r}, not {name!r}")
    return cls


#: the sources: name -> Source subclass (entry-point group ``convml_tt.sources``)
SOURCES = Registry("sources", "source", "convml_tt.data.sources.register_source(MySource)", make=_checked,
                   builtins=("convml_tt.data.sources._builtin",))
_INSTANCES: dict[str, Source] = {}


def register_source(cls: type[Source], overwrite: bool = False) -> type[Source]:
    """Register a :class:`Source` subclass under ``cls.name``; returns it
    (usable as a decorator). A taken name is refused unless ``overwrite``."""
    if not (isinstance(cls, type) and issubclass(cls, Source)) or not getattr(cls, "name", ""):
        raise TypeError(f"register_source takes a Source subclass with a name, got {cls!r}")
    SOURCES.register(cls.name, cls, overwrite=overwrite)
    _INSTANCES.pop(cls.name, None)
    return cls


def list_sources() -> list[str]:
    """The registered source names, in the order :func:`identify` asks them."""
    return SOURCES.names()


def get_source(name: str | Source) -> Source:
    """The (one per process) instance of the source ``name`` (any case); a
    ``ValueError`` listing the registered sources if there is none."""
    if isinstance(name, Source):
        return name
    key = SOURCES.canonical(name)
    cls = SOURCES.get(key)
    inst = _INSTANCES.get(key)
    if inst is None or type(inst) is not cls:
        inst = _INSTANCES[key] = cls()
    return inst


def identify(path: str | Path, sources: Iterable[str] | None = None) -> SceneFile | None:
    """The :class:`SceneFile` of ``path`` from the first source (of
    ``sources``, default all registered) that reads it, or None."""
    path = Path(path)
    for name in (list_sources() if sources is None else sources):
        found = get_source(name).identify(path)
        if found is not None:
            return found
    return None


__all__ = ["SOURCES", "register_source", "get_source", "list_sources", "identify", "Band", "BandTable", "Scene",
           "SceneFile", "Source", "Window", "group_scenes", "platform_id", "platform_label",
           "QUALITY_POLICIES", "SceneMismatchError", "SourceFileError", "UnknownBandError"]
