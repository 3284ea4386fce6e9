"""Subcommands of regime maps: map (embedding maps over a domain), regimes (fit, assign)."""
from __future__ import annotations

from pathlib import Path

from ._common import (add_common, add_compute, add_domain_and_times, add_env, add_labels, add_plugin, add_sources,
                      number_in, platform_name, positive, source_recipe, sources_of, whole)
from ._indices import add_index_options


def _add_map(sub) -> None:
    p = sub.add_parser(
        "map",
        help="embed a sliding-window grid of tiles over a domain, scene by scene (netCDF map)",
        description=(
            "Cut tiles of --tile-size metres (--tile-pixels pixels) centred on a regular grid with "
            "spacing --stride metres over --domain, in every composite of the cached scenes with scan "
            "start in [--start, --end], and embed them with MODEL: a netCDF map embedding(time, y, x, "
            "emb_dim) on the grid of tile centres (local equal-area frame of the domain, 2-D lat/lon, "
            "CF). Each scene is written as it is done; an interrupted run resumes at the next scene. "
            "Tiles that leave the composites' valid area are marked invalid (valid = 0)."
        ),
    )
    p.add_argument("model", metavar="MODEL",
                   help="model file written by `convml_tt train`, or a featurizer of the registry (e.g. "
                        "'tile_statistics', the hand-crafted baseline)")
    add_common(p)
    add_domain_and_times(p)
    p.add_argument("--tile-size-m", "--tile-size", dest="tile_size_m", type=positive, default=None, metavar="METRES",
                   help="tile side, metres (default: that of the model's training dataset; --tile-size is "
                        "its old name)")
    p.add_argument("--tile-pixels", type=whole(2), default=None,
                   help="tile side, pixels (default: that of the model's training tiles)")
    p.add_argument("--stride", type=positive, default=None, metavar="METRES",
                   help="distance between tile centres, metres (default: half the tile size)")
    p.add_argument("--out", type=Path, required=True, metavar="MAP.nc", help="map netCDF file to write")
    p.add_argument("--resolution-km", type=positive, default=1.0, help="composite resolution, km (default 1)")
    p.add_argument("--recipe", default=None, metavar="NAME",
                   help="composite recipe of the tiles (default: the one the model was trained on, e.g. C13; "
                        "truecolor for tile_statistics); another recipe with as many channels embeds other "
                        "data with the same model, e.g. --source gridded --recipe refl (a model's simulated "
                        "reflectance through a model trained on ABI C02 tiles)")
    add_plugin(p, "registers the recipe, the model's backbone, a featurizer or a labeler")
    p.add_argument("--satellite", "--platform", dest="satellite", type=platform_name, default=None,
                   help="only scenes of this platform: a GOES satellite 16-19 or an id such as himawari9")
    add_sources(p)
    add_labels(p, "each cell")
    add_env(p)
    p.add_argument("--method", choices=("bilinear", "nearest"), default="bilinear")
    p.add_argument("--max-sza", type=number_in(180.0, "degrees"), default=None, metavar="DEG",
                   help="cells whose centre's solar zenith angle at the scan start exceeds DEG (0-180) are "
                        "invalid (default: the recipe's, 80 for truecolor and C01-C06, none for infrared)")
    add_index_options(p, "cells are mapped (the others are invalid)")
    p.add_argument("--no-indices", dest="indices", action="store_false",
                   help="no organisation indices per cell (embeddings and surface only): ~1 ms less per 64 px "
                        "cell of CPU, most of a map's time on a GPU")
    p.add_argument("--batch-size", type=whole(1), default=256, help="tiles per forward pass (default 256)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    p.add_argument("--num-workers", type=whole(0), default=0,
                   help="DataLoader worker processes cutting tiles (default 0: in this process)")
    add_compute(p, "composites and the cutting of tiles (not with --num-workers)")
    p.add_argument("--force", action="store_true",
                   help="make a map above the sane bounds (more than 10 million tiles, half this machine's "
                        "memory, 100 GiB or the free disk), which is refused otherwise, before any work")
    p.set_defaults(func=_run_map)


