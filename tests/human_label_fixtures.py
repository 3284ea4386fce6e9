"""Fixture generators for the human-label tests: a small regime map whose
cells carry synthetic true regimes, and that truth written as human labels
in the producers' layouts:

- :func:`write_zooniverse` - the Zooniverse "sugar, flower, fish or gravel"
  classifications CSV (Rasp et al. 2020): one row per box, image names
  ``Terra_CorrectedReflectanceYYYYMMDD_lon0-lon1_lat0-lat1.jpeg`` (whole
  degrees), boxes in image pixels at 100 px per degree, row 0 at lat1; the
  flattened export with a header, or the headerless ``annotations_*.csv``;
- :func:`write_c3ontext` - a C3ONTEXT level-3 daily zarr store:
  ``freq(date, longitude, latitude, pattern)``, ``date`` in seconds since
  1970, ``nb_users(date)``, ``pattern`` = Sugar, Flowers, Fish, Gravel.

Run as a script to write both beside a regime map:
``python tests/human_label_fixtures.py REGIME_MAP.nc OUT_DIR``.
"""
from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import xarray as xr

#: the synthetic generator's regimes
TRUE_NAMES = ["clear", "sugar", "gravel", "flowers", "fish", "stratocumulus"]
#: synthetic regime -> Zooniverse tool label; clear and stratocumulus are no pattern (left unclassified)
ZOONIVERSE = {"sugar": "Sugar", "gravel": "Gravel", "flowers": "Flower", "fish": "Fish"}
C3ONTEXT = {"sugar": "Sugar", "flowers": "Flowers", "fish": "Fish", "gravel": "Gravel"}
LAT0, LON0, STRIDE = 15.0, -50.0, 20e3
#: Terra's overpass at LON0 (10:30 local solar time) is 13:50 UTC; the scans are at 14:00
SCAN_TIMES = pd.date_range("2020-01-02T14:00", periods=4, freq="1D").values


def make_truth_map(nt: int = 4, ny: int = 6, nx: int = 8, seed: int = 0, confusion: float = 0.15) -> xr.Dataset:
    """A regime map (``regime``, ``true_regime`` (time, y, x), lat/lon of
    the cell centres on a 20 km LAEA grid around 15 N 50 W): the true regime
    is a patchwork of 2 x 2 blocks drawn per scene; the regime code is the
    true regime shifted by one (regime ``k`` is true regime ``k - 1``), with
    ``confusion`` of the cells given a random regime instead."""
    rng = np.random.default_rng(seed)
    x = (np.arange(nx) - (nx - 1) / 2) * STRIDE
    y = ((ny - 1) / 2 - np.arange(ny)) * STRIDE
    laea = pyproj.CRS.from_proj4(f"+proj=laea +lat_0={LAT0} +lon_0={LON0} +ellps=GRS80 +units=m")
    lon, lat = pyproj.Transformer.from_crs(laea, laea.geodetic_crs, always_xy=True).transform(*np.meshgrid(x, y))
    blocks = rng.integers(0, len(TRUE_NAMES), (nt, math.ceil(ny / 2), math.ceil(nx / 2)))
    true = np.repeat(np.repeat(blocks, 2, axis=1), 2, axis=2)[:, :ny, :nx].astype(np.int16)
    regime = ((true + 1) % len(TRUE_NAMES)).astype(np.int16)
    noisy = rng.random(true.shape) < confusion
    regime[noisy] = rng.integers(0, len(TRUE_NAMES), int(noisy.sum()))
    regime[0, 0, 0] = -1  # an invalid cell
    return xr.Dataset(
        {"regime": (("time", "y", "x"), regime), "true_regime": (("time", "y", "x"), true)},
        coords={"time": SCAN_TIMES[:nt], "y": y, "x": x, "lat": (("y", "x"), lat), "lon": (("y", "x"), lon)},
        attrs={"regime_names": json.dumps([f"R{i}" for i in range(len(TRUE_NAMES))]),
               "true_regime_names": json.dumps(TRUE_NAMES), "stride": STRIDE, "tile_size_m": STRIDE})


def _truth(ds: xr.Dataset):
    names = json.loads(ds.attrs["true_regime_names"])
    true = np.asarray(ds["true_regime"].transpose("time", "y", "x").values)
    return names, true, np.asarray(ds["lat"].values), np.asarray(ds["lon"].values)


