"""Per-step settings: one dataclass per step of the data flow.

The command line, the demo and notebooks build these and hand them to the
library (``make_triplets(..., settings=TripletSettings(...))``,
``make_learner(dataset, TrainingSettings(...))``); the library functions
that also take the same values as keywords build the dataclass from them,
so every setting is checked in exactly one place, here, before any work
starts. Each error names the setting and what would be right.

- :class:`SceneSettings`: synthetic scenes (``convml_tt synthetic``);
- :class:`CompositeSettings`: domain composites (``convml_tt composite``);
- :class:`TripletSettings`: triplet sampling (``convml_tt triplets``; stored
  in the dataset's ``meta.yaml`` as ``params``);
- :class:`TrainingSettings`: the encoder, its loss and its training
  (``convml_tt train``).

:func:`settings_from` builds any of them from an ``argparse.Namespace`` or
a mapping, taking the fields it finds there.

This module imports nothing heavy (no torch, no netCDF).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping, TypeVar

__all__ = [
    "SceneSettings",
    "CompositeSettings",
    "TripletSettings",
    "TrainingSettings",
    "settings_from",
]

S = TypeVar("S")

#: the default tile: 200 km across (metres) in 256 x 256 pixels (the one place these are written)
DEFAULT_TILE_SIZE_M = 200e3
DEFAULT_TILE_PIXELS = 256


def settings_from(cls: type[S], source: Any = None, **overrides: Any) -> S:
    """``cls(**fields)`` with the fields of ``cls`` found in ``source`` (an
    ``argparse.Namespace``, a mapping or another dataclass; names with ``-``
    or ``_`` alike), then ``overrides``. Values that are ``None`` in
    ``source`` are left at the dataclass default."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    renamed = getattr(cls, "_renamed", {})
    overrides = {renamed.get(k, k): v for k, v in overrides.items()}
    if source is None:
        values: Mapping[str, Any] = {}
    elif isinstance(source, Mapping):
        values = source
    elif dataclasses.is_dataclass(source):
        values = asdict(source)
    else:
        values = vars(source)
    picked = {renamed.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in values.items()}
    picked = {k: v for k, v in picked.items() if k in names and v is not None}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting(s) {unknown}; its settings are {sorted(names)}")
    picked.update(overrides)
    return cls(**picked)


def accepts_old_names(**renamed: str):
    """Decorator: a function or a settings class also accepts the ``old=``
    names of renamed keywords (a class also reads them as attributes), so
    code and files written before a rename keep working. ``tile_size``
    meant metres in the triplet settings, samplers and maps and pixels in
    the training settings; they are ``tile_size_m`` and ``tile_pixels``."""

    def new_names(owner: str, kw: dict) -> dict:
        for old, new in renamed.items():
            if old in kw:
                if new in kw and kw[new] != kw[old]:
                    raise TypeError(f"{owner}: give {new}= (or its old name {old}=), not both")
                kw[new] = kw.pop(old)
        return kw

    def wrap(obj):
        if not isinstance(obj, type):
            @functools.wraps(obj)
            def call(*args: Any, **kw: Any) -> Any:
                return obj(*args, **new_names(obj.__name__, kw))

            return call
        init = obj.__init__

        @functools.wraps(init)
        def __init__(self, *args: Any, **kw: Any) -> None:
            init(self, *args, **new_names(obj.__name__, kw))

        obj.__init__ = __init__
        obj._renamed = dict(renamed)
        for old, new in renamed.items():
            setattr(obj, old, property(lambda self, _n=new: getattr(self, _n), doc=f"old name of ``{new}``"))
        return obj

    return wrap


