"""Small imager files in the producers' own formats, for the satpy source tests.

Each writer puts a deterministic cloud field (:func:`cloud_fraction`, a
function of latitude and longitude, so every band and resolution sees the
same clouds) into a small window of the imager's real fixed grid and
returns, with the paths, the *truth*: per band the physical values the
stored counts encode (computed here, in float64, from the counts with the
producers' documented calibration) and the pixels' scan angles (radians,
row 0 north, x increasing eastward).

- :func:`write_ahi_hsd`: Himawari-9 AHI, JMA Himawari Standard Data (HSD,
  the binary format of the Himawari Standard Data User's Guide v1.3: 11
  header blocks, then uint16 counts), one file per band and segment,
  named ``HS_H09_YYYYMMDD_HHMM_Bbb_FLDK_Rrr_Sssnn.DAT``; the window is cut
  from the full disk (its COFF/LOFF shifted by the window's first column
  and line, as JMA's target-area files carry their own offsets) and split
  into ``segments`` segments of equal height.
- :func:`write_seviri_nc`: Meteosat-11 SEVIRI level 1.5 in EUMETSAT's
  netCDF layout (``ch1`` .. ``ch11`` counts with ``scale_factor`` /
  ``add_offset`` to radiance, rows stored south first, the window's first
  and last lines and pixels counted from the south-east corner of the 3712
  x 3712 grid, per-line quality and acquisition times, the orbit
  polynomial), all bands in one file.

Run as a script to write them into a folder:
``python tests/imager_fixtures.py OUT_DIR``.
"""
from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

import numpy as np

from convml_tt.data.sources.goes_abi.navigation import FixedGrid

__all__ = ["cloud_fraction", "AHI_GRID", "write_ahi_hsd", "SEVIRI_GRID", "write_seviri_nc", "planck_wavelength",
           "AHI_START", "SEVIRI_START"]

#: Planck's and Boltzmann's constants and the speed of light as AHI headers store them (SI)
_H, _K, _C = 6.62606957e-34, 1.3806488e-23, 299792458.0


def cloud_fraction(lat, lon, seed: int = 0) -> np.ndarray:
    """A smooth cloud field in [0, 1] of ``lat``, ``lon`` (degrees): a sum of
    eight plane waves of 40-150 km wavelength with seeded directions and
    phases, clipped to clear sky below a threshold (about half the area
    cloudy, with sharp-ish edges)."""
    rng = np.random.default_rng(seed)
    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    x = np.radians(lon) * 6371.0 * np.cos(np.radians(lat))
    y = np.radians(lat) * 6371.0
    f = np.zeros(np.broadcast(lat, lon).shape)
    for _ in range(8):
        k = 2 * np.pi / rng.uniform(40.0, 150.0)
        theta, phase = rng.uniform(0, 2 * np.pi, 2)
        f += np.cos(k * (np.cos(theta) * x + np.sin(theta) * y) + phase)
    return np.clip((f / 8 ** 0.5 - 0.1) / 0.6, 0.0, 1.0)


def planck_wavelength(t, wavelength_um: float):
    """Spectral radiance (W m-2 sr-1 um-1) of a black body at ``t`` (K) at ``wavelength_um``."""
    lam = wavelength_um * 1e-6
    return 2 * _H * _C ** 2 / (lam ** 5 * np.expm1(_H * _C / (_K * lam * np.asarray(t, float)))) * 1e-6


def _mjd(t: dt.datetime) -> float:
    return (t - dt.datetime(1858, 11, 17)).total_seconds() / 86400.0


# -----------------------------------------------------------------------------
# Himawari-9 AHI, HSD
# -----------------------------------------------------------------------------
#: the fixed grid of Himawari-9 HSD files (distance 42164 km from the Earth's centre)
AHI_GRID = FixedGrid(perspective_point_height=42164000.0 - 6378137.0, semi_major_axis=6378137.0,
                     semi_minor_axis=6356752.3, longitude_of_projection_origin=140.7, sweep_angle_axis="y")
