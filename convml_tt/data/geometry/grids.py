"""Grids: the rasters composites, tiles and maps live on, and how to navigate them.

A *grid* says what a raster's 1-D ``x`` (columns) and ``y`` (rows)
coordinates mean on the Earth. Three kinds ship:

- :class:`FixedGrid`: the geostationary fixed grid of GOES ABI (and of any
  geostationary imager): ``x``, ``y`` are scan angles in radians, the
  projected coordinates of PROJ's ``geos`` projection (metres) divided by
  ``perspective_point_height``; sweep axis ``x`` (GOES-R) or ``y``
  (Meteosat, Himawari).
- :class:`LatLonGrid`: ``x`` is longitude in degrees east (in [-180, 180)),
  ``y`` latitude in degrees north, on an ellipsoid (WGS84 by default):
  model output, reanalysis.
- :class:`ProjectedGrid`: any other :class:`pyproj.CRS` (WKT or PROJ
  string): ``x``, ``y`` are its projected coordinates in metres (Lambert
  conformal, polar stereographic, UTM in km: converted to metres, ...), or
  rotated degrees for a rotated-pole grid (``rotated_latitude_longitude``).

Every grid is a frozen dataclass (hashable: used as a cache key) with one
interface:

``crs``
    the :class:`pyproj.CRS` (built on first use; PROJ is not imported
    before that).
``proj_step``
    the PROJ pipeline step(s) from geodetic longitude/latitude (radians, on
    the grid's ellipsoid) to the grid's *projected* coordinates;
    ``coordinate_scale`` divides those into the grid's coordinates
    (``perspective_point_height`` for a fixed grid, else 1). Tiles
    (:mod:`convml_tt.data.tiles`) chain ``inv laea | proj_step`` in one
    pipeline to map their pixels onto a composite.
``ellipsoid``
    ``(a, b)``, metres: tiles mapped onto the grid are placed on it.
``latlon_to_xy(lat, lon)`` / ``xy_to_latlon(x, y)``
    degrees <-> grid coordinates; NaN where a point has no image (off a
    geostationary disk).
``wrap_x(px, lon0)``
    projected ``x`` of points near longitude ``lon0`` made continuous (a
    lat/lon grid's longitudes near the antimeridian); the identity otherwise.
``to_cf()``
    ``(variable_name, attrs)`` of the CF grid-mapping variable composites
    carry: GOES composites keep ``goes_imager_projection`` with the source
    files' attributes; other grids write ``crs`` with ``grid_mapping_name``
    (``latitude_longitude``, ``geostationary``, ``lambert_conformal_conic``,
    ...) and ``crs_wkt``.
``coordinate_attrs()``
    ``(x_attrs, y_attrs)``: CF attributes of the ``x`` / ``y`` variables
    (units ``rad``; ``degrees_east`` / ``degrees_north``; ``m``).

:func:`grid_from_cf` reads any of them back from a grid-mapping variable's
name and attributes, :func:`grid_from_dataset` from a dataset (the variable
its data variables' ``grid_mapping`` attribute names, or 1-D lat/lon
coordinates without one); :func:`grid_from_crs` makes the grid of any
:class:`pyproj.CRS` (e.g. a pyresample area's).
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence, Union

import numpy as np

if TYPE_CHECKING:  # imported where used: a composite of a fixed grid does not need PROJ
    import pyproj
    import xarray as xr

__all__ = [
    "FixedGrid",
    "LatLonGrid",
    "ProjectedGrid",
    "Grid",
    "GridError",
    "OffDiskError",
    "GOES_PROJECTION_VARIABLE",
    "WGS84",
    "KM_PER_DEGREE",
    "check_bbox",
    "grid_from_cf",
    "grid_from_crs",
    "grid_from_dataset",
]

#: the grid-mapping variable of GOES ABI files and of composites made from them
GOES_PROJECTION_VARIABLE = "goes_imager_projection"
#: WGS84 axes (m)
WGS84 = (6378137.0, 6356752.314245179)
#: km in a degree of latitude on the mean Earth radius (6371.0088 km): how a lat/lon grid's spacing counts in km
KM_PER_DEGREE = 6371.0088 * math.pi / 180.0


class GridError(ValueError):
    """A grid description (CF attributes, a CRS) that cannot be read as a grid."""


class OffDiskError(ValueError):
    """A location that is not on the Earth's disk seen by the satellite, or
    not inside a file's sector (or a gridded field's domain)."""


def check_bbox(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """Validate a ``(lon_min, lat_min, lon_max, lat_max)`` box in degrees."""
    if len(bbox) != 4:
        raise ValueError(f"bbox {bbox!r} must be (lon_min, lat_min, lon_max, lat_max)")
    lon_min, lat_min, lon_max, lat_max = map(float, bbox)
    if not (lon_min < lon_max and lat_min < lat_max):
        raise ValueError(
            f"bbox {tuple(bbox)} has min >= max: expected "
            "(lon_min, lat_min, lon_max, lat_max) with lon_min < lon_max and lat_min < lat_max"
        )
    if not (-90 <= lat_min and lat_max <= 90 and -180 <= lon_min and lon_max <= 180):
        raise ValueError(
            f"bbox {tuple(bbox)} is outside lat [-90, 90], lon [-180, 180] (degrees)"
        )
    return lon_min, lat_min, lon_max, lat_max


def _wrap180(lon):
    return (lon + 180.0) % 360.0 - 180.0


class Grid:
    """What every grid has (see the module docstring); subclasses are frozen dataclasses."""

    #: the grid's coordinates are its projected coordinates divided by this
    coordinate_scale: float = 1.0

    @property
    def ellipsoid(self) -> tuple[float, float]:
        raise NotImplementedError

    @property
    def proj_step(self) -> str:
        raise NotImplementedError

    def wrap_x(self, px: np.ndarray, lon0: float) -> np.ndarray:
        """Projected ``x`` of points near longitude ``lon0`` (degrees), continuous; here unchanged."""
        return px

    def latlon_to_xy(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def xy_to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def to_cf(self) -> tuple[str, dict[str, Any]]:
        """``("crs", attrs)``: CF attributes of the CRS (``grid_mapping_name``
        where CF has one) plus ``crs_wkt``."""
        attrs = {k: v for k, v in self.crs.to_cf().items() if v is not None}
        attrs.setdefault("crs_wkt", self.crs.to_wkt())
        return "crs", attrs

    def coordinate_attrs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        raise NotImplementedError

    @property
    def crs(self) -> "pyproj.CRS":
        raise NotImplementedError

    def __getstate__(self) -> dict:
        # the fields only: PROJ objects cached on first use are rebuilt where the grid is unpickled
        return {k: v for k, v in self.__dict__.items() if k in self.__dataclass_fields__}  # type: ignore[attr-defined]

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


# -----------------------------------------------------------------------------
# the geostationary fixed grid
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FixedGrid(Grid):
    """The fixed-grid projection of one geostationary satellite position
    (GOES-R Product User Guide, vol. 3 sect. 4.2.8): coordinates are scan
    angles in radians, PROJ ``geos`` metres divided by
    ``perspective_point_height``.

    Parameters
    ----------
    perspective_point_height:
        height of the satellite above the ellipsoid, m (35786023.0 for GOES-R).
    semi_major_axis, semi_minor_axis:
        ellipsoid axes, m (GRS80: 6378137.0, 6356752.31414).
    longitude_of_projection_origin:
        sub-satellite longitude used for navigation, degrees east.
    sweep_angle_axis:
        ``"x"`` for GOES-R, ``"y"`` for Meteosat and Himawari.
    cf_variable, cf_attrs:
        the grid-mapping variable :meth:`to_cf` writes and, for
        ``goes_imager_projection``, its attributes as the source files hold
        them (``((name, value), ...)``; empty: those of NOAA's files for
        this grid). Not part of equality or the hash.
    """

    perspective_point_height: float = 35786023.0
    semi_major_axis: float = 6378137.0
    semi_minor_axis: float = 6356752.31414
    longitude_of_projection_origin: float = -75.0
    sweep_angle_axis: str = "x"
    cf_variable: str = field(default=GOES_PROJECTION_VARIABLE, compare=False, repr=False)
    cf_attrs: tuple = field(default=(), compare=False, repr=False)

    @classmethod
    def from_dataset(cls, ds: "xr.Dataset", source: str | os.PathLike | None = None) -> "FixedGrid":
        """The fixed grid described by ``ds.goes_imager_projection``."""
        src = source or ds.encoding.get("source", "<dataset>")
        if GOES_PROJECTION_VARIABLE not in ds.variables:
            raise GridError(f"{src}: no '{GOES_PROJECTION_VARIABLE}' variable, so its pixels cannot be "
                            "navigated; expected a GOES ABI L1b/L2 fixed-grid file")
        return cls.from_cf(GOES_PROJECTION_VARIABLE, ds[GOES_PROJECTION_VARIABLE].attrs, src)

    @classmethod
    def from_cf(cls, name: str, attrs: Mapping[str, Any], source: Any = "<dataset>") -> "FixedGrid":
        """The fixed grid of a CF ``geostationary`` grid mapping (or ``goes_imager_projection``)."""
        try:
            a = float(attrs["semi_major_axis"])
            b = (float(attrs["semi_minor_axis"]) if "semi_minor_axis" in attrs or "inverse_flattening" not in attrs
                 else a * (1.0 - 1.0 / float(attrs["inverse_flattening"])))
            return cls(
                perspective_point_height=float(attrs["perspective_point_height"]),
                semi_major_axis=a,
                semi_minor_axis=b,
                longitude_of_projection_origin=float(attrs["longitude_of_projection_origin"]),
                sweep_angle_axis=str(attrs.get("sweep_angle_axis", "x")),
                cf_variable=str(name),
                cf_attrs=tuple(attrs.items()) if name == GOES_PROJECTION_VARIABLE else (),
            )
        except KeyError as err:
            raise GridError(f"{source}: '{name}' lacks the attribute {err.args[0]!r}") from None

    @property
    def coordinate_scale(self) -> float:  # type: ignore[override]
        return self.perspective_point_height

    @property
    def ellipsoid(self) -> tuple[float, float]:
        return self.semi_major_axis, self.semi_minor_axis

    @property
    def proj_step(self) -> str:
        """PROJ ``geos`` step (geodetic radians -> scan angle x ``h``, m)."""
        return (
            f"+proj=geos +h={self.perspective_point_height!r} +a={self.semi_major_axis!r} "
            f"+b={self.semi_minor_axis!r} +lon_0={self.longitude_of_projection_origin!r} "
            f"+sweep={self.sweep_angle_axis}"
        )

    @property
    def proj4(self) -> str:
        """PROJ string whose projected coordinates are scan angle x ``h`` (m)."""
        return f"{self.proj_step} +units=m +no_defs"

    @functools.cached_property
    def crs(self) -> "pyproj.CRS":
        """The projection as a :class:`pyproj.CRS` (coordinates: scan angle x h, m)."""
        import pyproj

        return pyproj.CRS.from_proj4(self.proj4)

    @functools.cached_property
    def _to_scan(self) -> "pyproj.Transformer":
        import pyproj

        return pyproj.Transformer.from_crs(self.crs.geodetic_crs, self.crs, always_xy=True)

    @functools.cached_property
    def _to_latlon(self) -> "pyproj.Transformer":
        import pyproj

        return pyproj.Transformer.from_crs(self.crs, self.crs.geodetic_crs, always_xy=True)

    def latlon_to_scan(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Scan angles ``(x, y)`` in radians of geodetic ``lat``, ``lon`` (degrees).

        Any array shapes that broadcast together; points the satellite cannot
        see come back as NaN.
        """
        lat, lon = np.broadcast_arrays(np.asarray(lat, float), np.asarray(lon, float))
        px, py = self._to_scan.transform(lon, lat, errcheck=False)
        h = self.perspective_point_height
        x = np.asarray(px, float) / h
        y = np.asarray(py, float) / h
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            x = np.where(bad, np.nan, x)
            y = np.where(bad, np.nan, y)
        return x, y

    def scan_to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Geodetic ``(lat, lon)`` in degrees of scan angles ``x``, ``y`` (radians).

        Longitudes are in [-180, 180). Scan angles that point past the Earth's
        limb come back as NaN.
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        h = self.perspective_point_height
        lon, lat = self._to_latlon.transform(x * h, y * h, errcheck=False)
        lon = np.asarray(lon, float)
        lat = np.asarray(lat, float)
        bad = ~(np.isfinite(lat) & np.isfinite(lon))
        with np.errstate(invalid="ignore"):
            lon = _wrap180(lon)
        if bad.any():
            lat = np.where(bad, np.nan, lat)
            lon = np.where(bad, np.nan, lon)
        return lat, lon

    latlon_to_xy = latlon_to_scan
    xy_to_latlon = scan_to_latlon

    def to_cf(self) -> tuple[str, dict[str, Any]]:
        """``goes_imager_projection`` with the source files' attributes (or
        those NOAA's files have for this grid); for another ``cf_variable``
        a CF ``geostationary`` mapping with ``crs_wkt``."""
        if self.cf_variable != GOES_PROJECTION_VARIABLE:
            return self.cf_variable, Grid.to_cf(self)[1]
        if self.cf_attrs:
            return self.cf_variable, dict(self.cf_attrs)
        return self.cf_variable, {
            "long_name": "GOES-R ABI fixed grid projection",
            "grid_mapping_name": "geostationary",
            "perspective_point_height": np.float64(self.perspective_point_height),
            "semi_major_axis": np.float64(self.semi_major_axis),
            "semi_minor_axis": np.float64(self.semi_minor_axis),
            "inverse_flattening": np.float64(self.semi_major_axis / (self.semi_major_axis - self.semi_minor_axis)),
            "latitude_of_projection_origin": np.float64(0.0),
            "longitude_of_projection_origin": np.float64(self.longitude_of_projection_origin),
            "sweep_angle_axis": self.sweep_angle_axis,
        }

    def coordinate_attrs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return ({"units": "rad", "long_name": "fixed-grid E/W scan angle", "axis": "X"},
                {"units": "rad", "long_name": "fixed-grid N/S scan angle", "axis": "Y"})


