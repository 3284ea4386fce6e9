"""Human classifications of cloud patterns, read in the layouts their
producers publish, and attached to places and scan times.

Three layouts are read (:func:`read_human_labels` tells them apart):

- **plain boxes**: a CSV with the columns ``time`` (ISO 8601, UTC),
  ``lon_min``, ``lon_max``, ``lat_min``, ``lat_max`` (degrees) and ``label``;
  a row with an empty label is an area somebody looked at and left
  unclassified.
- **Zooniverse** (Rasp et al. 2020, BAMS, "sugar, flower, fish or gravel"):
  one row per drawn box, with the image's file name, e.g.
  ``Region1_DJF_Aqua/Aqua_CorrectedReflectance20110118_-61--40_10-24.jpeg``
  (satellite, date, ``lon0-lon1``, ``lat0-lat1`` in whole degrees), the box
  in image pixels at 100 px per degree (row 0 at ``lat1``) and the pattern.
  Either with a header ``fn, x, y, width, height, tool_label`` (the flattened
  Zooniverse export, pyclouds) or without one as ``id, fn, x1, y1, x2, y2,
  label`` (the project's ``annotations_*.csv``). Rows without a box are
  images classified as "nothing". An image's time is the satellite's
  nominal overpass (Terra 10:30, Aqua 13:30 local solar time at the image's
  centre longitude).
- **C3ONTEXT level 3** (Schulz et al. 2022, EUREC4A): a zarr store (or a
  netCDF file) with ``freq(date|time, longitude, latitude, pattern)``: the
  share of classifiers who marked each grid point with each pattern;
  ``date`` (daily product: the whole UTC day) or ``time`` (instant product).

:class:`HumanLabels` holds either boxes or frequencies and gives, for any
points at one scan time, the weight of each human class
(:meth:`HumanLabels.weights`): 1 for the majority class of the boxes that
contain a point (0 elsewhere), or the C3ONTEXT frequencies; a last column
``unclassified`` for points the humans saw but gave no pattern. Label times
are matched to the nearest scan within a tolerance (:func:`match_times`).
:class:`HumanLabeler` puts the human class on tiles while a dataset is
written (a :class:`convml_tt.data.labels.Labeler`).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["HumanLabels", "HumanLabeler", "read_human_labels", "match_times", "zooniverse_image",
           "zooniverse_image_name", "UNCLASSIFIED", "PLAIN_COLUMNS", "ZOONIVERSE_COLUMNS", "OVERPASS_LST"]

#: the name of the "seen, but no pattern" column of the weights
UNCLASSIFIED = "unclassified"
PLAIN_COLUMNS = ("time", "lon_min", "lon_max", "lat_min", "lat_max", "label")
ZOONIVERSE_COLUMNS = ("fn", "x", "y", "width", "height", "tool_label")
#: Zooniverse image pixels per degree of longitude and latitude
PX_PER_DEGREE = 100.0
#: nominal equator-crossing local solar time of the MODIS satellites, hours
OVERPASS_LST = {"Terra": 10.5, "Aqua": 13.5}
_NUM = r"-?\d+(?:\.\d+)?"
_IMAGE = re.compile(rf"(?P<sat>Terra|Aqua)_CorrectedReflectance\w*?(?P<date>\d{{8}})_(?P<lon0>{_NUM})-(?P<lon1>{_NUM})"
                    rf"_(?P<lat0>{_NUM})-(?P<lat1>{_NUM})\.(?:jpe?g|png)$")
NEEDS = (f"plain boxes: a CSV with columns {', '.join(PLAIN_COLUMNS)}; Zooniverse classifications: a CSV with "
         f"columns {', '.join(ZOONIVERSE_COLUMNS)} (or the headerless id, fn, x1, y1, x2, y2, label), image names "
         f"like Aqua_CorrectedReflectance20200202_-61--40_10-24.jpeg; C3ONTEXT level 3: a zarr store or netCDF "
         f"file with freq(date|time, longitude, latitude, pattern)")


def zooniverse_image_name(satellite: str, date: dt.date, lon0: int, lon1: int, lat0: int, lat1: int,
                          folder: str = "") -> str:
    """The Zooniverse image file name of an image (bounds in whole degrees)."""
    name = f"{satellite}_CorrectedReflectance{date:%Y%m%d}_{lon0}-{lon1}_{lat0}-{lat1}.jpeg"
    return f"{folder}/{name}" if folder else name


def zooniverse_image(name: str) -> dict[str, Any]:
    """What an image's file name says: ``satellite``, ``time`` (the nominal
    overpass at the image's centre longitude, naive UTC), ``lon0``, ``lon1``,
    ``lat0``, ``lat1`` (degrees). ValueError for another name."""
    m = _IMAGE.search(str(name).strip())
    if m is None:
        raise ValueError(f"{name!r} is not a Zooniverse image name such as "
                         f"Aqua_CorrectedReflectance20200202_-61--40_10-24.jpeg")
    lon0, lon1, lat0, lat1 = (float(m[k]) for k in ("lon0", "lon1", "lat0", "lat1"))
    day = dt.datetime.strptime(m["date"], "%Y%m%d")
    hours = OVERPASS_LST[m["sat"]] - (lon0 + lon1) / 2 / 15.0  # local solar time -> UTC
    return {"satellite": m["sat"], "time": day + dt.timedelta(hours=hours), "lon0": lon0, "lon1": lon1,
            "lat0": lat0, "lat1": lat1}


# --- the labels ---------------------------------------------------------------------
@dataclass
class HumanLabels:
    """Human classifications: ``boxes`` (a DataFrame ``t0, t1, lon_min,
    lon_max, lat_min, lat_max, label``; ``label`` "" for an area seen and
    left unclassified; ``t0 == t1`` for an instant) or ``freq`` (a DataArray
    ``(group, latitude, longitude, pattern)`` of shares 0..1 with ``t0``,
    ``t1`` per group). ``classes``: the pattern names, in the column order of
    :meth:`weights`. ``groups``: the distinct label times, a DataFrame ``t0,
    t1`` (datetime64)."""

    source: str
    layout: str
    classes: list[str]
    groups: pd.DataFrame
    boxes: pd.DataFrame | None = None
    freq: Any = None
    notes: list[str] = field(default_factory=list)

    def weights(self, group: int, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The classes at points ``lat``, ``lon`` (degrees, (n,)) of label
        time ``group``: ``(weights (n, len(classes) + 1) float64, seen (n,)
        bool)``; the last column is :data:`UNCLASSIFIED`. Boxes: the class
        with the most boxes containing the point (ties: the first class)
        weighs 1; a point seen (inside any row of that time) in no box is
        unclassified. Frequencies: the grid point nearest the point (seen
        where the grid covers it and its value is finite); unclassified is the
        ``Unclassified`` pattern or 1 minus the sum of the others (at least 0)."""
        lat = np.asarray(lat, np.float64).ravel()
        lon = np.asarray(lon, np.float64).ravel()
        k = len(self.classes)
        w = np.zeros((len(lat), k + 1))
        if self.boxes is not None:
            rows = self.boxes[self.boxes["group"] == group]
            counts = np.zeros((len(lat), k))
            seen = np.zeros(len(lat), bool)
            pos = {c: i for i, c in enumerate(self.classes)}
            for r in rows.itertuples():
                inside = (lon >= r.lon_min) & (lon <= r.lon_max) & (lat >= r.lat_min) & (lat <= r.lat_max)
                seen |= inside
                if r.label:
                    counts[inside, pos[r.label]] += 1
            has = counts.sum(axis=1) > 0
            w[has, np.argmax(counts[has], axis=1)] = 1.0
            w[seen & ~has, k] = 1.0
            return w, seen
        f = self.freq.isel(group=group)
        la, lo = np.asarray(f["latitude"].values, np.float64), np.asarray(f["longitude"].values, np.float64)
        i, j = _nearest(la, lat), _nearest(lo, lon)
        inside = _within(la, lat) & _within(lo, lon)
        vals = np.asarray(f.transpose("latitude", "longitude", "pattern").values, np.float64)[i, j]  # (n, patterns)
        pats = [str(p) for p in f["pattern"].values]
        seen = inside & np.isfinite(vals).all(axis=1)
        for c, name in enumerate(self.classes):
            w[:, c] = vals[:, pats.index(name)]
        if UNCLASSIFIED.capitalize() in pats:
            w[:, k] = vals[:, pats.index(UNCLASSIFIED.capitalize())]
        else:
            w[:, k] = np.clip(1.0 - w[:, :k].sum(axis=1), 0.0, None)
        w[~seen] = 0.0
        return w, seen

    def weights_of(self, groups: Sequence[int], lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`weights` of several label times (e.g. the images of one scan),
        averaged over those that saw each point."""
        n = np.asarray(lat).size
        acc, count = np.zeros((n, len(self.classes) + 1)), np.zeros(n)
        for g in groups:
            w, seen = self.weights(int(g), lat, lon)
            acc += w
            count += seen
        return acc / np.maximum(count, 1)[:, None], count > 0


def _nearest(grid: np.ndarray, v: np.ndarray) -> np.ndarray:
    order = np.argsort(grid)
    g = grid[order]
    i = np.clip(np.searchsorted(g, v), 1, len(g) - 1) if len(g) > 1 else np.zeros(len(v), int)
    if len(g) > 1:
        i = np.where(np.abs(v - g[i - 1]) <= np.abs(v - g[i]), i - 1, i)
    return order[i]


def _within(grid: np.ndarray, v: np.ndarray) -> np.ndarray:
    half = float(np.median(np.abs(np.diff(np.sort(grid))))) / 2 if len(grid) > 1 else 0.0
    return (v >= grid.min() - half) & (v <= grid.max() + half)


def _groups(t0: pd.Series, t1: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    pairs = pd.DataFrame({"t0": pd.to_datetime(t0).values, "t1": pd.to_datetime(t1).values})
    groups = pairs.drop_duplicates().sort_values(["t0", "t1"]).reset_index(drop=True)
    index = pairs.merge(groups.reset_index(), on=["t0", "t1"], how="left")["index"].to_numpy()
    return groups, index


def _box_labels(path: Path, layout: str, t, lon_min, lon_max, lat_min, lat_max, label) -> HumanLabels:
    labels = pd.Series(label).fillna("").astype(str).str.strip().to_numpy()
    df = pd.DataFrame({"lon_min": lon_min, "lon_max": lon_max, "lat_min": lat_min, "lat_max": lat_max,
                       "label": labels})
    for c in ("lon_min", "lon_max", "lat_min", "lat_max"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    bad = df[["lon_min", "lon_max", "lat_min", "lat_max"]].isna().any(axis=1) | (df.lon_min > df.lon_max) | (
        df.lat_min > df.lat_max)
    if bad.any():
        raise ValueError(f"{str(path)!r}: {int(bad.sum())} row(s) (first: row {int(np.flatnonzero(bad)[0]) + 1}) "
                         f"have no box with lon_min <= lon_max and lat_min <= lat_max in degrees")
    times = pd.to_datetime(pd.Series(t), errors="coerce", utc=True, format="ISO8601").dt.tz_localize(None)
    if times.isna().any():
        raise ValueError(f"{str(path)!r}: {int(times.isna().sum())} row(s) have no readable time (ISO 8601, UTC)")
    groups, index = _groups(times, times)
    df["group"] = index
    classes = sorted(set(df["label"]) - {""})
    return HumanLabels(str(path), layout, classes, groups, boxes=df)


def _zooniverse(path: Path, fn, x0, y0, x1, y1, label) -> HumanLabels:
    try:
        images = [zooniverse_image(n) for n in fn]
    except ValueError as err:
        raise ValueError(f"{str(path)!r}: {err}") from None
    im = pd.DataFrame(images)
    x0, y0, x1, y1 = (pd.to_numeric(pd.Series(v), errors="coerce").to_numpy() for v in (x0, y0, x1, y1))
    empty = np.isnan(x0) | np.isnan(y0) | np.isnan(x1) | np.isnan(y1)
    lab = np.where(empty, "", pd.Series(label).fillna("").astype(str).to_numpy())
    # a box in pixels of the image (row 0 at its northern edge, 100 px per degree); an empty row: the whole image
    lon_min = np.where(empty, im.lon0, im.lon0 + np.nan_to_num(x0) / PX_PER_DEGREE)
    lon_max = np.where(empty, im.lon1, im.lon0 + np.nan_to_num(x1) / PX_PER_DEGREE)
    lat_max = np.where(empty, im.lat1, im.lat1 - np.nan_to_num(y0) / PX_PER_DEGREE)
    lat_min = np.where(empty, im.lat0, im.lat1 - np.nan_to_num(y1) / PX_PER_DEGREE)
    out = _box_labels(path, "zooniverse", im["time"].to_numpy(), lon_min, lon_max, lat_min, lat_max, lab)
    # every image was seen as a whole: its bounds are a seen, unlabelled area (where no box says otherwise)
    seen = pd.DataFrame({"lon_min": im.lon0, "lon_max": im.lon1, "lat_min": im.lat0, "lat_max": im.lat1,
                         "label": "", "group": out.boxes["group"].to_numpy()}).drop_duplicates()
    out.boxes = pd.concat([out.boxes, seen], ignore_index=True)
    return out


def _c3ontext(path: Path) -> HumanLabels | None:
    import xarray as xr

    import warnings

    try:
        with warnings.catch_warnings():  # a store without consolidated metadata, as the producer writes it
            warnings.filterwarnings("ignore", "Failed to open Zarr store with consolidated metadata")
            ds = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
    except Exception:  # noqa: BLE001 - not this layout; the caller names what is needed
        return None
    if "freq" not in ds.variables:
        return None
    f = ds["freq"]
    tdim = "date" if "date" in f.dims else "time" if "time" in f.dims else None
    if tdim is None or not {"latitude", "longitude", "pattern"} <= set(f.dims):
        raise ValueError(f"{str(path)!r} has freq{f.dims}; a C3ONTEXT level-3 product has freq(date|time, "
                         f"longitude, latitude, pattern)")
    t = pd.to_datetime(ds[tdim].values)
    if t.tz is not None:
        t = t.tz_localize(None)
    t1 = t + pd.Timedelta(days=1) - pd.Timedelta(seconds=1) if tdim == "date" else t  # a daily product: the day
    f = f.load().rename({tdim: "group"}).assign_coords(group=np.arange(len(t)))
    groups = pd.DataFrame({"t0": t.values, "t1": t1.values})
    pats = [str(p) for p in f["pattern"].values]
    f = f.assign_coords(pattern=pats)
    classes = [p for p in pats if p.lower() != UNCLASSIFIED]
    ds.close()
    return HumanLabels(str(path), "c3ontext", classes, groups, freq=f)


def read_human_labels(path: str | Path) -> HumanLabels:
    """Read human classifications in any of the layouts of the module
    docstring; a one-line ValueError naming the columns needed otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"human-label file {str(path)!r} does not exist")
    if path.is_dir() or path.suffix.lower() in (".nc", ".zarr", ".nc4"):
        got = _c3ontext(path)
        if got is None:
            raise ValueError(f"{str(path)!r} is not a human-label file this library reads: it needs {NEEDS}")
        return got
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{str(path)!r} is not a readable CSV ({type(err).__name__}); it needs {NEEDS}") from None
    cols = [str(c).strip() for c in df.columns]
    df.columns = cols
    df = df.replace("", np.nan)
    if set(PLAIN_COLUMNS) <= set(cols):
        return _box_labels(path, "plain", df["time"], df["lon_min"], df["lon_max"], df["lat_min"], df["lat_max"],
                           df["label"])
    if set(ZOONIVERSE_COLUMNS) <= set(cols):
        x, y = pd.to_numeric(df["x"], errors="coerce"), pd.to_numeric(df["y"], errors="coerce")
        return _zooniverse(path, df["fn"], x, y, x + pd.to_numeric(df["width"], errors="coerce"),
                           y + pd.to_numeric(df["height"], errors="coerce"), df["tool_label"])
    if len(cols) == 7 and _IMAGE.search(cols[1]):  # no header: id, fn, x1, y1, x2, y2, label
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False).replace("", np.nan)
        return _zooniverse(path, raw[1], raw[2], raw[3], raw[4], raw[5], raw[6])
    raise ValueError(f"{str(path)!r} is not a human-label file this library reads (its columns: "
                     f"{', '.join(cols[:12])}); it needs {NEEDS}")