def _run_map(args) -> int:
    import numpy as np

    from .._io import check_writable_folder
    from ..data.composites import make_composites
    from ..data.fields import environment_from, parse_env
    from ..data.labels import make_labeler
    from ..interpretation.featurizers import is_featurizer_name
    from ..interpretation.maps import embed_domain

    if args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give a file name such as map.nc")
    check_writable_folder(args.out.parent, "the map", "choose a writable --out")
    # environment fields: files opened and the variables each field needs checked before any work
    env = environment_from(args.env_files, parse_env(args.env), time_method=args.env_time or "nearest",
                           tolerance=np.timedelta64(int(round(3600 * (args.env_tolerance_h or 1.0))), "s"))
    model = args.model if is_featurizer_name(args.model) else Path(args.model)
    source_recipe(args)  # --source gridded --recipe refl: the variable refl
    recipe = args.recipe or _model_recipe(model)
    _size_map(args, model, recipe)  # before the composites are made: a map too large is refused first
    composites = make_composites(args.data_root, args.domain, start=args.start, end=args.end, kind=recipe,
                                 resolution_km=args.resolution_km, satellite=args.satellite,
                                 progress=not args.quiet, workers=args.workers, scheduler=args.scheduler,
                                 **sources_of(args))
    labeler = make_labeler(args.labels)
    ds = embed_domain(model, composites, tile_size_m=args.tile_size_m, stride=args.stride,
                      tile_pixels=args.tile_pixels, domain=args.domain, out=args.out,
                      batch_size=args.batch_size, device=args.device, progress=not args.quiet,
                      labeler=labeler, method=args.method, num_workers=args.num_workers,
                      workers=args.workers, scheduler=args.scheduler, max_sza=args.max_sza,
                      any_recipe=args.recipe is not None, env=env, force=args.force,
                      surface=args.surface or "any", cloud_threshold=args.cloud_threshold,
                      indices=args.indices)
    if env is not None:  # scenes whose cells have no environment values, and why
        for t in ds["time"].values:
            reason = env.time_reason(t)
            if reason:
                print(f"environment fields {', '.join(env.units)} are NaN in the scene of {str(t)[:19]}: {reason}")
    shape = " x ".join(f"{d}={n}" for d, n in ds["embedding"].sizes.items())
    valid = float(ds["valid"].mean())
    print(f"wrote map ({shape}; {100 * valid:.0f} % of cells valid) to {args.out}")
    return 0


def _size_map(args, model, recipe: str) -> None:
    """Size the map of ``args`` before any work, as far as the model and the
    options tell (tile size, pixels, embedding size; the cached scenes); a
    one-line error when it is too large (see ``check_map_request``)."""
    from ..data.composites import get_recipe
    from ..data.composites.scenes import scan_sources
    from ..data.sampling.grid import check_map_request

    r = get_recipe(recipe)
    tile_size_m, pixels, emb_dim = args.tile_size_m, args.tile_pixels, 2 * r.n_planes + 2
    if model != "tile_statistics":
        from ..architectures.model_file import read_model_file
        from ..interpretation.featurizers import _training_meta

        config = dict(read_model_file(model)["config"])
        params = _training_meta(config)
        emb_dim = config.get("emb_dim") or 128
        size = config.get("tile_pixels")
        pixels = pixels or (size if isinstance(size, int) and not isinstance(size, bool) else params.get("tile_pixels"))
        tile_size_m = tile_size_m or params.get("tile_size_m")
    if not tile_size_m or not pixels:
        return  # embed_domain says what is missing, and sizes the map itself
    stride = args.stride or float(tile_size_m) / 2
    scenes = scan_sources(args.data_root, r.bands, args.start, args.end, satellite=args.satellite)[0]
    check_map_request(args.domain, float(tile_size_m), float(stride), int(pixels), len(scenes), int(emb_dim),
                      r.n_planes, args.batch_size, args.out, args.force)


def _model_recipe(model) -> str:
    """The recipe a model file was trained on, or a registered featurizer's
    (``truecolor`` for ``tile_statistics`` and models that do not say)."""
    from ..interpretation.featurizers import make_featurizer, model_recipe

    if isinstance(model, str):
        return make_featurizer(model).recipe or "truecolor"
    from ..architectures.model_file import read_model_file

    return model_recipe(dict(read_model_file(model)["config"])) or "truecolor"