def _satellite(v: Any) -> int | str | None:
    """``satellite`` (a platform) as a GOES number 16-19 (``16``, ``"16"``,
    ``"goes16"``, ``"G16"``), another platform id as a lower-case string
    (``"himawari9"``, ``"icon-les"``), or None; ``ValueError`` otherwise."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError(f"satellite={v!r} is not a GOES-R satellite: use 16, 17, 18 or 19 (or a platform id "
                         f"such as himawari9; None: any)")
    if isinstance(v, numbers.Real):
        if int(v) != v or int(v) not in (16, 17, 18, 19):
            raise ValueError(f"satellite={v!r} is not a GOES-R satellite: use 16, 17, 18 or 19 (or a platform id "
                             f"such as himawari9; None: any)")
        return int(v)
    text = str(v).strip().lower()
    for prefix in ("goes-", "goes", "g"):
        if text.startswith(prefix) and text[len(prefix):].isdigit():
            return _satellite(int(text[len(prefix):]))
    if text.isdigit():
        return _satellite(int(text))
    if not text or not (text[0].isalpha() and all(c.isalnum() or c in "_.-" for c in text)):
        raise ValueError(f"satellite={v!r} is not a platform: use 16-19 (GOES) or a platform id such as "
                         f"himawari9 (letters, digits, _.-)")
    return text


#: how pixels that the producer flagged are treated when composited:
#: ``strict``: every flagged pixel (saturated, out of range, no value) is NaN;
#: ``keep-saturated`` (default): saturated / out-of-range pixels keep their
#: stored (saturation) value, as satpy does, and are counted; pixels without a
#: value are NaN; ``all``: every pixel that has a value is kept.
QUALITY_POLICIES = ("strict", "keep-saturated", "all")


def checked_quality(quality: Any) -> str:
    """``quality`` as one of :data:`QUALITY_POLICIES`; ``ValueError`` otherwise."""
    if quality not in QUALITY_POLICIES:
        raise ValueError(f"quality={quality!r} must be one of {', '.join(QUALITY_POLICIES)} (strict: "
                         f"flagged pixels are NaN; keep-saturated: saturated pixels keep their value; all: "
                         f"every pixel with a value is kept)")
    return str(quality)


def checked_max_sza(v: Any) -> float:
    """A solar zenith angle limit ``v`` (degrees) as a float; ``ValueError``
    unless a number 0 < v <= 180 (triplets' and maps' ``max_sza``)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (0.0 < float(v) <= 180.0):
        raise ValueError(f"max_sza={v!r} must be a solar zenith angle 0 < max_sza <= 180 (degrees), "
                         f"e.g. 80 (or None: the recipe's default)")
    return float(v)


