"""An MTG-I1 FCI level 1c FDHSI chunk in EUMETSAT's netCDF layout, for the satpy source tests.

One body chunk (``count_in_repeat_cycle`` 17 of the 40 of a full-disc
repeat cycle) of the FDHSI product, as the FCI L1c Product User Guide lays
it out: the global attribute ``platform``; per channel a group
``data/<channel>/measured`` with ``effective_radiance`` (uint16 counts,
``scale_factor``/``add_offset`` to mW m-2 sr-1 (cm-1)-1, ``valid_range``,
``_FillValue`` off the Earth's disc), the pixel-centre angles ``x`` (positive
westward) and ``y`` (positive northward) as scaled uint16, the chunk's
``start/end_position_row/column`` in the full-disc grid (rows counted from
the south: the image is south-up), ``pixel_quality``, ``index_map`` and the
calibration constants (``channel_effective_solar_irradiance`` of the solar
channels, ``radiance_to_bt_conversion_*`` of the thermal ones, fill values
where a channel has none); ``data/mtg_geos_projection``; the auxiliary
look-up vectors of ``state/`` indexed by ``index``. Chunks are full disc
width (11136 columns at 1 km, 5568 at 2 km), 64 rows at 1 km.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from convml_tt.data.sources.goes_abi.navigation import FixedGrid

from imager_fixtures import cloud_fraction

__all__ = ["FCI_GRID", "FCI_START", "write_fci_chunk", "FCI_CHUNK"]

#: the FCI fixed grid (WGS84, sweep y)
FCI_GRID = FixedGrid(perspective_point_height=35786400.0, semi_major_axis=6378137.0,
                     semi_minor_axis=6378137.0 * (1 - 1 / 298.257223563), longitude_of_projection_origin=0.0,
                     sweep_angle_axis="y")
#: the repeat cycle the chunk belongs to (cycle 73 of the day: 12:00 UTC)
FCI_START = dt.datetime(2024, 6, 15, 12, 0)
#: the chunk number written
FCI_CHUNK = 17
#: full-disc angle coding by grid (scale factor and offset of the uint16 x and y, radians; columns, rows)
_GRIDS = {"1km": (2.79435763233999e-05, 1.55603804756852e-01, 11136), "2km": (5.58871526031607e-05, 1.55617776423501e-01, 5568)}
#: the chunk's first full-disc row (from the south) and rows, at 1 km (odd: the 2-km rows align)
_ROW0, _NROWS = 4559, 64
_SOLAR = {"vis_04": 37.4, "vis_05": 50.7, "vis_06": 66.8, "vis_08": 80.0, "vis_09": 79.0, "nir_13": 38.0,
          "nir_16": 32.0, "nir_22": 18.0}  # effective solar irradiance, mW m-2 (cm-1)-1
_THERMAL = {"ir_38": 2630.0, "wv_63": 1590.0, "wv_73": 1360.0, "ir_87": 1150.0, "ir_97": 1035.0, "ir_105": 952.4,
            "ir_123": 813.0, "ir_133": 752.0}  # central wavenumber, cm-1
_C1, _C2 = 1.19104273e-05, 1.43877523  # mW m-2 sr-1 (cm-1)-4, K cm
_A, _B = 0.9996, 0.35  # band correction: BT = c2 vc / (a ln(1 + c1 vc^3 / L)) - b / a
_LOOK = {"vis_04": (0.10, 0.62), "vis_05": (0.07, 0.61), "vis_06": (0.05, 0.60), "ir_105": (292.0, 284.0)}
_FILL = 65535
#: Sun-Earth distance written (km), its mean over the chunk in AU is what reflectances are scaled by
_SUN_KM = 1.5215e8


def _angles(grid: str, first_row: int, n_rows: int):
    """``x`` (eastward, radians, west to east) and ``y`` (north first) of the
    pixel centres of rows ``first_row`` .. (from the south) at 1 or 2 km, and
    the stored uint16 codes of the file's own order (x: as the file, y: south first)."""
    scale, offset, ncols = _GRIDS[grid]
    cols = np.arange(1, ncols + 1)
    rows = np.arange(first_row, first_row + n_rows)
    x_west = offset - scale * cols  # the file's x: positive westward, so column 1 is the western edge
    y_north = -offset + scale * rows
    return -x_west, y_north[::-1], cols, rows


