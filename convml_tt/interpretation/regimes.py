"""Cloud regimes: clusters of tile embeddings, and maps of them.

* :func:`fit_regimes` clusters tile embeddings ``(tile_id, emb_dim)`` into N
  regimes (k-means or Ward) and returns :class:`Regimes`: the centroids,
  their names (the letters of the dendrogram's leaves, ``A``, ``B``, ...), an
  example tile each, the provenance of the embeddings and, when the tiles
  carry true labels, the label each regime matches. Saved as plain JSON
  (:meth:`Regimes.save`, :meth:`Regimes.load`; never pickle).
* :func:`assign_regimes` gives every valid cell of an embedding map
  (:func:`convml_tt.interpretation.maps.embed_domain`) its nearest regime:
  ``regime(time, y, x)`` (int16, -1 invalid, -2 unassigned: farther from
  its nearest centroid than that regime's ``unassigned_distance``, see
  :mod:`.unassigned`) and
  ``regime_distance``.
* :func:`regime_fractions` is the share of each regime in the (valid) cells
  of each scene, optionally within a lat/lon box; :func:`map_quality` scores
  a regime map against the true regimes it carries.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._io import atomic_path, write_text
from ._regimes_file import SHA256, checked_match, regimes_fields
from .featurizers import model_sha256
from .metrics import leaf_members, ward_linkage
from .unassigned import (
    DEFAULT_PERCENTILE,
    DEFAULT_RULE,
    UNASSIGNED,
    checked_distances,
    checked_rule,
    is_unassigned,
    old_file_note,
    unassigned_cut,
)
from .regime_maps import (
    check_regime_map,
    check_regimes_of_map,
    check_same_model,
    is_regime_map,
    load_regime_map,
    map_quality,
    map_quality_frame,
    open_map,
    regime_fractions,
    true_names,
)

__all__ = [
    "Regimes",
    "fit_regimes",
    "assign_regimes",
    "regime_fractions",
    "map_quality",
    "map_quality_frame",
    "regime_letters",
    "open_map",
    "is_regime_map",
    "load_regime_map",
    "check_regime_map",
    "check_regimes_of_map",
    "check_same_model",
    "FORMAT",
    "METHODS",
    "UNASSIGNED",
]

#: the ``format`` value of a regimes JSON file
FORMAT = "convml_tt-regimes"
#: 2: ``unassigned_distance`` and ``unassigned_percentile`` (files of version 1 load with no cut and a note);
#: 3: ``unassigned_distance`` one per regime and ``unassigned_rule`` (version 2's one distance applies to all)
VERSION = 3
METHODS = ("kmeans", "ward")
#: most tiles whose Ward tree names k-means regimes (more: a seeded subsample of this many)
WARD_LETTER_TILES = 20000


def regime_letters(n: int) -> list[str]:
    """Names of ``n`` regimes or clusters: ``A`` .. ``Z``, then ``AA``, ``AB``,
    ... (also the letters of the leaves of
    :func:`convml_tt.interpretation.plots.dendrogram`, left to right)."""
    base = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [base[i] if i < 26 else base[i // 26 - 1] + base[i % 26] for i in range(n)]


# --- the regimes ------------------------------------------------------------------
@dataclass(eq=False)
class Regimes:
    """N regimes fitted to tile embeddings (the fields of the JSON file).

    ``centroids`` is ``(N, emb_dim)`` float64 (embedding units); ``names``
    the N regime names; ``match[i]`` the index (into ``label_names``) of the
    true label regime ``i`` was matched to, -1 for none (None when the tiles
    carried no labels). ``unassigned_distance`` ``(N,)`` float64 (embedding
    units, > 0; one number is read as that value for every regime): a cell
    farther from its nearest centroid than that regime's value is
    unassigned (None: every cell is assigned); ``unassigned_percentile``
    the percentile of the fitting tiles' distances to their centroid it was
    chosen as, ``unassigned_rule`` how (``global``: of all tiles,
    ``per_regime``: of each regime's members; both None: given directly).
    ``tile_labels`` (not saved) is the regime name of every fitting tile, a
    DataArray over ``tile_id``.
    """

    centroids: np.ndarray
    names: list[str]
    method: str
    emb_dim: int = 0
    model_sha256: str = ""
    model_path: str = ""
    featurizer: str = ""
    example_tile_ids: list[int] = field(default_factory=list)
    dataset_path: str = ""
    stage: str = "study"
    tile_type: str = "anchor"
    seed: int = 0
    n_tiles: int = 0
    label: str | None = None
    label_names: list[str] | None = None
    match: list[int] | None = None
    unassigned_distance: np.ndarray | None = None
    unassigned_percentile: float | None = None
    unassigned_rule: str | None = None
    tile_labels: xr.DataArray | None = field(default=None, repr=False, compare=False)
    #: the fingerprint a map assigned with this file recorded before version 3 (read from such a file)
    earlier_fingerprint: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        self.centroids = np.asarray(self.centroids, dtype=np.float64)
        if self.centroids.ndim != 2 or len(self.centroids) < 1:
            raise ValueError(f"centroids must be (n_regimes, emb_dim), got shape {self.centroids.shape}")
        self.emb_dim = int(self.centroids.shape[1])
        self.names = [str(n) for n in self.names]
        if len(self.names) != len(self.centroids):
            raise ValueError(f"{len(self.names)} names for {len(self.centroids)} centroids; give one name per regime")
        if any(not n.strip() for n in self.names) or len(set(self.names)) != len(self.names):
            twice = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"regime names {self.names} are not distinct non-empty names"
                             + (f" ({', '.join(map(repr, twice))} given twice)" if twice else "")
                             + "; give each regime its own name")
        if self.label_names is not None:
            self.label_names = [str(n) for n in self.label_names]
        self.unassigned_distance = checked_distances(self.unassigned_distance, len(self.centroids))
        if self.unassigned_percentile is not None:
            self.unassigned_percentile = float(self.unassigned_percentile)
        if self.unassigned_rule is not None:
            self.unassigned_rule = checked_rule(self.unassigned_rule)
        if self.match is not None:
            self.match = checked_match(self.match, len(self.centroids), self.label_names)
        if self.example_tile_ids and (len(self.example_tile_ids) != len(self.centroids)
                                      or any(int(t) < 0 for t in self.example_tile_ids)):
            raise ValueError(f"example_tile_ids {list(self.example_tile_ids)} are not one tile id >= 0 per "
                             f"regime ({len(self.centroids)})")

    def __eq__(self, other: object) -> bool:
        """Equal when every saved field is (centroids exactly)."""
        return isinstance(other, Regimes) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable

    @property
    def n_regimes(self) -> int:
        """Number of regimes N."""
        return len(self.centroids)

    def nearest(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest centroid of each row of ``x`` (n, emb_dim): ``(index (n,)
        int64, Euclidean distance (n,) float64)``, in chunks of ~32 MB."""
        x = np.asarray(x, dtype=np.float64)
        chunk = max(1, (1 << 22) // max(1, self.centroids.size))
        idx = np.empty(len(x), dtype=np.int64)
        dist = np.empty(len(x), dtype=np.float64)
        for s in range(0, len(x), chunk):
            d2 = np.sum((x[s:s + chunk, None, :] - self.centroids[None]) ** 2, axis=2)
            i = np.argmin(d2, axis=1)
            idx[s:s + chunk] = i
            dist[s:s + chunk] = np.sqrt(d2[np.arange(len(i)), i])
        return idx, dist

    def cut(self, unassigned_distance: Any = None) -> np.ndarray | None:
        """The per-regime unassigned distances ``(N,)`` in force (embedding
        units): ``unassigned_distance`` (one for all regimes or one per
        regime) when given, else the file's own (None: no cut)."""
        if unassigned_distance is None:
            return self.unassigned_distance
        return checked_distances(unassigned_distance, self.n_regimes)

    def assign(self, x: np.ndarray, unassigned_distance: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Regime of each row of ``x`` (n, emb_dim): ``(code (n,) int64, the
        nearest centroid's index or :data:`UNASSIGNED` beyond its cut
        (:meth:`cut`); Euclidean distance to the nearest centroid (n,))``."""
        idx, dist = self.nearest(x)
        return np.where(is_unassigned(idx, dist, self.cut(unassigned_distance)), UNASSIGNED, idx), dist

    def to_dict(self) -> dict[str, Any]:
        """The JSON content (plain numbers, lists and strings)."""
        return {
            "format": FORMAT, "version": VERSION, "method": self.method, "n_regimes": self.n_regimes,
            "emb_dim": self.emb_dim, "model_sha256": self.model_sha256, "model_path": self.model_path,
            "featurizer": self.featurizer, "centroids": self.centroids.tolist(), "names": list(self.names),
            "example_tile_ids": [int(t) for t in self.example_tile_ids], "dataset_path": self.dataset_path,
            "stage": self.stage, "tile_type": self.tile_type, "seed": int(self.seed), "n_tiles": int(self.n_tiles),
            "label": self.label, "label_names": None if self.label_names is None else list(self.label_names),
            "match": None if self.match is None else [int(m) for m in self.match],
            "unassigned_distance": None if self.unassigned_distance is None else self.unassigned_distance.tolist(),
            "unassigned_percentile": self.unassigned_percentile, "unassigned_rule": self.unassigned_rule,
        }

    def fingerprint(self) -> str:
        """Hex SHA-256 of the saved fields but the paths, the file version and the
        unassigned cut (the same for a file and what it was saved from, wherever the
        model and dataset are; a map records its own cut); regime maps record it as
        ``regimes_sha256``; maps assigned with an earlier version of the file recorded
        :attr:`earlier_fingerprint`)."""
        d = self.to_dict()
        for moved in ("model_path", "dataset_path", "version", "unassigned_distance", "unassigned_percentile",
                      "unassigned_rule"):  # where files are, and the cut (a map records its own), are not the regimes
            d.pop(moved)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the regimes as JSON at ``path`` (atomically). Returns the path.

        Regimes that do not record the model of their embeddings
        (``model_sha256``; not needed for the ``tile_statistics`` featurizer)
        are refused: a file of them could not be checked against a map."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"regimes path {str(path)!r} is a folder; give a file name such as regimes.json")
        if self.featurizer != "tile_statistics" and not SHA256.fullmatch(self.model_sha256):
            raise ValueError(f"the regimes do not record the model whose embeddings they were fitted to "
                             f"(model_sha256 {self.model_sha256!r}), so no map could be checked against them; "
                             f"fit them to embeddings from `convml_tt embed` (which record it), or set "
                             f"model_sha256 to the model file's SHA-256")
        return write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Regimes":
        """Read a regimes file written by :meth:`save` (JSON only: nothing is unpickled)."""
        path = Path(path)
        what = f"{str(path)!r} is not a convml_tt regimes JSON file (from `convml_tt regimes fit` / Regimes.save)"
        if not path.is_file():
            raise FileNotFoundError(f"regimes file {str(path)!r} does not exist; make one with `convml_tt regimes fit`")
        try:
            d = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{what}: it is not JSON text ({type(err).__name__})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{what}: it lacks \"format\": \"{FORMAT}\"")
        version = d.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError(f"{what}: its \"version\" is {version!r}, not a whole number")
        if version > VERSION:
            raise ValueError(f"{str(path)!r} is a regimes file of version {d['version']}, newer than this "
                             f"convml_tt reads ({VERSION}); upgrade convml_tt")
        if d.get("method") not in METHODS:
            raise ValueError(f"{what}: its \"method\" is {d.get('method')!r}, not one of {METHODS}")
        if "unassigned_distance" not in d:
            old_file_note(path)  # loads with no cut, as it was made
        try:
            return cls(**regimes_fields(d))
        except (KeyError, TypeError, ValueError) as err:
            text = " ".join(str(err).split())
            raise ValueError(f"regimes file {str(path)!r} is damaged: "
                             f"{text if isinstance(err, ValueError) else f'{type(err).__name__} {text}'}"
                             f"; fit the regimes again (`convml_tt regimes fit`)") from None


# --- fitting ---------------------------------------------------------------------
def _tile_embeddings(embeddings: Any) -> xr.DataArray:
    """The embeddings as (tile_id, emb_dim): loaded from a path, anchors of
    (tile_type, tile_id, emb_dim)."""
    if isinstance(embeddings, (str, Path)):
        from .embeddings import load_embeddings

        embeddings = load_embeddings(embeddings)
    if not isinstance(embeddings, xr.DataArray):
        raise TypeError(f"fit_regimes needs embeddings as an xarray.DataArray (tile_id, emb_dim) or a netCDF path, "
                        f"got {type(embeddings).__name__}")
    da = embeddings
    if "tile_type" in da.dims:
        if "anchor" not in list(da["tile_type"].values):
            raise ValueError(f"embeddings have tile types {list(da['tile_type'].values)} but no 'anchor'; "
                             f"select one with da.sel(tile_type=...)")
        da = da.sel(tile_type="anchor").assign_attrs(da.attrs, tile_type="anchor")
    if set(da.dims) != {"tile_id", "emb_dim"}:
        raise ValueError(f"embeddings must have dimensions (tile_id, emb_dim), got {da.dims}")
    return da.transpose("tile_id", "emb_dim")


def _true_labels(da: xr.DataArray, label: str | None) -> tuple[str, np.ndarray, list[str] | None] | None:
    """``(label, codes (n,) int64 with -1 unknown, names or None)`` of the
    fitting tiles, or None when there are no labels."""
    if label is None:
        if "regime" not in da.coords:
            return None
        label = "regime"
    if label not in da.coords or da[label].dims != ("tile_id",):
        raise ValueError(f"label coordinate {label!r} is not a per-tile coordinate of the embeddings; "
                         f"available: {sorted(k for k in da.coords if da[k].dims == ('tile_id',))}")
    v = np.asarray(da[label].values)
    names: list[str] | None = None
    if v.dtype.kind in "USO":
        s = v.astype(str)
        names = sorted(set(s) - {""})
        pos = {n: i for i, n in enumerate(names)}
        codes = np.array([pos.get(x, -1) for x in s], dtype=np.int64)
    else:
        f = v.astype(np.float64)
        ok = np.isfinite(f) & (f >= 0) & (f == np.round(f))
        codes = np.where(ok, np.round(np.where(ok, f, -1)), -1).astype(np.int64)
        name_coord = f"{label}_name"
        if name_coord in da.coords and da[name_coord].dims == ("tile_id",) and (codes >= 0).any():
            tn = np.asarray(da[name_coord].values).astype(str)
            names = [str(c) for c in range(int(codes.max()) + 1)]
            for c in range(len(names)):
                hit = np.flatnonzero(codes == c)
                if len(hit):
                    names[c] = str(tn[hit[0]])
    return label, codes, names


def _match(assigned: np.ndarray, codes: np.ndarray, n_regimes: int) -> list[int]:
    """Regime -> true label: Hungarian on the contingency (maximum agreement),
    regimes left over get their majority label (-1: no labelled tile)."""
    from scipy.optimize import linear_sum_assignment

    known = codes >= 0
    n_labels = int(codes[known].max()) + 1
    table = np.zeros((n_regimes, n_labels), dtype=np.int64)
    np.add.at(table, (assigned[known], codes[known]), 1)
    present = np.flatnonzero(table.sum(axis=0) > 0)  # only labels some fitting tile has
    rows, cols = linear_sum_assignment(-table[:, present])
    match = [-1] * n_regimes
    for r, c in zip(rows, cols):
        if table[r, present[c]] > 0:  # a regime with no tile of its assigned label is not matched to it
            match[int(r)] = int(present[c])
    for r in range(n_regimes):
        if match[r] < 0 and table[r].sum() > 0:
            match[r] = int(np.argmax(table[r]))
    return match


def fit_regimes(embeddings: Any, n_regimes: int, method: str = "kmeans", seed: int = 0,
                label: str | None = None, unassigned_percentile: float | None = DEFAULT_PERCENTILE,
                unassigned_distance: float | None = None, unassigned_rule: str = DEFAULT_RULE) -> Regimes:
    """Cluster tile embeddings into ``n_regimes`` regimes.

    Parameters
    ----------
    embeddings : DataArray ``(tile_id, emb_dim)`` from ``get_embeddings`` /
        ``load_embeddings`` (of ``(tile_type, tile_id, emb_dim)`` the anchor
        tiles are used), or the path of such a netCDF file.
    n_regimes : number of regimes, 2 .. number of tiles.
    method : ``"kmeans"`` (scikit-learn, ``n_init=10``, seeded) or ``"ward"``
        (the leaves of the Ward tree cut into ``n_regimes``; centroids are the
        cluster means). The Ward tree holds n^2 / 2 distances (n tiles; about
        1 GB for 16 000 tiles).
    seed : random seed of k-means (and of the subsample naming its regimes
        when there are more than :data:`WARD_LETTER_TILES` tiles).
    label : per-tile coordinate of true labels to match the regimes to
        (default ``regime`` when present); values < 0 are unknown.
    unassigned_percentile : the regimes' ``unassigned_distance`` is this
        percentile (0 < p <= 100) of the fitting tiles' Euclidean distances
        to their own centroid (default 97); None with no
        ``unassigned_distance``: every cell is assigned.
    unassigned_distance : the distance itself (embedding units, > 0; one
        for all regimes or one per regime), instead of a percentile.
    unassigned_rule : ``"global"`` (default: the percentile of all fitting
        tiles' distances, one distance for every regime) or ``"per_regime"``
        (each regime's percentile of its own members' distances).

    Returns
    -------
    :class:`Regimes`. Names are the letters of the Ward dendrogram's leaves
    (:func:`convml_tt.interpretation.plots.dendrogram` with
    ``n_leaves=n_regimes``): for ``ward`` the regimes are those leaves, for
    ``kmeans`` each regime takes the letter of the leaf it overlaps most
    (Hungarian method, so letters are unique) and regimes are ordered by it.
    ``tile_labels`` holds the regime of every fitting tile.
    """
    da = _tile_embeddings(embeddings)
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {METHODS}")
    x = np.asarray(da.values, dtype=np.float64)
    n = len(x)
    if n == 0 or x.shape[1] == 0:
        raise ValueError(f"embeddings are empty (shape {x.shape}); embed some tiles first")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} of {n} tiles have NaN/inf embeddings (e.g. tile_id "
                         f"{int(da.tile_id.values[np.argmax(bad)])}); drop them (da.dropna('tile_id')) before fitting")
    n_regimes = int(n_regimes)
    if not 2 <= n_regimes <= n:
        raise ValueError(f"n_regimes={n_regimes} is not possible with {n} tiles; use 2 <= n_regimes <= {n}")
    if method == "ward":
        leaves = leaf_members(ward_linkage(x), n_regimes)
        assigned = np.empty(n, dtype=np.int64)
        for i, g in enumerate(leaves):
            assigned[g] = i
        centroids = np.stack([x[g].mean(axis=0) for g in leaves])
    else:
        from scipy.optimize import linear_sum_assignment
        from sklearn.cluster import KMeans

        distinct = len(np.unique(x, axis=0))
        if distinct < n_regimes:
            raise ValueError(f"n_regimes={n_regimes} is more than the {distinct} distinct embeddings; "
                             f"use 2 <= n_regimes <= {distinct}")
        km = KMeans(n_clusters=n_regimes, n_init=10, random_state=int(seed)).fit(x)
        # letters: those of the Ward leaves (same n), on a seeded subsample when
        # the tree of all tiles would not fit in memory (n^2 / 2 distances)
        sub = np.arange(n) if n <= WARD_LETTER_TILES else np.sort(
            np.random.default_rng(seed).choice(n, WARD_LETTER_TILES, replace=False))
        ward = np.empty(len(sub), dtype=np.int64)
        for i, g in enumerate(leaf_members(ward_linkage(x[sub]), n_regimes)):
            ward[g] = i
        table = np.zeros((n_regimes, n_regimes), dtype=np.int64)
        np.add.at(table, (km.labels_[sub], ward), 1)
        rows, cols = linear_sum_assignment(-table)
        to_leaf = np.empty(n_regimes, dtype=np.int64)
        to_leaf[rows] = cols
        assigned = to_leaf[km.labels_]
        centroids = np.empty_like(km.cluster_centers_)
        centroids[to_leaf] = km.cluster_centers_
    names = regime_letters(n_regimes)
    cut, pct, rule = unassigned_cut(np.sqrt(np.sum((x - centroids[assigned]) ** 2, axis=1)), assigned, n_regimes,
                                    unassigned_percentile, unassigned_distance, unassigned_rule)
    ids = da.tile_id.values
    examples = []
    for i in range(n_regimes):
        members = np.flatnonzero(assigned == i)
        d2 = np.sum((x[members] - centroids[i]) ** 2, axis=1)
        examples.append(int(ids[members[np.argmin(d2)]]))
    attrs = da.attrs
    model_path = str(attrs.get("model_path") or "")
    sha = str(attrs.get("model_sha256") or "")
    if not sha and model_path and Path(model_path).is_file():
        sha = model_sha256(model_path)  # the identity embedding maps record
    featurizer = str(attrs.get("featurizer") or "")
    if not featurizer:
        featurizer = "tile_statistics" if attrs.get("model") == "tile statistics" else ("model" if model_path else "")
    labels = _true_labels(da, label)
    match = label_name = label_names = None
    if labels is not None:
        label_name, codes, label_names = labels
        if (codes >= 0).any():
            match = _match(assigned, codes, n_regimes)
        elif label is not None:
            raise ValueError(f"no tile has a known {label!r} label (all < 0); fit without label=")
        else:
            label_name = label_names = None
    tile_labels = xr.DataArray(np.array(names)[assigned], dims=("tile_id",), coords={"tile_id": ids},
                               name="regime")
    return Regimes(
        centroids=centroids, names=names, method=method, model_sha256=sha, model_path=model_path,
        featurizer=featurizer, example_tile_ids=examples, dataset_path=str(attrs.get("dataset_path") or ""),
        stage=str(attrs.get("stage") or "study"), tile_type=str(attrs.get("tile_type") or "anchor"),
        seed=int(seed), n_tiles=n, label=label_name, label_names=label_names, match=match, tile_labels=tile_labels,
        unassigned_distance=cut, unassigned_percentile=pct, unassigned_rule=rule,
    )


# --- assigning ----------------------------------------------------------------------
def assign_regimes(embedding_map: Any, regimes: Regimes | str | Path, out: str | Path | None = None,
                   progress: bool = True, unassigned_distance: float | None = None) -> xr.Dataset:
    """Assign every valid cell of an embedding map to its nearest regime.

    Parameters
    ----------
    embedding_map : map Dataset with ``embedding(time, y, x, emb_dim)`` (from
        ``embed_domain``) or its netCDF path; processed one scene at a time.
    regimes : :class:`Regimes` or the path of its JSON file.
    out : netCDF file to write the regime map to (atomically).
    unassigned_distance : cells farther than this (embedding units; one
        for all regimes or one per regime) from their nearest centroid are
        unassigned; default the regimes' own (none: every valid cell gets
        its nearest regime).

    Returns
    -------
    The map without ``embedding`` (and ``emb_dim``), with ``regime(time, y,
    x)`` int16 (-1 invalid, :data:`UNASSIGNED` (-2) valid but farther than
    its nearest regime's unassigned distance; CF
    ``flag_values``/``flag_meanings``) and
    ``regime_distance(time, y, x)`` float32 (Euclidean distance to the
    nearest centroid, embedding units; NaN invalid), and attributes
    ``regime_names``, ``regimes_method``, ``n_regimes``, ``regime_match``
    (when the regimes have a match), ``true_regime_names`` and the regimes'
    provenance (``regimes_*``); with a cut, ``unassigned_distance`` (one
    value per regime, in regime order) and ``unassigned_rule``.
    """
    from tqdm.auto import tqdm

    src = repr(str(embedding_map)) if isinstance(embedding_map, (str, Path)) else "(dataset)"
    if not isinstance(regimes, Regimes):
        regimes = Regimes.load(regimes)
    ds = open_map(embedding_map, "embedding map")
    if "embedding" not in ds.variables:
        raise ValueError(f"the map {src} has no 'embedding' variable (variables: {sorted(ds.data_vars)}); "
                         f"give an embedding map from `convml_tt map` / embed_domain")
    emb = ds["embedding"]
    if set(emb.dims) != {"time", "y", "x", "emb_dim"}:
        raise ValueError(f"the map {src} has embedding{emb.dims}; expected (time, y, x, emb_dim)")
    check_same_model(ds, regimes, f"the map {src}")
    cut = regimes.cut(unassigned_distance)
    rule = regimes.unassigned_rule if unassigned_distance is None else None
    nt, ny, nx = ds.sizes["time"], ds.sizes["y"], ds.sizes["x"]
    regime = np.full((nt, ny, nx), -1, dtype=np.int16)
    distance = np.full((nt, ny, nx), np.nan, dtype=np.float32)
    valid = ds["valid"].transpose("time", "y", "x") if "valid" in ds.variables else None
    for t in tqdm(range(nt), desc="assigning regimes", disable=not progress or nt < 2):
        e = np.asarray(emb.isel(time=t).transpose("y", "x", "emb_dim").values, dtype=np.float64).reshape(ny * nx, -1)
        ok = np.isfinite(e).all(axis=1)
        if valid is not None:
            ok &= np.asarray(valid.isel(time=t).values).reshape(-1) == 1
        if ok.any():
            code, dist = regimes.assign(e[ok], cut)
            regime[t].reshape(-1)[ok] = code
            distance[t].reshape(-1)[ok] = dist
    label_names = true_names(ds, regimes)
    res = ds.drop_vars([k for k in ds.variables if "emb_dim" in ds[k].dims]).load().copy(deep=False)
    if isinstance(embedding_map, (str, Path)):
        ds.close()
    res.attrs.pop("regime_names", None)
    gm = {"grid_mapping": "crs"} if "crs" in res.variables else {}
    flags = ([UNASSIGNED] if cut is not None else []) + list(range(regimes.n_regimes))
    meanings = (["unassigned"] if cut is not None else []) + [n.replace(" ", "_") for n in regimes.names]
    extra = {} if cut is None else {"unassigned_distance": cut, "comment": (
        f"{UNASSIGNED}: unassigned, a valid cell farther from its nearest regime centroid than that regime's "
        f"unassigned_distance (one value per regime, in flag_values order)")}
    res["regime"] = xr.Variable(("time", "y", "x"), regime, {
        "long_name": f"regime ({regimes.method}, nearest centroid)", "flag_values": np.array(flags, dtype=np.int16),
        "flag_meanings": " ".join(meanings), **extra, **gm}, {"_FillValue": np.int16(-1)})
    res["regime_distance"] = xr.Variable(("time", "y", "x"), distance, {
        "long_name": "Euclidean distance to the nearest regime centroid", "units": "1", **gm},
        {"_FillValue": np.float32(np.nan)})
    if label_names is not None and "true_regime" in res.variables:
        res["true_regime"].attrs.setdefault("flag_values", np.arange(len(label_names), dtype=np.int16))
        res["true_regime"].attrs.setdefault("flag_meanings", " ".join(n.replace(" ", "_") for n in label_names))
    res.attrs.update({
        "regime_names": json.dumps(regimes.names), "regimes_method": regimes.method, "n_regimes": regimes.n_regimes,
        "regimes_model_sha256": regimes.model_sha256, "regimes_model_path": regimes.model_path,
        "regimes_featurizer": regimes.featurizer, "regimes_dataset_path": regimes.dataset_path,
        "regimes_stage": regimes.stage, "regimes_n_tiles": regimes.n_tiles, "regimes_seed": regimes.seed,
        "regimes_example_tile_ids": json.dumps(regimes.example_tile_ids),
        "regimes_sha256": regimes.fingerprint(),
    })
    for key in ("unassigned_distance", "unassigned_rule"):
        res.attrs.pop(key, None)
    if cut is not None:
        res.attrs["unassigned_distance"] = cut
        res.attrs["unassigned_rule"] = rule or "given"
    if label_names is not None:
        res.attrs["true_regime_names"] = json.dumps(label_names)
    if regimes.match is not None:
        res.attrs["regime_match"] = json.dumps(regimes.match)
        res.attrs["regimes_label"] = regimes.label or ""
    if out is not None:
        out = Path(out)
        if out.is_dir():
            raise ValueError(f"out {str(out)!r} is a folder; give a file name such as regime_map.nc")
        with atomic_path(out) as tmp:
            res.to_netcdf(tmp, engine="netcdf4")
    return res