# --- matching label times to scans -------------------------------------------------------
def match_times(labels: HumanLabels, scene_times: Sequence[Any], tolerance: dt.timedelta
                ) -> tuple[np.ndarray, list[pd.Timestamp]]:
    """The scan each label time belongs to: ``(scene (n_groups,) int64, -1
    for none; the label times with no scan within ``tolerance``)``. A label
    time's distance to a scan is 0 inside its interval ``t0..t1`` (a daily
    product) and the gap to the interval otherwise; the nearest scan wins."""
    st = pd.to_datetime(np.asarray(scene_times)).values.astype("datetime64[s]").astype(np.int64)
    t0 = labels.groups["t0"].values.astype("datetime64[s]").astype(np.int64)
    t1 = labels.groups["t1"].values.astype("datetime64[s]").astype(np.int64)
    if len(st) == 0:
        return np.full(len(t0), -1), list(pd.to_datetime(t0, unit="s"))
    gap = np.maximum(0, np.maximum(t0[:, None] - st[None], st[None] - t1[:, None]))  # (groups, scenes)
    mid = np.abs((t0[:, None] + t1[:, None]) / 2 - st[None])
    best = np.array([np.lexsort((mid[g], gap[g]))[0] for g in range(len(t0))], dtype=np.int64)
    ok = gap[np.arange(len(t0)), best] <= tolerance.total_seconds()
    missed = [pd.Timestamp(v, unit="s") for v in t0[~ok]]
    return np.where(ok, best, -1), missed