def _rad_scale(channel: str) -> float:
    return _SOLAR[channel] / np.pi / 3000.0 if channel in _SOLAR else 0.05


def _values(channel: str, counts: np.ndarray) -> np.ndarray:
    """Reflectance factor or BT (K) of ``counts`` (FCI L1c PUG calibration)."""
    rad = np.where(counts == _FILL, np.nan, counts * _rad_scale(channel))
    if channel in _SOLAR:
        return rad * np.pi * (_SUN_KM / 149597870.7) ** 2 / _SOLAR[channel]
    vc = _THERMAL[channel]
    with np.errstate(divide="ignore"):
        return _C2 * vc / (_A * np.log(1 + _C1 * vc ** 3 / rad)) - _B / _A


def _counts(channel: str, value: np.ndarray) -> np.ndarray:
    if channel in _SOLAR:
        rad = value * _SOLAR[channel] / (np.pi * (_SUN_KM / 149597870.7) ** 2)
    else:
        vc = _THERMAL[channel]
        rad = _C1 * vc ** 3 / np.expm1(_C2 * vc / (_A * value + _B))
    return np.clip(np.rint(rad / _rad_scale(channel)), 0, 4095)


def write_fci_chunk(folder, seed: int = 0, bad_pixel: tuple[int, int] | None = None):
    """Write the chunk; returns ``(path, truth)``, ``truth[channel] =
    (values, x, y)`` for vis_04, vis_05, vis_06 and ir_105 (north first, x
    eastward); ``bad_pixel`` (row north first, column, at 1 km) gets
    ``pixel_quality`` 1 (not good) in vis_06."""
    import netCDF4

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chunk_start = FCI_START + dt.timedelta(seconds=205)
    name = ("W_XX-EUMETSAT-Darmstadt,IMG+SAT,MTI1+FCI-1C-RRAD-FDHSI-FD--CHK-BODY--DIS-NC4E_C_EUMT_"
            f"{chunk_start + dt.timedelta(minutes=9):%Y%m%d%H%M%S}_IDPFI_OPE_{chunk_start:%Y%m%d%H%M%S}_"
            f"{chunk_start + dt.timedelta(seconds=9):%Y%m%d%H%M%S}_N__C_{FCI_START.hour * 6 + FCI_START.minute // 10 + 1:04d}"
            f"_{FCI_CHUNK:04d}.nc")
    path = folder / name
    truth = {}
    n_index = 8
    with netCDF4.Dataset(path, "w") as nc:
        nc.platform = "MTI1"
        nc.createDimension("index", n_index)
        nc.createVariable("index", "u2", ("index",))[:] = np.arange(n_index) + 100
        t = nc.createVariable("time", "f8", ("index",))
        t.units = "seconds since 2000-01-01 00:00:00.0"
        t[:] = (chunk_start - dt.datetime(2000, 1, 1)).total_seconds() + np.arange(n_index)
        state = {"state/celestial/earth_sun_distance": _SUN_KM, "state/celestial/sun_satellite_distance": _SUN_KM,
                 "state/celestial/subsolar_latitude": 23.3, "state/celestial/subsolar_longitude": 0.5,
                 "state/platform/platform_altitude": 35786400.0, "state/platform/subsatellite_latitude": 0.01,
                 "state/platform/subsatellite_longitude": -0.02}
        for var, value in state.items():
            nc.createVariable(var, "f4", ("index",))[:] = np.full(n_index, value, np.float32)
        nc.createVariable("data/swath_number", "u2", ("index",))[:] = np.arange(n_index)
        nc.createVariable("data/swath_direction", "u1", ("index",))[:] = np.zeros(n_index)
        proj = nc.createVariable("data/mtg_geos_projection", "i4")
        proj.setncatts({"grid_mapping_name": "geostationary", "sweep_angle_axis": "y",
                        "perspective_point_height": FCI_GRID.perspective_point_height,
                        "semi_major_axis": FCI_GRID.semi_major_axis, "inverse_flattening": 298.257223563,
                        "longitude_of_projection_origin": 0.0, "units": "m"})
        geometry = {}
        for grid, k in (("1km", 1), ("2km", 2)):
            first, n = (_ROW0 - 1) // k + 1, _NROWS // k
            x, y, cols, rows = _angles(grid, first, n)
            geometry[grid] = (first, n, x, y, cols) + FCI_GRID.scan_to_latlon(*np.meshgrid(x, y))
        for channel in list(_SOLAR) + list(_THERMAL):
            grid = "1km" if channel in _SOLAR else "2km"
            first, n, x, y, cols, lat, lon = geometry[grid]
            if channel in _LOOK:
                clear, cloud = _LOOK[channel]
                counts = _counts(channel, clear + (cloud - clear) * cloud_fraction(lat, lon, seed))
            else:
                counts = np.full(lat.shape, 1000.0)
            counts[~np.isfinite(lat)] = _FILL
            counts = counts.astype(np.uint16)
            if channel in _LOOK:
                truth[channel] = (_values(channel, counts.astype(float)), x, y)
            _write_channel(nc, channel, counts[::-1], grid, first, n, cols.size,
                           bad_pixel if channel == "vis_06" else None)
    return path, truth


