"""Co-located fields and per-tile physical values of triplet tiles.

A triplet dataset made with ``fields=("C13",)`` (``convml_tt triplets
--fields C13``) samples other recipes of the *same scan* on the same tile
grid: for every composite the tiles are cut from, a composite of each field
recipe is made from the same scan's band files (same domain and resolution,
:func:`field_composites`), each tile is cut from it with the same
:class:`~convml_tt.data.tiles.Tile` geometry and interpolation, and its
statistics over the tile (:data:`FIELD_STATISTICS`: minimum, mean, maximum,
in the recipe's units, e.g. K for brightness temperature) are stored in the
tile's ``_meta.yaml`` under ``fields:`` as ``{C13_min, C13_mean, C13_max}``
(:func:`field_statistics`); the dataset's ``meta.yaml`` names their units
(:func:`fields_meta`).

The organisation indices of each tile (:func:`tile_physical`, from
:func:`convml_tt.data.organisation.tile_indices` of the tile's physical
values, before the display stretch) are stored beside them under
``indices:``.

A scan is identified by (satellite, sector, scan start to the second): the
band files of one scan have different names (each band its own file), so a
field composite is found from the main composite's scan, not its files.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .composites.recipes import Recipe, get_recipe
from .organisation import FLAG_MEANINGS
from .sources import get_source, identify, list_sources
from .sources.base import platform_label

__all__ = [
    "FIELD_STATISTICS",
    "INDEX_ATTRS",
    "field_statistics",
    "field_attrs",
    "fields_meta",
    "statistic_attrs",
    "scan_of",
    "field_composites",
    "tile_physical",
    "composite_recipe",
    "cell_indices",
    "physical_indices",
    "surface_indices",
    "rounded",
]

#: statistics of a co-located field over a tile, in this order
FIELD_STATISTICS = ("min", "mean", "max")

#: CF attributes of the organisation indices (:func:`convml_tt.data.organisation.indices`)
INDEX_ATTRS: dict[str, dict[str, Any]] = {
    "cloud_fraction": {"units": "1", "long_name": "cloud fraction of the tile's cloud mask"},
    "iorg": {"units": "1", "long_name": "organisation index I_org (Tompkins and Semie 2017)"},
    "scai": {"units": "1", "long_name": "simple convective aggregation index SCAI (Tobin et al. 2012)"},
    "cop": {"units": "1", "long_name": "convective organisation potential COP (White et al. 2018)"},
    "n_objects": {"units": "1", "long_name": "number of cloud objects in the tile"},
    "mean_object_size_m": {"units": "m", "long_name": "cloud object size: square root of the mean object area"},
    "max_object_size_m": {"units": "m", "long_name": "largest cloud object size: square root of its area"},
    "open_sky": {"units": "1", "long_name": "open-sky parameter (largest open-sky rectangle, Antonissen 2019)"},
    "mean_object_elongation": {"units": "1", "long_name": "area-weighted mean axis ratio of the cloud objects' "
                               "second-moment ellipses (1: round)"},
    "fractal_dimension": {"units": "1", "long_name": "box-counting dimension of the cloud edges"},
    "orientation": {"units": "1", "long_name": "directional alignment of the cloud mask (0: none, 1: one "
                    "direction; cloudmetrics orientation)"},
    "spectral_length_m": {"units": "m", "long_name": "spectral length scale of the cloud signal (2 pi / mean "
                          "wavenumber of its radial power spectrum)"},
    "spectral_slope": {"units": "1", "long_name": "power-law exponent of the radial power spectrum of the "
                       "cloud signal"},
    "woi1": {"units": "1", "long_name": "wavelet organisation index WOI1: share of wavelet energy at large "
             "scales (Brune et al. 2018)"},
    "woi2": {"units": "1", "long_name": "wavelet organisation index WOI2: wavelet energy per cloudy pixel, in "
             "squared units of the cloud signal (Brune et al. 2018)"},
    "woi3": {"units": "1", "long_name": "wavelet organisation index WOI3: directional anisotropy of the wavelet "
             "energy (Brune et al. 2018)"},
    "index_flags": {"long_name": "why organisation indices of the tile are NaN (bits)",
                    "flag_masks": [1 << k for k in range(len(FLAG_MEANINGS))],
                    "flag_meanings": " ".join(FLAG_MEANINGS)},
    "land_fraction": {"units": "1", "long_name": "share of the tile on land (GLOBE 1 km land/sea mask)"},
    "surface": {"long_name": "surface type of the tile", "flag_values": [0, 1, 2],
                "flag_meanings": "ocean land coast"},
    "cloud_threshold": {"long_name": "cloud-mask threshold used for the tile, in the units of the recipe's "
                        "mask plane"},
}


def rounded(v: Any) -> Any:
    """A value as stored in YAML: ints as ints, floats to 7 significant
    digits (float32 precision), None/NaN as None."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    if not np.isfinite(v):
        return None
    return float(f"{v:.7g}")