def _whole(name: str, v: Any, least: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or v < least:
        raise ValueError(f"{name}={v!r} must be a whole number >= {least}")
    return int(v)


# -----------------------------------------------------------------------------
# synthetic scenes
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SceneSettings:
    """Synthetic ABI scenes (see :func:`convml_tt.data.synthetic.write_synthetic_scenes`).

    ``count`` scenes every ``interval`` from ``start`` (naive UTC; an aware
    time is converted); ``seed``; GOES ``satellite`` 16-19 and ``sector``
    (``M1``, ``M2``, ``C``, ``F``: file names only); a square sector of
    ``size_km`` km centred on ``center`` (lat, lon degrees); reflective
    ``bands``; ``resolution_km`` (None: each band's real resolution, or 0.5,
    1, 2 km for all bands); regime regions ``region_km`` across (None:
    ``size_km / 2.85``); day-to-day ``variability`` 0..2.

    ``satellite``, ``center``, ``size_km`` and the band numbers need the
    sector's geometry and the band tables: they are checked (with an
    ``OffDiskError`` for a centre off the disk) when the scenes are written,
    before any file is. The ``checked_*`` functions are the checks of single
    settings that the scene generator applies to its own arguments too.
    """

    start: dt.datetime = dt.datetime(2020, 1, 2, 14)
    count: int = 6
    interval: dt.timedelta = dt.timedelta(days=1)
    seed: int = 0
    satellite: int = 16
    sector: str = "M1"
    center: tuple[float, float] = (15.0, -50.0)
    size_km: float = 1000.0
    bands: tuple[int, ...] = (1, 2, 3)
    resolution_km: float | None = None
    region_km: float | None = None
    variability: float = 1.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.start, str):
            try:
                set_(self, "start", dt.datetime.fromisoformat(self.start.rstrip("Z")))
            except ValueError:
                raise ValueError(f"start={self.start!r} is not ISO 8601, e.g. 2020-01-02T14:00") from None
        if not isinstance(self.start, dt.datetime):
            raise ValueError(f"start={self.start!r} must be a datetime (UTC)")
        if self.start.tzinfo is not None:
            set_(self, "start", self.start.astimezone(dt.timezone.utc).replace(tzinfo=None))
        if isinstance(self.count, bool) or not isinstance(self.count, (int, float)) or int(self.count) != self.count \
                or self.count < 1:
            raise ValueError(f"count {self.count!r} must be a whole number >= 1")
        set_(self, "count", int(self.count))
        if self.count > 1 and self.interval <= dt.timedelta(0):
            raise ValueError(f"interval {self.interval!r} must be positive, e.g. timedelta(days=1)")
        if self.sector not in ("M1", "M2", "C", "F"):
            raise ValueError(f"sector {self.sector!r} must be one of ('M1', 'M2', 'C', 'F')")
        try:
            set_(self, "center", tuple(float(v) for v in self.center))
        except (TypeError, ValueError):
            pass  # the sector geometry names what is wrong with it
        set_(self, "bands", self.checked_bands(self.bands))
        self.checked_resolution_km(self.resolution_km)
        self.checked_region_km(self.region_km)
        self.checked_variability(self.variability)

    @staticmethod
    def checked_bands(bands: Any) -> tuple[int, ...]:
        """``bands`` as a tuple of ints; ``ValueError`` when empty."""
        bands = tuple(int(b) for b in bands)
        if not bands:
            raise ValueError("bands must name at least one band, e.g. (1, 2, 3)")
        return bands

    @staticmethod
    def checked_resolution_km(resolution_km: Any) -> Any:
        """``resolution_km`` unchanged; ``ValueError`` unless None, 0.5, 1 or 2."""
        if resolution_km is not None and resolution_km not in (0.5, 1.0, 2.0):
            raise ValueError(f"resolution_km={resolution_km!r}: use None (each band's real resolution) "
                             f"or 0.5, 1 or 2 (km, all bands)")
        return resolution_km

    @staticmethod
    def checked_region_km(region_km: Any) -> float | None:
        """``region_km`` as a float (km) or None; ``ValueError`` unless positive."""
        if region_km is None:
            return None
        region_km = float(region_km)
        if region_km <= 0:
            raise ValueError(f"region_km {region_km!r} must be positive (km)")
        return region_km

    @staticmethod
    def checked_variability(variability: Any) -> float:
        """``variability`` as a float; ``ValueError`` unless 0 <= it <= 2."""
        variability = float(variability)
        if not (0.0 <= variability <= 2.0):
            raise ValueError(f"variability {variability!r} must be between 0 (none) and 2; 1 is the default")
        return variability


