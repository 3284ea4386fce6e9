"""2-D projections of embeddings for plots: PCA, Isomap, t-SNE and UMAP.

:func:`project` maps an array ``(n_tiles, emb_dim)`` to ``(n_tiles, 2)``
with one of :data:`PROJECTIONS`. PCA is numpy's SVD; Isomap and t-SNE are
scikit-learn's; UMAP is umap-learn's (the ``explore`` extra:
``pip install 'convml_tt[explore]'``). The stochastic ones (t-SNE, UMAP)
are seeded, so a projection is the same every time for the same input.
Axes are unitless: only neighbourhoods (t-SNE, UMAP) or distances along
the neighbour graph (Isomap) carry meaning, not the axis values.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["PROJECTIONS", "project", "projection_name", "pca_2d"]

#: the projection methods :func:`project` knows (``--method`` / ``--projection`` of the plots)
PROJECTIONS = ("pca", "isomap", "tsne", "umap")
_AXIS_NAMES = {"pca": "PC", "isomap": "Isomap", "tsne": "t-SNE", "umap": "UMAP"}


def projection_name(method: str | None) -> str:
    """How titles name a projection: ``"PCA"``, ``"Isomap"``, ``"t-SNE"``,
    ``"UMAP"`` (``"embedding"`` for None: two embedding dimensions)."""
    if method is None:
        return "embedding"
    m = str(method).lower()
    return "PCA" if m == "pca" else _AXIS_NAMES.get(m, str(method))


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components of ``x`` (n, d) -> (n, 2) (numpy SVD)."""
    xc = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:2]
    # fix the sign so results are reproducible: largest loading positive
    signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
    out = xc @ (comps * signs[:, None]).T
    if out.shape[1] < 2:
        out = np.concatenate([out, np.zeros((len(out), 2 - out.shape[1]))], axis=1)
    return out


def _isomap(x: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    from sklearn.manifold import Isomap

    with warnings.catch_warnings():
        # well-separated regimes give a disconnected neighbour graph;
        # Isomap then joins the components itself, which is what we want
        warnings.filterwarnings("ignore", message=".*connected components.*")
        warnings.filterwarnings("ignore", message=".*sparsity structure.*")
        return Isomap(n_neighbors=n_neighbors, n_components=2).fit_transform(x)


def _tsne(x: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    # perplexity (an effective neighbour count) must stay below the number of points
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    # one OpenMP thread: after numba (UMAP) has started its own OpenMP pool, sklearn's threads
    # spin against it and a 24-point t-SNE takes 10+ s instead of 0.1 s
    with threadpool_limits(1, user_api="openmp"):
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def _umap(x: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    from .._extras import require

    umap = require("umap", "explore", "the UMAP projection", package="umap-learn")
    with warnings.catch_warnings():
        # a seeded UMAP runs on one thread and says so; small inputs make it fall back to exact neighbours
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*spectral initialisation.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, init="spectral")
        return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def project(x: np.ndarray, method: str, n_neighbors: int = 10, seed: int = 0) -> tuple[np.ndarray, tuple[str, str]]:
    """Project ``x`` (n_tiles, emb_dim) to 2-D with ``method`` (one of
    :data:`PROJECTIONS`, any case).

    ``n_neighbors``: neighbours of the Isomap and UMAP graphs (capped at
    n_tiles - 1); ``seed``: seeds t-SNE and UMAP. Returns ``(xy (n_tiles, 2),
    (x_label, y_label))``. A method that is not known, or too few tiles
    (fewer than 3, or 5 for t-SNE/UMAP), is a ValueError naming what is.
    """
    m = str(method).lower()
    if m not in PROJECTIONS:
        raise ValueError(f"projection method {method!r} is not one of {PROJECTIONS}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"a projection needs an array (n_tiles, emb_dim), got shape {x.shape}")
    least = 5 if m in ("tsne", "umap") else (3 if m == "isomap" else 1)
    if len(x) < least:
        raise ValueError(f"the {method} projection needs at least {least} tiles, got {len(x)}; "
                         f"use method 'pca' or two embedding dimensions")
    k = max(2, min(int(n_neighbors), len(x) - 1))
    if m == "pca":
        xy = pca_2d(x)
    else:
        xy = {"isomap": _isomap, "tsne": _tsne, "umap": _umap}[m](x, k, int(seed))
    name = _AXIS_NAMES[m]
    return np.asarray(xy, dtype=np.float64), (f"{name} 1", f"{name} 2")