def field_statistics(name: str, values: np.ndarray | None) -> dict[str, float | None]:
    """``{f"{name}_min", f"{name}_mean", f"{name}_max"}`` of a field's values
    over one tile (``(n, n)`` or ``(n, n, 1)``, the field's units; NaN: no
    data, left out). None values where the tile has no valid pixel (or
    ``values`` is None: the tile could not be cut from the field's composite)."""
    out: dict[str, float | None] = {f"{name}_{s}": None for s in FIELD_STATISTICS}
    if values is None:
        return out
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size:
        out[f"{name}_min"] = rounded(v.min())
        out[f"{name}_mean"] = rounded(v.mean())
        out[f"{name}_max"] = rounded(v.max())
    return out


def field_attrs(name: str) -> dict[str, str]:
    """``{units, long_name}`` of a field recipe (as the dataset's ``meta.yaml`` holds them)."""
    r = get_recipe(name)
    return {"units": r.units, "long_name": r.long_name or r.description or r.name}


def fields_meta(fields: Iterable[str], units: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """``{field: {units, long_name}}`` for the dataset's ``meta.yaml``;
    ``units``: ``{field: units}`` of the field composites, for recipes that
    leave their units to the source files (field recipes of gridded output)."""
    out = {get_recipe(f).name: field_attrs(f) for f in fields}
    for name, attrs in out.items():
        if not attrs["units"] and (units or {}).get(name):
            attrs["units"] = str(units[name])
    return out


def statistic_attrs(key: str, fields: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str] | None:
    """CF attributes of a per-tile value: an organisation index
    (:data:`INDEX_ATTRS`) or a field statistic ``{field}_{min,mean,max}``
    (units from ``fields``, the dataset's ``fields:`` metadata, else the
    recipe registry); None for other keys."""
    if key in INDEX_ATTRS:
        return dict(INDEX_ATTRS[key])
    name, _, stat = key.rpartition("_")
    if stat in ("mean", "std") and name:
        env = _env_attrs(name, stat)
        if env is not None:
            return env
    if stat not in FIELD_STATISTICS or not name:
        return None
    meta = dict((fields or {}).get(name) or {})
    if not meta:
        try:
            meta = field_attrs(name)
        except ValueError:
            return None
    what = {"min": "minimum", "mean": "mean", "max": "maximum"}[stat]
    return {"units": str(meta.get("units", "1")),
            "long_name": f"{what} over the tile of {meta.get('long_name', name)}"}


def _env_attrs(name: str, stat: str) -> dict[str, str] | None:
    """CF attributes of an environment field's statistic over a tile
    (:mod:`convml_tt.data.fields`), None when ``name`` is not a registered field."""
    from .fields.base import FIELDS

    if name not in FIELDS:
        return None
    f = FIELDS.get(name)
    what = {"mean": "mean", "std": "standard deviation"}[stat]
    return {"units": f.units, "long_name": f"{what} over the tile of {f.long_name or f.name}"}


# -----------------------------------------------------------------------------
# scans and field composites
# -----------------------------------------------------------------------------
def scan_of(source_paths: Sequence[str | os.PathLike]) -> tuple[str, str, str]:
    """``(platform, sector, scan start "YYYY-mm-ddTHH:MM:SS")`` of a scan's
    files (recognised by a registered source; ``ValueError`` otherwise)."""
    f = identify(Path(source_paths[0]))
    if f is None:
        raise ValueError(f"{source_paths[0]}: no registered source recognises this file, so its scan is unknown")
    return f.platform, f.sector, f"{f.start:%Y-%m-%dT%H:%M:%S}"


def _scan_index(folder: Path, sources: Sequence[str] | None = None) -> dict[tuple[str, str, str], dict]:
    """``{scan: {band: file}}`` of the source files under ``folder`` (any
    layout; see :func:`scan_of`) that ``sources`` (default: all registered)
    read; L1b radiance files are preferred to L2 products of the same band."""
    from .composites.scenes import _walk

    index: dict[tuple[str, str, str], dict] = {}
    if not folder.is_dir():
        return index
    for p in _walk(folder):
        f = identify(p, sources)
        for step in [] if f is None else f.steps():  # gridded output: one scan per time step
            found = index.setdefault((step.platform, step.sector, f"{step.start:%Y-%m-%dT%H:%M:%S}"), {})
            for band in step.bands:
                if band not in found or (step.product == "Rad" and "-Rad" not in found[band].name):
                    found[band] = p
    return index


def field_composites(
    data_root: str | os.PathLike,
    composites: Sequence[str | os.PathLike],
    fields: Sequence[str],
    domain: Sequence[float],
    resolution_km: float = 1.0,
    progress: bool = True,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    client: Any = None,
) -> dict[str, dict[str, str]]:
    """The composite of every field recipe for the scan of every composite.

    Parameters
    ----------
    data_root:
        the source cache root; the field's band files of a scan are looked
        for under ``{data_root}/sources`` and beside the composite's own
        source files, and its composite is written (or reused) at
        :func:`~convml_tt.data.composites.composite_path`.
    composites:
        the composites the tiles are cut from.
    fields:
        field recipe names (single-plane recipes, e.g. ``"C13"``).
    domain, resolution_km:
        those of the composites (degrees; km).
    workers, scheduler, client:
        where the field composites not yet made are made
        (:mod:`convml_tt.compute`: this process, a local pool or a dask
        cluster), as for :func:`~convml_tt.data.composites.make_composites`.

    Returns
    -------
    ``{str(composite): {field: field composite path}}``.

    Raises
    ------
    ValueError
        before any field composite is made, when a scan lacks a band of a
        field (naming the band, the scan and the files found for it).
    """
    from ..compute import run_tasks
    from ..config import CompositeSettings
    from .composites.build import _composite_setup, _composite_task, _reusable, as_scene
    from .composites.reader import CompositeReader

    recipes: list[Recipe] = [get_recipe(f) for f in fields]
    if not recipes:
        return {}
    sources = Path(data_root) / "sources"
    # only the sources of the fields' sensors are asked (no header reads of other files)
    readers = [n for n in list_sources()
               if {r.sensor for r in recipes} & set(getattr(get_source(n), "sensors", (get_source(n).sensor,)))]
    indexed: dict[Path, dict] = {}  # folder -> its scan index, each folder listed once
    plan: list[tuple[str, Recipe, dict[int, Path], dt.datetime]] = []
    for comp in composites:
        c = CompositeReader(comp)
        try:
            src = [p for p in c.source_paths if p]
            start = dt.datetime.fromisoformat(c.time.rstrip("Z"))
        finally:
            c.close()
        # the composite's own scan start: a file of gridded output holds several
        scan = (*scan_of(src)[:2], f"{start:%Y-%m-%dT%H:%M:%S}")
        files: dict[int, Path] = {}
        for folder in [sources] + sorted({Path(p).parent for p in src}):
            if folder not in indexed:
                indexed[folder] = _scan_index(folder, readers)
            for band, path in indexed[folder].get(scan, {}).items():
                files.setdefault(band, path)
        for r in recipes:
            missing = [b for b in r.bands if b not in files]
            if missing:
                found = ", ".join(p.name for _, p in sorted(files.items())) or "none"
                raise ValueError(
                    f"field {r.name!r} needs {r.sensor.upper()} band {', '.join(map(str, missing))} but the scan of "
                    f"{platform_label(scan[0])} {scan[1]} at {scan[2]} (composite {Path(comp).name}) has no such file "
                    f"under {sources} or beside its source files; files found for that scan: {found}; fetch "
                    f"the band (convml_tt fetch --bands ...) or drop the field")
            plan.append((str(comp), r, {b: files[b] for b in r.bands}, start))
    out: dict[str, dict[str, str]] = {str(c): {} for c in composites}
    # one composites task per field and scan (the tasks of make_composites), the ones not yet
    # made run where the caller says
    for r in recipes:
        config = {"data_root": str(data_root), "recipe": r, "overwrite": False, "skip_outside": False,
                  "settings": CompositeSettings(domain=tuple(domain), recipe=r.name, resolution_km=resolution_km)}
        mine = [(comp, as_scene(files, start=t)) for comp, rr, files, t in plan if rr is r]
        got = [_reusable(config, files) for _, files in mine]
        todo = [k for k, g in enumerate(got) if g is None]
        made = run_tasks(_composite_task, [mine[k][1] for k in todo], setup=_composite_setup, config=config,
                         workers=workers, scheduler=scheduler, client=client, progress=progress,
                         desc=f"{r.name} field composites", unit="composite", initial=len(mine) - len(todo))
        for k, path in zip(todo, made):
            got[k] = path
        for (comp, _), path in zip(mine, got):
            out[comp][r.name] = str(path)
    return out


# -----------------------------------------------------------------------------
# one tile
# -----------------------------------------------------------------------------
def tile_physical(
    image: np.ndarray,
    recipe: Recipe | None,
    pixel_size_m: float,
    tile: Any = None,
    field_paths: Mapping[str, str] | None = None,
    method: str = "bilinear",
    thresholds: Mapping[str, Any] | None = None,
    wavelet: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(indices, fields)`` of one tile.

    ``image``: the tile's physical values ``(n, n)`` or ``(n, n, C)``
    (composite units, before the display stretch); ``recipe``: the recipe
    of its composite (no indices when None or without a cloud mask);
    ``pixel_size_m``: tile pixel side, m; ``tile`` and ``field_paths``
    (``{field: composite path}``): where the co-located fields are cut
    (:meth:`~convml_tt.data.composites.reader.CompositeReader.tile`, same
    geometry and ``method``). Values are rounded for YAML (:func:`rounded`).
    ``thresholds``: the scene's cloud thresholds
    (:func:`convml_tt.data.cloud_threshold.scene_threshold`; None: the
    recipe's fixed one); ``wavelet``: add the wavelet indices. With a
    ``tile``, the indices carry its surface (:func:`surface_indices`).
    """
    indices = {k: rounded(v) for k, v in physical_indices(image, recipe, pixel_size_m, tile, thresholds,
                                                           wavelet).items()}
    fields: dict[str, Any] = {}
    if field_paths:
        from .composites.reader import open_composite

        for name, path in field_paths.items():
            values = open_composite(path).tile(tile, method)
            fields.update(field_statistics(name, values))
    return indices, fields


def composite_recipe(reader: Any) -> Recipe | None:
    """The recipe of an open composite (its ``kind`` attribute) when it has a
    cloud mask, else None (no organisation indices: a recipe without a mask,
    or a user recipe not registered in this process)."""
    nc = getattr(reader, "nc", None)
    if nc is None or "kind" not in nc.ncattrs():
        return None
    try:
        r = get_recipe(str(nc.getncattr("kind")))
    except ValueError:
        return None
    return r if r.cloud_mask is not None else None


def surface_indices(tile: Any) -> dict[str, Any]:
    """``{"land_fraction": 0-1, "surface": 0 ocean | 1 land | 2 coast}`` of a
    :class:`~convml_tt.data.tiles.Tile` (:mod:`convml_tt.data.surface`)."""
    from .surface import SURFACE_CODES, tile_surface

    s = tile_surface(tile)
    return {"land_fraction": s["land_fraction"], "surface": SURFACE_CODES.get(s["surface"], -1)}


def physical_indices(image: np.ndarray, recipe: Recipe | None, pixel_size_m: float, tile: Any = None,
                     thresholds: Mapping[str, Any] | None = None, wavelet: bool = False) -> dict[str, Any]:
    """The organisation indices of one tile's physical values ``image``
    (``(n, n)`` or ``(n, n, C)``), its surface (with a ``tile``) and the
    cloud threshold used (``cloud_threshold``, the mask plane's units): the
    scene's land threshold when at least half the tile is land, else its
    ocean one (``thresholds``; None: the recipe's fixed threshold). Without
    a recipe with a cloud mask: the surface only."""
    from .cloud_threshold import tile_threshold

    out: dict[str, Any] = surface_indices(tile) if tile is not None else {}
    if recipe is None or recipe.cloud_mask is None:
        return out
    from .organisation import tile_indices

    t = tile_threshold(thresholds, out.get("land_fraction", 0.0))
    if t is None:
        cm = recipe.cloud_mask
        t = cm.above if cm.above is not None else cm.below
    return {**tile_indices(image, recipe, pixel_size_m, threshold=t, wavelet=wavelet), **out,
            "cloud_threshold": float(t)}


def cell_indices(images: np.ndarray, recipe: Recipe | None, pixel_size_m: float, tiles: Sequence[Any] | None = None,
                 thresholds: Mapping[str, Any] | None = None, wavelet: bool = False) -> list[dict[str, Any]]:
    """The organisation indices of each of ``images`` (``(N, C, n, n)``
    physical values, e.g. map cells cut by
    :meth:`~convml_tt.data.sampling.grid.GridSampler.cut_cells`), one dict
    per image (:func:`physical_indices`; ``tiles``: the cells' tiles, for
    their surface); empty dicts when ``recipe`` is None or has no cloud
    mask and no tiles are given."""
    out = []
    for k, img in enumerate(images):
        values = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
        out.append(physical_indices(values, recipe, pixel_size_m, None if tiles is None else tiles[k],
                                    thresholds, wavelet))
    return out