# -----------------------------------------------------------------------------
# composites
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CompositeSettings:
    """Domain composites (see :func:`convml_tt.data.composites.make_composites`).

    ``domain`` (lon_min, lat_min, lon_max, lat_max, degrees); scenes with
    scan start in [``start``, ``end``] (None: open); ``recipe``: a name of
    the recipe registry (``convml_tt composite --recipe``, e.g.
    ``"truecolor"``, ``"C13"``), an ABI band number or a
    :class:`~convml_tt.data.composites.recipes.Recipe`; common pixel size
    ``resolution_km`` (0.5, 1, 2 km); only scenes of ``satellite`` (a
    platform: GOES number 16-19 or a platform id such as ``himawari9``; None:
    all), ``product`` (e.g. ``Rad``, ``CMIP``) and ``sector`` (e.g. ``F``,
    ``C``, ``M1``; None: all), read by the source ``source`` (a registry name
    such as ``goes_abi``; None: whichever recognises the files); ``inputs``:
    folders or glob patterns of your own files (any layout) instead of the
    source cache under the data root; ``margin`` pixels around the domain
    window; ``quality``: how pixels the producer flagged are treated
    (``strict``: NaN; ``keep-saturated``, the default: saturated pixels keep
    their value, as satpy does; ``all``: every pixel with a value);
    ``dqf_max``: for ABI, the largest data quality flag kept (None: from
    ``quality``); ``sunz``: divide the reflectance of reflective bands by
    the cosine of the solar zenith angle (None: the recipe's default,
    ``Recipe.sunz``).
    """

    domain: tuple[float, float, float, float]
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    recipe: Any = "truecolor"  # str | int | Recipe
    resolution_km: float = 1.0
    satellite: int | str | None = None
    margin: int = 2
    dqf_max: int | None = None
    sunz: bool | None = None
    product: str | None = None
    sector: str | None = None
    source: str | None = None
    inputs: tuple[str, ...] | None = None
    quality: str = "keep-saturated"

    def __post_init__(self) -> None:
        from .data.sources.goes_abi.navigation import check_bbox
        from .data.composites.recipes import check_sunz, get_recipe

        get_recipe(self.recipe)  # an unknown recipe or band is a ValueError
        object.__setattr__(self, "domain", check_bbox(self.domain))
        if not (isinstance(self.resolution_km, numbers.Real) and self.resolution_km > 0):
            raise ValueError(f"resolution_km={self.resolution_km!r} must be a positive number of km")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        object.__setattr__(self, "satellite", _satellite(self.satellite))
        _whole("margin", self.margin, 0)
        if self.dqf_max is not None:
            _whole("dqf_max", self.dqf_max, 0)
        checked_quality(self.quality)
        if self.inputs is not None:
            items = (self.inputs,) if isinstance(self.inputs, (str, bytes)) or hasattr(self.inputs, "__fspath__") \
                else tuple(self.inputs)
            if not items:
                raise ValueError("inputs=() names no folder or file: give folders or glob patterns of your files "
                                 "(or None: the source cache under the data root)")
            object.__setattr__(self, "inputs", tuple(str(i) for i in items))
        for name in ("product", "sector", "source"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, str) and v.strip()):
                raise ValueError(f"{name}={v!r} must be a non-empty name (or None: any)")
        if self.sunz is not None:
            if not (isinstance(self.sunz, bool) or type(self.sunz).__name__ == "bool_"):
                raise TypeError(f"sunz={self.sunz!r} must be True (divide reflectances by cos(solar zenith "
                                f"angle)), False or None (the recipe's default)")
            object.__setattr__(self, "sunz", bool(self.sunz))
            check_sunz(self.recipe, self.sunz)


# -----------------------------------------------------------------------------
# triplets
# -----------------------------------------------------------------------------
#: the largest tile side (pixels) a triplet dataset may ask for
MAX_TILE_PIXELS = 4096
#: the most channels a tile may have: a PNG holds 1 (L), 2 (LA), 3 (RGB) or 4 (RGBA)
MAX_TILE_CHANNELS = 4


def _triplet_bytes(n: int) -> int:
    """Memory to draw one triplet of ``n x n`` tiles, bytes (three RGB float32
    images, their float64 index maps and the resampling temporaries)."""
    return 3 * n * n * (3 * 4 + 6 * 8)


