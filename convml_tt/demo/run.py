"""The whole convml_tt pipeline on synthetic scenes, offline: ``convml_tt demo``.

One call of :func:`run_demo` (or ``make demo`` / ``convml_tt demo``) runs,
each step through the same public functions the CLI subcommands use:

1. synthetic ABI L1b scenes (bands 1-3) on several dates, written into the
   source cache (:func:`convml_tt.data.synthetic.write_synthetic_scenes`);
2. true-colour composites over the domain
   (:func:`convml_tt.data.composites.make_composites`);
3. train/study triplets labelled with the true regimes
   (:func:`convml_tt.data.dataset.make_triplets` with
   :class:`convml_tt.data.synthetic.RegimeLabeler`) and a domain plot with
   tile outlines (:func:`~convml_tt.data.dataset.plot_triplets`);
4. training of the triplet encoder on CPU, or CUDA when present
   (:func:`convml_tt.architectures.train`);
5. embeddings of the study set, all three tile types
   (:func:`convml_tt.interpretation.embeddings.get_embeddings`);
6. the quality table, trained vs the untrained network and tile statistics
   (:func:`convml_tt.interpretation.evaluate.quality_table`);
7. regime maps of every study scene (:func:`convml_tt.interpretation.maps.embed_domain`)
   with the trained encoder and both baselines, k-means regimes fitted to
   the study tiles (:mod:`convml_tt.interpretation.regimes`), the map
   quality against the true regimes, a regime map beside the true one and
   the regime fractions through the study days (:mod:`.maps`);
8. dendrogram, annotated scatter and grid overview
   (:mod:`convml_tt.interpretation.plots`), the organisation indices per
   true regime (box plots, medians checked against the order the generator
   made, correlation with the principal components:
   :mod:`convml_tt.interpretation.physical`), and a markdown report (quality
   and map-quality tables, regimes in physical terms, targets met or not,
   timings, settings).

Everything goes under one output folder (default ``demo_output/``)::

    demo_output/
      data/            source cache (synthetic scenes) and composites (unless --data-root)
      dataset/         triplet dataset (train/, study/, meta.yaml)
      model.pt         trained encoder (model.pt.checkpoints/ while training, for resuming)
      embeddings_study.nc
      maps/            embedding maps, regimes files and regime maps of the study scenes
      domain.png dendrogram.png scatter.png grid.png regime_map.png fractions.png
      physical.png pc_correlations.png
      quality.csv map_quality.csv regime_indices.csv report.md settings.json demo_state.json

A second run with the same :class:`DemoSettings` reuses what the first made
(scenes, composites, dataset, model, embeddings, quality table); changed
settings redo the affected step and everything after it. An interrupted
training run resumes from its last epoch checkpoint.

Runs of the triplet step with ``workers > 1`` use a ``spawn`` process pool:
scripts calling :func:`run_demo` must guard their entry point with
``if __name__ == "__main__":``.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from .._io import write_text
from .maps import map_tiles_estimate, run_maps, study_composites
from .report import DemoResult, check_targets, format_report
from .settings import DemoSettings

__all__ = ["run_demo", "epochs_within_budget", "after_training_s"]


# -----------------------------------------------------------------------------
# state of a demo folder (what was made with which settings)
# -----------------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


class _State:
    """``demo_state.json``: the settings key each finished step was made with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = _read_json(path)

    def done(self, step: str, key: str) -> bool:
        return self.data.get(step) == key

    def stale(self, step: str, key: str) -> bool:
        """A previous run made ``step`` with other settings."""
        return step in self.data and self.data[step] != key

    def mark(self, step: str, key: str | None) -> None:
        if key is None:
            self.data.pop(step, None)
        else:
            self.data[step] = key
        _write_json(self.path, self.data)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# -----------------------------------------------------------------------------
