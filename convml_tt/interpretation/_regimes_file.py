"""Reading a regimes JSON file's content: every field checked before a
:class:`~convml_tt.interpretation.regimes.Regimes` is made of it (schema,
ranges of ``match`` and of the example tile ids, distinct names, the
model's SHA-256, ``n_regimes`` and ``emb_dim`` consistent with the centroids)."""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np

from .featurizers import FEATURIZERS
from .unassigned import RULES

__all__ = ["SHA256", "whole", "checked_match", "regimes_fields"]


def _number(v: Any) -> bool:
    """``v`` is a finite number > 0 (not a bool)."""
    return not isinstance(v, bool) and isinstance(v, (int, float)) and bool(np.isfinite(v)) and v > 0


def _unassigned_fields(d: dict, n_regimes: int) -> dict[str, Any]:
    """``unassigned_distance`` (one number, version 2, or one per regime,
    version 3), ``unassigned_percentile`` and ``unassigned_rule`` of a
    regimes file, checked; a version-2 percentile was of all tiles
    (``global``)."""
    dist, pct, rule = d.get("unassigned_distance"), d.get("unassigned_percentile"), d.get("unassigned_rule")
    if dist is not None and not (_number(dist) or (isinstance(dist, list) and len(dist) == n_regimes
                                                   and all(_number(v) for v in dist))):
        raise ValueError(f"its unassigned_distance {dist!r} is not a number > 0 or one per regime ({n_regimes})")
    if pct is not None and not (_number(pct) and pct <= 100):
        raise ValueError(f"its unassigned_percentile {pct!r} is not a number > 0 and <= 100")
    if rule is not None and rule not in RULES:
        raise ValueError(f"its unassigned_rule {rule!r} is not one of {', '.join(RULES)}")
    if rule is None and pct is not None and dist is not None:
        rule = "global"  # version 2: the percentile of all fitting tiles' distances
    return {"unassigned_distance": dist, "unassigned_percentile": pct, "unassigned_rule": rule}

#: a hex SHA-256 (a model's identity)
SHA256 = re.compile(r"[0-9a-f]{64}")


def whole(v: Any) -> int | None:
    """``v`` as an int when it is a whole number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    return int(v) if float(v).is_integer() else None


def checked_match(match: Any, n_regimes: int, label_names: list[str] | None) -> list[int]:
    """``match`` as a list of ints: one per regime, each -1 (no label) or the
    index of one of the ``label_names`` (when known); else a ValueError."""
    vals = [whole(m) for m in match]
    if len(vals) != n_regimes or any(v is None for v in vals):
        raise ValueError(f"match {list(match)!r} is not one whole number per regime ({n_regimes})")
    top = len(label_names) - 1 if label_names is not None else None
    bad = [v for v in vals if v < -1 or (top is not None and v > top)]
    if bad:
        allowed = f"-1 (none) or 0..{top}, an index of label_names {label_names}" if top is not None \
            else "-1 (none) or a label index >= 0"
        raise ValueError(f"match {vals} holds {bad[0]}, out of range: each regime's match is {allowed}")
    return vals


def regimes_fields(d: dict) -> dict[str, Any]:
    """The keyword arguments of :class:`~.regimes.Regimes` from a regimes
    file's content, every field checked (a ValueError names the first wrong
    one; a missing required field is a KeyError)."""
    centroids = np.array(d["centroids"], dtype=np.float64)
    if centroids.ndim != 2 or not np.isfinite(centroids).all():
        raise ValueError("its centroids are not a table of finite numbers (n_regimes, emb_dim)")
    for key, size in (("n_regimes", len(centroids)), ("emb_dim", centroids.shape[1])):
        if key in d and (whole(d[key]) is None or d[key] != size):
            raise ValueError(f"its {key} {d[key]!r} disagrees with its centroids ({size})")
    featurizer = str(d.get("featurizer") or "")
    if featurizer not in ("",) + FEATURIZERS:
        raise ValueError(f"its featurizer {featurizer!r} is not one of {FEATURIZERS}")
    sha = d.get("model_sha256")
    if featurizer != "tile_statistics" and not (isinstance(sha, str) and SHA256.fullmatch(sha)):
        raise ValueError(f"its model_sha256 {sha!r} is not the SHA-256 of the model whose embeddings the "
                         f"regimes were fitted to (64 hex digits), so no map can be checked against them")
    names = d["names"]
    label_names = d.get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"its names {names!r} are not a list of texts")
    if label_names is not None and (not isinstance(label_names, list)
                                    or not all(isinstance(n, str) for n in label_names)):
        raise ValueError(f"its label_names {label_names!r} are not a list of texts")
    ints = {}
    for key in ("example_tile_ids", "match"):
        v = d.get(key)
        if v is not None and (not isinstance(v, list) or any(whole(m) is None for m in v)):
            raise ValueError(f"its {key} {v!r} is not a list of whole numbers")
        ints[key] = v
    seed, n_tiles = whole(d.get("seed") or 0), whole(d.get("n_tiles") or 0)
    if seed is None or n_tiles is None or n_tiles < 0:
        raise ValueError(f"its seed {d.get('seed')!r} or n_tiles {d.get('n_tiles')!r} is not a whole number")
    unassigned = _unassigned_fields(d, len(centroids))
    earlier = ""
    if whole(d.get("version")) is not None and d["version"] < 3:
        # before version 3 a map recorded the SHA-256 of the file's fields but its paths (the cut included)
        kept = {k: v for k, v in d.items() if k not in ("model_path", "dataset_path")}
        earlier = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()
    return dict(
        earlier_fingerprint=earlier,
        centroids=centroids, names=names, method=str(d["method"]), model_sha256=str(sha or ""),
        model_path=str(d.get("model_path") or ""), featurizer=featurizer,
        example_tile_ids=list(ints["example_tile_ids"] or []), dataset_path=str(d.get("dataset_path") or ""),
        stage=str(d.get("stage") or "study"), tile_type=str(d.get("tile_type") or "anchor"), seed=seed,
        n_tiles=n_tiles, label=d.get("label"), label_names=label_names, match=ints["match"], **unassigned,
    )