@accepts_old_names(tile_size="tile_size_m")
@dataclass(frozen=True)
class TripletSettings:
    """Everything that determines a triplet dataset (saved in its ``meta.yaml``
    as ``params``; see :mod:`convml_tt.data.sampling.triplets`).

    Attributes
    ----------
    domain:
        ``(lon_min, lat_min, lon_max, lat_max)``, degrees.
    tile_size_m:
        tile side, metres (old name ``tile_size``, still accepted).
    tile_pixels:
        tile side, pixels.
    n_train, n_study:
        number of triplets per stage.
    seed:
        seed of all sampling and of the train/study split.
    neighbor_distance:
        distance from anchor to neighbour centre, in tile sizes.
    distant:
        ``"other_scene"`` or ``"same_scene"``.
    distant_min_distance:
        with ``"same_scene"``: least distance anchor - distant, in tile sizes.
    resolution_km:
        composite resolution, km.
    method:
        tile interpolation, ``"bilinear"`` or ``"nearest"``.
    max_tries:
        draws per triplet before giving up.
    gamma:
        display gamma of the PNGs (``255 * clip(r, 0, 1) ** (1/gamma)``;
        None: the display default of :mod:`convml_tt.data.composites.enhance`).
    satellite:
        the GOES satellite (16-19) whose composites are used; None: the only
        one there is (composites of several satellites are refused: a
        dataset is made from one satellite).
    recipe:
        the composite recipe the tiles are cut from (a name of the recipe
        registry, e.g. ``"truecolor"``, ``"C13"``, or a band list such as
        ``"C13+C14+C15"``, stored as its canonical name); its channels (at
        most :data:`MAX_TILE_CHANNELS`, 4) are the tiles' channels.
    max_sza:
        largest solar zenith angle, degrees (0-180), at which a tile is
        sampled (None: the recipe's default ``Recipe.max_sza``).
    max_sza_fraction:
        None: a tile is refused when the solar zenith angle at its centre
        exceeds ``max_sza``; a fraction in [0, 1): when more than this
        fraction of its pixels exceed it.
    fields:
        co-located fields stored per tile (recipe names, e.g. ``("C13",)``):
        statistics of each over the tile, from the same scan.
    env:
        environment fields stored per tile (names of the field registry,
        :mod:`convml_tt.data.fields`, e.g. ``("EIS", "WS10")``): their mean
        and spread over the tile at the scan time.
    env_files:
        the ERA5 files (paths or glob patterns) the ``env`` fields are read from.
    env_time:
        ``"nearest"`` (the field time nearest the scan within
        ``env_tolerance_h``) or ``"linear"`` (interpolated in time).
    env_tolerance_h:
        largest scan - field time distance for ``"nearest"``, hours.
    surface:
        ``"ocean"``, ``"land"`` or ``"any"``: tiles are drawn only where
        the surface is of that class (:mod:`convml_tt.data.surface`:
        ocean/land with at most 1 % of the other; ``"any"``: everywhere).
    cloud_threshold:
        the cloud-mask threshold of the organisation indices, in the units
        of the recipe's mask plane, for every scene; None: each scene's own
        (:mod:`convml_tt.data.cloud_threshold`).
    wavelet_indices:
        also store the wavelet organisation indices (WOI1-3; ~8 ms per
        256 x 256 px tile).
    stretch:
        the display range of brightness-temperature (K) channels:
        ``"auto"`` (the dataset's 1st-99th percentiles, recorded in
        ``meta.yaml``), ``"fixed"`` (200-320 K), ``(lo, hi)`` K or per
        channel ``{"C13": (lo, hi)}``
        (:mod:`convml_tt.data.composites.stretch`); reflectance keeps its
        gamma stretch.
    """

    domain: tuple[float, float, float, float]
    tile_size_m: float = DEFAULT_TILE_SIZE_M
    tile_pixels: int = DEFAULT_TILE_PIXELS
    n_train: int = 100
    n_study: int = 0
    seed: int = 0
    neighbor_distance: float = 1.0
    distant: Literal["other_scene", "same_scene"] = "other_scene"
    distant_min_distance: float = 3.0
    resolution_km: float = 1.0
    method: Literal["bilinear", "nearest"] = "bilinear"
    max_tries: int = 200
    gamma: float | None = None
    satellite: int | None = None
    recipe: str = "truecolor"
    max_sza: float | None = None
    max_sza_fraction: float | None = None
    fields: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    env_time: Literal["nearest", "linear"] = "nearest"
    env_tolerance_h: float = 1.0
    surface: str = "any"
    cloud_threshold: float | None = None
    wavelet_indices: bool = False
    stretch: Any = "auto"

    def __post_init__(self) -> None:
        from .data.sources.goes_abi.navigation import check_bbox

        object.__setattr__(self, "domain", check_bbox(self.domain))
        object.__setattr__(self, "satellite", _satellite(self.satellite))
        if self.gamma is None:
            from .data.composites.enhance import GAMMA

            object.__setattr__(self, "gamma", GAMMA)
        if not self.tile_size_m > 0:
            raise ValueError(f"tile_size_m={self.tile_size_m!r} must be a positive number of metres")
        if int(self.tile_pixels) != self.tile_pixels or self.tile_pixels < 2:
            raise ValueError(f"tile_pixels={self.tile_pixels!r} must be an integer >= 2")
        for name in ("n_train", "n_study"):
            v = getattr(self, name)
            if int(v) != v or v < 0:
                raise ValueError(f"{name}={v!r} must be a whole number >= 0")
        if self.n_train + self.n_study == 0:
            raise ValueError("n_train=0 and n_study=0 ask for an empty dataset; ask for at least one "
                             "triplet (--n-train N and/or --n-study M)")
        if self.tile_pixels > MAX_TILE_PIXELS:
            raise ValueError(f"tile_pixels={self.tile_pixels} is too large: a triplet of such tiles needs "
                             f"about {_triplet_bytes(int(self.tile_pixels)) / 2**30:.0f} GiB while it is "
                             f"drawn; use at most {MAX_TILE_PIXELS} pixels (tiles of 64-512 px are usual)")
        if self.distant not in ("other_scene", "same_scene"):
            raise ValueError(f"distant={self.distant!r} must be 'other_scene' or 'same_scene'")
        if self.method not in ("bilinear", "nearest"):
            raise ValueError(f"method={self.method!r} must be 'bilinear' or 'nearest'")
        if not self.neighbor_distance > 0:
            raise ValueError(f"neighbor_distance={self.neighbor_distance!r} must be > 0 (tile sizes)")
        if self.max_sza is not None:
            object.__setattr__(self, "max_sza", self.checked_max_sza(self.max_sza))
        if self.max_sza_fraction is not None:
            f = self.max_sza_fraction
            if isinstance(f, bool) or not isinstance(f, numbers.Real) or not (0.0 <= float(f) < 1.0):
                raise ValueError(f"max_sza_fraction={f!r} must be a fraction 0 <= f < 1 of a tile's pixels "
                                 f"(or None: the tile centre's solar zenith angle decides)")
            object.__setattr__(self, "max_sza_fraction", float(f))
        object.__setattr__(self, "recipe", self.checked_recipe(self.recipe))
        object.__setattr__(self, "fields", self.checked_fields(self.fields))
        self._check_env()
        self._check_indices()

    def _check_indices(self) -> None:
        from .data.surface import check_surface

        object.__setattr__(self, "surface", check_surface(self.surface))
        if self.cloud_threshold is not None:
            from .data.cloud_threshold import check_threshold

            object.__setattr__(self, "cloud_threshold", check_threshold(self.cloud_threshold, self.recipe))
        object.__setattr__(self, "wavelet_indices", bool(self.wavelet_indices))
        from .data.composites.recipes import channel_units, get_recipe
        from .data.composites.stretch import check_stretch

        r = get_recipe(self.recipe)
        object.__setattr__(self, "stretch", check_stretch(self.stretch, r.channels or (r.name,), channel_units(r)))

    def _check_env(self) -> None:
        """``env`` as canonical field names and ``env_files`` as a tuple;
        ``ValueError`` for an unknown field, fields without files, a bad
        time method or tolerance."""
        from .data.fields import parse_env

        env = parse_env(self.env)
        files = (self.env_files,) if isinstance(self.env_files, str) else tuple(str(f) for f in self.env_files)
        object.__setattr__(self, "env", env)
        object.__setattr__(self, "env_files", files)
        if env and not files:
            raise ValueError(f"env={','.join(env)} needs env_files (--env-files 'era5/*.nc': the ERA5 netCDF "
                             f"files of the fields)")
        if files and not env:
            raise ValueError(f"env_files={', '.join(files)} given without env: name the fields to store "
                             f"(--env EIS,WS10)")
        if self.env_time not in ("nearest", "linear"):
            raise ValueError(f"env_time={self.env_time!r} must be 'nearest' or 'linear'")
        if not (isinstance(self.env_tolerance_h, numbers.Real) and self.env_tolerance_h >= 0):
            raise ValueError(f"env_tolerance_h={self.env_tolerance_h!r} must be a number of hours >= 0")

    @staticmethod
    def checked_recipe(recipe: Any) -> str:
        """The canonical name of ``recipe`` (``"rgb"`` -> ``"truecolor"``, ``13``
        -> ``"C13"``, ``"13,14,15"`` -> ``"C13+C14+C15"``); ``ValueError`` for
        a name the recipe registry does not know (listing the registered
        ones) or a recipe of more planes than a PNG tile holds (4). The
        recipe room checks it: :func:`convml_tt.data.composites.recipes.tile_recipe_name`."""
        from .data.composites.recipes import tile_recipe_name

        return tile_recipe_name(recipe, MAX_TILE_CHANNELS)

    @staticmethod
    def checked_fields(fields: Any) -> tuple[str, ...]:
        """``fields`` as a tuple of canonical recipe names (``"c13"`` and ``13``
        -> ``"C13"``; a comma-separated text is split); ``ValueError`` for a
        name the recipe registry does not know, a recipe of several planes
        (e.g. true colour) or a name given twice. The recipe room checks
        them: :func:`convml_tt.data.composites.recipes.field_recipe_names`."""
        from .data.composites.recipes import field_recipe_names

        return field_recipe_names(fields)

    @staticmethod
    def checked_max_sza(v: Any) -> float:
        """``v`` as a float; ``ValueError`` unless a number 0 < v <= 180 (degrees)."""
        return checked_max_sza(v)

    def to_yaml_dict(self) -> dict:
        """Plain dict as written to the dataset's ``meta.yaml``."""
        d = asdict(self)
        d["domain"] = [float(v) for v in self.domain]
        d["tile_size_m"] = float(self.tile_size_m)
        if self.satellite is None:
            del d["satellite"]  # as datasets made before the setting existed say it
        # settings at their defaults are left out, as datasets made before
        # the setting existed say it
        for name, default in (("recipe", "truecolor"), ("max_sza", None), ("max_sza_fraction", None),
                              ("fields", ()), ("env", ()), ("env_files", ()), ("env_time", "nearest"),
                              ("env_tolerance_h", 1.0), ("surface", "any"), ("cloud_threshold", None),
                              ("wavelet_indices", False), ("stretch", "auto")):
            if d[name] == default or (name in ("fields", "env", "env_files") and not d[name]):
                del d[name]
        for name in ("fields", "env", "env_files"):
            if name in d:
                d[name] = list(d[name])
        if "stretch" in d:
            from .data.composites.stretch import stretch_yaml

            d["stretch"] = stretch_yaml(self.stretch)
        return d