def _add_regimes(sub) -> None:
    p = sub.add_parser("regimes", help="fit regimes to tile embeddings; assign a map's cells to them")
    what = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    q = what.add_parser(
        "fit", help="cluster tile embeddings into N regimes (k-means or Ward): a JSON regimes file",
        description=(
            "Fit N regimes to the tile embeddings of EMBEDDINGS (e.g. the study set, from `convml_tt "
            "embed`): their centroids, names A, B, ... (those of the dendrogram's leaves), an example "
            "tile each and, when the tiles carry true labels, the label each regime matches (Hungarian "
            "method). Plain JSON: no pickle."
        ),
    )
    q.add_argument("embeddings", type=Path, help="netCDF file written by `convml_tt embed`")
    q.add_argument("--n", type=whole(2), required=True, metavar="N", help="number of regimes (>= 2)")
    q.add_argument("--method", choices=("kmeans", "ward"), default="kmeans", help="clustering (default kmeans)")
    q.add_argument("--seed", type=int, default=0, help="random seed of k-means (default 0)")
    q.add_argument("--label", default=None,
                   help="coordinate of true labels to match the regimes to (default: regime, when present)")
    q.add_argument("--out", type=Path, required=True, metavar="REGIMES.json", help="regimes file to write")
    cut = q.add_mutually_exclusive_group()
    cut.add_argument("--unassigned-percentile", type=_percentile, default=97.0, metavar="P",  # unassigned.DEFAULT_PERCENTILE (tested)
                     help="cells farther from their nearest centroid than this percentile (0 < P <= 100) of the "
                          "fitting tiles' distances to their own centroid (all tiles', or that regime's with "
                          "--unassigned-rule per-regime) are unassigned (default 97); 'none': every cell is assigned")
    q.add_argument("--unassigned-rule", choices=("global", "per-regime"), default="global",
                   help="global (default): the percentile of all fitting tiles' distances, one distance for every "
                        "regime; per-regime: each regime's percentile of its own members' distances")
    cut.add_argument("--unassigned-distance", type=_distance, default=None, metavar="D",
                     help="that distance itself (embedding units, > 0), instead of a percentile")
    q.set_defaults(func=_run_regimes_fit)
    q = what.add_parser(
        "assign", help="the regime of every cell of a map (nearest centroid) and its distance",
        description="Assign every valid cell of MAP (from `convml_tt map`) to the nearest regime of "
                    "REGIMES; writes regime(time, y, x) and regime_distance(time, y, x).",
    )
    q.add_argument("map", type=Path, metavar="MAP.nc", help="map written by `convml_tt map`")
    q.add_argument("regimes", type=Path, metavar="REGIMES.json", help="file written by `convml_tt regimes fit`")
    q.add_argument("--out", type=Path, required=True, metavar="REGIME_MAP.nc", help="regime map to write")
    q.add_argument("--unassigned-distance", type=_distance, default=None, metavar="D",
                   help="cells farther than D (embedding units) from every centroid are unassigned (code -2) "
                        "(default: the regimes file's unassigned_distance of each regime)")
    add_common(q, data_root=False)
    q.set_defaults(func=_run_regimes_assign)


def _percentile(text: str) -> float | None:
    """``--unassigned-percentile``: 0 < P <= 100, or 'none'."""
    import argparse

    if text.strip().lower() == "none":
        return None
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0 < v <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentile 0 < P <= 100 (or 'none')")
    return v


def _distance(text: str) -> float:
    """``--unassigned-distance``: a number > 0 (embedding units)."""
    import argparse

    from ..interpretation.unassigned import checked_distance

    try:
        return checked_distance(text, "--unassigned-distance")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _run_regimes_fit(args) -> int:
    from ..interpretation.embeddings import load_embeddings
    from ..interpretation.regimes import fit_regimes

    regimes = fit_regimes(load_embeddings(args.embeddings), args.n, method=args.method, seed=args.seed,
                          label=args.label, unassigned_percentile=args.unassigned_percentile,
                          unassigned_distance=args.unassigned_distance, unassigned_rule=args.unassigned_rule)
    regimes.save(args.out)
    matched = ""
    if regimes.match is not None and regimes.label_names:
        matched = "; matched to " + ", ".join(
            f"{n}={regimes.label_names[m] if m >= 0 else '?'}" for n, m in zip(regimes.names, regimes.match))
    print(f"wrote {regimes.n_regimes} {regimes.method} regimes ({', '.join(regimes.names)}) of "
          f"{regimes.n_tiles} tiles to {args.out}{matched}{_cut_text(regimes)}")
    return 0


def _cut_text(regimes) -> str:
    """``; unassigned beyond D (the P-th percentile ...)`` for the fit's summary line."""
    if regimes.unassigned_distance is None:
        return "; every cell assigned (no unassigned distance)"
    from ..interpretation.unassigned import cut_text

    how = "" if regimes.unassigned_percentile is None else (
        f" (the {regimes.unassigned_percentile:g}th percentile of the tiles' distances to their centroid"
        + (", each regime's own)" if regimes.unassigned_rule == "per_regime" else ")"))
    return f"; cells {cut_text(regimes.unassigned_distance, regimes.names)}{how} are unassigned"


def _run_regimes_assign(args) -> int:
    from .._io import check_writable_folder
    from ..interpretation.regimes import Regimes, assign_regimes, regime_fractions

    check_writable_folder(args.out.parent, "the regime map", "choose a writable --out")
    ds = assign_regimes(args.map, Regimes.load(args.regimes), out=args.out, progress=not args.quiet,
                        unassigned_distance=args.unassigned_distance)
    fractions = regime_fractions(ds)
    fr = fractions.mean("time")
    share = ", ".join(f"{n} {100 * float(v):.0f} %" for n, v in zip(fr["regime"].values, fr.values))
    if "unassigned_distance" in ds.attrs:
        share += f", unassigned {100 * float(fractions['unassigned_fraction'].mean()):.0f} %"
    print(f"wrote regime map to {args.out} (mean fractions: {share})")
    return 0
