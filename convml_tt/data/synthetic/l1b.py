"""ABI L1b radiance files written the way real ones are laid out.

Each band file ``OR_ABI-L1b-Rad{sector}-M6C{band:02d}_G{sat}_s..._e..._c....nc``
holds ``Rad`` (radiance, W m-2 sr-1 um-1, packed as unsigned 10- or 12-bit
integers in int16 with ``_Unsigned``, ``scale_factor``, ``add_offset``,
``_FillValue``, ``valid_range`` of the real per-band constants), ``DQF``,
``x``/``y`` int16-packed scan angles (``y`` scale negative: row 0 is north),
``goes_imager_projection``, ``t``, ``time_bounds``, ``band_id``,
``band_wavelength``, ``esun``, ``kappa0``, ``earth_sun_distance_anomaly_in_AU``,
``planck_*`` (NaN, as real reflective-band files have), the nominal
sub-satellite point, ``x_image``/``y_image``, ``geospatial_lat_lon_extent``
and radiance statistics; zlib-compressed in 226x226 chunks like real files.
The global attribute ``comment`` says the file is synthetic.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import uuid
from pathlib import Path

import numpy as np

from ..._io import atomic_path
from ..sources.goes_abi import FixedGrid
from .geometry import SATELLITE_POSITIONS
from .textures import _hash_uniform

__all__ = ["BAND_CONSTANTS", "EMISSIVE_CONSTANTS", "brightness_temperature_to_radiance", "SCAN_SECONDS", "SCENE_IDS", "CHUNK", "earth_sun_distance_au", "kappa0_for", "write_abi_l1b"]

#: per-band constants of real GOES-16 L1b files: (central wavelength um,
#: nominal resolution km, bit depth, Rad scale_factor, Rad add_offset, esun W m-2 um-1)
BAND_CONSTANTS: dict[int, tuple[float, float, int, float, float, float]] = {
    1: (0.47, 1.0, 10, 0.8121064, -25.936647, 2017.1648),
    2: (0.64, 0.5, 12, 0.15859237, -20.289911, 1631.3351),
    3: (0.865, 1.0, 10, 0.37691253, -12.037643, 957.0699),
    4: (1.378, 2.0, 11, 0.07073108, -4.5223684, 360.90176),
    5: (1.61, 1.0, 10, 0.09580004, -3.0596137, 242.54037),
    6: (2.25, 2.0, 10, 0.030088475, -0.9609507, 76.8999),
}
#: constants of the emissive bands written, from the real GOES-17 band-13 L1b file
#: of the shared goes_real data: (central wavelength um, nominal resolution km,
#: bit depth, Rad scale_factor, Rad add_offset, planck_fk1 (W m-1), planck_fk2 (K),
#: planck_bc1 (K), planck_bc2)
EMISSIVE_CONSTANTS: dict[int, tuple[float, float, int, float, float, float, float, float, float]] = {
    13: (10.33, 2.0, 12, 0.04572892, -1.6443, 10835.6, 1394.12, 0.07786, 0.99974),
}
#: scan duration by sector in scan mode 6 (s), as in real file names
SCAN_SECONDS = {"M1": 7.0, "M2": 7.0, "C": 157.0, "F": 571.0}
SCENE_IDS = {"M1": "Mesoscale", "M2": "Mesoscale", "C": "CONUS", "F": "Full Disk"}
#: the real on-disk chunk size of L1b files
CHUNK = 226
#: the J2000 epoch of the files' times (naive UTC)
_J2000 = dt.datetime(2000, 1, 1, 12)


def earth_sun_distance_au(time: dt.datetime) -> float:
    """Earth-Sun distance (AU) on ``time``'s day (low-order approximation)."""
    doy = time.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (doy - 4)))


def kappa0_for(band: int, time: dt.datetime) -> tuple[np.float32, np.float32, np.float32]:
    """``(kappa0, esun, d)``: radiance-to-reflectance factor
    ``kappa0 = pi d^2 / esun`` (sr m2 um W-1) as stored (float32)."""
    esun = np.float32(BAND_CONSTANTS[band][5])
    d = np.float32(earth_sun_distance_au(time))
    kappa0 = np.float32(np.pi * float(d) ** 2 / float(esun))
    return kappa0, esun, d


