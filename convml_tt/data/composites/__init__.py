"""Domain composites: a recipe's bands over a lat/lon domain, on one raster.

- :mod:`~convml_tt.data.composites.recipes`: what a composite is made of
  (:class:`Recipe`; the registry: :func:`register_recipe`,
  :func:`get_recipe`, :func:`list_recipes`; true colour and one recipe per
  ABI band are registered);
- :mod:`~convml_tt.data.composites.scenes`: the scenes of the source cache
  (:func:`find_scenes`, :func:`scan_sources`, :class:`SkippedScene`: the
  scans left out and why) and the one satellite of a triplet dataset;
- :mod:`~convml_tt.data.composites.build`: making and caching composites
  (:func:`make_composite`, :func:`make_composites` -> :class:`Composites`,
  :func:`composite_path`, :func:`load_composite`), through the source of
  each scene (:mod:`convml_tt.data.sources`);
- :mod:`~convml_tt.data.composites.enhance`: display stretches
  (:func:`to_uint8`, :func:`to_display`);
- :mod:`~convml_tt.data.composites.reader`: tiles out of composite files
  (:class:`CompositeReader`, :func:`open_composite`, :func:`close_composites`).

The recipes and stretches need only numpy; the names of ``build`` and
``reader`` (xarray, netCDF4, pyproj) are imported on first use, so listing
the recipes (``convml_tt composite --help``) stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

from .enhance import GAMMA, to_display, to_uint8
from .recipes import (
    GREEN_FRACTIONS,
    RECIPE_VERSION,
    RECIPES,
    TRUECOLOR_BANDS,
    Recipe,
    get_recipe,
    list_recipes,
    register_recipe,
    simulated_green,
)

#: names imported from a submodule when first used
_LAZY = {
    "make_composite": "build",
    "make_composites": "build",
    "composite_path": "build",
    "load_composite": "build",
    "find_scenes": "scenes",
    "scan_sources": "scenes",
    "SkippedScene": "scenes",
    "Composites": "build",
    "as_scene": "build",
    "NoCoverageError": "build",
    "coverage_table": "scenes",
    "CompositeReader": "reader",
    "open_composite": "reader",
    "close_composites": "reader",
    "OffDiskError": "..sources.goes_abi",
}

__all__ = [
    "GAMMA",
    "to_uint8",
    "to_display",
    "GREEN_FRACTIONS",
    "RECIPE_VERSION",
    "RECIPES",
    "TRUECOLOR_BANDS",
    "Recipe",
    "get_recipe",
    "list_recipes",
    "register_recipe",
    "simulated_green",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = module if module.startswith(".") else "." + module
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
