"""Epoch checkpoints: everything needed to continue a training run exactly.

A checkpoint is a model file (:mod:`convml_tt.architectures.model_file`) of
format ``convml_tt.triplet_checkpoint`` with, besides ``config`` and
``state_dict`` (weights and batchnorm statistics):

``optimizer``
    fastai optimiser state (Adam averages, step counts) and hyper-parameters;
``epoch``, ``fit``
    epochs completed and the fit's ``n_epoch`` (the one-cycle schedule is
    recomputed from these when resuming with the same ``n_epoch`` and ``lr``);
``rng``
    the global random states: ``python`` (``random``), ``numpy``
    (``np.random``), ``torch`` (CPU; dropout on CPU) and ``cuda`` (one per
    GPU, when CUDA was in use; dropout on GPU);
``loaders``
    per data loader (train, valid) the state of its ``random.Random``
    ``rng``, which draws the shuffling order and the seed of each pass's
    augmentation stream;
``recorder``
    the smoothed training loss (``count``, ``val``) fastai reports as
    ``train_loss``, and ``train_iter``;
``scaler``
    the fp16 ``GradScaler`` state (loss scale, growth tracker), if any;
``training``
    what the run was made with (:func:`run_settings`: epochs, learning
    rate, global batch size, seed, loss, augmentation...): ``train`` refuses
    to resume a checkpoint with other settings unless told that they change
    (:func:`check_resume_settings`).

Everything is a tensor or a plain type (``torch.load(weights_only=True)``);
:func:`~convml_tt.architectures.model_file.load_model` reads a checkpoint like
a model file. Checkpoints written before ``rng``/``loaders``/``recorder``/
``scaler`` existed still resume (weights and optimiser only).
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..._io import atomic_path, remove_temps_of
from ..model_file import CHECKPOINT_FORMAT, encoder_of, file_dict, plain, read_model_file, write_model_file
from ._fastai import Callback, L, Learner

__all__ = ["save_checkpoint", "CheckpointCallback", "resume_from_checkpoint", "run_settings",
           "check_resume_settings", "RUN_SETTINGS"]

#: the settings (fields of TrainingSettings) that make a training run what it is: resuming a
#: checkpoint with another value of one of them continues another run
RUN_SETTINGS = ("epochs", "lr", "wd", "seed", "valid_pct", "loss", "margin", "l2", "negatives", "augment",
                "jitter", "tile_pixels", "normalize", "freeze_body", "dropout")


# -- random states as plain types ------------------------------------------------------------


def _py_state(r: random.Random | None = None) -> dict:
    """State of ``r`` (default: the global ``random`` module) as plain types."""
    version, internal, gauss_next = (random.getstate() if r is None else r.getstate())
    return {"version": int(version), "state": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": None if gauss_next is None else float(gauss_next)}


def _py_restore(st: dict, r: random.Random | None = None) -> None:
    state = (int(st["version"]), tuple(int(v) for v in st["state"].tolist()), st["gauss_next"])
    (random.setstate if r is None else r.setstate)(state)


def _rng_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    out: dict[str, Any] = {
        "python": _py_state(),
        "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return out


def _rng_restore(st: dict) -> None:
    if "python" in st:
        _py_restore(st["python"])
    if "numpy" in st:
        n = st["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), int(n["pos"]),
                             int(n["has_gauss"]), float(n["cached_gaussian"])))
    if "torch" in st:
        torch.set_rng_state(st["torch"])
    if st.get("cuda") and torch.cuda.is_available():
        # as many GPUs as both machines have (resuming elsewhere cannot be exact anyway)
        for i, s in enumerate(st["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, i)


def _loaders(learn: Learner) -> list:
    dls = getattr(learn, "dls", None)
    return list(getattr(dls, "loaders", None) or [])


def save_checkpoint(learn: Learner, path: str | Path, epochs_done: int) -> Path:
    """Write the state of the run of ``learn`` to ``path`` (atomic): weights,
    optimiser, progress, random states, the loaders' random streams, the
    recorder's smoothed loss and the gradient scaler (see the module docstring)."""
    enc = encoder_of(learn)
    obj = file_dict(enc, CHECKPOINT_FORMAT)
    if learn.opt is not None:
        sd = learn.opt.state_dict()
        obj["optimizer"] = {"state": [plain(dict(s)) for s in sd["state"]],
                            "hypers": [plain(dict(h)) for h in sd["hypers"]]}
    obj["epoch"] = int(epochs_done)
    obj["fit"] = {"n_epoch": int(getattr(learn, "n_epoch", 0) or 0)}
    obj["rng"] = _rng_state()
    obj["loaders"] = [_py_state(dl.rng) if isinstance(getattr(dl, "rng", None), random.Random) else None
                      for dl in _loaders(learn)]
    rec = getattr(learn, "recorder", None)
    smooth = getattr(rec, "smooth_loss", None)
    if smooth is not None:
        obj["recorder"] = {"smooth_loss": {"count": int(smooth.count), "val": plain(torch.as_tensor(smooth.val))},
                           "train_iter": int(getattr(learn, "train_iter", 0) or 0)}
    scaler = getattr(learn, "scaler", None)
    if scaler is not None and hasattr(scaler, "state_dict"):
        obj["scaler"] = plain(scaler.state_dict())
    run = getattr(learn, "convml_tt_run", None)
    if isinstance(run, dict):
        obj["training"] = plain(run)
    parts = _method_parts(learn)
    if parts:  # a view method's projector, predictor, momentum target
        obj["method_state_dict"] = {k: v.detach().cpu().contiguous() for k, v in parts.items()}
    return write_model_file(obj, path)