def _write_channel(nc, channel: str, counts_south_first, grid: str, first_row: int, n_rows: int, n_cols: int,
                   bad_pixel) -> None:
    import netCDF4

    scale, offset, _ = _GRIDS[grid]
    grp = nc.createGroup(f"data/{channel}/measured")
    grp.createDimension("y", n_rows)
    grp.createDimension("x", n_cols)
    r = grp.createVariable("effective_radiance", "u2", ("y", "x"), zlib=True, fill_value=np.uint16(_FILL))
    r.set_auto_maskandscale(False)
    r[:] = counts_south_first
    r.setncatts({"scale_factor": np.float32(_rad_scale(channel)), "add_offset": np.float32(0.0),
                 "warm_scale_factor": np.float32(_rad_scale(channel)), "warm_add_offset": np.float32(0.0),
                 "valid_range": np.array([0, 4095], np.uint16), "long_name": "effective radiance",
                 "units": "mW.m-2.sr-1.(cm-1)-1", "ancillary_variables": "pixel_quality"})
    for coord, values, sf, off in (("x", np.arange(1, n_cols + 1), -scale, offset),
                                   ("y", np.arange(first_row, first_row + n_rows), scale, -offset)):
        v = grp.createVariable(coord, "u2", (coord,))
        v.set_auto_maskandscale(False)
        v[:] = values
        v.setncatts({"scale_factor": sf, "add_offset": off, "units": "radian"})
    for which, value in (("start_position_row", first_row), ("end_position_row", first_row + n_rows - 1),
                         ("start_position_column", 1), ("end_position_column", n_cols)):
        grp.createVariable(which, "u2")[...] = value
    q = np.zeros(counts_south_first.shape, np.uint8)
    if bad_pixel is not None:
        q[n_rows - 1 - bad_pixel[0], bad_pixel[1]] = 1
    grp.createVariable("pixel_quality", "u1", ("y", "x"), zlib=True)[:] = q
    grp.createVariable("index_map", "u2", ("y", "x"), zlib=True, fill_value=np.uint16(65535))[:] = \
        np.full(counts_south_first.shape, 103, np.uint16)
    grp.createVariable("radiance_unit_conversion_coefficient", "f4")[...] = 1.0
    fill = netCDF4.default_fillvals["f4"]
    solar = channel in _SOLAR
    grp.createVariable("channel_effective_solar_irradiance", "f4")[...] = _SOLAR[channel] if solar else fill
    consts = {"coefficient_wavenumber": _THERMAL.get(channel), "coefficient_a": _A, "coefficient_b": _B,
              "constant_c1": _C1, "constant_c2": _C2}
    for k, v in consts.items():
        grp.createVariable(f"radiance_to_bt_conversion_{k}", "f4")[...] = fill if solar else v