#: full-disk CFAC (= LFAC) and COFF (= LOFF) by resolution, km (JMA)
_AHI_FACTORS = {2.0: (20466275, 2750.5), 1.0: (40932549, 5500.5), 0.5: (81865099, 11000.5)}
#: AHI bands written: resolution km, central wavelength um, valid bits, gain, offset
#: (count -> radiance W m-2 sr-1 um-1), and the radiance-to-albedo factor (reflective bands)
AHI_BAND_CONSTANTS = {
    "B01": (1.0, 0.4703, 11, 0.4, -8.0, 0.0015),
    "B02": (1.0, 0.5105, 11, 0.38, -7.6, 0.0016),
    "B03": (0.5, 0.6399, 11, 0.3, -6.0, 0.0019),
    "B04": (1.0, 0.8563, 11, 0.2, -4.0, 0.0030),
    "B13": (2.0, 10.4073, 12, -0.003, 12.0, None),
}
#: the scan the AHI files are of (timeline 03:00 UTC: local noon at 150E)
AHI_START = dt.datetime(2023, 6, 15, 3, 0)
#: cloud and clear values per band (reflectance factor or K)
_AHI_LOOK = {"B01": (0.12, 0.65), "B02": (0.09, 0.62), "B03": (0.05, 0.60), "B04": (0.03, 0.58),
             "B13": (296.0, 262.0)}


def _hsd_blocks():
    """The header blocks of an HSD file (numpy dtypes, HSD User's Guide v1.3)."""
    head = [("hblock_number", "u1"), ("blocklength", "<u2")]
    return {
        1: np.dtype(head + [("total_number_of_hblocks", "<u2"), ("byte_order", "u1"), ("satellite", "S16"),
                            ("proc_center_name", "S16"), ("observation_area", "S4"), ("other_observation_info", "S2"),
                            ("observation_timeline", "<u2"), ("observation_start_time", "<f8"),
                            ("observation_end_time", "<f8"), ("file_creation_time", "<f8"),
                            ("total_header_length", "<u4"), ("total_data_length", "<u4"), ("quality_flags", "u1", 4),
                            ("file_format_version", "S32"), ("file_name", "S128"), ("spare", "S40")]),
        2: np.dtype(head + [("number_of_bits_per_pixel", "<u2"), ("number_of_columns", "<u2"),
                            ("number_of_lines", "<u2"), ("compression_flag_for_data", "u1"), ("spare", "S40")]),
        3: np.dtype(head + [("sub_lon", "<f8"), ("CFAC", "<u4"), ("LFAC", "<u4"), ("COFF", "<f4"), ("LOFF", "<f4"),
                            ("distance_from_earth_center", "<f8"), ("earth_equatorial_radius", "<f8"),
                            ("earth_polar_radius", "<f8"), ("req2_rpol2_req2", "<f8"), ("rpol2_req2", "<f8"),
                            ("req2_rpol2", "<f8"), ("coeff_for_sd", "<f8"), ("resampling_types", "<i2"),
                            ("resampling_size", "<i2"), ("spare", "S40")]),
        4: np.dtype(head + [("navigation_info_time", "<f8"), ("SSP_longitude", "<f8"), ("SSP_latitude", "<f8"),
                            ("distance_earth_center_to_satellite", "<f8"), ("nadir_longitude", "<f8"),
                            ("nadir_latitude", "<f8"), ("sun_position", "<f8", 3), ("moon_position", "<f8", 3),
                            ("spare", "S40")]),
        5: np.dtype(head + [("band_number", "<u2"), ("central_wave_length", "<f8"),
                            ("valid_number_of_bits_per_pixel", "<u2"), ("count_value_error_pixels", "<u2"),
                            ("count_value_outside_scan_pixels", "<u2"), ("gain_count2rad_conversion", "<f8"),
                            ("offset_count2rad_conversion", "<f8"), ("band_specific", "V112")]),
        6: np.dtype(head + [("gsics", "<f8", 8), ("gsics_validity_limits", "<f4", 2), ("gsics_filename", "S128"),
                            ("spare", "S56")]),
        7: np.dtype(head + [("total_number_of_segments", "u1"), ("segment_sequence_number", "u1"),
                            ("first_line_number_of_image_segment", "<u2"), ("spare", "S40")]),
        11: np.dtype(head + [("spare", "S256")]),
    }


