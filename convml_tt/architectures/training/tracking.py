"""Training curves to TensorBoard or Weights & Biases (``train --log``).

:func:`tracking_callbacks` turns the names given to ``--log`` into fastai
callbacks that :func:`~.learner.train` runs for the fit:

* ``tensorboard``: :class:`TensorBoardCurves` writes event files with
  ``torch.utils.tensorboard.SummaryWriter`` (needs the ``tensorboard``
  package: the ``explore`` extra) into ``log_dir``. Per training batch
  (step = batches trained so far, from 1): ``batch/loss`` (the batch's loss) and
  ``batch/lr`` (learning rate of the last parameter group); per epoch
  (step = epoch, from 0): every column of fastai's epoch table,
  ``epoch/train_loss``, ``epoch/valid_loss`` and the method's metrics (for
  the triplet method ``epoch/dist_an``, ``epoch/dist_ad``,
  ``epoch/triplet_acc``). Watch with ``tensorboard --logdir LOG_DIR``.
* ``wandb``: fastai's own ``WandbCallback`` (losses, metrics,
  hyper-parameters, no predictions nor model upload), when the user has
  ``wandb`` installed; a run is started (project ``convml_tt``, files in
  ``log_dir``) unless one is already running.

Under data-parallel training only rank 0 logs.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from fastai.callback.core import Callback
from fastai.learner import Recorder

from ..._extras import require
from ..collectives import get_rank

__all__ = ["TRACKERS", "TensorBoardCurves", "tracking_callbacks"]

#: what ``train --log`` takes
TRACKERS = ("tensorboard", "wandb")


class TensorBoardCurves(Callback):
    """Training curves as TensorBoard scalars in ``log_dir`` (see the module
    docstring for the tags). Opens its writer at the start of a fit and
    closes it at the end, so the event file is complete after ``train``."""

    order = Recorder.order + 1  # after the recorder has made the epoch's values

    def __init__(self, log_dir: str | Path) -> None:
        require("tensorboard", "explore", "train --log tensorboard")
        self.log_dir = Path(log_dir)
        self.writer = None

    def before_fit(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.log_dir)) if get_rank() == 0 else None

    def after_batch(self) -> None:
        if self.writer is None or not self.training:
            return
        step = int(self.learn.train_iter)
        self.writer.add_scalar("batch/loss", float(self.learn.loss.detach()), step)
        self.writer.add_scalar("batch/lr", float(self.learn.opt.hypers[-1]["lr"]), step)

    def after_epoch(self) -> None:
        if self.writer is None:
            return
        rec = self.learn.recorder
        for name, value in zip(rec.metric_names, rec.log):
            if name in ("epoch", "time") or value is None:
                continue
            value = float(value)
            if math.isfinite(value):
                self.writer.add_scalar(f"epoch/{name}", value, int(self.epoch))
        self.writer.flush()

    def after_fit(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _wandb_callback(log_dir: Path, config: dict | None) -> Callback:
    wandb = require("wandb", "wandb", "train --log wandb")
    from fastai.callback.wandb import WandbCallback

    if get_rank() == 0 and wandb.run is None:
        log_dir.mkdir(parents=True, exist_ok=True)
        wandb.init(project="convml_tt", dir=str(log_dir), config=config or {})
    return WandbCallback(log_preds=False, log_model=False)


def tracking_callbacks(trackers: Sequence[str], log_dir: str | Path, config: dict | None = None) -> list[Callback]:
    """fastai callbacks logging the training curves to each of ``trackers``
    (names of :data:`TRACKERS`) under ``log_dir``; ``config`` (plain values)
    is recorded with a W&B run. An unknown name, or a tracker whose package
    is not installed, is one line naming what to give or install (before any
    training)."""
    unknown = [t for t in trackers if t not in TRACKERS]
    if unknown:
        raise ValueError(f"--log {unknown[0]!r} is not one of {TRACKERS}")
    log_dir = Path(log_dir)
    cbs: list[Callback] = []
    for name in dict.fromkeys(trackers):
        cbs.append(TensorBoardCurves(log_dir) if name == "tensorboard" else _wandb_callback(log_dir, config))
    return cbs
