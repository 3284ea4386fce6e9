"""Measures of an embedding, on plain arrays: triplet accuracy, label kNN
accuracy, cluster purity, adjusted Rand index, Ward clusters.

All functions take numpy arrays or the :class:`xarray.DataArray` made by
:func:`convml_tt.interpretation.embeddings.get_embeddings`; the quality
table with its baselines is in :mod:`convml_tt.interpretation.evaluate`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

# --- basic metrics -------------------------------------------------------------
def _as_2d(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x.values if isinstance(x, xr.DataArray) else x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_tiles, n_features), got shape {a.shape}")
    return a


def pairwise_sq_distances(x: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between all rows of ``x`` (n, d) -> (n, n)."""
    x = np.asarray(x, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    np.maximum(d2, 0.0, out=d2)
    return d2


def triplet_accuracy(anchor: Any, neighbor: Any | None = None, distant: Any | None = None) -> float:
    """Fraction of triplets whose anchor is closer to its neighbour than to its
    distant tile (Euclidean distance in embedding space).

    Either three arrays of shape (n_triplets, emb_dim), or one DataArray with
    a ``tile_type`` dimension holding ``anchor``, ``neighbor`` and ``distant``
    (as returned by ``get_embeddings(..., tile_type="all")``).
    """
    if neighbor is None and distant is None:
        da = anchor
        if not isinstance(da, xr.DataArray) or "tile_type" not in da.dims:
            raise ValueError(
                "triplet_accuracy needs anchor, neighbor and distant embeddings: pass three "
                "arrays, or a DataArray with a tile_type dimension (get_embeddings(..., tile_type='all'))"
            )
        a, n, d = (da.sel(tile_type=t).transpose("tile_id", "emb_dim") for t in ("anchor", "neighbor", "distant"))
    elif neighbor is None or distant is None:
        raise ValueError("triplet_accuracy needs all three of anchor, neighbor and distant")
    else:
        a, n, d = anchor, neighbor, distant
    a, n, d = _as_2d(a, "anchor"), _as_2d(n, "neighbor"), _as_2d(d, "distant")
    if not (a.shape == n.shape == d.shape):
        raise ValueError(f"anchor, neighbor, distant shapes differ: {a.shape}, {n.shape}, {d.shape}")
    if len(a) == 0:
        raise ValueError("triplet_accuracy needs at least one triplet, got none")
    d_an = np.sum((a - n) ** 2, axis=1)
    d_ad = np.sum((a - d) ** 2, axis=1)
    return float(np.mean(d_an < d_ad))


def knn_accuracy(x: Any, labels: Sequence, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour label accuracy.

    Each tile's label is predicted by a majority vote of its ``k`` nearest
    other tiles (Euclidean); ties go to the tied label whose nearest member
    is closest. ``x``: (n_tiles, n_features); ``labels``: (n_tiles,) any
    hashable values. Returns the fraction predicted correctly.
    """
    x = _as_2d(x, "x")
    labels = np.asarray(labels)
    n = len(x)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},) to match x, got {labels.shape}")
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be between 1 and n_tiles - 1 = {n - 1}, got {k}")
    _, codes = np.unique(labels, return_inverse=True)
    d2 = pairwise_sq_distances(x)
    np.fill_diagonal(d2, np.inf)
    nn = np.argsort(d2, axis=1, kind="stable")[:, :k]  # (n, k), nearest first
    nn_codes = codes[nn]
    n_classes = codes.max() + 1
    votes = np.zeros((n, n_classes))
    np.add.at(votes, (np.repeat(np.arange(n), k), nn_codes.ravel()), 1.0)
    # tie break: a tiny bonus decreasing with rank of the first occurrence
    rank_bonus = np.zeros((n, n_classes))
    for j in range(k - 1, -1, -1):  # nearest written last so it wins
        rank_bonus[np.arange(n), nn_codes[:, j]] = (k - j) * 1e-6
    pred = np.argmax(votes + rank_bonus, axis=1)
    return float(np.mean(pred == codes))


def contingency(labels_true: Sequence, labels_pred: Sequence) -> np.ndarray:
    """Contingency table (n_true_classes, n_pred_clusters) of counts."""
    t = np.asarray(labels_true)
    p = np.asarray(labels_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"label arrays must be 1-D of equal length, got {t.shape} and {p.shape}")
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    table = np.zeros((ti.max() + 1, pi.max() + 1), dtype=np.int64)
    np.add.at(table, (ti, pi), 1)
    return table


def cluster_purity(labels_true: Sequence, labels_pred: Sequence) -> float:
    """Fraction of tiles whose cluster's majority true label equals their own."""
    table = contingency(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())


def adjusted_rand_index(labels_true: Sequence, labels_pred: Sequence) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) between two labellings.

    1 for identical partitions (up to renaming), about 0 for random ones.
    """
    table = contingency(labels_true, labels_pred).astype(np.float64)
    n = table.sum()

    def comb2(v: np.ndarray | float) -> np.ndarray | float:
        return v * (v - 1) / 2.0

    sum_ij = comb2(table).sum()
    sum_a = comb2(table.sum(axis=1)).sum()
    sum_b = comb2(table.sum(axis=0)).sum()
    total = comb2(n)
    if total == 0:
        return 1.0
    expected = sum_a * sum_b / total
    max_index = 0.5 * (sum_a + sum_b)
    if max_index == expected:  # both partitions trivial (one cluster, or all singletons)
        return 1.0
    return float((sum_ij - expected) / (max_index - expected))


def ward_linkage(x: Any) -> np.ndarray:
    """Ward linkage matrix (scipy format, (n-1, 4)) of the rows of ``x`` (n, d)."""
    from scipy.cluster.hierarchy import linkage

    x = _as_2d(x, "x")
    if len(x) < 2:
        raise ValueError(f"clustering needs at least 2 tiles, got {len(x)}")
    return linkage(x, method="ward")


def leaf_members(z: np.ndarray, n_leaves: int) -> list[np.ndarray]:
    """Tiles under each leaf of the Ward tree truncated to ``n_leaves`` leaves.

    Leaves are in the left-to-right order of
    ``scipy.cluster.hierarchy.dendrogram(z, truncate_mode="lastp", p=n_leaves)``.
    Returns one integer array of tile indices per leaf.
    """
    from scipy.cluster.hierarchy import dendrogram

    n = len(z) + 1
    if not 1 <= n_leaves <= n:
        raise ValueError(f"n_leaves must be between 1 and the number of tiles ({n}), got {n_leaves}")
    leaves = dendrogram(z, truncate_mode="lastp", p=n_leaves, no_plot=True)["leaves"]
    children = z[:, :2].astype(np.int64)

    def members(node: int) -> list[int]:
        out, stack = [], [node]
        while stack:
            m = stack.pop()
            if m < n:
                out.append(m)
            else:
                stack.extend(children[m - n])
        return out

    return [np.sort(np.array(members(int(leaf)), dtype=np.int64)) for leaf in leaves]


def ward_clusters(x: Any, n_clusters: int) -> np.ndarray:
    """Cluster label (0..n_clusters-1, in dendrogram leaf order) of every row of
    ``x`` (n, d), from the Ward tree cut into ``n_clusters`` leaves."""
    groups = leaf_members(ward_linkage(x), n_clusters)
    labels = np.empty(sum(len(g) for g in groups), dtype=np.int64)
    for i, g in enumerate(groups):
        labels[g] = i
    return labels
