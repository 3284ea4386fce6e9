"""Every setting of the demo, and its quality targets."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from ..config import SceneSettings, TrainingSettings, TripletSettings, accepts_old_names

__all__ = ["DemoSettings", "TARGETS", "STEPS"]


@accepts_old_names(tile_size="tile_size_m")
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
        sector; tiles of ``tile_size_m`` metres and ``tile_pixels`` pixels;
        ``n_train``/``n_study`` triplets; neighbour centres
        ``neighbor_distance`` tile sizes from the anchor's; ``workers`` processes.
    Training
        ``arch``, ``emb_dim``, head ``dropout``, triplet-loss ``negatives``
        (``"batch"``: every distant tile of the batch; ``"own"``: the
        triplet's own), ``epochs`` of one-cycle at max learning rate
        ``lr``, ``batch_size`` triplets, ``preload`` (tiles decoded once into
        memory), ``train_seed``; ``time_budget_s``: wall-time budget of the
        whole run (seconds): training stops after the whole epoch past
        which the next (as long as the last one took) and the steps after
        training would not fit in it (judged as the epochs go,
        :class:`~convml_tt.architectures.training.budget.WallClockBudget`),
        at most ``epochs`` and at least one (None: always ``epochs``).
    Regime maps
        a sliding-window map of every study scene with tiles centred every
        ``map_stride`` metres (None: half the tile size), for the trained
        encoder and both baselines; ``n_regimes`` k-means regimes fitted to
        the study anchors (None: as many as the true regimes among them).
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
    tile_size_m: float = 64e3
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
    # regime maps
    map_stride: float | None = None
    n_regimes: int | None = None
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
        # the demo's own settings; those of the steps are checked by the steps' settings below
        for name in ("n_scenes", "workers", "knn_k", "n_leaves", "grid_rows", "grid_cols"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name}={v!r} must be a whole number >= 1")
        for name in ("n_examples", "n_insets"):
            v = getattr(self, name)
            if int(v) != v or v < 0:
                raise ValueError(f"{name}={v!r} must be a whole number >= 0")
        if not self.interval_hours > 0:
            raise ValueError(f"interval_hours={self.interval_hours!r} must be positive")
        if self.time_budget_s is not None and not (self.time_budget_s > 0 and math.isfinite(self.time_budget_s)):
            raise ValueError(f"time_budget_s={self.time_budget_s!r} must be a positive number of seconds "
                             f"or None (no budget: train all epochs)")
        self.scene_settings, self.triplet_settings, self.training_settings  # the steps' checks
        if self.map_stride is not None and not (self.map_stride > 0 and math.isfinite(self.map_stride)):
            raise ValueError(f"map_stride={self.map_stride!r} must be a positive number of metres or None "
                             f"(half the tile size)")
        if self.n_regimes is not None and (int(self.n_regimes) != self.n_regimes or self.n_regimes < 2):
            raise ValueError(f"n_regimes={self.n_regimes!r} must be a whole number >= 2 or None "
                             f"(as many as the true regimes of the study tiles)")
        if self.n_train < 2 or self.n_study < 3:
            raise ValueError(f"the demo needs n_train >= 2 and n_study >= 3 triplets, got "
                             f"{self.n_train} and {self.n_study}")

    @property
    def scene_settings(self) -> SceneSettings:
        """The synthetic scenes of the demo."""
        return SceneSettings(
            start=self.start, count=self.n_scenes, interval=dt.timedelta(hours=self.interval_hours),
            seed=self.seed, center=self.center, size_km=self.size_km, resolution_km=self.resolution_km,
            region_km=self.region_km, variability=self.variability,
        )

    @property
    def triplet_settings(self) -> TripletSettings:
        """The triplet sampling of the demo (seeded by ``seed``)."""
        return TripletSettings(
            domain=self.domain, tile_size_m=self.tile_size_m, tile_pixels=self.tile_pixels, n_train=self.n_train,
            n_study=self.n_study, seed=self.seed, neighbor_distance=self.neighbor_distance,
        )

    @property
    def training_settings(self) -> TrainingSettings:
        """The training of the demo (``epochs`` before any time budget cuts them)."""
        return TrainingSettings(
            arch=self.arch, emb_dim=self.emb_dim, dropout=self.dropout, negatives=self.negatives,
            epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, preload=self.preload,
            seed=self.train_seed,
        )

    @property
    def stride(self) -> float:
        """Distance between the centres of map tiles, metres."""
        return float(self.map_stride) if self.map_stride is not None else self.tile_size_m / 2

    @property
    def start_time(self) -> dt.datetime:
        """``start`` as a naive UTC datetime."""
        return self.scene_settings.start

    @classmethod
    def fast(cls, **overrides: Any) -> "DemoSettings":
        """Tiny settings that run the whole flow in well under a minute (tests,
        a quick look): 6 small scenes (two of them held out for the study set,
        so that distant tiles come from another scene), 32-pixel tiles, 60
        train / 24 study triplets, one epoch. The quality targets are not
        expected to be met."""
        base = dict(
            n_scenes=6, size_km=400.0, domain=(-51.3, 13.7, -48.7, 16.3), tile_size_m=50e3,
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
        "triplets": ("tile_size_m", "tile_pixels", "n_train", "n_study", "neighbor_distance"),
        "training": ("arch", "emb_dim", "dropout", "negatives", "epochs", "lr", "batch_size", "preload",
                     "train_seed", "time_budget_s"),
        "embeddings": (),
        "quality": ("knn_k",),
        "maps": ("map_stride", "n_regimes"),
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


#: the quality targets of the demo, on its default settings
TARGETS = {
    "triplet_accuracy": 0.95,  # study-set triplet accuracy of the trained encoder
    "knn_accuracy": 0.90,  # leave-one-out kNN regime accuracy
    "margin_over_baselines": 0.10,  # both metrics at least this far above both baselines
    "map_accuracy": 0.90,  # regime-map cells whose (matched) regime is the true one, stride tile_size_m / 2
    "map_margin_over_untrained": 0.10,  # map accuracy at least this far above the untrained network's
    "fraction_error": 0.05,  # mean absolute error of the per-scene regime fractions
    "wall_time_s": 600.0,  # the whole demo, from nothing to the report
}

STEPS = ("setup", "scenes", "composites", "triplets", "training", "embeddings", "quality", "maps", "judging",
         "plots")
