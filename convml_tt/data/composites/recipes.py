"""Composite recipes: which ABI bands make a composite and how they combine.

A :class:`Recipe` is data: the bands it reads, the output variable (one
2-D ``(y, x)`` image, or ``(y, x, channel)`` with named channels), its
units and attributes, and a ``combine`` function that computes output
planes from the calibrated bands. :func:`convml_tt.data.composites.make_composite`
builds any recipe the same way; recipes live in a registry
(:func:`register_recipe`, :func:`get_recipe`, :func:`list_recipes`).

Registered here:

- ``truecolor`` (aliases ``truecolour``, ``rgb``): red = band 2 (0.64 um),
  blue = band 1 (0.47 um) and a simulated green from band 3 ("veggie",
  0.86 um), following the CIMSS natural true-colour recipe (Bah et al. 2018,
  doi:10.1029/2018EA000379)::

      green = 0.45 * red + 0.10 * veggie + 0.45 * blue

  stored as linear reflectances (red, green, blue), sun-zenith corrected
  (``sunz=True``: divided by the cosine of the solar zenith angle) and
  sampled where the solar zenith angle is at most :data:`DAYLIGHT_MAX_SZA`
  (80 degrees, ``max_sza``);
- ``C01`` .. ``C06``: one band's reflectance factor (units ``"1"``; not
  sun-zenith corrected unless asked, ``max_sza`` 80 degrees);
- ``C07`` .. ``C16``: one band's brightness temperature (K; no solar
  zenith limit).

Band lists: :func:`get_recipe` also takes a list of bands, ``"C13+C14+C15"``
(the canonical name), ``"C13,C14,C15"`` or ``"13,14,15"``, and builds (once
per process, without registering it) a recipe of one channel per band, in
the order given (:func:`band_list_recipe`). Its channels may mix units
(reflectance factor ``"1"`` and brightness temperature ``"K"``): the
variable's ``channel_units`` attribute gives one units string per channel
(space separated) and ``units`` is the common one, or ``"mixed"``;
:func:`channel_units` reads them for any recipe.

A recipe's name is the composite's ``kind``: it names the cache folder
(``{name}_{res}km``), the ``kind`` attribute of the fingerprint and the
title, so a recipe must keep its name (and bump its ``version`` when its
values change) for cached composites to stay valid.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

import numpy as np

from ...registry import PluginError, Registry
from .enhance import GAMMA

__all__ = [
    "CloudMask",
    "DAYLIGHT_MAX_SZA",
    "TRUECOLOR_BANDS",
    "GREEN_FRACTIONS",
    "RECIPE_VERSION",
    "Recipe",
    "RECIPES",
    "register_recipe",
    "get_recipe",
    "list_recipes",
    "band_list_recipe",
    "field_recipe",
    "FIELD_PREFIX",
    "channel_units",
    "tile_recipe_name",
    "field_recipe_names",
    "check_sunz",
    "combine_block",
    "simulated_green",
]

#: ABI bands of the true-colour recipe: blue (0.47 um), red (0.64 um), veggie (0.86 um)
TRUECOLOR_BANDS = (1, 2, 3)
#: CIMSS simulated green (Bah et al. 2018): fractions of red, veggie and blue
GREEN_FRACTIONS = {"red": 0.45, "veggie": 0.10, "blue": 0.45}
#: bump when the recipe changes, so cached composites are rebuilt
RECIPE_VERSION = 1
#: the largest solar zenith angle (degrees) at which tiles of the reflective
#: recipes are sampled and map cells are valid (``Recipe.max_sza``): below
#: 80 degrees ``1 / cos(SZA)`` (at most 5.8) still makes the plane-parallel
#: sun-zenith correction meaningful; beyond it long slant paths (Rayleigh
#: scattering, the Earth's curvature) and cloud shadows dominate the image,
#: so tiles near the terminator would not look like the same clouds at noon.
DAYLIGHT_MAX_SZA = 80.0
#: ABI band numbers; bands 1-6 are reflective, 7-16 emissive
_ABI_BANDS = range(1, 17)
_FIRST_EMISSIVE = 7
#: central wavelengths of the ABI bands, micrometres
_WAVELENGTH_UM = {1: 0.47, 2: 0.64, 3: 0.86, 4: 1.37, 5: 1.6, 6: 2.2, 7: 3.9, 8: 6.2, 9: 6.9,
                  10: 7.3, 11: 8.4, 12: 9.6, 13: 10.3, 14: 11.2, 15: 12.3, 16: 13.3}
#: names a composite's own variables take
_RESERVED = frozenset({"x", "y", "lat", "lon", "time", "channel", "goes_imager_projection", "crs"})
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]*")

Kind = Union[str, int, "Recipe"]
#: ``combine(bands) -> planes``: see :class:`Recipe`
Combine = Callable[[Mapping[int, np.ndarray]], Mapping[Union[int, str], np.ndarray]]


def simulated_green(red, veggie, blue):
    """CIMSS simulated green reflectance from red (band 2), veggie (band 3)
    and blue (band 1) reflectances (any broadcastable arrays)."""
    f = GREEN_FRACTIONS
    return f["red"] * red + f["veggie"] * veggie + f["blue"] * blue


@dataclass(frozen=True)
class CloudMask:
    """Which pixels of a composite count as cloud, for the organisation
    indices (:mod:`convml_tt.data.organisation`): ``plane`` (output plane,
    index or channel name) compared with a threshold, ``above`` (cloud
    where value > above, e.g. reflectance) or ``below`` (cloud where
    value < below, e.g. brightness temperature in K); exactly one is given.
    ``description`` says where the threshold comes from. ``adaptive``: how
    a scene's own threshold is found (:mod:`convml_tt.data.cloud_threshold`):
    ``"clear_mode"`` (None: the default) or ``"fixed"`` (always this
    threshold)."""

    plane: int | str = 0
    above: float | None = None
    below: float | None = None
    description: str = ""
    adaptive: str | None = None

    def __post_init__(self) -> None:
        if (self.above is None) == (self.below is None):
            raise ValueError(f"a CloudMask needs exactly one of above= or below=, got above={self.above!r}, "
                             f"below={self.below!r}")


@dataclass(frozen=True, eq=False)
class Recipe:
    """How one kind of composite is made from ABI bands.

    Attributes
    ----------
    name:
        registry name and composite kind (a letter, then letters, digits,
        ``_.+-``), e.g. ``"truecolor"``, ``"C13"``.
    bands:
        the bands that are read, calibrated (reflectance factor for
        reflective bands, brightness temperature in K for emissive ones, a
        field in its own units) and brought to the composite's raster: for
        the ``abi`` sensor, ABI band numbers 1-16; for other sensors, names
        of the sensor's band table (e.g. ``"B03"`` for AHI, ``"IR_108"`` for
        SEVIRI, a variable name for gridded output).
    variable:
        name of the output variable (None: ``name``).
    channels:
        channel names of a ``(y, x, channel)`` variable, or None for one
        ``(y, x)`` image.
    units, long_name, attrs:
        attributes of the output variable (``grid_mapping`` is added).
    combine:
        ``combine(bands) -> planes``: ``bands`` maps each band to a block of
        rows of its calibrated values (``(rows, x)`` float32), and the result
        maps output planes (index or channel name) to arrays of that shape.
        It is called block by block, so it must work pixel by pixel (rows
        are independent). Planes it does not return keep the band that
        ``read_into`` put there. None: the planes are the bands as read.
    read_into:
        ``{band: plane}``: the output plane a band is read into (saving a
        copy); ``combine`` may overwrite it, after reading it, block by
        block. Bands not listed get arrays of their own. None: band ``i``
        of ``bands`` into plane ``i``, for as many planes as there are.
    version:
        bump when the values change, so cached composites are rebuilt.
    description:
        one line for listings (None: ``long_name``).
    sunz:
        whether composites of this recipe divide the reflectance of its
        reflective bands (1-6) by the cosine of the solar zenith angle by
        default (``CompositeSettings.sunz`` / ``--sunz`` override it).
    max_sza:
        the default largest solar zenith angle (degrees) at which tiles of
        this recipe are sampled and map cells are valid (None: no limit,
        e.g. infrared recipes).
    cloud_mask:
        the :class:`CloudMask` of this recipe's composites (None: the
        organisation indices are not defined for it).
    sensor:
        whose bands ``bands`` names (``"abi"``, ``"ahi"``, ``"seviri"``,
        ``"fci"``, ``"gridded"``, ...): a recipe is applied only to scenes of
        a source of that sensor.

    Raises ``ValueError`` for a band outside 1-16, an invalid name or a plane
    that nothing fills.
    """

    name: str
    bands: tuple[int, ...]
    variable: str | None = None
    channels: tuple[str, ...] | None = None
    units: str = "1"
    long_name: str = ""
    attrs: Mapping[str, Any] = field(default_factory=dict)
    combine: Combine | None = None
    read_into: Mapping[int, int] | None = None
    version: int = RECIPE_VERSION
    description: str | None = None
    sunz: bool = False
    max_sza: float | None = None
    cloud_mask: CloudMask | None = None
    sensor: str = "abi"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"recipe name {self.name!r} must start with a letter and hold only "
                             f"letters, digits and _.+- (it names files and a netCDF variable)")
        if not isinstance(self.sensor, str) or not _NAME.fullmatch(self.sensor):
            raise ValueError(f"recipe {self.name!r}: sensor {self.sensor!r} must be a name such as 'abi' or 'ahi'")
        bands = tuple(self.bands) if not isinstance(self.bands, (int, str)) else (self.bands,)
        for b in bands:
            if self.sensor == "abi":
                if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b not in _ABI_BANDS:
                    raise ValueError(f"recipe {self.name!r}: band {b!r} is not an ABI band number 1-16")
            elif not (isinstance(b, str) and b.strip()):
                raise ValueError(f"recipe {self.name!r}: band {b!r} must be a band name of the {self.sensor} "
                                 f"band table")
        if not bands or len(set(bands)) != len(bands):
            raise ValueError(f"recipe {self.name!r} needs one or more distinct bands, got {bands}")
        set_(self, "bands", tuple(int(b) if self.sensor == "abi" else str(b) for b in bands))
        variable = self.name if self.variable is None else self.variable
        if not _NAME.fullmatch(str(variable)) or variable in _RESERVED:
            raise ValueError(f"recipe {self.name!r}: output variable {variable!r} must be a name "
                             f"other than {sorted(_RESERVED)}")
        set_(self, "variable", variable)
        if self.channels is not None:
            channels = tuple(str(c) for c in self.channels)
            if not channels or len(set(channels)) != len(channels):
                raise ValueError(f"recipe {self.name!r}: channels {channels} must be distinct names")
            set_(self, "channels", channels)
        n = self.n_planes
        if self.read_into is None:
            read_into = {b: i for i, b in enumerate(self.bands[:n])}
        else:
            cast = int if self.sensor == "abi" else str
            read_into = {cast(b): int(i) for b, i in dict(self.read_into).items()}
        bad = {b: i for b, i in read_into.items() if b not in self.bands or not 0 <= i < n}
        if bad or len(set(read_into.values())) != len(read_into):
            raise ValueError(f"recipe {self.name!r}: read_into {read_into} must map bands of {self.bands} "
                             f"to distinct planes 0..{n - 1}")
        if self.combine is None and len(read_into) < n:
            raise ValueError(f"recipe {self.name!r} has no combine function, so every one of its {n} "
                             f"output planes needs a band (read_into {read_into})")
        set_(self, "read_into", read_into)
        set_(self, "attrs", dict(self.attrs))
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError(f"recipe {self.name!r}: version {self.version!r} must be a whole number >= 1")
        if self.description is None:
            set_(self, "description", self.long_name)

    @property
    def n_planes(self) -> int:
        """Number of output planes: 1 for a ``(y, x)`` image, else ``len(channels)``."""
        return 1 if self.channels is None else len(self.channels)

    def __reduce_ex__(self, protocol):
        # a registered recipe (or a band list's) travels to worker processes by name, which they
        # look up in their own registry (plugins loaded, entry points found): its combine may be
        # a lambda of a plugin file, which pickle cannot send
        if RECIPES.name_of(self) is not None:
            return get_recipe, (self.name,)
        if _BAND_LISTS.get(self.bands) is self:
            return band_list_recipe, (self.bands,)
        return super().__reduce_ex__(protocol)

    def plane_index(self, key: int | str) -> int:
        """Index of an output plane given by index or channel name."""
        if isinstance(key, str):
            if self.channels is None or key not in self.channels:
                raise KeyError(f"recipe {self.name!r} has no channel {key!r} (channels {self.channels})")
            return self.channels.index(key)
        return int(key)


# -----------------------------------------------------------------------------
# the registry
# -----------------------------------------------------------------------------
def _recipe_entry(name: str, recipe: Any) -> Recipe:
    if not isinstance(recipe, Recipe):
        raise TypeError(f"register_recipe takes a Recipe, got {type(recipe).__name__}")
    if recipe.name.lower() != name.lower():
        raise ValueError(f"a recipe is registered under its own name {recipe.name!r}, not {name!r}")
    return recipe


#: the recipe registry (entry-point group ``convml_tt.recipes``; names compare case-insensitively)
RECIPES = Registry("recipes", "recipe", "convml_tt.data.composites.register_recipe(Recipe(...))", _recipe_entry)


def register_recipe(recipe: Recipe, overwrite: bool = False) -> Recipe:
    """Add ``recipe`` to the registry (names compare case-insensitively);
    returns it.

    Raises ``ValueError`` when its name (or an alias such as ``"rgb"``) is
    taken, unless ``overwrite``.
    """
    return RECIPES.register(getattr(recipe, "name", None) or "?", recipe, overwrite=overwrite)


def get_recipe(kind: Kind) -> Recipe:
    """The recipe for a composite ``kind``: a registered name (any case;
    ``"truecolour"`` and ``"rgb"`` mean ``"truecolor"``), an ABI band number
    1-16 (``13`` or ``"13"`` means ``"C13"``), a band list (``"C13+C14"``,
    ``"C13,C14"``, ``"13,14"``: :func:`band_list_recipe`), a variable of
    gridded output (``"gridded.lwp"``: :func:`field_recipe`) or a :class:`Recipe`.

    Raises ``ValueError`` for anything else.
    """
    if isinstance(kind, Recipe):
        return kind
    if isinstance(kind, str):
        if kind in RECIPES:
            return RECIPES.get(kind)
        listed = _parse_band_list(kind)
        if listed is not None:
            return band_list_recipe(listed)
        if kind.startswith(FIELD_PREFIX):
            return field_recipe(kind[len(FIELD_PREFIX):])
    try:
        band = int(kind)
    except (TypeError, ValueError):
        raise ValueError(
            f"composite kind {kind!r} must be 'truecolor' or an ABI band number 1-16, a band list such as "
            f"C13+C14+C15, or a registered recipe: {', '.join(RECIPES.names())} (add one with register_recipe "
            f"or a plugin), or {FIELD_PREFIX}VARIABLE for a variable of gridded output (--source gridded --recipe "
            f"VARIABLE)"
        ) from None
    if band not in _ABI_BANDS:
        raise ValueError(f"composite band {band} must be an ABI band number 1-16")
    return RECIPES.get(f"C{band:02d}")


#: recipes of band lists, built on first use (not registered): {bands: recipe}
_BAND_LISTS: dict[tuple[int, ...], Recipe] = {}
_BAND_ITEM = re.compile(r"\s*[Cc]?0*(\d{1,2})\s*")


def _parse_band_list(text: str) -> tuple[int, ...] | None:
    """The bands of a band list ``"C13+C14"``, ``"C13,C14"``, ``"13, 14"``;
    None when ``text`` is not one (e.g. a recipe name)."""
    if "+" not in text and "," not in text:
        return None
    parts = re.split(r"[+,]", text.strip().strip("+,"))
    matches = [_BAND_ITEM.fullmatch(p) for p in parts]
    if not all(matches):
        return None
    return tuple(int(m.group(1)) for m in matches)  # type: ignore[union-attr]


def band_list_recipe(bands) -> Recipe:
    """The recipe of one channel per ABI band of ``bands`` (in that order):
    name ``"C13+C14+C15"``, variable ``"C13_C14_C15"``, channels ``("C13",
    "C14", "C15")``, each band's calibrated values (reflectance factor for
    bands 1-6, brightness temperature in K for 7-16) as read. ``units`` is
    the bands' common units or ``"mixed"``; the ``channel_units`` attribute
    gives each channel's. ``sunz`` is on when it is for any band's own
    recipe, ``max_sza`` is the smallest of theirs (a reflective band limits
    the whole list to daylight) and the cloud mask is that of the first band
    whose recipe has one. One band gives its registered recipe (``C13``).

    Raises ``ValueError`` for a band outside 1-16, a repeated band or an empty list.
    """
    try:
        bands = tuple(int(b) for b in ([bands] if isinstance(bands, (int, np.integer)) else bands))
    except (TypeError, ValueError):
        raise ValueError(f"band list {bands!r} must be ABI band numbers 1-16, e.g. (13, 14, 15)") from None
    bad = [b for b in bands if b not in _ABI_BANDS]
    twice = sorted({b for b in bands if bands.count(b) > 1})
    if twice:
        raise ValueError(f"band list {'+'.join(f'C{b:02d}' for b in bands)} names band "
                         f"{', '.join(map(str, twice))} more than once: give each band once, e.g. C13+C14+C15 "
                         f"(--bands 13 14 15)")
    if bad or not bands:
        raise ValueError(f"band list {bands} must hold distinct ABI band numbers 1-16, e.g. C13+C14+C15"
                         + (f" ({', '.join(map(str, bad))} is not one)" if bad else ""))
    if len(bands) == 1:
        return RECIPES.get(f"C{bands[0]:02d}")
    found = _BAND_LISTS.get(bands)
    if found is not None:
        return found
    singles = [RECIPES.get(f"C{b:02d}") for b in bands]
    names = tuple(r.name for r in singles)
    units = tuple(r.units for r in singles)
    mask = next(((k, r.cloud_mask) for k, r in enumerate(singles) if r.cloud_mask is not None), None)
    limits = [r.max_sza for r in singles if r.max_sza is not None]
    what = sorted({"brightness temperature (K)" if u == "K" else "reflectance factor" for u in units})
    recipe = Recipe(
        name="+".join(names),
        bands=bands,
        variable="_".join(names),
        channels=names,
        units=units[0] if len(set(units)) == 1 else "mixed",
        long_name=f"ABI bands {', '.join(map(str, bands))}: {' and '.join(what)}",
        attrs={"channel_units": " ".join(units)},
        description="one channel per band: " + ", ".join(f"{n} ({_WAVELENGTH_UM[b]:g} um)"
                                                         for n, b in zip(names, bands)),
        sunz=any(r.sunz for r in singles),
        max_sza=min(limits) if limits else None,
        cloud_mask=None if mask is None else CloudMask(mask[0], mask[1].above, mask[1].below,
                                                      f"channel {names[mask[0]]}: {mask[1].description}",
                                                      mask[1].adaptive),
    )
    _BAND_LISTS[bands] = recipe
    return recipe


#: the name of the recipe of one variable of gridded output is this prefix and the variable: ``gridded.lwp``
FIELD_PREFIX = "gridded."
#: field recipes, built on first use (not registered): {variable: recipe}
_FIELDS: dict[str, Recipe] = {}


def field_recipe(variable: str) -> Recipe:
    """The recipe of one variable of gridded model output or reanalysis
    (the ``gridded`` source, :mod:`convml_tt.data.sources.gridded`): name
    ``gridded.{variable}``, sensor ``gridded``, one plane (the composite
    variable ``variable``) holding the field as the file stores it; its
    ``units`` are ``""``, meaning those of the file's variable (the
    composite takes them from the file). No sun-zenith correction, no solar
    zenith limit, no cloud mask. Built once per process, like band lists,
    so that ``get_recipe("gridded.lwp")`` works in any process without
    registering it.

    Raises ``ValueError`` for a variable that cannot name a composite variable."""
    variable = str(variable).strip()
    recipe = _FIELDS.get(variable)
    if recipe is None:
        if not _NAME.fullmatch(variable) or variable in _RESERVED:
            raise ValueError(f"gridded variable {variable!r} cannot name a composite variable: it must start with "
                             f"a letter, hold only letters, digits and _.+- and not be one of {sorted(_RESERVED)}")
        recipe = _FIELDS[variable] = Recipe(
            name=f"{FIELD_PREFIX}{variable}", bands=(variable,), variable=variable, units="", sensor="gridded",
            long_name=f"{variable} of gridded output", description=f"the variable {variable} of gridded output "
            f"(model, reanalysis) in its own units")
    return recipe



def tile_recipe_name(recipe: Any, max_channels: int = 4) -> str:
    """The canonical name of ``recipe`` as a tile recipe (``"rgb"`` ->
    ``"truecolor"``, ``13`` -> ``"C13"``, ``"13,14,15"`` ->
    ``"C13+C14+C15"``); ``ValueError`` for a name the registry does not
    know (listing the registered ones), a :class:`Recipe` that is not the
    one registered under its name (only names are stored in ``meta.yaml``),
    or more planes than ``max_channels`` (a PNG tile holds 4)."""
    name = recipe.name if isinstance(recipe, Recipe) else recipe
    try:
        found = get_recipe(name)
    except ValueError as err:
        if isinstance(name, str) and _parse_band_list(name) is not None:
            raise ValueError(f"recipe={name!r}: {err}") from None  # a band list, wrong as one
        raise ValueError(f"recipe={name!r} is not a recipe of the registry: use one of "
                         f"{', '.join(r.name for r in list_recipes())}, or a band list such as "
                         f"C13+C14+C15 (`convml_tt composite --list-recipes`)") from None
    if isinstance(recipe, Recipe) and found is not recipe:
        raise ValueError(f"recipe {recipe.name!r} is not the registered recipe of that name; "
                         f"register it (register_recipe) to make tiles of it")
    if found.n_planes > max_channels:
        raise ValueError(f"recipe {found.name!r} has {found.n_planes} channels but a PNG tile holds at most "
                         f"{max_channels} (L, LA, RGB, RGBA): choose at most {max_channels} bands")
    return found.name


def check_sunz(recipe: Kind, sunz: bool) -> None:
    """``ValueError`` when ``sunz`` (divide reflectances by the cosine of the
    solar zenith angle) is asked of a recipe with no reflective band."""
    r = get_recipe(recipe)
    if sunz and not any(b < _FIRST_EMISSIVE for b in r.bands):
        raise ValueError(f"sunz=True (--sunz on) divides reflectances by the cosine of the solar zenith "
                         f"angle, but the recipe {r.name!r} has no reflective band (bands "
                         f"{', '.join(map(str, r.bands))}: brightness temperatures in K); leave it out "
                         f"(--sunz applies to bands 1-6)")


def field_recipe_names(fields: Any) -> tuple[str, ...]:
    """Co-located ``fields`` as a tuple of canonical one-plane recipe names
    (``"c13"`` and ``13`` -> ``"C13"``; a comma-separated text is split;
    None: none); ``ValueError`` for an unknown name, a recipe of several
    planes (e.g. true colour) or a name given twice."""
    if fields is None:
        return ()
    if isinstance(fields, (str, int)):
        text = str(fields)
        fields = text.split(",")
        if not text.strip() or any(not f.strip() for f in fields):
            raise ValueError(f"fields: {text!r} has an empty name; give recipe names separated by commas, "
                             f"e.g. C13 or C13,C07 (or no fields)")
    out: list[str] = []
    for f in fields:
        try:
            recipe = get_recipe(f.strip() if isinstance(f, str) else f)
        except ValueError as err:
            raise ValueError(f"fields: {f!r} is not a recipe of the registry ({err})") from None
        if recipe.n_planes != 1:
            raise ValueError(f"fields: recipe {recipe.name!r} has {recipe.n_planes} planes "
                             f"{recipe.channels}; a co-located field is one plane, e.g. 'C13'")
        if recipe.name in out:
            raise ValueError(f"fields: {recipe.name!r} is given twice")
        out.append(recipe.name)
    return tuple(out)


def channel_units(recipe: Kind) -> tuple[str, ...]:
    """The units of each output plane of ``recipe`` (its ``channel_units``
    attribute, or ``units`` for every plane)."""
    r = get_recipe(recipe)
    given = r.attrs.get("channel_units")
    units = tuple(str(given).split()) if given else (r.units,) * r.n_planes
    if len(units) != r.n_planes:
        raise ValueError(f"recipe {r.name!r}: channel_units {given!r} names {len(units)} channels but it has "
                         f"{r.n_planes} planes")
    return units


def combine_block(recipe: Recipe, bands: Mapping[int, np.ndarray], shape: tuple[int, int]) -> dict[int, np.ndarray]:
    """``recipe.combine(bands)`` for a block of ``shape`` ``(rows, x)``, checked
    against the recipe's declaration: a mapping of its output planes (index
    ``0..n_planes-1`` or channel name) to real-valued arrays of that shape;
    returns ``{plane index: array}``. Anything else, or an exception in a
    plugin's combine, is an error naming the recipe and, for a plugin's
    recipe, the plugin (:class:`~convml_tt.registry.PluginError`)."""
    origin = RECIPES.origin(recipe.name) if RECIPES.name_of(recipe) is not None else None

    def fault(what: str) -> ValueError:
        text = f"recipe {recipe.name!r}: its combine function {what}"
        return PluginError(f"{origin}: {text}") if origin else ValueError(text)

    planes = RECIPES.call(recipe.name, recipe.combine, bands, what="its combine function") if origin else \
        recipe.combine(bands)
    declared = f"{recipe.n_planes} plane(s)" + (f" {list(recipe.channels)}" if recipe.channels else " (0)")
    if not isinstance(planes, Mapping):
        raise fault(f"returned a {type(planes).__name__}; it must return a dict of output planes (index or "
                    f"channel name) to arrays, of the recipe's {declared}")
    out = {}
    for key, values in planes.items():
        ok = (isinstance(key, str) and recipe.channels is not None and key in recipe.channels) or (
            isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < recipe.n_planes)
        if not ok:
            raise fault(f"returned plane {key!r}, but the recipe declares {declared}")
        arr = np.asarray(values)
        if arr.shape != tuple(shape):
            raise fault(f"returned an array of shape {arr.shape} for plane {key!r}; it must have the shape of "
                        f"the bands' block {tuple(shape)} (rows, x)")
        if arr.dtype.kind not in "fiu":
            raise fault(f"returned {arr.dtype} values for plane {key!r}; a plane holds real numbers (float32)")
        out[recipe.plane_index(key)] = arr
    return out


def list_recipes() -> list[Recipe]:
    """The registered recipes, in the order they were registered."""
    return [r for _, r in RECIPES.items()]


# -----------------------------------------------------------------------------
# the built-in recipes
# -----------------------------------------------------------------------------
def _true_colour_green(bands: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
    # the green plane holds veggie (band 3) as read; it is replaced, block by
    # block, elementwise, so the values are those of one whole-image expression
    return {1: simulated_green(bands[2], bands[3], bands[1])}


register_recipe(Recipe(
    name="truecolor",
    bands=TRUECOLOR_BANDS,
    variable="rgb",
    channels=("red", "green", "blue"),
    units="1",
    long_name="true-colour reflectance factor (red, simulated green, blue)",
    attrs={
        "green_recipe": "green = 0.45 * red(C02) + 0.10 * veggie(C03) + 0.45 * blue(C01) (CIMSS, Bah et al. 2018)",
        "display_stretch": f"uint8 = round(255 * clip(value, 0, 1) ** (1 / {GAMMA}))",
    },
    combine=_true_colour_green,
    # band 2 -> red, band 3 (veggie) -> green (then the simulated green), band 1 -> blue
    read_into={2: 0, 3: 1, 1: 2},
    description="CIMSS natural true colour: red C02, simulated green, blue C01 (reflectance factor)",
    # sun-zenith corrected: tiles of mornings, noons and evenings look alike
    sunz=True,
    max_sza=DAYLIGHT_MAX_SZA,
    # the synthetic scenes' own definition of cloud (band-2 reflectance
    # factor > 0.10, convml_tt.data.synthetic.CLOUD_REFLECTANCE_THRESHOLD); the
    # sun-zenith corrected clear ocean is ~0.03-0.07 at 0.64 um, marine Sc > 0.2
    cloud_mask=CloudMask("red", above=0.10, description=(
        "red (C02, 0.64 um) reflectance > 0.10: the synthetic scenes' cloud definition; clear ocean "
        "0.03-0.07, stratocumulus > 0.2 (docs/organisation.md)")),
))
for _alias in ("truecolour", "rgb"):
    RECIPES.add_alias(_alias, "truecolor")
#: cloud masks of the one-band recipes (docs/organisation.md): thresholds from
#: the real GOES-17 scan of 2019-10-27 20:00 UTC off California (2 km): clear
#: ocean vs marine stratocumulus (low cloud) vs the frontal high cloud over it
_BAND_CLOUD_MASKS = {
    1: CloudMask(above=0.16, description="reflectance > 0.16: above the Rayleigh-bright clear ocean (0.115-0.129 "
                 "in the real scan, not sun-zenith corrected); low cloud >= 0.20; smoke (0.13-0.20) partly counts"),
    2: CloudMask(above=0.10, description="reflectance > 0.10: the synthetic scenes' cloud definition (band 2)"),
    3: CloudMask(above=0.10, description="reflectance > 0.10: clear ocean 0.02-0.03, low cloud >= 0.14 in the real "
                 "scan (vegetated land is bright too: ocean scenes)"),
    4: CloudMask(above=0.02, description="reflectance > 0.02: 1.37 um sees only high cloud (real scan: clear "
                 "and low cloud <= 0.012, high cloud >= 0.09)", adaptive="fixed"),
    5: CloudMask(above=0.08, description="reflectance > 0.08: clear ocean ~0.01, low cloud >= 0.12 in the real scan"),
    6: CloudMask(above=0.05, description="reflectance > 0.05: clear ocean ~0.006, low cloud >= 0.06 in the real scan"),
    # window bands: 3.5 K below the real scan's clear-ocean median (C11 286.6,
    # C13 288.5, C14 288.7, C15 287.2 K; marine Sc tops 280-288 K)
    11: CloudMask(below=283.0, description="BT < 283 K: 3.5 K below the clear ocean (286.6 K) of the real scan"),
    13: CloudMask(below=285.0, description="BT < 285 K: 3.5 K below the clear ocean (288.5 K) of the real scan; "
                  "marine Sc tops 280-288 K (regional: tropical clear sky is ~296 K)"),
    14: CloudMask(below=285.0, description="BT < 285 K: 3.5 K below the clear ocean (288.7 K) of the real scan"),
    15: CloudMask(below=284.0, description="BT < 284 K: 3.5 K below the clear ocean (287.2 K) of the real scan"),
    # absorbing bands see only cloud above the absorber: high-cloud masks,
    # midway between the real scan's high cloud (95th percentile) and its
    # clear sky / low cloud (5th percentile)
    7: CloudMask(below=280.0, description="BT < 280 K: high cloud only (by day 3.9 um low cloud reflects sunlight "
                 "and looks warmer than the sea: 302 K vs 289 K in the real scan)", adaptive="fixed"),
    8: CloudMask(below=231.0, description="BT < 231 K: high cloud only (water vapour band; real scan high cloud "
                 "<= 227 K, clear/low >= 234 K)", adaptive="fixed"),
    9: CloudMask(below=241.0, description="BT < 241 K: high cloud only (water vapour band; real scan high cloud "
                 "<= 234 K, clear/low >= 249 K)", adaptive="fixed"),
    10: CloudMask(below=250.0, description="BT < 250 K: high cloud only (water vapour band; real scan high cloud "
                  "<= 239 K, clear/low >= 261 K)", adaptive="fixed"),
    12: CloudMask(below=247.0, description="BT < 247 K: high cloud only (ozone band; real scan high cloud "
                  "<= 239 K, clear/low >= 256 K)", adaptive="fixed"),
    16: CloudMask(below=252.0, description="BT < 252 K: high cloud only (CO2 band; real scan high cloud "
                  "<= 240 K, clear/low >= 266 K)", adaptive="fixed"),
}
for _b in _ABI_BANDS:
    _bt = _b >= _FIRST_EMISSIVE
    _what = "brightness temperature" if _bt else "reflectance factor"
    register_recipe(Recipe(
        name=f"C{_b:02d}",
        bands=(_b,),
        units="K" if _bt else "1",
        long_name=f"ABI band {_b} {_what}",
        description=f"ABI band {_b} ({_WAVELENGTH_UM[_b]:g} um) {_what}",
        # reflective bands stay the plain reflectance factor (sunz off) but are
        # only sampled in daylight; infrared bands day and night
        max_sza=None if _bt else DAYLIGHT_MAX_SZA,
        cloud_mask=_BAND_CLOUD_MASKS[_b],
    ))
del _b, _bt, _what, _alias