# the steps
# -----------------------------------------------------------------------------
def _scenes(s: DemoSettings, data_root: Path, progress: bool) -> tuple[list[Path], bool]:
    """Synthetic scenes, reused when a stamp in ``data_root`` says they were
    written with the same settings and all their files exist. Returns
    (band-1 files, whether they were written now)."""
    from ..data.synthetic import write_synthetic_scenes

    key = s.step_key("scenes")
    stamp = data_root / "sources" / f".convml_tt_demo_scenes-{key}.json"
    info = _read_json(stamp)
    files = [Path(p) for p in info.get("files", [])]
    if files and all(p.exists() for p in files):
        return [Path(p) for p in info.get("first_band", [])], False
    for old in (data_root / "sources").glob(".convml_tt_demo_scenes-*.json"):
        old.unlink()  # files under the same names are about to be rewritten
    scenes = write_synthetic_scenes(data_root, settings=s.scene_settings, progress=progress, workers=s.workers)
    all_files = [str(p) for sc in scenes for p in list(sc.files.values()) + [sc.labels]]
    first = [str(sc.files[min(sc.files)]) for sc in scenes]
    _write_json(stamp, {"settings_key": key, "files": all_files, "first_band": first})
    return [Path(p) for p in first], True


def _scene_window(s: DemoSettings) -> tuple[dt.datetime, dt.datetime]:
    start = s.start_time
    end = start + dt.timedelta(hours=s.interval_hours * (s.n_scenes - 1))
    return start - dt.timedelta(minutes=1), end + dt.timedelta(minutes=1)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children, seconds."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(timings: dict[str, float], step: str, fn: Callable[[], Any],
           cpu: dict[str, float] | None = None) -> Any:
    t0, c0 = time.perf_counter(), _cpu_seconds()
    try:
        return fn()
    finally:  # adds up when a step is timed in parts (training: timing a step, then training)
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - t0
        if cpu is not None:
            cpu[step] = cpu.get(step, 0.0) + _cpu_seconds() - c0


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


#: seconds the fastai Learner adds to each bare training step (callbacks, its
#: Python Adam, batch transforms) when not measured; bench/train.py measures it
LEARNER_OVERHEAD_S = 0.07


#: seconds to cut and convert one map tile (sampling, display stretch), per featurizer
MAP_TILE_S = 1e-3


def epochs_within_budget(step_s: float, s: DemoSettings, seconds_left: float,
                         overhead_s: float = LEARNER_OVERHEAD_S, map_tiles: int = 0) -> int:
    """How many epochs of training (at most ``s.epochs``, at least 1) fit in
    ``seconds_left`` seconds when one bare training step takes ``step_s``
    seconds, keeping time for the steps after training.

    An epoch is ``ceil(0.9 n_train / batch_size)`` training steps of ``step_s
    + overhead_s``, the validation batches (forward only, a third of a step
    each) and ~1.5 s of checkpoint writing; after training come the forward
    passes of the embeddings and the untrained baseline (6 ``n_study`` tiles),
    the regime maps (``map_tiles`` tiles through the trained and the
    untrained network, each tile cut three times at :data:`MAP_TILE_S`) and
    ~20 s of statistics and plots (docs/benchmarks.md compares the estimate
    with measured runs).
    """
    if not step_s > 0:
        raise ValueError(f"step_s={step_s!r} must be a positive number of seconds")
    n_valid = max(1, round(0.1 * s.n_train))
    train_batches = math.ceil((s.n_train - n_valid) / s.batch_size)
    valid_batches = math.ceil(n_valid / s.batch_size)
    epoch_s = train_batches * (step_s + overhead_s) + valid_batches * step_s / 3 + 1.5
    forward_s = step_s / 3 / (3 * s.batch_size)  # one tile, forward only
    after_s = 20.0 + forward_s * (6 * s.n_study + 2 * map_tiles) + 3 * MAP_TILE_S * map_tiles
    return int(min(s.epochs, max(1, math.floor((seconds_left - after_s) / epoch_s))))