# -----------------------------------------------------------------------------
# training
# -----------------------------------------------------------------------------
_PRECISIONS = (None, True, False, "auto", "bf16", "fp16", "no", "none", "off", "fp32")


@accepts_old_names(tile_size="tile_pixels")
@dataclass(frozen=True)
class TrainingSettings:
    """The encoder, its loss and its training (see
    :func:`convml_tt.architectures.make_learner` and
    :func:`~convml_tt.architectures.train`).

    Method
        ``method``: a name of the method registry
        (:func:`convml_tt.architectures.methods.list_methods`: ``"triplet"``,
        the default; ``"simclr"``, ``"vicreg"``, ``"byol"``, ``"barlow"``).
    Model
        ``arch`` (a name of the backbone registry,
        :func:`convml_tt.architectures.list_backbones`), ``emb_dim``,
        ``head`` (a name of the head registry: ``"fastai"``, the 2019 head; ``"linear"``), head
        ``dropout``; ``pretrained`` (None/False, True/``"imagenet"`` or a
        weights file); ``freeze_body`` (train the head only).
    Loss
        ``loss`` (a name of the loss registry: ``"euclidean"``, ``"squared"``), ``margin``, ``l2``
        (None: 0.01 for euclidean, 0 for squared), ``negatives``
        (``"batch"``: every distant tile of the batch; ``"own"``: each
        triplet's own). A loss module given to ``make_learner(loss_func=...)``
        replaces these.
    Data
        ``batch_size`` triplets; ``valid_pct`` held out; ``preload``
        (False, True, or ``"device"``); ``normalize`` (None: ``"imagenet"``
        when pretrained, else ``"dataset"``; or ``(mean, std)``);
        ``augment`` (flips and 90 degree turns), ``jitter`` (relative
        brightness/contrast); ``tile_pixels`` (resize to that many pixels;
        None: as stored; old name ``tile_size``); ``num_workers`` loader processes (None: automatic);
        ``skip_incomplete`` triplets.
    Optimisation
        ``epochs`` of one-cycle at maximum learning rate ``lr``, weight
        decay ``wd`` (None: fastai's), ``seed``.
    Hardware
        ``device`` (None: CUDA when available), ``mixed_precision`` (None/
        ``"auto"``, ``"bf16"``, ``"fp16"``, ``"no"``), ``channels_last``
        (None: on).
    """

    arch: str = "resnet18"
    method: str = "triplet"
    emb_dim: int = 100
    head: str = "fastai"
    dropout: float = 0.5
    pretrained: bool | str | None = None
    freeze_body: bool = False
    loss: str = "euclidean"
    margin: float = 1.0
    l2: float | None = None
    negatives: str = "batch"
    batch_size: int = 32
    valid_pct: float = 0.1
    preload: bool | str = False
    normalize: Any = None
    augment: bool = True
    jitter: float = 0.0
    tile_pixels: int | None = None
    num_workers: int | None = None
    skip_incomplete: bool = False
    epochs: int = 10
    lr: float = 1e-3
    wd: float | None = None
    seed: int = 42
    device: Any = None
    mixed_precision: Any = None
    channels_last: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or int(self.epochs) != self.epochs or self.epochs < 1:
            raise ValueError(f"epochs={self.epochs} must be at least 1")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr={self.lr} must be a positive number, e.g. 1e-3")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1")
        if not 0.0 <= self.valid_pct < 1.0:
            raise ValueError(f"valid_pct={self.valid_pct} must be in [0, 1), e.g. 0.1")
        if int(self.emb_dim) != self.emb_dim or self.emb_dim < 1:
            raise ValueError(f"emb_dim={self.emb_dim} must be at least 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if not isinstance(self.method, str) or not self.method.strip():
            # the name is checked by the method registry (convml_tt.architectures.methods.METHODS)
            raise ValueError(f"method={self.method!r}; use the name of a registered method, e.g. 'triplet' or 'simclr'")
        if not isinstance(self.loss, str) or not self.loss.strip():
            # the name is checked by the loss registry (convml_tt.architectures.losses.LOSSES)
            raise ValueError(f"loss={self.loss!r}; use the name of a registered loss, e.g. 'euclidean' or 'squared'")
        if self.negatives not in ("batch", "own"):
            raise ValueError(f"negatives={self.negatives!r}: use 'batch' or 'own' ('batch': every distant "
                             f"tile of the batch; 'own': each triplet's own distant tile)")
        if self.margin < 0:
            raise ValueError(f"margin={self.margin} must be non-negative")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter={self.jitter} must be in [0, 1), e.g. 0.05")
        if self.tile_pixels is not None and self.tile_pixels < 8:
            raise ValueError(f"tile_pixels={self.tile_pixels} is too small; use e.g. 64 pixels or more")
        if self.preload not in (True, False, "device"):
            raise ValueError(f"preload={self.preload!r}; use False, True or 'device'")
        if isinstance(self.normalize, str) and self.normalize not in ("dataset", "imagenet"):
            raise ValueError(f"normalize={self.normalize!r}; use 'dataset', 'imagenet' or (mean, std)")
        if self.mixed_precision not in _PRECISIONS:
            raise ValueError(f"mixed_precision={self.mixed_precision!r}; use None (auto), 'bf16', 'fp16' or 'no'")
        if self.num_workers is not None and (int(self.num_workers) != self.num_workers or self.num_workers < 0):
            raise ValueError(f"num_workers={self.num_workers!r} must be a whole number >= 0 or None")

    def replace(self, **changes: Any) -> "TrainingSettings":
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)