def write_zooniverse(ds: xr.Dataset, path: Path, header: bool = True, satellite: str = "Terra") -> Path:
    """Each cell of a pattern regime as a box of +-30 % of the cell spacing
    around its centre, on one image per scan day covering the map."""
    names, true, lat, lon = _truth(ds)
    lon0, lon1 = math.floor(lon.min()) - 1, math.ceil(lon.max()) + 1
    lat0, lat1 = math.floor(lat.min()) - 1, math.ceil(lat.max()) + 1
    half = 0.3 * float(ds.attrs["stride"]) / 111e3  # degrees
    rows = []
    for t, when in enumerate(pd.to_datetime(ds["time"].values)):
        fn = f"Region1_DJF_{satellite}/{satellite}_CorrectedReflectance{when:%Y%m%d}_{lon0}-{lon1}_{lat0}-{lat1}.jpeg"
        n_before = len(rows)
        for i in range(true.shape[1]):
            for j in range(true.shape[2]):
                if true[t, i, j] < 0 or names[true[t, i, j]] not in ZOONIVERSE:
                    continue
                px0 = round((lon[i, j] - half - lon0) * 100)
                px1 = round((lon[i, j] + half - lon0) * 100)
                py0 = round((lat1 - (lat[i, j] + half)) * 100)  # the box's northern edge
                py1 = round((lat1 - (lat[i, j] - half)) * 100)
                rows.append([fn, px0, py0, px1, py1, ZOONIVERSE[names[true[t, i, j]]]])
        if len(rows) == n_before:
            rows.append([fn, "", "", "", "", ""])  # an image with nothing classified
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        if header:  # the flattened Zooniverse export: x, y, width, height in pixels
            w.writerow(["", "subject_ids", "fn", "user_name", "x", "y", "width", "height", "tool_label"])
            for k, (fn, a, b, c, d, lab) in enumerate(rows):
                box = ["", "", "", ""] if a == "" else [a, b, c - a, d - b]
                w.writerow([k, 27000000 + k, fn, "fixture", *box, lab])
        else:  # annotations_*.csv: id, fn, x1, y1, x2, y2, label
            for k, r in enumerate(rows):
                w.writerow([k + 1, *r])
    return path


def write_c3ontext(ds: xr.Dataset, path: Path, agreement: float = 0.75, spacing: float = 0.02) -> Path:
    """A daily level-3 store: on a ``spacing``-degree grid, each grid point
    takes the true pattern of the nearest cell centre (brute force, by
    great-circle-free planar distance in degrees scaled by cos(lat)), marked
    by ``agreement`` of the classifiers; clear and stratocumulus grid points
    carry no pattern."""
    names, true, lat, lon = _truth(ds)
    glat = np.arange(lat.min() - 0.3, lat.max() + 0.3, spacing)
    glon = np.arange(lon.min() - 0.3, lon.max() + 0.3, spacing)
    patterns = ["Sugar", "Flowers", "Fish", "Gravel"]
    times = pd.to_datetime(ds["time"].values).normalize()
    freq = np.zeros((len(times), len(glon), len(glat), len(patterns)))
    clat = math.cos(math.radians(float(lat.mean())))
    for a, la in enumerate(glat):
        d2 = ((lon.ravel()[None] - glon[:, None]) * clat) ** 2 + (lat.ravel()[None] - la) ** 2  # (lon, cells)
        nearest = np.argmin(d2, axis=1)
        for t in range(len(times)):
            tr = true[t].ravel()[nearest]
            for b, code in enumerate(tr):
                if code >= 0 and names[code] in C3ONTEXT:
                    freq[t, b, a, patterns.index(C3ONTEXT[names[code]])] = agreement
    seconds = ((times - pd.Timestamp("1970-01-01")).total_seconds()).astype(np.int64)
    out = xr.Dataset(
        {"freq": (("date", "longitude", "latitude", "pattern"), freq,
                  {"description": "classification frequency for every day"}),
         "nb_users": (("date",), np.full(len(times), 4), {"description": "number of users that saw this image/dataset"})},
        coords={"date": ("date", seconds, {"units": "seconds since 1970-01-01 00:00:00 UTC", "standard_name": "time",
                                           "calendar": "standard"}),
                "longitude": ("longitude", glon, {"standard_name": "longitude", "units": "degree_east"}),
                "latitude": ("latitude", glat, {"standard_name": "latitude", "units": "degree_north"}),
                "pattern": ("pattern", np.array(patterns, dtype=object))},
        attrs={"title": "EUREC4A: manual meso-scale cloud pattern classifications",
               "description": "Level-3: daily classification frequency"})
    out.to_zarr(path, mode="w", zarr_format=2, consolidated=False)
    return path


if __name__ == "__main__":
    regime_map, folder = xr.load_dataset(sys.argv[1]), Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    print(write_zooniverse(regime_map, folder / "zooniverse.csv"))
    print(write_c3ontext(regime_map, folder / "c3ontext_level3_daily.zarr"))
