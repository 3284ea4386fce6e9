"""Training against the wall clock: the epochs that fit, judged as they go, with the schedule re-planned to end there."""
from __future__ import annotations

import math
import time
from typing import Callable

from ._fastai import Callback, CancelFitException

__all__ = ["WallClockBudget"]


class WallClockBudget(Callback):
    """End ``fit`` after the whole epoch past which the next would end after ``deadline``.

    Judged as the epochs go: after each epoch, the epoch just finished (its
    wall time in seconds, training and validation, as long as it really took
    on this machine at this load) is taken as the length of each later one,
    and ``floor((deadline - now - reserve(epoch_s)) / epoch_s)`` more epochs
    fit (``deadline``: a ``time.monotonic()`` value, seconds;
    ``reserve(epoch_s)``: seconds to keep for the work after training,
    default none). None fit: training stops now. The first epoch always runs.

    ``replan``: when fewer epochs fit than the fit was asked for, but more
    than are done, the learning-rate schedule (fastai's one-cycle, or any
    ``ParamScheduler``: they follow ``epoch / n_epoch``) is re-planned to end
    after the epochs that fit, so training finishes its annealing instead of
    stopping at a high learning rate halfway through the cycle. The plan only
    ever shrinks (a schedule that went further cannot be taken back), and
    ``on_replan(n)`` is told each new total (e.g. to record it for a resumed
    run). Without ``replan`` training simply stops after the last epoch that
    fits, its schedule where it was.

    Runs after every other callback's ``after_epoch`` (checkpoints included),
    so the epoch it stops after is saved like any other.

    ``epochs_done``: the epochs this fit completed (index of the last + 1,
    counting a resumed run's earlier epochs); ``stopped``: whether it ended
    the fit before the epochs asked for; ``replanned``: the epochs the
    schedule was last re-planned to (None: never); ``epoch_s``: the wall time
    of each epoch, seconds.
    """

    order = 100  # after Recorder (50) and CheckpointCallback

    def __init__(self, deadline: float, reserve: Callable[[float], float] | None = None, replan: bool = False,
                 on_replan: Callable[[int], None] | None = None) -> None:
        self.deadline = float(deadline)
        self.reserve = reserve or (lambda epoch_s: 0.0)
        self.replan = bool(replan)
        self.on_replan = on_replan
        self.epochs_done: int | None = None
        self.stopped = False
        self.replanned: int | None = None
        self.epoch_s: list[float] = []
        self._t0 = 0.0
        self._asked = 0

    def before_fit(self) -> None:
        self.stopped, self.epoch_s, self.epochs_done, self.replanned = False, [], None, None
        self._asked = int(self.learn.n_epoch)

    def before_epoch(self) -> None:
        self._t0 = time.monotonic()

    def after_epoch(self) -> None:
        now = time.monotonic()
        took = now - self._t0
        self.epoch_s.append(took)
        done = self.epochs_done = self.learn.epoch + 1
        planned = int(self.learn.n_epoch)
        if done >= planned:  # the (re-planned) schedule is over
            if done < self._asked:
                self.stopped = True
                raise CancelFitException()
            return
        left = self.deadline - now - self.reserve(took)
        fit = done + max(0, math.floor(left / took)) if took > 0 else planned
        if fit <= done:
            self.stopped = True
            raise CancelFitException()
        if fit >= planned or not self.replan:
            return
        # the schedule's position is epoch / n_epoch (fastai's TrainEvalCallback sets pct_train from it
        # before each epoch): ending it at `fit` anneals the learning rate over the epochs that remain
        self.learn.n_epoch = self.replanned = fit
        if self.on_replan is not None:
            self.on_replan(fit)