def _method_parts(learn: Learner) -> dict:
    """The state of the trained model's parts besides the encoder (``projector.*``, ...)."""
    m = getattr(learn, "model", None)
    m = getattr(m, "module", m)
    m = getattr(m, "_orig_mod", m)
    if m is None:
        return {}
    return {k: v for k, v in m.state_dict().items() if not k.startswith("encoder.")}


def run_settings(settings: Any, world_size: int = 1) -> dict:
    """What a training run is made with, as plain values: the
    :data:`RUN_SETTINGS` of ``settings`` (a TrainingSettings) and the global
    batch size (``batch_size`` x ``world_size`` processes)."""
    out = {k: plain(getattr(settings, k)) for k in RUN_SETTINGS}
    out["global_batch_size"] = int(settings.batch_size) * int(world_size)
    return out


def check_resume_settings(path: str | Path, run: dict, allow_changes: bool = False) -> list[str]:
    """Compare what the checkpoint at ``path`` was made with to ``run``
    (:func:`run_settings` of the resumed run). Returns the differences
    (``"lr 0.001 -> 0.01"``); with some and not ``allow_changes`` a one-line
    ``ValueError`` lists them. Checkpoints written before they recorded their
    settings have none to compare."""
    old = read_model_file(path, kinds=(CHECKPOINT_FORMAT,)).get("training")
    if not isinstance(old, dict):
        return []
    new = plain(run)
    diffs = [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
             if old.get(k) != new.get(k)]
    if diffs and not allow_changes:
        raise ValueError(f"checkpoint {str(path)!r} was made with other settings ({'; '.join(diffs)}): resume "
                         f"with the settings it was made with, or give --resume-with-changes "
                         f"(resume_with_changes=True) to continue it with these")
    return diffs


