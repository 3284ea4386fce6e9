"""The demo's regime maps: every study scene mapped with the trained encoder
and both baselines, regimes fitted to the study tiles, map quality against
the true regimes, a regime map beside the true one and the regime fractions
through the study days."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .settings import DemoSettings

__all__ = ["study_composites", "map_tiles_estimate", "run_maps", "MAP_ROWS"]

#: the featurizers of the map-quality table, in its row order
MAP_ROWS = ("trained", "untrained", "tile statistics")


def study_composites(dataset: Path, data_root: Path) -> list[Path]:
    """The composites of the study split of a triplet dataset (its ``meta.yaml``)."""
    from ..data.dataset.format import read_dataset_meta

    meta = read_dataset_meta(dataset) or {}
    rel = (meta.get("scenes") or {}).get("study") or []
    if not rel:
        raise ValueError(f"the dataset {str(dataset)!r} records no study scenes in its meta.yaml; "
                         "the demo maps the study scenes")
    return [Path(data_root).resolve() / p for p in rel]


def map_tiles_estimate(s: DemoSettings, n_scenes: int) -> int:
    """About how many map tiles the demo cuts per featurizer: the cells of a
    grid of ``s.stride`` over the domain (tiles inside it) times the scenes."""
    import pyproj

    lon_min, lat_min, lon_max, lat_max = s.domain
    g = pyproj.Geod(ellps="GRS80")
    lat_c = (lat_min + lat_max) / 2
    width = g.inv(lon_min, lat_c, lon_max, lat_c)[2]
    height = g.inv(lon_min, lat_min, lon_min, lat_max)[2]
    per_side = [max(0, math.floor((e - s.tile_size_m) / s.stride) + 1) for e in (width, height)]
    return per_side[0] * per_side[1] * n_scenes


def _zscore_features(study, map_ds):
    """Tile statistics z-scored with the study tiles' mean and std, in both the
    study features and the map (the features differ in scale by orders of
    magnitude; the quality table z-scores them the same way)."""
    mean = study.mean("tile_id")
    std = study.std("tile_id")
    std = std.where(std > 0, 1.0)
    z_study = ((study - mean) / std).assign_attrs(study.attrs)
    emb = map_ds["embedding"]
    z_map = (emb - mean.values) / std.values
    return z_study, map_ds.assign(embedding=z_map.astype(np.float32).assign_attrs(emb.attrs))


def run_maps(s: DemoSettings, paths: dict[str, Path], emb_all, dev, progress: bool,
             say: Callable[[str], None]) -> Any:
    """Map the study scenes with each featurizer, fit and assign regimes, and
    return the map-quality table (rows :data:`MAP_ROWS`, columns
    ``map_accuracy``, ``fraction_mae``, ``n_cells``, ``unassigned_share``); writes the maps, the
    regimes files, ``map_quality.csv``, ``regime_map.png`` and ``fractions.png``."""
    import json

    import matplotlib.pyplot as plt
    import pandas as pd

    from .._io import write_text
    from ..data.synthetic import RegimeLabeler
    from ..interpretation.embeddings import get_embeddings
    from ..interpretation.evaluate import tile_statistics, untrained_like
    from ..interpretation.maps import embed_domain
    from ..interpretation.plots import regime_fractions_plot, regime_map, save_figure
    from ..interpretation.regimes import assign_regimes, fit_regimes, map_quality

    composites = study_composites(paths["dataset"], paths["data_root"])
    anchors = emb_all.sel(tile_type="anchor").assign_attrs(emb_all.attrs, tile_type="anchor")
    regimes_known = sorted({int(r) for r in anchors["regime"].values if int(r) >= 0})
    n_regimes = s.n_regimes or max(2, len(regimes_known))
    config = json.loads(anchors.attrs["model_config"])
    common = dict(tile_size_m=s.tile_size_m, stride=s.stride, tile_pixels=s.tile_pixels, domain=s.domain,
                  batch_size=64, device=str(dev), progress=progress, labeler=RegimeLabeler())
    rows, regime_maps = {}, {}
    for name in MAP_ROWS:
        tag = name.replace(" ", "_")
        say(f"      map of {len(composites)} study scene(s), every {s.stride / 1e3:g} km: {name}")
        if name == "trained":
            study, model = anchors, paths["model"]
        elif name == "untrained":
            model = untrained_like(config, seed=s.train_seed)
            study = get_embeddings(model, paths["dataset"], stage="study", tile_type="anchor",
                                   batch_size=64, device=str(dev), progress=False)
        else:
            model = "tile_statistics"
            study = tile_statistics(paths["dataset"], "study", "anchor", tile_ids=anchors.tile_id.values,
                                    standardize=False)
            study = study.assign_coords(regime=("tile_id", anchors["regime"].values))
        kw = {"featurizer_name": "untrained"} if name == "untrained" else {}
        # the baselines' maps are judged, not read for physics: their cells go without organisation indices
        emap = embed_domain(model, composites, out=paths["maps"] / f"map_{tag}.nc", indices=name == "trained",
                            **common, **kw)
        if name == "tile statistics":
            study, emap = _zscore_features(study, emap)
        regimes = fit_regimes(study, n_regimes, method="kmeans", seed=s.seed)
        regimes.save(paths["maps"] / f"regimes_{tag}.json")
        rmap = assign_regimes(emap, regimes, out=paths["maps"] / f"regime_map_{tag}.nc")
        q = map_quality(rmap)
        rows[name] = {k: q[k] for k in ("map_accuracy", "fraction_mae", "n_cells", "unassigned_share")}
        regime_maps[name] = (rmap, regimes)
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "embedding"
    write_text(paths["map_quality"], df.to_csv())

    rmap, regimes = regime_maps["trained"]
    fig = regime_map(rmap, time=0, regimes=regimes, truth=True,
                     title="regimes of the trained encoder (left) and the true regimes (right), first study day")
    save_figure(fig, paths["regime_map"])
    plt.close(fig)
    fig = regime_fractions_plot(rmap, truth=True, title="regime fractions of the domain over the study days")
    save_figure(fig, paths["fractions"])
    plt.close(fig)
    return df