def after_training_s(epoch_s: float, s: DemoSettings, map_tiles: int = 0) -> float:
    """Seconds to keep after training, given that one epoch took ``epoch_s``
    seconds here: the forward passes of the embeddings and the untrained
    baseline (6 ``n_study`` tiles) and of the regime maps (``map_tiles`` tiles
    through the trained and the untrained network, each cut three times at
    :data:`MAP_TILE_S`) and ~20 s of statistics and plots. One tile's forward
    pass is taken as a ninth of its share of an epoch (3 tiles per triplet,
    forward + backward ~ 3 forwards), so the reserve grows with the load the
    epochs ran under."""
    forward_s = epoch_s / (9 * s.n_train)
    return 20.0 + forward_s * (6 * s.n_study + 2 * map_tiles) + 3 * MAP_TILE_S * map_tiles


def run_demo(
    out: str | os.PathLike = "demo_output",
    settings: DemoSettings | None = None,
    data_root: str | os.PathLike | None = None,
    device: str | None = None,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the whole pipeline on synthetic scenes and write figures and a report.

    Parameters
    ----------
    out:
        output folder (created); see the module docstring for its content.
    settings:
        :class:`DemoSettings` (default: ``DemoSettings()``; ``DemoSettings.fast()``
        for a tiny run).
    data_root:
        source cache and composites (default ``{out}/data``).
    device:
        torch device for training and embedding (default: CUDA when
        available, else CPU).
    quiet:
        no progress bars, no per-epoch table, no step messages.
    log:
        where step messages go (default ``print`` unless ``quiet``).

    Returns
    -------
    :class:`DemoResult` (the report text is in ``.report`` and in
    ``{out}/report.md``).

    Raises
    ------
    ValueError
        bad settings, or a requested device that does not exist.
    """
    return _run_demo(out, settings, data_root, device, quiet, log)


def _run_demo(
    out: str | os.PathLike,
    settings: DemoSettings | None,
    data_root: str | os.PathLike | None,
    device: str | None,
    quiet: bool,
    log: Callable[[str], None] | None,
) -> DemoResult:
    t_setup, c_setup = time.perf_counter(), _cpu_seconds()
    import matplotlib.pyplot as plt

    from .._io import resolve_device
    from ..architectures import train
    from ..architectures.training.budget import WallClockBudget
    from ..architectures.training.threads import CPUThreads
    from ..data.composites import make_composites
    from ..data.dataset import make_triplets, plot_triplets
    from ..data.synthetic import RegimeLabeler
    from ..interpretation.embeddings import get_embeddings, load_embeddings, save_embeddings
    from ..interpretation.evaluate import quality_table
    from ..interpretation.plots import cluster_boxplots, dendrogram, grid, pc_correlation_heatmap, save_figure, scatter
    from .report import regime_medians
    from .environment import environment_step

    s = settings if settings is not None else DemoSettings()
    if not isinstance(s, DemoSettings):
        raise TypeError(f"settings must be a DemoSettings, got {type(s).__name__}")
    say = log or (lambda text: _say(quiet, text))
    progress = not quiet
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data_root = Path(data_root) if data_root is not None else out / "data"
    dev = resolve_device(device)  # clear error for a missing CUDA device
    state = _State(out / "demo_state.json")
    paths = {
        "data_root": data_root,
        "dataset": out / "dataset",
        "model": out / "model.pt",
        "checkpoints": out / "model.pt.checkpoints",
        "embeddings": out / "embeddings_study.nc",
        "quality": out / "quality.csv",
        "domain": out / "domain.png",
        "dendrogram": out / "dendrogram.png",
        "scatter": out / "scatter.png",
        "grid": out / "grid.png",
        "maps": out / "maps",
        "map_quality": out / "map_quality.csv",
        "regime_map": out / "regime_map.png",
        "fractions": out / "fractions.png",
        "physical": out / "physical.png",
        "pc_correlations": out / "pc_correlations.png",
        "regime_indices": out / "regime_indices.csv",
        "judging": out / "judging",
        "choose_n": out / "choose_n.png",
        "report": out / "report.md",
        "settings": out / "settings.json",
    }
    _write_json(paths["settings"], s.to_dict())
    timings: dict[str, float] = {"setup": time.perf_counter() - t_setup}  # imports (torch, fastai)
    cpu: dict[str, float] = {"setup": _cpu_seconds() - c_setup}
    reused: dict[str, bool] = {}

    # 1. synthetic scenes ---------------------------------------------------------------
    say(f"[1/8] synthetic scenes: {s.n_scenes} x {s.size_km:g} km at {s.center} from {s.start}")
    _, fresh = _timed(timings, "scenes", cpu=cpu, fn=lambda: _scenes(s, data_root, progress))
    reused["scenes"] = not fresh

    # 2. composites ---------------------------------------------------------------------------
    say(f"[2/8] composites over {s.domain}")
    start, end = _scene_window(s)
    composites = _timed(timings, "composites", cpu=cpu, fn=lambda: make_composites(
        data_root, s.domain, start=start, end=end, progress=progress, overwrite=fresh))
    reused["composites"] = not fresh
    if len(composites) != s.n_scenes:
        raise RuntimeError(f"expected {s.n_scenes} composites from {data_root}, got {len(composites)}")

    # 3. triplets (+ domain plot) -----------------------------------------------------------
    key = s.step_key("triplets")
    if fresh or state.stale("triplets", key):
        # scenes rewritten or settings changed: the old dataset (and all after it) is stale
        for step in ("triplets", "training", "embeddings", "quality", "maps"):
            state.mark(step, None)
        for p in ("dataset", "model", "checkpoints", "embeddings", "quality", "maps", "map_quality"):
            _remove(paths[p])
    reused["triplets"] = state.done("triplets", key)
    say(f"[3/8] triplets: {s.n_train} train + {s.n_study} study, {s.tile_size_m / 1e3:g} km tiles of "
        f"{s.tile_pixels} px ({'reused' if reused['triplets'] else f'{s.workers} worker(s)'})")

    def make_dataset() -> None:
        make_triplets(data_root, out=paths["dataset"], settings=s.triplet_settings, workers=s.workers,
                      progress=progress, composites=composites, labeler=RegimeLabeler())
        fig = plot_triplets(paths["dataset"], "train", n=5, out=paths["domain"])
        plt.close(fig)

    _timed(timings, "triplets", cpu=cpu, fn=make_dataset)
    state.mark("triplets", key)

    # 4. training -------------------------------------------------------------------------------
    key = s.step_key("training")
    if state.stale("training", key) or state.data.get("training_started") not in (None, key):
        for step in ("training", "embeddings", "quality", "maps"):
            state.mark(step, None)
        for p in ("model", "checkpoints", "embeddings", "quality", "maps", "map_quality"):
            _remove(paths[p])
    reused["training"] = state.done("training", key) and paths["model"].exists()
    last = paths["checkpoints"] / "last.pt"
    resume = last if (not reused["training"] and state.data.get("training_started") == key
                      and last.exists()) else None
    # epochs: those of the finished or interrupted run, else what fits the time budget
    epochs = s.epochs
    if (reused["training"] or resume is not None) and state.data.get("training_epochs"):
        epochs = int(state.data["training_epochs"])
    # with a time budget, training stops after the whole epoch past which the next would not fit
    # (judged as the epochs go, WallClockBudget), keeping time for the steps after it
    budget = None
    if s.time_budget_s is not None and not reused["training"]:
        n_map = map_tiles_estimate(s, len(study_composites(paths["dataset"], data_root)))
        def replanned(n: int) -> None:  # a resumed run continues the re-planned schedule
            state.data["training_epochs"] = n
            state.mark("training_started", key)

        budget = WallClockBudget(time.monotonic() + s.time_budget_s - sum(timings.values()),
                                 reserve=lambda epoch_s: after_training_s(epoch_s, s, n_map), replan=True,
                                 on_replan=replanned)
    say(f"[4/8] training {s.arch} (emb_dim {s.emb_dim}) for {epochs} epoch(s) on {dev}"
        + (f" (or fewer, judged after each epoch: the learning-rate schedule is then re-planned to end with the "
           f"epochs that fit the {s.time_budget_s:g} s budget)" if budget is not None else "")
        + (": reusing " + str(paths["model"]) if reused["training"] else "")
        + (f": resuming from {last}" if resume else ""))

    def do_train() -> None:
        if reused["training"]:
            return
        if resume is None:
            _remove(paths["checkpoints"])
        state.data["training_epochs"] = epochs
        state.mark("training_started", key)
        # on a CPU shared with other work, torch's threads are chosen by timing steps (CPUThreads)
        cbs = [CPUThreads()] if str(dev).startswith("cpu") else None
        train(paths["dataset"], paths["model"], s.training_settings.replace(epochs=epochs, device=dev),
              checkpoint_dir=paths["checkpoints"], resume=resume, quiet=quiet, budget=budget, cbs=cbs)
        # the checkpoints (weights + optimiser state, ~140 MB each for resnet18) only
        # serve to resume an interrupted run; model.pt is what the later steps read
        _remove(paths["checkpoints"])

    _timed(timings, "training", cpu=cpu, fn=do_train)
    epoch_s = None
    if budget is not None and budget.stopped:
        epochs, epoch_s = budget.epochs_done, budget.epoch_s[-1]
        state.data["training_epochs"] = epochs
        say(f"      trained {epochs} of {s.epochs} epochs: more ({epoch_s:.0f} s each) would not have fit the "
            f"{s.time_budget_s:g} s budget" + (f"; the schedule was re-planned to end after epoch {budget.replanned}"
                                              if budget.replanned else ""))
    state.mark("training", key)
    state.mark("training_started", None)

    # 5. embeddings --------------------------------------------------------------------------
    key = s.step_key("embeddings")
    reused["embeddings"] = state.done("embeddings", key) and paths["embeddings"].exists()
    say(f"[5/8] embeddings of the study set ({'reused' if reused['embeddings'] else 'anchor, neighbor, distant'})")

    def do_embed():
        if reused["embeddings"]:
            return load_embeddings(paths["embeddings"])
        da = get_embeddings(paths["model"], paths["dataset"], stage="study", tile_type="all",
                            batch_size=64, device=str(dev), progress=progress)
        save_embeddings(da, paths["embeddings"])
        return da

    emb_all = _timed(timings, "embeddings", cpu=cpu, fn=do_embed)
    state.mark("embeddings", key)

    # 6. quality table ---------------------------------------------------------------------------
    import pandas as pd

    key = s.step_key("quality")
    reused["quality"] = state.done("quality", key) and paths["quality"].exists()
    say("[6/8] quality: trained vs untrained network vs tile statistics"
        + (" (reused)" if reused["quality"] else ""))

    def do_quality():
        if reused["quality"]:
            return pd.read_csv(paths["quality"], index_col=0)
        df = quality_table(emb_all, model=paths["model"], k=s.knn_k, device=str(dev),
                           progress=progress, seed=s.train_seed)
        write_text(paths["quality"], df.to_csv())
        return df

    quality = _timed(timings, "quality", cpu=cpu, fn=do_quality)
    state.mark("quality", key)

    # 7. regime maps -----------------------------------------------------------------------------
    key = s.step_key("maps")
    reused["maps"] = state.done("maps", key) and all(
        paths[p].exists() for p in ("map_quality", "regime_map", "fractions"))
    say(f"[7/8] regime maps of the study scenes (tiles every {s.stride / 1e3:g} km)"
        + (" (reused)" if reused["maps"] else ""))

    def do_maps():
        if reused["maps"]:
            return pd.read_csv(paths["map_quality"], index_col=0)
        _remove(paths["maps"])
        return run_maps(s, paths, emb_all, dev, progress, say)

    map_q = _timed(timings, "maps", cpu=cpu, fn=do_maps)
    state.mark("maps", key)
    from .judging import run_judging

    say("      judging the regimes: stability, choice of N, persistence, agreement with Zooniverse-style boxes")
    judging = _timed(timings, "judging", cpu=cpu, fn=lambda: run_judging(s, paths, emb_all, dev, say))

    # 7. plots --------------------------------------------------------------------------------------
    say("[8/8] plots: dendrogram, scatter, grid")

    def do_plots() -> None:
        da = emb_all.sel(tile_type="anchor").assign_attrs(tile_type="anchor")
        n = int(da.sizes["tile_id"])
        # one grouping across figures: the leaves are the regime map's k-means regimes (same letters)
        regimes_file = paths["maps"] / "regimes_trained.json"
        fig, _ = dendrogram(da, n_leaves=min(s.n_leaves, n), n_examples=s.n_examples,
                            regimes=regimes_file if regimes_file.is_file() else None)
        save_figure(fig, paths["dendrogram"])
        plt.close(fig)
        fig, _, _ = scatter(da, method="pca", n_insets=min(s.n_insets, n),
                            title="study-set anchors: PCA of the embeddings, coloured by synthetic regime")
        save_figure(fig, paths["scatter"])
        plt.close(fig)
        rows, cols = s.grid_rows, s.grid_cols
        while rows * cols > n:
            rows, cols = max(1, rows - 1), max(1, cols - 1)
        fig, _ = grid(da, method="pca", n_rows=rows, n_cols=cols,
                      title="study-set anchors ordered along the first two principal components")
        save_figure(fig, paths["grid"])
        plt.close(fig)
        # the regimes in physical terms: organisation indices per true regime, and against the PCs
        physical["medians"] = regime_medians(da)
        if physical["medians"] is not None:
            write_text(paths["regime_indices"], physical["medians"].to_csv())
            fig, _ = cluster_boxplots(da, clusters="regime_name",
                                      title="study-set anchors: organisation indices per synthetic regime")
            save_figure(fig, paths["physical"])
            plt.close(fig)
            fig, _ = pc_correlation_heatmap(da, n_components=min(5, int(da.sizes["emb_dim"])))
            save_figure(fig, paths["pc_correlations"])
            plt.close(fig)

    physical: dict[str, Any] = {"medians": None}
    _timed(timings, "plots", cpu=cpu, fn=do_plots)
    if not paths["domain"].exists():  # reused dataset from a run that stopped before its plot
        plt.close(plot_triplets(paths["dataset"], "train", n=5, out=paths["domain"]))

    # the regimes against the synthetic environment (new files only; timed with the plots)
    regimes_json = paths["maps"] / "regimes_trained.json"
    environment = _timed(timings, "plots", cpu=cpu, fn=lambda: environment_step(
        emb_all, s, regimes_json, out, out / "environment.png")) if regimes_json.exists() else None

    targets = check_targets(quality, total_s=float(sum(timings.values())),
                            n_reused=sum(bool(v) for v in reused.values()), map_quality=map_q)
    result = DemoResult(out=out, settings=s, device=str(dev), quality=quality, targets=targets,
                        map_quality=map_q, physical=physical["medians"], judging=judging, environment=environment,
                        timings=timings, reused=reused, paths=paths, cpu=cpu, epochs=epochs, epoch_s=epoch_s,
                        load_average=os.getloadavg() if hasattr(os, "getloadavg") else None)
    result.report = format_report(result)
    write_text(paths["report"], result.report)
    return result