def brightness_temperature_to_radiance(bt, band: int):
    """Radiance (mW m-2 sr-1 (cm-1)-1) of brightness temperature ``bt`` (K)
    in emissive ``band``: the inverse of the ABI Planck calibration (PUG
    5.1.3.6.6) ``bt = (fk2 / ln(fk1 / rad + 1) - bc1) / bc2`` with the band's
    :data:`EMISSIVE_CONSTANTS`."""
    fk1, fk2, bc1, bc2 = EMISSIVE_CONSTANTS[band][5:]
    t_eff = bc1 + bc2 * np.asarray(bt, np.float64)
    return fk1 / np.expm1(fk2 / t_eff)


def _j2000(t: dt.datetime) -> float:
    return (t - _J2000).total_seconds()


def _iso(t: dt.datetime) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 100000}Z"


def _write_projection(nc, grid: FixedGrid):
    """The ``goes_imager_projection`` variable of real ABI files, for ``grid``."""
    g = nc.createVariable("goes_imager_projection", "i4")
    g.long_name = "GOES-R ABI fixed grid projection"
    g.grid_mapping_name = "geostationary"
    g.perspective_point_height = np.float64(grid.perspective_point_height)
    g.semi_major_axis = np.float64(grid.semi_major_axis)
    g.semi_minor_axis = np.float64(grid.semi_minor_axis)
    g.inverse_flattening = np.float64(298.2572221)
    g.latitude_of_projection_origin = np.float64(0.0)
    g.longitude_of_projection_origin = np.float64(grid.longitude_of_projection_origin)
    g.sweep_angle_axis = grid.sweep_angle_axis
    return g


