"""Training the triplet encoder with fastai.

- :mod:`.dataloaders`: triplet batches with a dummy target (:func:`make_dataloaders`);
- :mod:`.precision`: which autocast a device gets, bf16 autocast on CPU;
- :mod:`.checkpoints`: epoch checkpoints and resuming;
- :mod:`.learner`: :func:`make_learner` and one-call :func:`train`;
- :mod:`.timing`: :func:`time_training_step`;
- :mod:`.budget`: :class:`WallClockBudget` (the epochs that fit a wall-clock budget, the schedule re-planned);
- :mod:`.threads`: :class:`CPUThreads` (torch's CPU threads chosen by timing steps on a shared machine).
"""
from __future__ import annotations

from .budget import WallClockBudget
from .checkpoints import CheckpointCallback, resume_from_checkpoint, save_checkpoint
from .dataloaders import TripletDataLoader, make_dataloaders
from .learner import make_learner, train
from .precision import CPUAutocast, cpu_has_native_bf16, resolve_precision
from .threads import CPUThreads
from .timing import time_training_step

__all__ = [
    "CPUThreads",
    "CheckpointCallback",
    "resume_from_checkpoint",
    "save_checkpoint",
    "TripletDataLoader",
    "make_dataloaders",
    "make_learner",
    "train",
    "CPUAutocast",
    "cpu_has_native_bf16",
    "resolve_precision",
    "time_training_step",
    "WallClockBudget",
]
