"""The whole convml_tt pipeline on synthetic scenes, offline: ``convml_tt demo``.

One call of :func:`run_demo` (or ``make demo`` / ``convml_tt demo``) runs,
each step through the same public functions the CLI subcommands use:

1. synthetic ABI L1b scenes (bands 1-3) on several dates, written into the
   source cache (:func:`convml_tt.data.synthetic.write_synthetic_scenes`);
2. true-colour composites over the domain
   (:func:`convml_tt.data.composite.make_composites`);
3. train/study triplets (:func:`convml_tt.data.triplets.make_triplets`) and a
   domain plot with tile outlines (:func:`~convml_tt.data.triplets.plot_triplets`);
4. training of the triplet encoder on CPU, or CUDA when present
   (:func:`convml_tt.architectures.triplet_trainer.train`);
5. embeddings of the study set, all three tile types
   (:func:`convml_tt.interpretation.embeddings.get_embeddings`);
6. the quality table, trained vs the untrained network and tile statistics
   (:func:`convml_tt.interpretation.metrics.quality_table`);
7. dendrogram, annotated scatter and grid overview
   (:mod:`convml_tt.interpretation.plots`);
8. a markdown report (quality table, targets met or not, timings, settings).

Everything goes under one output folder (default ``demo_output/``)::

    demo_output/
      data/            source cache (synthetic scenes) and composites (unless --data-root)
      dataset/         triplet dataset (train/, study/, meta.yaml)
      model.pt         trained encoder (model.pt.checkpoints/ while training, for resuming)
      embeddings_study.nc
      domain.png dendrogram.png scatter.png grid.png
      quality.csv report.md settings.json demo_state.json

A second run with the same :class:`DemoSettings` reuses what the first made
(scenes, composites, dataset, model, embeddings, quality table); changed
settings redo the affected step and everything after it. An interrupted
training run resumes from its last epoch checkpoint.

Runs of the triplet step with ``workers > 1`` use a ``spawn`` process pool:
scripts calling :func:`run_demo` must guard their entry point with
``if __name__ == "__main__":``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

__all__ = ["DemoSettings", "DemoResult", "TARGETS", "run_demo", "check_targets", "format_report"]


@dataclass(frozen=True)
class DemoSettings:
    """Every setting of the demo (one place to tune it).

    Scenes
        ``n_scenes`` synthetic scenes every ``interval_hours`` from ``start``
        (ISO 8601, UTC), a square sector of ``size_km`` km centred on
        ``center`` (lat, lon degrees), regime regions ``region_km`` km across
        (None: the generator's default, ``size_km / 2.85``), day-to-day
        ``variability`` of cloud size, fraction and brightness (see
        :func:`convml_tt.data.synthetic.day_to_day`), random ``seed`` (also
        the triplet sampling seed).
    Triplets
        ``domain`` (lon_min, lat_min, lon_max, lat_max degrees) inside the
        sector; tiles of ``tile_size`` metres and ``tile_pixels`` pixels;
        ``n_train``/``n_study`` triplets; neighbour centres
        ``neighbor_distance`` tile sizes from the anchor's; ``workers`` processes.
    Training
        ``arch``, ``emb_dim``, head ``dropout``, triplet-loss ``negatives``
        (``"batch"``: every distant tile of the batch; ``"own"``: the
        triplet's own), ``epochs`` of one-cycle at max learning rate
        ``lr``, ``batch_size`` triplets, ``preload`` (tiles decoded once into
        memory), ``train_seed``; ``time_budget_s``: wall-time budget of the
        whole run (seconds): before training, one timed training step
        (:func:`~convml_tt.architectures.triplet_trainer.time_training_step`)
        says how many epochs fit in what is left of it, and training runs
        that many, at most ``epochs`` and at least one (None: always
        ``epochs``). On a CPU with bf16 instructions or a GPU all 12 fit; on a
        2-core CPU with AVX2 only (fp32, ~2.5 times slower) about 5 do.
    Evaluation and plots
        ``knn_k`` neighbours in the kNN vote; ``n_leaves``/``n_examples`` of
        the dendrogram; ``n_insets`` of the scatter (PCA projection);
        ``grid_rows`` x ``grid_cols`` of the grid overview (clamped to the
        number of study tiles).
    """

    # scenes
    n_scenes: int = 16
    start: str = "2020-01-02T14:00"
    interval_hours: float = 24.0
    center: tuple[float, float] = (15.0, -50.0)
    size_km: float = 1000.0
    resolution_km: float | None = None
    region_km: float | None = 1000.0
    variability: float = 1.0
    seed: int = 0
    # triplets
    domain: tuple[float, float, float, float] = (-54.0, 11.0, -46.0, 19.0)
    tile_size: float = 64e3
    tile_pixels: int = 64
    n_train: int = 2000
    n_study: int = 300
    neighbor_distance: float = 1.0
    workers: int = 2
    # training
    arch: str = "resnet18"
    emb_dim: int = 100
    dropout: float = 0.0
    negatives: str = "batch"
    epochs: int = 12
    lr: float = 2e-3
    batch_size: int = 32
    preload: bool = True
    train_seed: int = 42
    time_budget_s: float | None = 580.0
    # evaluation and plots
    knn_k: int = 5
    n_leaves: int = 10
    n_examples: int = 4
    n_insets: int = 12
    grid_rows: int = 6
    grid_cols: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", tuple(float(v) for v in self.center))
        object.__setattr__(self, "domain", tuple(float(v) for v in self.domain))
        if len(self.center) != 2:
            raise ValueError(f"center must be (lat, lon) in degrees, got {self.center!r}")
        if len(self.domain) != 4:
            raise ValueError(f"domain must be (lon_min, lat_min, lon_max, lat_max) in degrees, got {self.domain!r}")
        for name in ("n_scenes", "tile_pixels", "epochs", "batch_size", "emb_dim", "workers", "knn_k",
                     "n_leaves", "grid_rows", "grid_cols"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name}={v!r} must be a whole number >= 1")
        for name in ("n_train", "n_study", "n_examples", "n_insets"):
            v = getattr(self, name)
            if int(v) != v or v < 0:
                raise ValueError(f"{name}={v!r} must be a whole number >= 0")
        if self.n_train < 2 or self.n_study < 3:
            raise ValueError(f"the demo needs n_train >= 2 and n_study >= 3 triplets, got "
                             f"{self.n_train} and {self.n_study}")
        if not self.interval_hours > 0:
            raise ValueError(f"interval_hours={self.interval_hours!r} must be positive")
        if not self.neighbor_distance > 0:
            raise ValueError(f"neighbor_distance={self.neighbor_distance!r} must be positive (tile sizes)")
        if not 0 <= self.variability <= 2:
            raise ValueError(f"variability={self.variability!r} must be between 0 and 2")
        if self.resolution_km not in (None, 0.5, 1.0, 2.0):
            raise ValueError(f"resolution_km={self.resolution_km!r}: use None (each band's real "
                             f"resolution) or 0.5, 1 or 2 (km, all bands)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout!r} must be in [0, 1)")
        if self.negatives not in ("batch", "own"):
            raise ValueError(f"negatives={self.negatives!r}: use 'batch' or 'own'")
        if self.region_km is not None and not self.region_km > 0:
            raise ValueError(f"region_km={self.region_km!r} must be positive (km) or None")
        if self.time_budget_s is not None and not (self.time_budget_s > 0 and math.isfinite(self.time_budget_s)):
            raise ValueError(f"time_budget_s={self.time_budget_s!r} must be a positive number of seconds "
                             f"or None (no budget: train all epochs)")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr={self.lr!r} must be a positive number, e.g. 2e-3")
        self.start_time  # parse check

    @property
    def start_time(self) -> dt.datetime:
        """``start`` as a naive UTC datetime."""
        try:
            t = dt.datetime.fromisoformat(str(self.start).rstrip("Z"))
        except ValueError:
            raise ValueError(f"start={self.start!r} is not ISO 8601, e.g. 2020-01-02T14:00") from None
        if t.tzinfo is not None:
            t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return t

    @classmethod
    def fast(cls, **overrides: Any) -> "DemoSettings":
        """Tiny settings that run the whole flow in well under a minute (tests,
        a quick look): 6 small scenes (two of them held out for the study set,
        so that distant tiles come from another scene), 32-pixel tiles, 60
        train / 24 study triplets, one epoch. The quality targets are not
        expected to be met."""
        base = dict(
            n_scenes=6, size_km=400.0, domain=(-51.3, 13.7, -48.7, 16.3), tile_size=50e3,
            tile_pixels=32, n_train=60, n_study=24, workers=1, emb_dim=16, epochs=1,
            batch_size=16, n_leaves=4, n_examples=2, n_insets=6, grid_rows=3, grid_cols=4,
        )
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the settings."""
        d = dataclasses.asdict(self)
        d["center"] = list(self.center)
        d["domain"] = list(self.domain)
        return d

    # which settings each step depends on (its own plus everything upstream)
    _STEP_FIELDS = {
        "scenes": ("n_scenes", "start", "interval_hours", "center", "size_km", "resolution_km", "region_km",
                   "variability", "seed"),
        "composites": ("domain",),
        "triplets": ("tile_size", "tile_pixels", "n_train", "n_study", "neighbor_distance"),
        "training": ("arch", "emb_dim", "dropout", "negatives", "epochs", "lr", "batch_size", "preload",
                     "train_seed", "time_budget_s"),
        "embeddings": (),
        "quality": ("knn_k",),
    }

    def step_key(self, step: str) -> str:
        """A hash of the settings ``step`` and the steps before it depend on."""
        d = self.to_dict()
        picked: dict[str, Any] = {}
        for name, fields in self._STEP_FIELDS.items():
            picked.update({f: d[f] for f in fields})
            if name == step:
                break
        else:
            raise KeyError(f"unknown demo step {step!r}; one of {list(self._STEP_FIELDS)}")
        text = json.dumps(picked, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# the targets of issue 6, on the default demo settings
TARGETS = {
    "triplet_accuracy": 0.95,  # study-set triplet accuracy of the trained encoder
    "knn_accuracy": 0.90,  # leave-one-out kNN regime accuracy
    "margin_over_baselines": 0.10,  # both metrics at least this far above both baselines
    "wall_time_s": 600.0,  # the whole demo on the 2-core development machine
}

STEPS = ("setup", "scenes", "composites", "triplets", "training", "embeddings", "quality", "plots")


@dataclass
class DemoResult:
    """What :func:`run_demo` made: paths, the quality table, targets and timings."""

    out: Path
    settings: DemoSettings
    device: str
    quality: Any  # pandas.DataFrame, rows trained/untrained/tile statistics
    targets: list[dict[str, Any]]
    timings: dict[str, float]
    reused: dict[str, bool]
    paths: dict[str, Path] = field(default_factory=dict)
    report: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per step (incl. worker processes)
    load_average: tuple[float, float, float] | None = None  # of the machine at the end (1, 5, 15 min)
    epochs: int | None = None  # epochs trained (settings.epochs, or fewer to fit settings.time_budget_s)
    step_s: float | None = None  # timed training step (s per batch) the epochs were chosen from

    @property
    def total_s(self) -> float:
        """Wall time of the whole run, seconds."""
        return float(sum(self.timings.values()))

    @property
    def all_targets_met(self) -> bool:
        """True when every quality target is met."""
        return all(t["met"] for t in self.targets)


# -----------------------------------------------------------------------------
# state of a demo folder (what was made with which settings)
# -----------------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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
    from .data.synthetic import write_synthetic_scenes

    key = s.step_key("scenes")
    stamp = data_root / "sources" / f".convml_tt_demo_scenes-{key}.json"
    info = _read_json(stamp)
    files = [Path(p) for p in info.get("files", [])]
    if files and all(p.exists() for p in files):
        return [Path(p) for p in info.get("first_band", [])], False
    for old in (data_root / "sources").glob(".convml_tt_demo_scenes-*.json"):
        old.unlink()  # files under the same names are about to be rewritten
    scenes = write_synthetic_scenes(
        data_root, s.start_time, count=s.n_scenes, interval=dt.timedelta(hours=s.interval_hours),
        seed=s.seed, center=s.center, size_km=s.size_km, resolution_km=s.resolution_km,
        region_km=s.region_km, variability=s.variability, progress=progress,
    )
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


#: seconds the real Learner adds to each bare training step (fastai callbacks,
#: its Python Adam, batch transforms): 0.06-0.07 s measured on 2-core CPUs
STEP_OVERHEAD_S = 0.07


def epochs_within_budget(step_s: float, s: DemoSettings, seconds_left: float) -> int:
    """How many epochs of training (at most ``s.epochs``, at least 1) fit in
    ``seconds_left`` seconds when one bare training step takes ``step_s``
    seconds, keeping time for the steps after training.

    An epoch is ``ceil(0.9 n_train / batch_size)`` training steps of ``step_s
    + STEP_OVERHEAD_S``, the validation batches (forward only, a third of a
    step each) and ~1.5 s of checkpoint writing; after training come the
    forward passes of the embeddings and the untrained baseline (6 ``n_study``
    tiles) and ~20 s of statistics and plots. On the default settings this
    predicts 422 s for 12 epochs where a 2-core Intel CPU with bf16 (~0.5 s
    per bare step) took 414 s, and 97 s per epoch where a 2-core AVX2-only
    AMD CPU (1.55 s, fp32) took 96 s.
    """
    if not step_s > 0:
        raise ValueError(f"step_s={step_s!r} must be a positive number of seconds")
    n_valid = max(1, round(0.1 * s.n_train))
    train_batches = math.ceil((s.n_train - n_valid) / s.batch_size)
    valid_batches = math.ceil(n_valid / s.batch_size)
    epoch_s = train_batches * (step_s + STEP_OVERHEAD_S) + valid_batches * step_s / 3 + 1.5
    after_s = 20.0 + step_s / 3 * math.ceil(6 * s.n_study / (3 * s.batch_size))
    return int(min(s.epochs, max(1, math.floor((seconds_left - after_s) / epoch_s))))


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

    from .architectures.triplet_trainer import resolve_device, time_training_step, train
    from .data.composite import make_composites
    from .data.triplets import make_triplets, plot_triplets
    from .interpretation.embeddings import get_embeddings, load_embeddings, save_embeddings
    from .interpretation.metrics import quality_table
    from .interpretation.plots import dendrogram, grid, save_figure, scatter

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
        "report": out / "report.md",
        "settings": out / "settings.json",
    }
    _write_json(paths["settings"], s.to_dict())
    timings: dict[str, float] = {"setup": time.perf_counter() - t_setup}  # imports (torch, fastai)
    cpu: dict[str, float] = {"setup": _cpu_seconds() - c_setup}
    reused: dict[str, bool] = {}

    # 1. synthetic scenes ---------------------------------------------------------------
    say(f"[1/7] synthetic scenes: {s.n_scenes} x {s.size_km:g} km at {s.center} from {s.start}")
    _, fresh = _timed(timings, "scenes", cpu=cpu, fn=lambda: _scenes(s, data_root, progress))
    reused["scenes"] = not fresh

    # 2. composites ---------------------------------------------------------------------------
    say(f"[2/7] composites over {s.domain}")
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
        for step in ("triplets", "training", "embeddings", "quality"):
            state.mark(step, None)
        for p in ("dataset", "model", "checkpoints", "embeddings", "quality"):
            _remove(paths[p])
    reused["triplets"] = state.done("triplets", key)
    say(f"[3/7] triplets: {s.n_train} train + {s.n_study} study, {s.tile_size / 1e3:g} km tiles of "
        f"{s.tile_pixels} px ({'reused' if reused['triplets'] else f'{s.workers} worker(s)'})")

    def make_dataset() -> None:
        make_triplets(data_root, s.domain, paths["dataset"], n_train=s.n_train, n_study=s.n_study,
                      tile_size=s.tile_size, tile_pixels=s.tile_pixels, seed=s.seed, workers=s.workers,
                      neighbor_distance=s.neighbor_distance, progress=progress, composites=composites)
        fig = plot_triplets(paths["dataset"], "train", n=5, out=paths["domain"])
        plt.close(fig)

    _timed(timings, "triplets", cpu=cpu, fn=make_dataset)
    state.mark("triplets", key)

    # 4. training -------------------------------------------------------------------------------
    key = s.step_key("training")
    if state.stale("training", key) or state.data.get("training_started") not in (None, key):
        for step in ("training", "embeddings", "quality"):
            state.mark(step, None)
        for p in ("model", "checkpoints", "embeddings", "quality"):
            _remove(paths[p])
    reused["training"] = state.done("training", key) and paths["model"].exists()
    last = paths["checkpoints"] / "last.pt"
    resume = last if (not reused["training"] and state.data.get("training_started") == key
                      and last.exists()) else None
    # epochs: those of the finished or interrupted run, else what fits the time budget
    epochs = s.epochs
    if (reused["training"] or resume is not None) and state.data.get("training_epochs"):
        epochs = int(state.data["training_epochs"])
    step_s = None
    if s.time_budget_s is not None and not reused["training"] and resume is None:
        step_s = _timed(timings, "training", cpu=cpu, fn=lambda: time_training_step(
            arch=s.arch, n_input_channels=3, emb_dim=s.emb_dim, tile_pixels=s.tile_pixels,  # RGB composites
            batch_size=s.batch_size, device=dev, negatives=s.negatives))
        epochs = epochs_within_budget(step_s, s, s.time_budget_s - sum(timings.values()))
    say(f"[4/7] training {s.arch} (emb_dim {s.emb_dim}) for {epochs} epoch(s) on {dev}"
        + (f" (of {s.epochs}: {step_s:.2f} s per batch here, {s.time_budget_s:g} s budget)"
           if epochs < s.epochs and step_s is not None else "")
        + (": reusing " + str(paths["model"]) if reused["training"] else "")
        + (f": resuming from {last}" if resume else ""))

    def do_train() -> None:
        if reused["training"]:
            return
        if resume is None:
            _remove(paths["checkpoints"])
        state.data["training_epochs"] = epochs
        state.mark("training_started", key)
        train(paths["dataset"], paths["model"], epochs=epochs, lr=s.lr, checkpoint_dir=paths["checkpoints"],
              resume=resume, quiet=quiet, arch=s.arch, emb_dim=s.emb_dim, batch_size=s.batch_size,
              device=dev, preload=s.preload, seed=s.train_seed, dropout=s.dropout, negatives=s.negatives)
        # the checkpoints (weights + optimiser state, ~140 MB each for resnet18) only
        # serve to resume an interrupted run; model.pt is what the later steps read
        _remove(paths["checkpoints"])

    _timed(timings, "training", cpu=cpu, fn=do_train)
    state.mark("training", key)
    state.mark("training_started", None)

    # 5. embeddings --------------------------------------------------------------------------
    key = s.step_key("embeddings")
    reused["embeddings"] = state.done("embeddings", key) and paths["embeddings"].exists()
    say(f"[5/7] embeddings of the study set ({'reused' if reused['embeddings'] else 'anchor, neighbor, distant'})")

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
    say("[6/7] quality: trained vs untrained network vs tile statistics"
        + (" (reused)" if reused["quality"] else ""))

    def do_quality():
        if reused["quality"]:
            return pd.read_csv(paths["quality"], index_col=0)
        df = quality_table(emb_all, model=paths["model"], k=s.knn_k, device=str(dev),
                           progress=progress, seed=s.train_seed)
        tmp = paths["quality"].with_name(f".{paths['quality'].name}.tmp")
        df.to_csv(tmp)
        os.replace(tmp, paths["quality"])
        return df

    quality = _timed(timings, "quality", cpu=cpu, fn=do_quality)
    state.mark("quality", key)

    # 7. plots --------------------------------------------------------------------------------------
    say("[7/7] plots: dendrogram, scatter, grid")

    def do_plots() -> None:
        da = emb_all.sel(tile_type="anchor").assign_attrs(tile_type="anchor")
        n = int(da.sizes["tile_id"])
        fig, _ = dendrogram(da, n_leaves=min(s.n_leaves, n), n_examples=s.n_examples,
                            title="study-set anchors: Ward dendrogram of the embeddings")
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

    _timed(timings, "plots", cpu=cpu, fn=do_plots)
    if not paths["domain"].exists():  # reused dataset from a run that stopped before its plot
        plt.close(plot_triplets(paths["dataset"], "train", n=5, out=paths["domain"]))

    targets = check_targets(quality, total_s=float(sum(timings.values())),
                            n_reused=sum(bool(v) for v in reused.values()))
    result = DemoResult(out=out, settings=s, device=str(dev), quality=quality, targets=targets,
                        timings=timings, reused=reused, paths=paths, cpu=cpu, epochs=epochs, step_s=step_s,
                        load_average=os.getloadavg() if hasattr(os, "getloadavg") else None)
    result.report = format_report(result)
    tmp = paths["report"].with_name(f".{paths['report'].name}.tmp")
    tmp.write_text(result.report, encoding="utf-8")
    os.replace(tmp, paths["report"])
    return result


# -----------------------------------------------------------------------------
# targets and report
# -----------------------------------------------------------------------------
def check_targets(quality: Any, total_s: float | None = None, n_reused: int = 0) -> list[dict[str, Any]]:
    """Compare a quality table with :data:`TARGETS`.

    Returns one dict per target: ``target`` (text), ``value`` (measured,
    text), ``met`` (bool; False when not measurable). With ``total_s``
    (seconds) the wall-time target is included; ``n_reused`` steps reused
    from an earlier run are mentioned next to it (a fresh run takes longer).
    """
    rows = []

    def get(row: str, col: str) -> float:
        try:
            v = float(quality.loc[row, col])
        except (KeyError, TypeError, ValueError):
            return float("nan")
        return v

    for col, name in (("triplet_accuracy", "study-set triplet accuracy"), ("knn_accuracy", "kNN regime accuracy")):
        v = get("trained", col)
        goal = TARGETS[col]
        rows.append({"target": f"{name} >= {goal:.2f}", "value": f"{v:.3f}", "met": bool(v >= goal)})
        margin = TARGETS["margin_over_baselines"]
        for base in ("untrained", "tile statistics"):
            b = get(base, col)
            diff = v - b
            rows.append({
                "target": f"{name}: >= {100 * margin:.0f} points above {base}",
                "value": f"{100 * diff:+.1f} points ({v:.3f} vs {b:.3f})" if math.isfinite(diff) else "not measured",
                "met": bool(diff >= margin - 1e-12),
            })
    if total_s is not None:
        goal = TARGETS["wall_time_s"]
        note = f" ({n_reused} step(s) reused from an earlier run)" if n_reused else ""
        rows.append({"target": f"whole demo within {goal / 60:.0f} min", "value": f"{total_s:.0f} s{note}",
                     "met": bool(total_s <= goal)})
    return rows


def _machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.platform()}, {os.cpu_count()} CPU core(s), {gpu}, torch {torch.__version__}"


def format_report(result: DemoResult) -> str:
    """The markdown report of a demo run: quality table, targets, timings, settings."""
    from .interpretation.metrics import to_markdown

    s = result.settings
    lines = [
        "# convml_tt demo report",
        "",
        f"Synthetic GOES-16 ABI scenes -> composites -> triplets -> {s.arch} triplet encoder -> "
        f"embeddings of {int(result.quality.loc['trained', 'n_tiles']) if 'n_tiles' in result.quality else '?'} "
        f"study tiles. Run {dt.datetime.now():%Y-%m-%d %H:%M}, device `{result.device}`; {_machine()}.",
        "",
        "## Quality (study set)",
        "",
        "Fractions 0..1 (ARI -1..1); `untrained`: the same network with random weights; "
        "`tile statistics`: channel means/std, cloud fraction, spectral slope.",
        "",
        to_markdown(result.quality),
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for t in result.targets:
        lines.append(f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'NO'} |")
    n_met = sum(t["met"] for t in result.targets)
    lines += ["", f"{n_met} of {len(result.targets)} targets met.", "", "## Timings", "",
              "CPU time counts this process and its triplet-sampling workers; on a shared machine "
              "wall time exceeds it by what other jobs take"
              + (" (load average at the end: " + ", ".join(f"{v:.1f}" for v in result.load_average)
                 + " over 1, 5, 15 min)" if result.load_average else "") + ".",
              "", "| step | wall time (s) | CPU time (s) | |", "|---|---|---|---|"]
    for step in STEPS:
        if step in result.timings:
            note = "reused" if result.reused.get(step) else ""
            if step == "training" and result.epochs is not None and result.epochs < s.epochs:
                note = (f"{result.epochs} of {s.epochs} epochs: " if not note else note + ", ") + (
                    f"what fits the {s.time_budget_s:g} s budget at {result.step_s:.2f} s per batch"
                    if result.step_s is not None else "as the interrupted run chose")
            c = result.cpu.get(step)
            lines.append(f"| {step} | {result.timings[step]:.1f} | {'' if c is None else f'{c:.1f}'} | {note} |")
    total_cpu = sum(result.cpu.values()) if result.cpu else None
    lines += [f"| **total** | **{result.total_s:.1f}** | {'' if total_cpu is None else f'{total_cpu:.1f}'} | |",
              "", "## Figures", ""]
    for name in ("domain", "dendrogram", "scatter", "grid"):
        lines.append(f"![{name}]({result.paths[name].name})")
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    for k, v in s.to_dict().items():
        lines.append(f"| {k} | {v} |")
        if k == "epochs" and result.epochs is not None and result.epochs != v:
            lines.append(f"| epochs trained | {result.epochs} (time budget) |")
    lines += ["", "Files: " + ", ".join(f"`{p.name}`" for k, p in result.paths.items()
                                         if k not in ("data_root",) and p.exists()) + "."]
    return "\n".join(lines) + "\n"
