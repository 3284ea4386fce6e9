"""Training against the wall clock: stop after the whole epoch past which the next would not fit."""
from __future__ import annotations

import time
from typing import Callable

from ._fastai import Callback, CancelFitException

__all__ = ["WallClockBudget"]


class WallClockBudget(Callback):
    """Stop ``fit`` after a whole epoch when the next one would end past ``deadline``.

    Judged as the epochs go: after each epoch, the epoch just finished (its
    wall time in seconds, training and validation, as long as it really took
    on this machine at this load) is taken as the length of the next one, and
    training stops when ``time.monotonic() + epoch_s + reserve(epoch_s)``
    exceeds ``deadline`` (a ``time.monotonic()`` value, seconds).
    ``reserve(epoch_s)``: seconds to keep for the work after training, given
    the epoch time (default none). The first epoch always runs. Runs after
    every other callback's ``after_epoch`` (checkpoints included), so the
    epoch it stops after is saved like any other.

    ``epochs_done``: the epochs this fit completed (index of the last + 1,
    counting a resumed run's earlier epochs); ``stopped``: whether it cut the
    fit short; ``epoch_s``: the wall time of each epoch, seconds.
    """

    order = 100  # after Recorder (50) and CheckpointCallback

    def __init__(self, deadline: float, reserve: Callable[[float], float] | None = None) -> None:
        self.deadline = float(deadline)
        self.reserve = reserve or (lambda epoch_s: 0.0)
        self.epochs_done: int | None = None
        self.stopped = False
        self.epoch_s: list[float] = []
        self._t0 = 0.0

    def before_fit(self) -> None:
        self.stopped, self.epoch_s, self.epochs_done = False, [], None

    def before_epoch(self) -> None:
        self._t0 = time.monotonic()

    def after_epoch(self) -> None:
        now = time.monotonic()
        took = now - self._t0
        self.epoch_s.append(took)
        self.epochs_done = self.learn.epoch + 1
        if self.epochs_done < self.learn.n_epoch and now + took + self.reserve(took) > self.deadline:
            self.stopped = True
            raise CancelFitException()