def write_abi_l1b(
    path: str | os.PathLike,
    rad: np.ndarray,
    band: int,
    x: tuple[np.float32, np.float32],
    y: tuple[np.float32, np.float32],
    start: dt.datetime,
    end: dt.datetime,
    created: dt.datetime,
    grid: FixedGrid,
    satellite: int = 16,
    sector: str = "M1",
    resolution_km: float | None = None,
    comment: str = "",
) -> Path:
    """Write one ABI L1b radiance file the way real ones are laid out.

    Parameters
    ----------
    path:
        the file to write (written to a temporary name in the same folder,
        then renamed).
    rad:
        radiance, W m-2 sr-1 um-1, float ``(ny, nx)``, row 0 north; NaN for
        pixels off the Earth's disk (written as ``_FillValue``, DQF 255).
    band:
        reflective ABI band 1-6, or an emissive band of :data:`EMISSIVE_CONSTANTS`
        (13; ``rad`` then in mW m-2 sr-1 (cm-1)-1, Planck constants written).
    x, y:
        ``(scale_factor, add_offset)`` float32 packing of the scan angles (rad);
        the pixel centres are ``offset + i * scale`` (``y``'s scale negative).
    start, end, created:
        scan start and end and file creation (naive UTC).
    grid:
        fixed-grid projection.
    satellite, sector:
        16-19 and ``"M1"``/``"M2"``/``"C"``/``"F"``.
    resolution_km:
        nominal resolution (default: the band's own).
    comment:
        text for the global ``comment`` attribute.
    """
    import netCDF4

    path = Path(path)
    emissive = band in EMISSIVE_CONSTANTS
    if band not in BAND_CONSTANTS and not emissive:
        raise ValueError(f"band {band!r} must be a reflective ABI band 1-6 or an emissive band of "
                         f"{tuple(EMISSIVE_CONSTANTS)}")
    wavelength, band_res, bits, scale, offset = (EMISSIVE_CONSTANTS[band] if emissive else BAND_CONSTANTS[band])[:5]
    res = band_res if resolution_km is None else float(resolution_km)
    rad = np.asarray(rad)
    if rad.ndim != 2:
        raise ValueError(f"rad must be a 2-d (y, x) array, got shape {rad.shape}")
    ny, nx = rad.shape
    fill = 2**bits - 1
    if emissive:  # real emissive files: esun and kappa0 are fill values
        kappa0, esun = np.float32(-999.0), np.float32(-999.0)
        dsun = np.float32(earth_sun_distance_au(start))
    else:
        kappa0, esun, dsun = kappa0_for(band, start)
    scale32, offset32 = np.float32(scale), np.float32(offset)

    valid = np.isfinite(rad)
    counts_f = np.rint((np.where(valid, rad, 0.0) - float(offset32)) / float(scale32))
    saturated = valid & (counts_f > fill - 1)
    under = valid & (counts_f < 0)
    counts = np.clip(counts_f, 0, fill - 1).astype(np.int16)
    counts[~valid] = fill
    dqf = np.zeros(rad.shape, np.int8)
    dqf[saturated | under] = 2
    dqf[~valid] = -1
    decoded = counts.astype(np.float64) * float(scale32) + float(offset32)
    good = decoded[valid]

    lon0 = grid.longitude_of_projection_origin
    pos = SATELLITE_POSITIONS.get(satellite, (lon0, lon0, "GOES-Test", "FM?"))
    key_name = path.name
    x_vals = np.arange(nx) * float(x[0]) + float(x[1])
    y_vals = np.arange(ny) * float(y[0]) + float(y[1])
    half_x = 0.5 * abs(float(x[0]))
    half_y = 0.5 * abs(float(y[0]))

    # lat/lon extent of the sector (sampled edges, on-disk points only)
    ex = np.r_[x_vals[:: max(1, nx // 32)], x_vals[-1]]
    ey = np.r_[y_vals[:: max(1, ny // 32)], y_vals[-1]]
    exx, eyy = np.meshgrid(ex, ey)
    elat, elon = grid.scan_to_latlon(exx, eyy)
    clat, clon = grid.scan_to_latlon(0.5 * (x_vals[0] + x_vals[-1]), 0.5 * (y_vals[0] + y_vals[-1]))

    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            nc.set_auto_maskandscale(False)
            nc.createDimension("y", ny)
            nc.createDimension("x", nx)
            nc.createDimension("number_of_time_bounds", 2)
            nc.createDimension("band", 1)
            nc.createDimension("number_of_image_bounds", 2)
            chunks = (min(CHUNK, ny), min(CHUNK, nx))

            v = nc.createVariable(
                "Rad", "i2", ("y", "x"), zlib=True, complevel=1, shuffle=True,
                chunksizes=chunks, fill_value=np.int16(fill),
            )
            v.long_name = "ABI L1b Radiances"
            v.standard_name = ("toa_outgoing_radiance_per_unit_wavenumber" if emissive
                               else "toa_outgoing_radiance_per_unit_wavelength")
            v._Unsigned = "true"
            v.sensor_band_bit_depth = np.int8(bits)
            v.valid_range = np.array([0, fill - 1], np.int16)
            v.scale_factor = scale32
            v.add_offset = offset32
            v.units = "mW m-2 sr-1 (cm-1)-1" if emissive else "W m-2 sr-1 um-1"
            sp = abs(float(x[0]))
            v.resolution = f"y: {sp:.6f} rad x: {sp:.6f} rad"
            v.coordinates = "band_id band_wavelength t y x"
            v.grid_mapping = "goes_imager_projection"
            v.cell_methods = "t: point area: point"
            v.ancillary_variables = "DQF"
            v.set_auto_maskandscale(False)
            v[:] = counts

            q = nc.createVariable(
                "DQF", "i1", ("y", "x"), zlib=True, complevel=1, shuffle=True,
                chunksizes=chunks, fill_value=np.int8(-1),
            )
            q.long_name = "ABI L1b Radiances data quality flags"
            q.standard_name = "status_flag"
            q._Unsigned = "true"
            q.valid_range = np.array([0, 3], np.int8)
            q.units = "1"
            q.coordinates = "band_id band_wavelength t y x"
            q.grid_mapping = "goes_imager_projection"
            q.cell_methods = "t: point area: point"
            q.flag_values = np.array([0, 1, 2, 3], np.int8)
            q.flag_meanings = (
                "good_pixel_qf conditionally_usable_pixel_qf out_of_range_pixel_qf no_value_pixel_qf"
            )
            q.number_of_qf_values = np.int8(4)
            n_all = float(ny * nx)
            q.percent_good_pixel_qf = np.float32(np.count_nonzero(dqf == 0) / n_all)
            q.percent_conditionally_usable_pixel_qf = np.float32(0.0)
            q.percent_out_of_range_pixel_qf = np.float32(np.count_nonzero(dqf == 2) / n_all)
            q.percent_no_value_pixel_qf = np.float32(np.count_nonzero(dqf == -1) / n_all)
            q.set_auto_maskandscale(False)
            q[:] = dqf

            t = nc.createVariable("t", "f8")
            t.long_name = "J2000 epoch mid-point between the start and end image scan in seconds"
            t.standard_name = "time"
            t.units = "seconds since 2000-01-01 12:00:00"
            t.axis = "T"
            t.bounds = "time_bounds"
            t[...] = 0.5 * (_j2000(start) + _j2000(end))

            for name, (sc, off), axis in (("y", y, "Y"), ("x", x, "X")):
                c = nc.createVariable(name, "i2", (name,))
                c.scale_factor = np.float32(sc)
                c.add_offset = np.float32(off)
                c.units = "rad"
                c.axis = axis
                c.long_name = f"GOES fixed grid projection {name}-coordinate"
                c.standard_name = f"projection_{name}_coordinate"
                c.set_auto_maskandscale(False)
                c[:] = np.arange(ny if name == "y" else nx, dtype=np.int16)

            tb = nc.createVariable("time_bounds", "f8", ("number_of_time_bounds",))
            tb.long_name = "Scan start and end times in seconds since epoch (2000-01-01 12:00:00)"
            tb[:] = [_j2000(start), _j2000(end)]

            _write_projection(nc, grid)[...] = -2147483647  # as in real files

            for name, vals, attrs in (
                ("y_image", 0.5 * (y_vals[0] + y_vals[-1]), ("y", "center of image", "Y")),
                ("x_image", 0.5 * (x_vals[0] + x_vals[-1]), ("x", "center of image", "X")),
            ):
                c = nc.createVariable(name, "f4")
                c.long_name = f"GOES-R fixed grid projection {attrs[0]}-coordinate {attrs[1]}"
                c.standard_name = f"projection_{attrs[0]}_coordinate"
                c.units = "rad"
                c.axis = attrs[2]
                c[...] = np.float32(vals)
            yb = nc.createVariable("y_image_bounds", "f4", ("number_of_image_bounds",))
            yb.long_name = "GOES-R fixed grid projection y-coordinate north/south extent of image"
            yb.units = "rad"
            yb[:] = [y_vals[0] + half_y, y_vals[-1] - half_y]
            xb = nc.createVariable("x_image_bounds", "f4", ("number_of_image_bounds",))
            xb.long_name = "GOES-R fixed grid projection x-coordinate west/east extent of image"
            xb.units = "rad"
            xb[:] = [x_vals[0] - half_x, x_vals[-1] + half_x]

            for name, val, units, long in (
                ("nominal_satellite_subpoint_lat", 0.0, "degrees_north", "nominal satellite subpoint latitude (platform latitude)"),
                ("nominal_satellite_subpoint_lon", pos[1], "degrees_east", "nominal satellite subpoint longitude (platform longitude)"),
                ("nominal_satellite_height", grid.perspective_point_height / 1000.0, "km", "nominal satellite height above GRS 80 ellipsoid (platform altitude)"),
            ):
                c = nc.createVariable(name, "f4")
                c.long_name = long
                c.units = units
                c[...] = np.float32(val)

            g = nc.createVariable("geospatial_lat_lon_extent", "f4")
            g.long_name = "geospatial latitude and longitude references"
            with np.errstate(invalid="ignore"):
                g.geospatial_westbound_longitude = np.float32(np.nanmin(elon))
                g.geospatial_northbound_latitude = np.float32(np.nanmax(elat))
                g.geospatial_eastbound_longitude = np.float32(np.nanmax(elon))
                g.geospatial_southbound_latitude = np.float32(np.nanmin(elat))
            g.geospatial_lat_center = np.float32(clat)
            g.geospatial_lon_center = np.float32(clon)
            g.geospatial_lat_nadir = np.float32(0.0)
            g.geospatial_lon_nadir = np.float32(pos[1])
            g.geospatial_lat_units = "degrees_north"
            g.geospatial_lon_units = "degrees_east"
            g[...] = np.float32(9.96921e36)

            yf = nc.createVariable("yaw_flip_flag", "i1")
            yf.long_name = "Flag indicating the spacecraft is operating in yaw flip configuration"
            yf._Unsigned = "true"
            yf.valid_range = np.array([0, 1], np.int8)
            yf.units = "1"
            yf.flag_values = np.array([0, 1], np.int8)
            yf.flag_meanings = "false true"
            yf.set_auto_maskandscale(False)
            yf[...] = np.int8(0)

            bi = nc.createVariable("band_id", "i1", ("band",))
            bi.long_name = "ABI band number"
            bi.standard_name = "sensor_band_identifier"
            bi.units = "1"
            bi[:] = [band]
            bw = nc.createVariable("band_wavelength", "f4", ("band",))
            bw.long_name = "ABI band central wavelength"
            bw.standard_name = "sensor_band_central_radiation_wavelength"
            bw.units = "um"
            bw[:] = [wavelength]

            c = nc.createVariable("esun", "f4", fill_value=np.float32(-999.0))
            c.long_name = "bandpass-weighted solar irradiance at the mean Earth-Sun distance"
            c.units = "W m-2 um-1"
            c.coordinates = "band_id band_wavelength t"
            c[...] = esun
            c = nc.createVariable("kappa0", "f4", fill_value=np.float32(-999.0))
            c.long_name = (
                "Inverse of the incoming top of atmosphere radiance at current earth-sun "
                "distance (PI d2 esun-1)-1, where d is the ratio of instantaneous Earth-Sun "
                "distance divided by the mean Earth-Sun distance, esun is the bandpass-weighted "
                "solar irradiance and PI is a standard constant used to convert ABI L1b "
                "radiance to reflectance"
            )
            c.units = "(W m-2 um-1)-1"
            c.coordinates = "band_id band_wavelength t"
            c[...] = kappa0
            for k, (name, units) in enumerate((
                ("planck_fk1", "W m-1"), ("planck_fk2", "K"), ("planck_bc1", "K"), ("planck_bc2", "1"),
            )):
                c = nc.createVariable(name, "f4", fill_value=np.float32(-999.0))
                c.long_name = f"wavenumber-dependent coefficient ({name[-3:]}) used in the ABI emissive band monochromatic brightness temperature computation"
                c.units = units
                c.coordinates = "band_id band_wavelength t"
                c[...] = np.float32(EMISSIVE_CONSTANTS[band][5 + k] if emissive else np.nan)
            c = nc.createVariable("earth_sun_distance_anomaly_in_AU", "f4")
            c.long_name = "earth sun distance anomaly in astronomical units"
            c.units = "ua"
            c[...] = dsun

            stats = {
                "min_radiance_value_of_valid_pixels": (good.min() if good.size else np.nan, "mW m-2 sr-1 (cm-1)-1" if emissive else "W m-2 sr-1 um-1"),
                "max_radiance_value_of_valid_pixels": (good.max() if good.size else np.nan, "mW m-2 sr-1 (cm-1)-1" if emissive else "W m-2 sr-1 um-1"),
                "mean_radiance_value_of_valid_pixels": (good.mean() if good.size else np.nan, "mW m-2 sr-1 (cm-1)-1" if emissive else "W m-2 sr-1 um-1"),
                "std_dev_radiance_value_of_valid_pixels": (good.std() if good.size else np.nan, "mW m-2 sr-1 (cm-1)-1" if emissive else "W m-2 sr-1 um-1"),
            }
            for name, (val, units) in stats.items():
                c = nc.createVariable(name, "f4")
                c.long_name = name.replace("_", " ")
                c.units = units
                c[...] = np.float32(val)
            for name, val in (
                ("valid_pixel_count", np.count_nonzero(valid)),
                ("missing_pixel_count", 0),
                ("saturated_pixel_count", np.count_nonzero(saturated)),
                ("undersaturated_pixel_count", np.count_nonzero(under)),
                ("focal_plane_temperature_threshold_exceeded_count", 0),
            ):
                c = nc.createVariable(name, "i4")
                c.long_name = name.replace("_", " ")
                c.units = "count"
                c[...] = np.int32(val)
            c = nc.createVariable("percent_uncorrectable_L0_errors", "f4")
            c.long_name = "percent data lost due to uncorrectable L0 errors"
            c.units = "percent"
            c[...] = np.float32(0.0)
            for name in (
                "algorithm_dynamic_input_data_container",
                "processing_parm_version_container",
                "algorithm_product_version_container",
            ):
                c = nc.createVariable(name, "i4")
                c.long_name = name.replace("_", " ")
                c[...] = np.int32(-2147483647)

            nc.setncatts({
                "naming_authority": "gov.nesdis.noaa",
                "Conventions": "CF-1.7",
                "Metadata_Conventions": "Unidata Dataset Discovery v1.0",
                "standard_name_vocabulary": "CF Standard Name Table (v35, 20 February 2017)",
                "institution": "DOC/NOAA/NESDIS > U.S. Department of Commerce, National Oceanic and Atmospheric Administration, National Environmental Satellite, Data, and Information Services",
                "project": "GOES",
                "production_site": "RBU",
                "production_environment": "OE",
                "spatial_resolution": f"{res:g}km at nadir",
                "orbital_slot": pos[2],
                "platform_ID": f"G{satellite}",
                "instrument_type": "GOES R Series Advanced Baseline Imager",
                "scene_id": SCENE_IDS.get(sector, "Mesoscale"),
                "instrument_ID": pos[3],
                "dataset_name": key_name,
                "iso_series_metadata_id": "a70be540-c38b-11e0-962b-0800200c9a66",
                "title": "ABI L1b Radiances",
                "summary": ("Single emissive band ABI L1b Radiance Products are digital maps of outgoing radiance values at the top of the atmosphere for IR bands." if emissive else
                            "Single reflective band ABI L1b Radiance Products are digital maps of outgoing radiance values at the top of the atmosphere for visible and near-IR bands."),
                "keywords": ("SPECTRAL/ENGINEERING > INFRARED WAVELENGTHS > INFRARED RADIANCE" if emissive else
                             "SPECTRAL/ENGINEERING > VISIBLE WAVELENGTHS > RADIANCE"),
                "keywords_vocabulary": "NASA Global Change Master Directory (GCMD) Earth Science Keywords, Version 7.0.0.0.0",
                "license": "Unclassified data.  Access is restricted to approved users only.",
                "processing_level": "National Aeronautics and Space Administration (NASA) L1b",
                "date_created": _iso(created),
                "cdm_data_type": "Image",
                "time_coverage_start": _iso(start),
                "time_coverage_end": _iso(end),
                "timeline_id": "ABI Mode 6",
                "production_data_source": "Realtime",
                "id": str(uuid.UUID(int=int(_hash_uniform(band, satellite, int(_j2000(start)), 5) * 2**53) << 64 | 0x4000_8000_0000_0000)),
                "comment": comment or "SYNTHETIC scene written by convml_tt.data.synthetic; not an observation",
            })
    return path
