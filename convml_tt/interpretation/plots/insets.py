"""Automatic placement of image insets next to scatter points (one implementation,
used by the annotated scatter and available to users' own plots).

Geometry is done in an isotropic frame (inches on the figure, so that a square
inset is square on screen): every point that needs an inset gets the nearest
free square box (preferring boxes on the outward side, away from the centroid
of the points) that

* lies inside the allowed bounds (the axes),
* does not overlap any box placed before it (with a gap), and
* does not cover any scatter point (points are discs of ``point_radius``).

Boxes are ``(x0, y0, x1, y1)``.
"""
from __future__ import annotations

import warnings

import numpy as np

__all__ = ["place_insets", "boxes_overlap", "box_covers_points", "connector_end"]


def boxes_overlap(a: np.ndarray, b: np.ndarray, gap: float = 0.0) -> bool:
    """Whether boxes ``a`` and ``b`` ``(x0, y0, x1, y1)`` overlap or come closer than ``gap``."""
    return bool(
        a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap
    )


def box_covers_points(box: np.ndarray, points: np.ndarray, radius: float = 0.0) -> bool:
    """Whether any point of ``points`` (n, 2), as a disc of ``radius``, touches ``box``."""
    if len(points) == 0:
        return False
    dx = np.maximum(np.maximum(box[0] - points[:, 0], points[:, 0] - box[2]), 0.0)
    dy = np.maximum(np.maximum(box[1] - points[:, 1], points[:, 1] - box[3]), 0.0)
    return bool(np.any(dx * dx + dy * dy < radius * radius))


def connector_end(point: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The point on the border of ``box`` nearest to ``point`` (x, y): where a
    line from the point to its inset ends."""
    return np.array([np.clip(point[0], box[0], box[2]), np.clip(point[1], box[1], box[3])])


def place_insets(
    points: np.ndarray,
    targets: np.ndarray | list[int],
    size: float | tuple[float, float],
    bounds: tuple[float, float, float, float],
    point_radius: float = 0.0,
    gap: float = 0.0,
    n_angles: int = 36,
    n_radii: int = 60,
) -> np.ndarray:
    """Place one inset box per target point.

    Parameters
    ----------
    points : (n, 2) positions of all scatter points, in an isotropic unit
        (e.g. inches on the figure).
    targets : indices into ``points`` of the points that get an inset, in the
        order they are placed.
    size : inset width and height (or one number for squares), same unit.
    bounds : ``(x0, y0, x1, y1)`` that every box must lie within.
    point_radius : radius of the disc each point occupies; boxes keep clear of it.
    gap : minimum distance between two boxes.
    n_angles, n_radii : resolution of the candidate search (directions x
        distances from the point).

    Returns
    -------
    (len(targets), 4) boxes ``(x0, y0, x1, y1)``; a row of NaN where no free
    place was found (a warning says how many).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    targets = np.asarray(targets, dtype=np.int64).ravel()
    w, h = (size, size) if np.isscalar(size) else size
    w, h = float(w), float(h)
    bx0, by0, bx1, by1 = (float(v) for v in bounds)
    if w <= 0 or h <= 0:
        raise ValueError(f"inset size must be positive, got {(w, h)}")
    if w > bx1 - bx0 or h > by1 - by0:
        raise ValueError(f"inset size {(w, h)} does not fit in bounds {bounds}")
    if len(targets) and (targets.min() < 0 or targets.max() >= len(points)):
        raise ValueError(f"targets must index the {len(points)} points, got {targets.tolist()}")
    centroid = points.mean(axis=0) if len(points) else np.zeros(2)

    angles = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    r_min = 0.5 * np.hypot(w, h) + point_radius + gap
    r_max = np.hypot(bx1 - bx0, by1 - by0)
    radii = r_min + (r_max - r_min) * np.linspace(0, 1, n_radii) ** 2
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (A, 2)

    placed = np.full((len(targets), 4), np.nan)
    n_failed = 0
    for ti, p_idx in enumerate(targets):
        p = points[p_idx]
        out = p - centroid
        norm = np.hypot(*out)
        out = out / norm if norm > 0 else np.array([0.0, 1.0])
        # candidate centres: (R, A, 2)
        cand = p[None, None, :] + radii[:, None, None] * dirs[None, :, :]
        cos_out = dirs @ out  # (A,)
        score = radii[:, None] * (1.6 - 0.6 * cos_out[None, :])
        order = np.argsort(score, axis=None, kind="stable")
        c = cand.reshape(-1, 2)[order]
        boxes = np.concatenate([c - [w / 2, h / 2], c + [w / 2, h / 2]], axis=1)  # (K, 4)
        ok = (boxes[:, 0] >= bx0) & (boxes[:, 1] >= by0) & (boxes[:, 2] <= bx1) & (boxes[:, 3] <= by1)
        prev = placed[:ti][~np.isnan(placed[:ti, 0])]
        for b in prev:
            ok &= ~(
                (boxes[:, 0] < b[2] + gap) & (b[0] < boxes[:, 2] + gap)
                & (boxes[:, 1] < b[3] + gap) & (b[1] < boxes[:, 3] + gap)
            )
        chosen = None
        for k in np.flatnonzero(ok):
            if not box_covers_points(boxes[k], points, point_radius):
                chosen = boxes[k]
                break
        if chosen is None:
            n_failed += 1
        else:
            placed[ti] = chosen
    if n_failed:
        warnings.warn(
            f"no free place for {n_failed} of {len(targets)} insets; use fewer or smaller insets",
            stacklevel=2,
        )
    return placed