class _ResumeFitState(Callback):
    """One-shot: at the start of the next fit (not an ``lr_find``), put back what
    fastai recreates in ``before_fit``: the smoothed loss, ``train_iter`` and the
    fp16 gradient scaler. Runs after TrainEvalCallback (-10), MixedPrecision (10)
    and the Recorder (50)."""

    order = 55

    def __init__(self, recorder: dict | None, scaler: dict | None) -> None:
        self.rec_state, self.scaler_state = recorder, scaler

    def before_fit(self) -> None:
        if hasattr(self.learn, "lr_finder"):
            return
        learn = self.learn
        learn.remove_cb(self)
        rec = getattr(learn, "recorder", None)
        if self.rec_state and rec is not None:
            sm = self.rec_state.get("smooth_loss") or {}
            if "count" in sm and "val" in sm:
                rec.smooth_loss.count, rec.smooth_loss.val = int(sm["count"]), sm["val"].clone()
            learn.train_iter = int(self.rec_state.get("train_iter", 0))
        scaler = getattr(learn, "scaler", None)
        if self.scaler_state and scaler is not None and scaler.is_enabled():
            scaler.load_state_dict(dict(self.scaler_state))


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
            remove_temps_of(self.folder / f"epoch_{done:03d}.pt")  # left by a killed run
            with atomic_path(self.folder / f"epoch_{done:03d}.pt") as tmp:
                shutil.copyfile(last, tmp)


def _check_compatible(cfg: dict, other: dict, path: Path) -> None:
    keys = ("arch", "n_input_channels", "emb_dim", "head")
    bad = [f"{k}: file {other.get(k)!r} vs learner {cfg.get(k)!r}" for k in keys if other.get(k) != cfg.get(k)]
    mine, theirs = (_method_name(c) for c in (cfg, other))
    if mine != theirs:
        bad.append(f"method: file {theirs!r} vs learner {mine!r}")
    if bad:
        raise ValueError(f"checkpoint {str(path)!r} was made for another model (" + "; ".join(bad)
                         + "); build the learner with the same settings to resume")


def _method_name(cfg: dict) -> str:
    m = cfg.get("method")
    return m.get("name", "triplet") if isinstance(m, dict) else "triplet"  # older files: triplet


def _load_parts(learn: Learner, obj: dict, path: Path) -> None:
    want = _method_parts(learn)
    have = obj.get("method_state_dict") or {}
    if not want and not have:
        return
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or extra:
        raise ValueError(f"checkpoint {str(path)!r} holds other method parts than the learner's: missing "
                         f"{missing[:6] or 'none'}, unexpected {extra[:6] or 'none'}")
    m = getattr(learn.model, "module", learn.model)
    m = getattr(m, "_orig_mod", m)
    m.load_state_dict({**{f"encoder.{k}": v for k, v in obj["state_dict"].items()}, **have}, strict=True)


def resume_from_checkpoint(learn: Learner, path: str | Path) -> int:
    """Load the state of a run from a checkpoint into ``learn``, to continue it.

    Loads weights and optimiser state; sets the python, numpy and torch (CPU
    and CUDA) random states and the random streams of ``learn.dls``'s loaders
    to those at the end of the checkpoint's epoch; the smoothed training loss
    and the fp16 gradient scaler are put back when the next fit starts.

    Returns the number of epochs the checkpoint completed; continue with
    ``learn.fit_one_cycle(n_epoch, lr, start_epoch=that_number)`` with the
    run's ``n_epoch`` (``checkpoint["fit"]["n_epoch"]``) and ``lr`` so the
    one-cycle schedule picks up where it left off. With a learner built with
    the same settings (``make_learner``) on the same machine, the resumed run
    ends with the weights an uninterrupted run would have (to float
    rounding). Older checkpoints without random states resume weights and
    optimiser only.
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
    _load_parts(learn, obj, path)
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
    if isinstance(obj.get("rng"), dict):
        _rng_restore(obj["rng"])
    for dl, st in zip(_loaders(learn), obj.get("loaders") or []):
        if st is not None and isinstance(getattr(dl, "rng", None), random.Random):
            _py_restore(st, dl.rng)
    for cb in [cb for cb in learn.cbs if isinstance(cb, _ResumeFitState)]:
        learn.remove_cb(cb)  # resumed twice before fitting: the latest wins
    if obj.get("recorder") or obj.get("scaler"):
        learn.add_cb(_ResumeFitState(obj.get("recorder"), obj.get("scaler")))
    return int(obj.get("epoch", 0))