# -----------------------------------------------------------------------------
# regular latitude / longitude
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LatLonGrid(Grid):
    """A regular latitude/longitude grid: ``x`` longitude (degrees east, in
    [-180, 180)), ``y`` latitude (degrees north), geodetic on the ellipsoid
    ``semi_major_axis``, ``semi_minor_axis`` (m; WGS84 by default; equal axes:
    a sphere)."""

    semi_major_axis: float = WGS84[0]
    semi_minor_axis: float = WGS84[1]

    @property
    def ellipsoid(self) -> tuple[float, float]:
        return self.semi_major_axis, self.semi_minor_axis

    @property
    def proj_step(self) -> str:
        """Geodetic radians -> degrees (``x`` longitude, ``y`` latitude)."""
        return "+proj=unitconvert +xy_in=rad +xy_out=deg"

    def wrap_x(self, px: np.ndarray, lon0: float) -> np.ndarray:
        """Longitudes ``px`` (degrees) within 180 degrees of ``lon0`` wrapped
        to [-180, 180)."""
        ref = _wrap180(float(lon0))
        with np.errstate(invalid="ignore"):
            return ref + _wrap180(np.asarray(px, float) - ref)

    @functools.cached_property
    def crs(self) -> "pyproj.CRS":
        import pyproj

        if self.ellipsoid == WGS84:
            return pyproj.CRS.from_epsg(4326)
        return pyproj.CRS.from_proj4(f"+proj=longlat +a={self.semi_major_axis!r} +b={self.semi_minor_axis!r} "
                                     f"+no_defs")

    def latlon_to_xy(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``: longitude wrapped to [-180, 180) and latitude, degrees."""
        lat, lon = np.broadcast_arrays(np.asarray(lat, float), np.asarray(lon, float))
        with np.errstate(invalid="ignore"):
            return _wrap180(lon), lat.copy()

    def xy_to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` in degrees (longitude wrapped to [-180, 180))."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        with np.errstate(invalid="ignore"):
            return y.copy(), _wrap180(x)

    def to_cf(self) -> tuple[str, dict[str, Any]]:
        """``("crs", attrs)``: ``grid_mapping_name: latitude_longitude``, the ellipsoid and ``crs_wkt``."""
        a, b = self.ellipsoid
        attrs: dict[str, Any] = {"grid_mapping_name": "latitude_longitude", "semi_major_axis": a,
                                 "semi_minor_axis": b}
        if a != b:
            attrs["inverse_flattening"] = a / (a - b)
        attrs.update(longitude_of_prime_meridian=0.0, crs_wkt=self.crs.to_wkt())
        return "crs", attrs

    def coordinate_attrs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return ({"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude", "axis": "X"},
                {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude", "axis": "Y"})


# -----------------------------------------------------------------------------
# any other CRS
# -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProjectedGrid(Grid):
    """A grid of any projected :class:`pyproj.CRS` (``definition``: WKT, a
    PROJ string, ``EPSG:NNNN``; kept as WKT). Coordinates are its projected
    coordinates in metres (a CRS in km or feet is converted), or, for a
    rotated-pole grid (a derived geographic CRS), rotated longitude and
    latitude in degrees. Geodetic coordinates are on the CRS's own
    ellipsoid (no datum shift). A plain geographic CRS is a
    :class:`LatLonGrid`, a fixed grid a :class:`FixedGrid`."""

    definition: str

    def __post_init__(self) -> None:
        import pyproj

        try:
            crs = pyproj.CRS.from_user_input(self.definition)
        except pyproj.exceptions.CRSError as err:
            raise GridError(f"{str(self.definition)[:80]!r} is not a CRS PROJ can read ({err})") from None
        if crs.is_bound:  # +towgs84: the datum shift does not matter on the grid's own ellipsoid
            crs = crs.source_crs
        if crs.is_geographic and not crs.is_derived:
            raise GridError(f"{crs.name!r} is a plain geographic CRS: use LatLonGrid (grid_from_cf does)")
        object.__setattr__(self, "definition", crs.to_wkt())

    @functools.cached_property
    def crs(self) -> "pyproj.CRS":
        import pyproj

        return pyproj.CRS.from_wkt(self.definition)

    @property
    def rotated(self) -> bool:
        """Whether the coordinates are rotated degrees (a derived geographic CRS)."""
        return bool(self.crs.is_geographic)

    @property
    def ellipsoid(self) -> tuple[float, float]:
        e = self.crs.ellipsoid
        return float(e.semi_major_metre), float(e.semi_minor_metre)

    @functools.cached_property
    def proj_step(self) -> str:  # type: ignore[override]
        """The CRS's conversion as PROJ steps from geodetic radians (then to
        metres when its axes are in other lengths)."""
        import pyproj

        crs = self.crs
        base = crs.source_crs if crs.is_derived and crs.is_geographic else crs.geodetic_crs
        definition = pyproj.Transformer.from_crs(base, crs, always_xy=True).definition
        head, *steps = definition.split(" step ")
        if head.strip() != "proj=pipeline":
            head, steps = "", [definition]
        if steps and steps[0].split() == ["proj=unitconvert", "xy_in=deg", "xy_out=rad"]:
            steps = steps[1:]
        else:
            steps = ["proj=unitconvert xy_in=rad xy_out=deg"] + steps
        factor = 1.0 if self.rotated else float(crs.axis_info[0].unit_conversion_factor)
        if factor != 1.0:
            steps.append(f"proj=affine s11={factor!r} s22={factor!r}")
        return " +step ".join(" ".join(t if t.startswith("+") else "+" + t for t in s.split()) for s in steps)

    @functools.cached_property
    def _transformer(self) -> "pyproj.Transformer":
        import pyproj

        return pyproj.Transformer.from_pipeline(
            f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {self.proj_step}")

    def latlon_to_xy(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Projected ``(x, y)`` (m, or rotated degrees) of ``lat``, ``lon`` (degrees); NaN where undefined."""
        lat, lon = np.broadcast_arrays(np.asarray(lat, float), np.asarray(lon, float))
        x, y = self._transformer.transform(lon, lat, errcheck=False)
        return _nan_both(np.asarray(x, float), np.asarray(y, float))

    def xy_to_latlon(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """``(lat, lon)`` in degrees (longitude in [-180, 180)) of projected ``x``, ``y``."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        lon, lat = self._transformer.transform(x, y, errcheck=False, direction="INVERSE")
        lat, lon = _nan_both(np.asarray(lat, float), np.asarray(lon, float))
        with np.errstate(invalid="ignore"):
            return lat, _wrap180(lon)

    def coordinate_attrs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.rotated:
            return ({"units": "degrees", "standard_name": "grid_longitude", "long_name": "rotated longitude",
                     "axis": "X"},
                    {"units": "degrees", "standard_name": "grid_latitude", "long_name": "rotated latitude",
                     "axis": "Y"})
        return ({"units": "m", "standard_name": "projection_x_coordinate", "long_name": "x (easting)", "axis": "X"},
                {"units": "m", "standard_name": "projection_y_coordinate", "long_name": "y (northing)", "axis": "Y"})


def _nan_both(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bad = ~(np.isfinite(a) & np.isfinite(b))
    if bad.any():
        a, b = np.where(bad, np.nan, a), np.where(bad, np.nan, b)
    return a, b


AnyGrid = Union[FixedGrid, LatLonGrid, ProjectedGrid]


# -----------------------------------------------------------------------------
# reading grids back
# -----------------------------------------------------------------------------
def _ellipsoid_of(attrs: Mapping[str, Any]) -> tuple[float, float] | None:
    if "earth_radius" in attrs:
        r = float(attrs["earth_radius"])
        return r, r
    if "semi_major_axis" not in attrs:
        return None
    a = float(attrs["semi_major_axis"])
    if "semi_minor_axis" in attrs:
        return a, float(attrs["semi_minor_axis"])
    inv_f = float(attrs.get("inverse_flattening", 0.0))
    return a, (a if inv_f == 0 else a * (1.0 - 1.0 / inv_f))


def grid_from_cf(name: str, attrs: Mapping[str, Any], source: Any = "<dataset>") -> AnyGrid:
    """The grid of a CF grid-mapping variable ``name`` with attributes
    ``attrs``: ``goes_imager_projection`` or ``geostationary`` ->
    :class:`FixedGrid`; ``latitude_longitude`` (or a plain geographic
    ``crs_wkt``) -> :class:`LatLonGrid`; ``crs_wkt`` / ``spatial_ref`` or
    the CF projection attributes of any other mapping -> :class:`ProjectedGrid`.
    :class:`GridError` naming ``source`` when none applies."""
    attrs = dict(attrs)
    mapping = str(attrs.get("grid_mapping_name", ""))
    if name == GOES_PROJECTION_VARIABLE or mapping == "geostationary":
        return FixedGrid.from_cf(name, attrs, source)
    wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
    if mapping == "latitude_longitude" and not wkt:
        return LatLonGrid(*(_ellipsoid_of(attrs) or WGS84))
    import pyproj

    try:
        crs = pyproj.CRS.from_wkt(str(wkt)) if wkt else pyproj.CRS.from_cf(attrs) if mapping else None
    except pyproj.exceptions.CRSError as err:
        raise GridError(f"{source}: the grid mapping {name!r} is not a CRS PROJ can read ({err})") from None
    if crs is None:
        raise GridError(f"{source}: the grid mapping {name!r} has neither grid_mapping_name nor crs_wkt; "
                        f"a grid mapping needs one of them (CF conventions, section 5.6)")
    grid = grid_from_crs(crs)
    return replace(grid, cf_variable=str(name)) if isinstance(grid, FixedGrid) else grid


def grid_from_crs(crs: Any) -> AnyGrid:
    """The grid of a CRS (a :class:`pyproj.CRS` or anything it reads: WKT, a
    PROJ string, ``EPSG:NNNN``, e.g. a pyresample area's ``crs``): a plain
    geographic CRS is a :class:`LatLonGrid` on its ellipsoid, a ``geos``
    projection a :class:`FixedGrid` (coordinates: scan angles, radians; a
    ``crs`` grid-mapping variable), any other a :class:`ProjectedGrid`."""
    import pyproj

    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_bound:
        crs = crs.source_crs
    if crs.is_geographic and not crs.is_derived:
        e = crs.ellipsoid
        return LatLonGrid(float(e.semi_major_metre), float(e.semi_minor_metre))
    cf = crs.to_cf()
    if cf.get("grid_mapping_name") == "geostationary":
        return FixedGrid.from_cf("crs", cf, crs.name)
    return ProjectedGrid(crs.to_wkt())


def grid_mapping_name(ds: "xr.Dataset") -> str | None:
    """The grid-mapping variable of a dataset: the one named by the
    ``grid_mapping`` attribute of its composite variable (a composite) or of
    its first data variable that has one; None when none names one."""
    names = [ds.attrs.get("composite_variable")] + list(ds.data_vars)
    for n in names:
        if n is not None and n in ds.variables:
            gm = ds[n].attrs.get("grid_mapping") or ds[n].encoding.get("grid_mapping")
            if gm and str(gm).split(":")[0].strip() in ds.variables:
                return str(gm).split(":")[0].strip()
    return None


def grid_from_dataset(ds: "xr.Dataset") -> AnyGrid:
    """The grid of a dataset: its grid-mapping variable (:func:`grid_mapping_name`,
    else a ``goes_imager_projection`` or ``crs`` variable), or, without
    one, a WGS84 :class:`LatLonGrid` when its ``x``/``y`` are longitude and
    latitude (units ``degrees_east`` / ``degrees_north``)."""
    src = ds.encoding.get("source", "<dataset>")
    name = grid_mapping_name(ds)
    if name is None:
        name = next((n for n in (GOES_PROJECTION_VARIABLE, "crs") if n in ds.variables), None)
    if name is not None:
        return grid_from_cf(name, ds[name].attrs, src)
    if "x" in ds.variables and "y" in ds.variables and str(ds["x"].attrs.get("units")) == "degrees_east" \
            and str(ds["y"].attrs.get("units")) == "degrees_north":
        return LatLonGrid()
    raise GridError(f"{src}: no grid mapping variable (a 'grid_mapping' attribute naming one, "
                    f"'{GOES_PROJECTION_VARIABLE}' or 'crs') and no x/y in degrees_east/degrees_north, so its "
                    f"pixels cannot be located")