def _hsd_header(band: str, n_lines: int, n_cols: int, cfac: int, coff: float, loff: float, segment: int,
                segments: int, first_line: int, name: str) -> bytes:
    res, wavelength, bits, gain, offset, albedo = AHI_BAND_CONSTANTS[band]
    blocks = _hsd_blocks()
    rec = {k: np.zeros(1, d) for k, d in blocks.items()}
    for k, d in blocks.items():
        rec[k]["hblock_number"], rec[k]["blocklength"] = k, d.itemsize
    start, end = AHI_START, AHI_START + dt.timedelta(minutes=10)
    b1 = rec[1]
    b1["total_number_of_hblocks"], b1["satellite"], b1["proc_center_name"] = 11, b"Himawari-9", b"MSC"
    b1["observation_area"], b1["observation_timeline"] = b"FLDK", int(f"{start:%H%M}")
    b1["observation_start_time"], b1["observation_end_time"] = _mjd(start + dt.timedelta(seconds=20)), _mjd(end)
    b1["file_creation_time"], b1["file_format_version"], b1["file_name"] = _mjd(end), b"1.3", name.encode()
    rec[2]["number_of_bits_per_pixel"], rec[2]["number_of_columns"], rec[2]["number_of_lines"] = 16, n_cols, n_lines
    g = AHI_GRID
    a_km, b_km = g.semi_major_axis / 1e3, g.semi_minor_axis / 1e3
    b3 = rec[3]
    b3["sub_lon"], b3["CFAC"], b3["LFAC"], b3["COFF"], b3["LOFF"] = g.longitude_of_projection_origin, cfac, cfac, coff, loff
    b3["distance_from_earth_center"] = (g.perspective_point_height + g.semi_major_axis) / 1e3
    b3["earth_equatorial_radius"], b3["earth_polar_radius"] = a_km, b_km
    b3["req2_rpol2_req2"], b3["rpol2_req2"] = (a_km ** 2 - b_km ** 2) / a_km ** 2, b_km ** 2 / a_km ** 2
    b3["req2_rpol2"], b3["coeff_for_sd"], b3["resampling_types"], b3["resampling_size"] = a_km ** 2 / b_km ** 2, 1737122264.0, 4, 4
    b4 = rec[4]
    b4["navigation_info_time"], b4["SSP_longitude"], b4["SSP_latitude"] = _mjd(start), 140.6984, 0.0123
    b4["distance_earth_center_to_satellite"] = 42165.2
    b4["nadir_longitude"], b4["nadir_latitude"] = 140.6980, 0.0120
    b5 = rec[5]
    b5["band_number"], b5["central_wave_length"], b5["valid_number_of_bits_per_pixel"] = int(band[1:]), wavelength, bits
    b5["count_value_error_pixels"], b5["count_value_outside_scan_pixels"] = 65535, 65534
    b5["gain_count2rad_conversion"], b5["offset_count2rad_conversion"] = gain, offset
    if albedo is not None:  # radiance-to-albedo factor, its update time, updated gain and offset (0: none), spare
        specific = np.array([albedo, _mjd(start), 0.0, 0.0], "<f8").tobytes() + bytes(80)
    else:  # radiance-to-BT polynomial c0 c1 c2, its inverse, then c, h, k
        specific = np.array([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, _C, _H, _K], "<f8").tobytes() + bytes(40)
    b5["band_specific"] = np.frombuffer(specific, "V112")
    rec[7]["total_number_of_segments"], rec[7]["segment_sequence_number"] = segments, segment
    rec[7]["first_line_number_of_image_segment"] = first_line
    # 8 navigation correction (no correction), 9 observation time per line, 10 error lines (none)
    nav = np.array([(8, 21 + 40, n_cols / 2, n_lines / 2, 0.0, 0)],
                   [("n", "u1"), ("len", "<u2"), ("col", "<f4"), ("line", "<f4"), ("rot", "<f8"), ("count", "<u2")])
    times = np.array([(1, _mjd(start) + 20 / 86400), (n_lines, _mjd(start) + 30 / 86400)],
                     [("line", "<u2"), ("time", "<f8")])
    obs = np.array([(9, 5 + times.nbytes + 40, len(times))], [("n", "u1"), ("len", "<u2"), ("count", "<u2")])
    err = np.array([(10, 7 + 40, 0)], [("n", "u1"), ("len", "<u4"), ("count", "<u2")])
    parts = [rec[1], rec[2], rec[3], rec[4], rec[5], rec[6], rec[7], nav, bytes(40), obs, times, bytes(40), err,
             bytes(40), rec[11]]
    b1["total_header_length"] = sum(p.nbytes if isinstance(p, np.ndarray) else len(p) for p in parts)
    b1["total_data_length"] = n_lines * n_cols * 2
    return b"".join(p if isinstance(p, bytes) else p.tobytes() for p in parts)