def describe_missed(missed: Sequence[pd.Timestamp], tolerance: dt.timedelta, n_show: int = 5) -> str:
    """One line: how many label times have no scan within the tolerance, and the first of them."""
    shown = ", ".join(f"{t:%Y-%m-%dT%H:%M}" for t in list(missed)[:n_show])
    more = f" and {len(missed) - n_show} more" if len(missed) > n_show else ""
    return (f"{len(missed)} label time(s) have no scene within {tolerance.total_seconds() / 3600:g} h and are left "
            f"out: {shown}{more}")


class HumanLabeler:
    """Puts the human class on tiles while a dataset or map is written (a
    :class:`convml_tt.data.labels.Labeler`, registered as ``"human"``: CLI
    ``--labels human:FILE``, any layout of :func:`read_human_labels`):
    ``{"human_label": class, "human_class": its index}`` with the class of
    the labels at the tile's centre (:meth:`HumanLabels.weights_of` of the
    label times matched to the tile's scan: the majority class of the boxes
    over it, or the largest C3ONTEXT share), :data:`UNCLASSIFIED` where the
    humans saw the centre but gave no pattern (for frequencies: where
    unclassified outweighs every pattern); None where no label time lies
    within ``tolerance_hours`` of the tile's scan (:func:`match_times`) or
    no label covers it. ``human_class`` indexes :attr:`value_names`
    (the classes, then ``unclassified``), which maps record as the
    variable's ``flag_meanings``. The scan time comes from the scene's
    source files (:func:`convml_tt.data.sources.identify`).
    :meth:`check_scenes` refuses, before any tile is cut, scenes of which
    no label time is within the tolerance."""

    #: the one argument of ``--labels human:FILE``
    argument = "FILE"

    def __init__(self, path: str | Path, tolerance_hours: float = 3.0) -> None:
        if not tolerance_hours >= 0:
            raise ValueError(f"tolerance_hours={tolerance_hours!r} must be a number of hours >= 0")
        self.labels = read_human_labels(path)
        self.tolerance = dt.timedelta(hours=float(tolerance_hours))
        #: the names of the integer values of each key it gives
        self.value_names = {"human_class": self.labels.classes + [UNCLASSIFIED]}
        #: the scan starts of the scenes being labelled (set by :meth:`check_scenes`)
        self.scans: list[dt.datetime] = []
        self._hits: dict[tuple[str, ...], np.ndarray | None] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.labels.source!r})"

    def _groups(self, source_paths: Sequence[str]) -> np.ndarray | None:
        """The label times matched to the scan of ``source_paths``: those
        whose nearest scan (of the scenes :meth:`check_scenes` was shown;
        else of this scan alone) within the tolerance it is (None: no scan time known)."""
        key = tuple(source_paths)
        if key not in self._hits:  # once per scene, not per tile
            start = _scan_start(source_paths)
            scans = self.scans if start in self.scans else [start]
            self._hits[key] = None if start is None else np.flatnonzero(
                match_times(self.labels, scans, self.tolerance)[0] == scans.index(start))
        return self._hits[key]

    def check_scenes(self, scenes: Sequence[Sequence[str]], what: str) -> None:
        """Remember the scans of ``scenes`` (the source paths of each; a label
        time then labels only its nearest scan of them) and refuse (one-line
        ValueError naming the file, the times it covers and the scans') a
        set none of which has a label time within the tolerance; scenes whose
        scan time is unknown are not judged."""
        starts = [t for t in (_scan_start(s) for s in scenes) if t is not None]
        self.scans, self._hits = sorted(set(starts)), {}
        if not starts:
            return
        group, _ = match_times(self.labels, self.scans, self.tolerance)
        if (group >= 0).any():
            return
        g = self.labels.groups
        st = pd.to_datetime(pd.Series(starts))
        raise ValueError(f"human labels {self.labels.source!r} ({self.labels.layout}, {len(g)} label time(s) "
                         f"{g['t0'].min():%Y-%m-%dT%H:%M} to {g['t1'].max():%Y-%m-%dT%H:%M}) have no label time "
                         f"within {self.tolerance.total_seconds() / 3600:g} h of a scan of {what} (scans "
                         f"{st.min():%Y-%m-%dT%H:%M} to {st.max():%Y-%m-%dT%H:%M}); give labels of the scenes' "
                         f"days, or scenes of the labels' times")

    def label(self, tile: Any, source_paths: Sequence[str]) -> dict[str, Any] | None:
        hits = self._groups(source_paths)
        if hits is None or not len(hits):
            return None
        w, seen = self.labels.weights_of(hits, np.array([tile.lat0]), np.array([tile.lon0]))
        if not seen[0]:
            return None
        c = int(np.argmax(w[0]))
        return {"human_label": self.value_names["human_class"][c], "human_class": c}


def _scan_start(source_paths: Sequence[str]) -> dt.datetime | None:
    """The scan start of a scene's source files (the first a source identifies), or None."""
    from .sources import identify

    found = next((f for f in (identify(p) for p in source_paths) if f is not None), None)
    return None if found is None else found.start


def _register() -> None:
    from .labels import register_labeler

    register_labeler("human", HumanLabeler)


_register()
