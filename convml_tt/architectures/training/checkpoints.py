"""Epoch checkpoints: weights, optimiser state and progress, to resume training.

A checkpoint is a model file (:mod:`convml_tt.architectures.model_file`) of
format ``convml_tt.triplet_checkpoint`` with, besides ``config`` and
``state_dict``, ``optimizer`` (fastai optimiser state and hyper-parameters),
``epoch`` (epochs completed) and ``fit`` (``n_epoch``);
:func:`~convml_tt.architectures.model_file.load_model` reads it like a model file.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..._io import atomic_path
from ..model_file import CHECKPOINT_FORMAT, encoder_of, file_dict, plain, read_model_file, write_model_file
from ._fastai import Callback, L, Learner

__all__ = ["save_checkpoint", "CheckpointCallback", "resume_from_checkpoint"]


def save_checkpoint(learn: Learner, path: str | Path, epochs_done: int) -> Path:
    """Write weights, optimiser state and progress of ``learn`` to ``path`` (atomic)."""
    enc = encoder_of(learn)
    obj = file_dict(enc, CHECKPOINT_FORMAT)
    if learn.opt is not None:
        sd = learn.opt.state_dict()
        obj["optimizer"] = {"state": [plain(dict(s)) for s in sd["state"]],
                            "hypers": [plain(dict(h)) for h in sd["hypers"]]}
    obj["epoch"] = int(epochs_done)
    obj["fit"] = {"n_epoch": int(getattr(learn, "n_epoch", 0) or 0)}
    return write_model_file(obj, path)


class CheckpointCallback(Callback):
    """Save a checkpoint after every training epoch (fastai callback).

    Writes ``{folder}/epoch_{N:03d}.pt`` (``N`` epochs completed, kept when
    ``keep_all``) and ``{folder}/last.pt``; each can be passed to
    :func:`resume_from_checkpoint` or :func:`~convml_tt.architectures.model_file.load_model`. Epochs skipped when
    resuming and ``lr_find`` runs are not saved.
    """

    order = 65  # after the Recorder and ParamScheduler, before SkipToEpoch (70)

    def __init__(self, folder: str | Path, keep_all: bool = True) -> None:
        self.folder, self.keep_all = Path(folder), keep_all
        self._trained = False

    def before_epoch(self) -> None:
        self._trained = False

    def before_train(self) -> None:
        self._trained = True

    def after_epoch(self) -> None:
        if not self._trained or hasattr(self.learn, "lr_finder"):
            return
        done = self.epoch + 1
        last = save_checkpoint(self.learn, self.folder / "last.pt", done)
        if self.keep_all:
            with atomic_path(self.folder / f"epoch_{done:03d}.pt") as tmp:
                shutil.copyfile(last, tmp)


def _check_compatible(cfg: dict, other: dict, path: Path) -> None:
    keys = ("arch", "n_input_channels", "emb_dim", "head")
    bad = [f"{k}: file {other.get(k)!r} vs learner {cfg.get(k)!r}" for k in keys if other.get(k) != cfg.get(k)]
    if bad:
        raise ValueError(f"checkpoint {str(path)!r} was made for another model (" + "; ".join(bad)
                         + "); build the learner with the same settings to resume")


def resume_from_checkpoint(learn: Learner, path: str | Path) -> int:
    """Load weights and optimiser state from a checkpoint into ``learn``.

    Returns the number of epochs the checkpoint completed; continue with
    ``learn.fit_one_cycle(n_epoch, lr, start_epoch=that_number)`` so the
    one-cycle schedule picks up where it left off.
    """
    path = Path(path)
    obj = read_model_file(path, kinds=(CHECKPOINT_FORMAT,))
    enc = encoder_of(learn)
    _check_compatible(enc.config, obj["config"], path)
    try:
        enc.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as err:
        raise ValueError(f"checkpoint {str(path)!r} weights do not fit the learner's model: "
                         f"{str(err).splitlines()[0]}") from None
    if "optimizer" in obj:
        if learn.opt is None:
            learn.create_opt()
        osd = obj["optimizer"]
        try:
            learn.opt.load_state_dict({"state": [dict(s) for s in osd["state"]],
                                       "hypers": L([dict(h) for h in osd["hypers"]])})
        except AssertionError:
            raise ValueError(f"checkpoint {str(path)!r} optimiser state does not fit the learner "
                             f"(different parameter groups, e.g. frozen body vs not)") from None
        dev = next(learn.model.parameters()).device
        for s in learn.opt.state.values():
            for k, v in list(s.items()):
                if isinstance(v, torch.Tensor):
                    s[k] = v.to(dev)
    return int(obj.get("epoch", 0))