def _hsd_values(band: str, counts: np.ndarray) -> np.ndarray:
    """The reflectance factor or brightness temperature (K) that AHI HSD
    ``counts`` of ``band`` encode (HSD User's Guide, section 5)."""
    res, wavelength, bits, gain, offset, albedo = AHI_BAND_CONSTANTS[band]
    rad = counts * gain + offset
    if albedo is not None:
        return np.clip(rad * albedo, 0, None)
    lam = wavelength * 1e-6
    return _H * _C / (_K * lam) / np.log(2 * _H * _C ** 2 / (rad * 1e6 * lam ** 5) + 1)


def _hsd_counts(band: str, value: np.ndarray) -> np.ndarray:
    res, wavelength, bits, gain, offset, albedo = AHI_BAND_CONSTANTS[band]
    rad = value / albedo if albedo is not None else planck_wavelength(value, wavelength)
    return np.clip(np.rint((rad - offset) / gain), 0, 2 ** bits - 1).astype("<u2")


def ahi_scan_angles(col0: int, line0: int, n: int, res_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Scan angles (radians) of the pixel centres ``x`` (columns) and ``y``
    (lines, north first) of the window starting at full-disk column/line
    ``col0``, ``line0`` (1-based, at 2 km) with ``n`` 2-km pixels a side, at ``res_km``."""
    cfac, coff = _AHI_FACTORS[res_km]
    k = int(round(2.0 / res_km))
    cols = (col0 - 1) * k + 1 + np.arange(n * k)
    lines = (line0 - 1) * k + 1 + np.arange(n * k)
    step = np.radians(2.0 ** 16 / cfac)
    return (cols - coff) * step, (coff - lines) * step


def write_ahi_hsd(folder, col0: int = 3190, line0: int = 1880, n: int = 64, segments: int = 2,
                  bands=("B01", "B02", "B03", "B04", "B13"), seed: int = 0):
    """Write the AHI HSD files of :data:`AHI_START` for ``bands`` (a window
    of ``n`` x ``n`` 2-km pixels whose north-west pixel is full-disk column
    ``col0``, line ``line0``: by default 14.9-16.1N, 149.0-150.2E), each band
    split into ``segments`` segment files. Returns ``(paths, truth)``:
    ``truth[band] = (values, x, y)`` with values (reflectance factor or K,
    float64, lines north first) and the scan angles of the centres, radians."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, truth = [], {}
    for band in bands:
        res = AHI_BAND_CONSTANTS[band][0]
        cfac, coff_full = _AHI_FACTORS[res]
        k = int(round(2.0 / res))
        x, y = ahi_scan_angles(col0, line0, n, res)
        lat, lon = AHI_GRID.scan_to_latlon(*np.meshgrid(x, y))
        clear, cloud = _AHI_LOOK[band]
        counts = _hsd_counts(band, clear + (cloud - clear) * cloud_fraction(lat, lon, seed))
        truth[band] = (_hsd_values(band, counts.astype(float)), x, y)
        coff = coff_full - (col0 - 1) * k
        loff = coff_full - (line0 - 1) * k
        rows = counts.shape[0] // segments
        for s in range(1, segments + 1):
            name = f"HS_H09_{AHI_START:%Y%m%d_%H%M}_{band}_FLDK_R{int(res * 10):02d}_S{s:02d}{segments:02d}.DAT"
            part = counts[(s - 1) * rows: s * rows]
            header = _hsd_header(band, part.shape[0], part.shape[1], cfac, coff, loff, s, segments,
                                 (s - 1) * rows + 1, name)
            (folder / name).write_bytes(header + part.tobytes())
            paths.append(folder / name)
    return paths, truth


# -----------------------------------------------------------------------------
# Meteosat-11 SEVIRI, level 1.5 netCDF
# -----------------------------------------------------------------------------
#: the fixed grid of MSG level 1.5 images (EUMETSAT's ellipsoid)
SEVIRI_GRID = FixedGrid(perspective_point_height=35785831.0, semi_major_axis=6378169.0,
                        semi_minor_axis=6356583.8, longitude_of_projection_origin=0.0, sweep_angle_axis="y")
#: the 3-km grid step of MSG level 1.5 images, km
_SEVIRI_STEP_KM = 3.0004032
#: the scan the SEVIRI file is of
SEVIRI_START = dt.datetime(2020, 6, 15, 12, 0)
#: channels: netCDF index, band, gain, offset (count -> mW m-2 sr-1 (cm-1)-1),
#: then F (solar irradiance) for solar channels, or (VC cm-1, ALPHA, BETA) of
#: Meteosat-11 (EUMETSAT, conversion from radiances to brightness temperatures)
SEVIRI_CHANNELS = {
    "VIS006": (1, 0.0234, -1.19, 65.2656), "VIS008": (2, 0.0294, -1.50, 73.1692),
    "IR_016": (3, 0.0225, -1.15, 61.9416), "IR_039": (4, 0.0037, -0.19, (2555.280, 0.9916, 2.9438)),
    "WV_062": (5, 0.0083, -0.42, (1596.080, 0.9959, 2.0780)), "WV_073": (6, 0.0390, -1.99, (1361.748, 0.9990, 0.4929)),
    "IR_087": (7, 0.1258, -6.42, (1147.433, 0.9996, 0.1731)), "IR_097": (8, 0.0996, -5.08, (1034.851, 0.9998, 0.0597)),
    "IR_108": (9, 0.2034, -10.37, (931.122, 0.9983, 0.6256)), "IR_120": (10, 0.2189, -11.17, (839.113, 0.9988, 0.4002)),
    "IR_134": (11, 0.1444, -7.36, (748.585, 0.9981, 0.5635)),
}
_C1, _C2 = 1.19104273e-5, 1.43877523  # mW m-2 sr-1 (cm-1)-4, K cm
_SEVIRI_LOOK = {"VIS006": (0.05, 0.6), "VIS008": (0.04, 0.62), "IR_016": (0.03, 0.45)}


def sun_earth_distance_au(t: dt.datetime) -> float:
    """Sun-Earth distance (AU) at ``t``, the low-order formula of the
    EUMETSAT reflectance note (perihelion on day 3 of 2000, mean year)."""
    days = (t - dt.datetime(2000, 1, 1, 12)).total_seconds() / 86400.0
    return 1 - 0.0167 * math.cos(2 * math.pi * (days - 3) / 365.25636)


def _seviri_values(band: str, counts: np.ndarray) -> np.ndarray:
    _, gain, offset, cal = SEVIRI_CHANNELS[band]
    rad = np.where(counts > 0, counts * gain + offset, np.nan)
    if not isinstance(cal, tuple):  # reflectance factor, EUMETSAT note PDF_MSG_SEVIRI_RAD2REFL
        return np.pi * rad * sun_earth_distance_au(SEVIRI_START) ** 2 / cal
    vc, alpha, beta = cal
    return (_C2 * vc / np.log(_C1 * vc ** 3 / rad + 1) - beta) / alpha


def _seviri_counts(band: str, value: np.ndarray) -> np.ndarray:
    _, gain, offset, cal = SEVIRI_CHANNELS[band]
    if not isinstance(cal, tuple):
        rad = value * cal / (np.pi * sun_earth_distance_au(SEVIRI_START) ** 2)
    else:
        vc, alpha, beta = cal
        rad = _C1 * vc ** 3 / np.expm1(_C2 * vc / (alpha * value + beta))
    return np.clip(np.rint((rad - offset) / gain), 1, 1023).astype("u2")


def seviri_scan_angles(east: int, south: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Scan angles (radians) of the pixel centres ``x`` (west to east) and
    ``y`` (north first) of the ``n`` x ``n`` window whose south-east pixel is
    column ``east`` and line ``south`` (1-based, counted from the south-east
    corner of the 3712 x 3712 grid)."""
    step = _SEVIRI_STEP_KM * 1e3 / SEVIRI_GRID.perspective_point_height
    cols_from_east = east + n - 1 - np.arange(n)  # west to east
    lines = south + n - 1 - np.arange(n)  # north to south
    return (1856 - cols_from_east) * step, (lines - 1856) * step


def _cds(t: dt.datetime) -> tuple[int, int]:
    d = t - dt.datetime(1958, 1, 1)
    return d.days, int(round(d.seconds * 1e3 + d.microseconds / 1e3))


def write_seviri_nc(folder, east: int = 1650, south: int = 1510, n: int = 64, seed: int = 0,
                    bad_line: int | None = None):
    """Write the Meteosat-11 SEVIRI netCDF file of :data:`SEVIRI_START`: a
    window of ``n`` x ``n`` 3-km pixels whose south-east pixel is column
    ``east``, line ``south`` (by default 7.7-9.5S, 3.9-5.7E, in the south-east
    Atlantic stratocumulus deck), channels 1-11; ``bad_line`` (a row index,
    north first) is flagged as bad (missing data, do-not-use quality), as
    the producer flags lines. Returns ``(path, truth)`` as :func:`write_ahi_hsd`."""
    import netCDF4

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x, y = seviri_scan_angles(east, south, n)
    lat, lon = SEVIRI_GRID.scan_to_latlon(*np.meshgrid(x, y))
    cf = cloud_fraction(lat, lon, seed)
    name = f"W_XX-EUMETSAT-Darmstadt,VIS+IR+HRV+IMAGERY,MSG4+SEVIRI_C_EUMG_{SEVIRI_START:%Y%m%d%H%M%S}.nc"
    path = folder / name
    truth = {}
    start_day, start_ms = _cds(SEVIRI_START + dt.timedelta(seconds=9))
    end_day, end_ms = _cds(SEVIRI_START + dt.timedelta(minutes=15))
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("num_rows_vis_ir", n)
        nc.createDimension("num_columns_vis_ir", n)
        nc.createDimension("channels_vis_ir_dim", 11)
        nc.createDimension("channels_dim", 12)
        nc.createDimension("orbit_polynomial_dim_row", 2)
        nc.createDimension("orbit_polynomial_dim_col", 8)
        for band, (idx, gain, offset, cal) in SEVIRI_CHANNELS.items():
            if band in _SEVIRI_LOOK:
                clear, cloud = _SEVIRI_LOOK[band]
            else:  # brightness temperatures: warm sea, cloud tops 285 K (stratocumulus)
                clear, cloud = 290.0 + 0.5 * idx, 284.0
            counts = _seviri_counts(band, clear + (cloud - clear) * cf)
            values = _seviri_values(band, counts.astype(float))
            if bad_line is not None:
                values[bad_line] = np.nan
            truth[band] = (values, x, y)
            v = nc.createVariable(f"ch{idx}", "u2", ("num_rows_vis_ir", "num_columns_vis_ir"), zlib=True)
            v.set_auto_maskandscale(False)
            v[:] = counts[::-1]  # stored south first
            v.scale_factor, v.add_offset = np.float32(gain), np.float32(offset)
            v.long_name, v.comment = f"channel {idx} ({band}) counts", "radiance = counts * scale_factor + add_offset"
            v.valid_min, v.valid_max = np.uint16(1), np.uint16(1023)
        p = nc.createVariable("planned_chan_processing", "i1", ("channels_dim",))
        p[:] = np.array([1, 1, 1] + [2] * 8 + [1], "i1")  # effective radiances for the thermal channels
        rows = ("num_rows_vis_ir", "channels_vis_ir_dim")
        validity = np.ones((n, 11), "u1")  # 1: nominal (MSG level 1.5 format, line validity)
        quality = np.ones((n, 11), "u1")  # 1: nominal (geometric and radiometric line quality)
        if bad_line is not None:
            validity[n - 1 - bad_line], quality[n - 1 - bad_line] = 2, 4  # missing data, do not use
        for vname, values in (("channel_data_visir_data_line_validity", validity),
                              ("channel_data_visir_data_line_geometric_quality", quality),
                              ("channel_data_visir_data_line_radiometric_quality", quality)):
            nc.createVariable(vname, "u1", rows)[:] = values
        line_ms = start_ms + (np.arange(n) * 12000 // n)
        nc.createVariable("channel_data_visir_data_l10_line_mean_acquisition_time_day", "u2", rows)[:] = \
            np.full((n, 11), start_day, "u2")
        nc.createVariable("channel_data_visir_data_l10_line_mean_acquisition_msec", "u4", rows)[:] = \
            np.repeat(line_ms[:, None], 11, axis=1)
        _write_orbit(nc, SEVIRI_START)
        nc.setncatts({
            "equatorial_radius": 6378.169, "north_polar_radius": 6356.5838, "south_polar_radius": 6356.5838,
            "longitude_of_SSP": 0.0, "nominal_longitude": 0.0, "satellite_id": np.int32(324),
            "true_repeat_cycle_start_day": np.int32(start_day), "true_repeat_cycle_start_mi_sec": np.int32(start_ms),
            "planned_repeat_cycle_end_day": np.int32(end_day), "planned_repeat_cycle_end_mi_sec": np.int32(end_ms),
            "north_most_line": np.int32(south + n - 1), "south_most_line": np.int32(south),
            "east_most_pixel": np.int32(east), "west_most_pixel": np.int32(east + n - 1),
            "vis_ir_grid_origin": "0x02", "vis_ir_column_dir_grid_step": _SEVIRI_STEP_KM,
            "vis_ir_line_dir_grid_step": _SEVIRI_STEP_KM, "type_of_earth_model": "0x02",
            "nominal_image_scanning": "T", "reduced_scanning": "F",
        })
    return path, truth


def _write_orbit(nc, t: dt.datetime) -> None:
    """A geostationary orbit at 0E, 42164 km, as two 6-hour Chebyshev
    polynomials (km) around ``t``."""
    t0 = t.replace(hour=(t.hour // 6) * 6, minute=0, second=0)
    starts = [t0 - dt.timedelta(hours=6), t0]
    coefs = np.zeros((2, 8))
    coefs[:, 0] = 2 * 42164.0  # Chebyshev series: c0 / 2 + c1 T1 + ...
    zero = np.zeros((2, 8))
    for name, values in (("orbit_polynomial_x", coefs), ("orbit_polynomial_y", zero), ("orbit_polynomial_z", zero)):
        nc.createVariable(name, "f8", ("orbit_polynomial_dim_row", "orbit_polynomial_dim_col"))[:] = values
    for which, times in (("start", starts), ("end", [s + dt.timedelta(hours=6) for s in starts])):
        cds = [_cds(s) for s in times]
        nc.createVariable(f"orbit_polynomial_{which}_time_day", "u2", ("orbit_polynomial_dim_row",))[:] = \
            [c[0] for c in cds]
        nc.createVariable(f"orbit_polynomial_{which}_time_msec", "u4", ("orbit_polynomial_dim_row",))[:] = \
            [c[1] for c in cds]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "imager_files")
    ahi, _ = write_ahi_hsd(out / "ahi")
    seviri, _ = write_seviri_nc(out / "seviri")
    print("\n".join(map(str, ahi + [seviri])))
