"""Subcommand of regimes along Lagrangian trajectories: track."""
from __future__ import annotations

from pathlib import Path

from ._common import add_common, add_compute, add_plugin, add_sources, positive, sources_of, whole
from .maps import _distance


def _add_track(sub) -> None:
    p = sub.add_parser(
        "track",
        help="regimes along Lagrangian trajectories: a tile on every trajectory point, embedded and assigned",
        description=(
            "For every point of the trajectories in FILE (CF trajectory netCDF or lagtraj output), cut a "
            "tile centred on it from the composite whose scan start is within --tolerance-min of the "
            "point's time (composites over the trajectories' extent are made from the source cache as "
            "needed), embed it with MODEL and assign it to the nearest regime of --regimes (unassigned "
            "beyond the regimes' unassigned distance, as in regime maps): regime sequences (trajectory, "
            "time) with the reason for each point without a regime, and the transition probabilities "
            "between regimes per time step (Wilson intervals; unassigned points are a state of their own)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="model file written by `convml_tt train` (or a featurizer name)")
    p.add_argument("--trajectories", type=Path, required=True, metavar="FILE",
                   help="trajectory netCDF (CF: lat/lon on (trajectory, time); or lagtraj's output)")
    p.add_argument("--regimes", type=Path, required=True, metavar="REGIMES.json",
                   help="regimes file of the model's embeddings (`convml_tt regimes fit`)")
    p.add_argument("--out", type=Path, required=True, metavar="SEQUENCES.nc", help="regime sequences to write")
    p.add_argument("--unassigned-distance", type=_distance, default=None, metavar="D",
                   help="points farther than D (embedding units) from every centroid are unassigned (code -2, "
                        "a state of its own in the transitions) (default: the regimes file's unassigned_distance "
                        "of each regime, as `regimes assign`)")
    add_common(p)
    p.add_argument("--domain", nargs=4, type=float, default=None, metavar=("LON_MIN", "LAT_MIN", "LON_MAX", "LAT_MAX"),
                   help="composite domain, degrees (default: the trajectories' extent plus half a tile)")
    p.add_argument("--tile-size-m", "--tile-size", dest="tile_size_m", type=positive, default=None, metavar="METRES",
                   help="tile side, metres (default: that of the model's training dataset; --tile-size is "
                        "its old name)")
    p.add_argument("--tile-pixels", type=whole(2), default=None, help="tile side, pixels (default: the model's)")
    p.add_argument("--tolerance-min", type=positive, default=30.0, metavar="MINUTES",
                   help="largest time between a point and the scan start of its scene (default 30)")
    p.add_argument("--resolution-km", type=positive, default=1.0, help="composite resolution, km (default 1)")
    p.add_argument("--recipe", default=None, metavar="NAME", help="composite recipe (default: the model's)")
    p.add_argument("--step", type=whole(1), default=1, help="time steps between the points of a transition (default 1)")
    p.add_argument("--figure", type=Path, default=None, metavar="PNG",
                   help="also draw the tracks, sequences and transition matrix to this PNG")
    p.add_argument("--regime-map", type=Path, default=None, metavar="REGIME_MAP.nc",
                   help="draw the tracks over this regime map (its scene nearest the middle of the trajectory times)")
    p.add_argument("--batch-size", type=whole(1), default=256, help="tiles per forward pass (default 256)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    add_sources(p)
    add_compute(p, "composites and the cutting of each scene's trajectory tiles")
    add_plugin(p, "registers the recipe, the model's backbone or a featurizer")
    p.set_defaults(func=_run_track)


def _domain(traj, tile_size_m: float) -> list[float]:
    """The trajectories' lat/lon extent plus half a tile (degrees)."""
    import numpy as np

    lat, lon = traj["lat"].values, traj["lon"].values
    ok = np.isfinite(lat) & np.isfinite(lon)
    if not ok.any():
        raise ValueError("the trajectories have no finite positions")
    pad_lat = tile_size_m / 2 / 110.5e3
    pad_lon = pad_lat / max(0.05, float(np.cos(np.deg2rad(np.abs(lat[ok]).max() + pad_lat))))
    return [float(lon[ok].min() - pad_lon), float(lat[ok].min() - pad_lat), float(lon[ok].max() + pad_lon),
            float(lat[ok].max() + pad_lat)]


def _run_track(args) -> int:
    import json

    import numpy as np
    import pandas as pd

    from .._io import check_writable_folder
    from ..data.composites import make_composites
    from ..data.trajectories import read_trajectories
    from ..interpretation.featurizers import is_featurizer_name, make_featurizer
    from ..interpretation.transitions import regime_sequences, transition_statistics
    from ..interpretation.unassigned import UNASSIGNED, cut_text
    from .maps import _model_recipe

    if args.out.is_dir():
        raise ValueError(f"--out {str(args.out)!r} is a folder; give a file name such as sequences.nc")
    check_writable_folder(args.out.parent, "the regime sequences", "choose a writable --out")
    traj = read_trajectories(args.trajectories)
    rmap = None  # read before any work: a bad file is refused first
    if args.regime_map is not None:
        from ..interpretation.regimes import load_regime_map

        rmap = load_regime_map(args.regime_map)
    model = args.model if is_featurizer_name(args.model) else Path(args.model)
    tile_size_m = args.tile_size_m or make_featurizer(model, device="cpu").tile_size_m
    if not tile_size_m:
        raise ValueError(f"the model {args.model} does not say its tile size; give --tile-size METRES")
    tolerance = np.timedelta64(int(round(args.tolerance_min * 60)), "s")
    times = traj["time"].values
    start = (pd.Timestamp(times.min()) - pd.Timedelta(tolerance)).to_pydatetime()
    end = (pd.Timestamp(times.max()) + pd.Timedelta(tolerance)).to_pydatetime()
    composites = make_composites(args.data_root, args.domain or _domain(traj, tile_size_m), start=start, end=end,
                                 kind=args.recipe or _model_recipe(model), resolution_km=args.resolution_km,
                                 progress=not args.quiet, workers=args.workers, scheduler=args.scheduler,
                                 **sources_of(args))
    seq = regime_sequences(model, args.trajectories.resolve(), composites, args.regimes, tile_size_m=tile_size_m,
                           tile_pixels=args.tile_pixels, tolerance=tolerance, device=args.device,
                           batch_size=args.batch_size, out=args.out, progress=not args.quiet,
                           workers=args.workers, scheduler=args.scheduler,
                           unassigned_distance=args.unassigned_distance)
    reasons = seq["reason"].values
    n_ok = int((reasons == "").sum())
    n_out = int((seq["regime"].values == UNASSIGNED).sum())
    names = json.loads(seq.attrs["regime_names"])
    out_text = "" if "unassigned_distance" not in seq.attrs else (
        f", {n_out} of them unassigned ({cut_text(seq.attrs['unassigned_distance'], names)})")
    print(f"wrote regime sequences of {seq.sizes['trajectory']} trajectories ({n_ok} of {reasons.size} points "
          f"with a regime{out_text}) to {args.out}")
    kinds: dict[str, list[str]] = {}
    for r in reasons[reasons != ""]:
        kinds.setdefault(str(r).split(" at ")[0].split(" within ")[0], []).append(str(r))
    for k, rs in kinds.items():
        print(f"{len(rs)} points without a regime: {rs[0]}" + (" (and similar)" if len(rs) > 1 else ""))
    if n_ok:
        stats = transition_statistics(seq, step=args.step)
        names = list(stats["from_regime"].values)
        n_pairs, n_un = stats.attrs["n_pairs"], stats.attrs["n_unassigned_pairs"]
        share = "" if "unassigned_distance" not in seq.attrs else (
            f"; {n_un} of {n_pairs} pairs ({100 * n_un / max(n_pairs, 1):.0f} %) start or end unassigned, "
            f"the last row and column")
        print(f"transition probabilities after {stats.attrs['time_step_s'] / 3600:g} h (rows: from; "
              f"{100 * stats.attrs['confidence']:.0f} % Wilson interval{share}):")
        for a in names:
            row = stats.sel(from_regime=a)
            cells = ", ".join(f"{b} {float(row['probability'].sel(to_regime=b)):.2f} "
                              f"[{float(row['lower'].sel(to_regime=b)):.2f}, {float(row['upper'].sel(to_regime=b)):.2f}]"
                              for b in names)
            print(f"  {a} ({int(row['n_from'])} pairs): {cells}")
    if args.figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        from ..interpretation.plots import save_figure
        from ..interpretation.plots.transitions import sequences_figure

        save_figure(sequences_figure(seq, step=args.step, regime_map=rmap)[0], args.figure)
        print(f"wrote figure to {args.figure}")
    return 0
