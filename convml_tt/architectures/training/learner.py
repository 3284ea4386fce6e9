"""The fastai ``Learner`` that trains a triplet encoder, and one-call training.

The encoder maps a tile ``(C, H, W)`` to an embedding vector of ``emb_dim``
values; it is trained with a triplet loss so that an anchor tile lies nearer
its neighbour than a distant tile (Tile2Vec, Jean et al. 2019; Denby 2020).

Typical use (notebook or script)::

    from convml_tt.architectures import embed_tiles, load_model, make_learner, save_model
    learn = make_learner("data/triplets", arch="resnet18", batch_size=50)
    learn.lr_find()
    learn.fit_one_cycle(10, 1e-3)
    learn.recorder.plot_loss()
    save_model(learn, "model.pt")
    encoder = load_model("model.pt")           # nn.Module with .config
    emb = embed_tiles(encoder, tiles_uint8)     # (N, emb_dim)

Every setting is a field of :class:`~convml_tt.config.TrainingSettings`
(checked there); ``make_learner(dataset, settings, **overrides)`` and
``train(dataset, out, settings, **overrides)`` take the dataclass, its
field names as keywords, or both.
"""
from __future__ import annotations

import logging
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ... import __version__
from ..._io import check_writable_folder, resolve_device
from ...config import TrainingSettings, settings_from
from ...data.dataset.format import dataset_recipe
from ...data.dataset.torch import TripletDataset
from ..encoder import TripletEncoder
from ..model_file import save_model
from .budget import WallClockBudget
from ..pretrained import init_from_pretrained
from ._fastai import Adam, BnFreeze, DataLoaders, Learner, set_seed
from .collapse import CollapseGuard, check_collapse
from .checkpoints import CheckpointCallback, check_resume_settings, resume_from_checkpoint, run_settings
from .dataloaders import build_dataloaders
from .distributed import (DEFAULT_TIMEOUT_S, DataParallel, LostRankError, ddp_device, describe_lost_rank,
                          get_rank, get_world_size, init_distributed, is_distributed, launched_distributed)
from .precision import CPUAutocast, resolve_precision

__all__ = ["make_learner", "train"]

log = logging.getLogger(__name__)


def _loss_config(loss_func: nn.Module) -> dict:
    cfg = getattr(loss_func, "config", None)
    return dict(cfg) if isinstance(cfg, dict) else {"class": type(loss_func).__name__}


def make_learner(
    dataset_path_or_dls: str | Path | TripletDataset | DataLoaders,
    settings: TrainingSettings | None = None,
    *,
    loss_func: nn.Module | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
    path: str | Path | None = None,
    distributed: bool | None = None,
    method: Any = None,
    **overrides: Any,
) -> Learner:
    """Build a fastai ``Learner`` that trains an encoder with a method (triplet by default).

    Use it like any fastai learner: ``learn.lr_find()``,
    ``learn.fit_one_cycle(n, lr)``, ``learn.recorder.plot_loss()``,
    ``learn.freeze()``/``unfreeze()`` (two parameter groups: body, head).

    Parameters
    ----------
    dataset_path_or_dls:
        triplet dataset folder (``train`` stage used), a :class:`TripletDataset`,
        or ``DataLoaders`` from :func:`~.dataloaders.make_dataloaders`.
    settings, overrides:
        a :class:`~convml_tt.config.TrainingSettings` (default: its
        defaults) and field names of it to change, e.g. ``arch="resnet34",
        batch_size=50``. In short:

        - ``arch``: a backbone of the registry
          (:func:`~convml_tt.architectures.backbones.list_backbones`);
          ``emb_dim``, ``head`` (``"fastai"``, the 2019 head, or
          ``"linear"``), head ``dropout``;
        - ``pretrained``: ``None``/``False`` (random init), ``True``/
          ``"imagenet"`` or a path (see
          :func:`~convml_tt.architectures.pretrained.load_pretrained_weights`);
          selects ImageNet normalisation unless ``normalize`` says otherwise;
        - ``freeze_body``: train only the head: body weights *and* batchnorm
          statistics stay fixed (``learn.unfreeze()`` releases them);
        - ``device``: ``None``: CUDA when available, else CPU;
        - ``mixed_precision``: ``None``/``"auto"``: bf16 autocast on CUDA
          when supported (else fp16), and on CPUs with native bf16
          instructions (:func:`~.precision.cpu_has_native_bf16`), else off;
          ``"bf16"`` (CUDA or CPU), ``"fp16"`` (CUDA only) or ``"no"``/``False``;
        - ``channels_last``: ``None``: on (faster convolutions on CUDA and on CPU);
        - ``loss``, ``margin``, ``l2``, ``negatives``: the default loss
          (:func:`~convml_tt.architectures.losses.default_loss`):
          ``"euclidean"`` (margin 1, l2 0.01) or ``"squared"``; ``negatives``
          ``"batch"`` (each anchor against all distant tiles of the batch,
          the default: on the demo's data +2.7 points of study triplet
          accuracy at no extra cost) or ``"own"`` (the classic
          one-per-triplet Tile2Vec loss);
        - ``lr`` (the Learner's default), ``wd``, ``seed`` and the data
          fields of :func:`~.dataloaders.make_dataloaders`.
    loss_func:
        any ``nn.Module`` called as ``loss_func(pred, target)`` with
        embeddings ``pred`` ``(B, 3, emb_dim)`` and fastai's dummy target,
        returning a scalar (and honouring a ``reduction`` attribute if it has
        one); replaces the default loss. Its ``config`` dict (or its class
        name) is stored in the model config as ``loss``.
    method:
        the training method: a name of the method registry
        (:func:`~convml_tt.architectures.methods.list_methods`; the settings'
        ``method``, default ``"triplet"``) or a
        :class:`~convml_tt.architectures.methods.Method` (with its own
        hyper-parameters). It decides what a sample is (a triplet, or
        augmented views of one tile), the model parts around the encoder,
        the loss (``loss_func`` replaces it) and the metrics; it is recorded
        in the model config as ``method``.
    checkpoint_dir:
        save a checkpoint there after every epoch (:class:`~.checkpoints.CheckpointCallback`).
    distributed:
        data-parallel training on the ranks of the torch.distributed process
        group (:mod:`~.distributed`; one learner per rank, same settings):
        None (default): when a group of more than one process is
        initialised. Then the device defaults to ``cuda:LOCAL_RANK`` (NCCL)
        or the CPU (gloo), ``batch_size`` is per rank (the global batch is
        ``world_size * batch_size``), the :class:`~.distributed.DataParallel`
        callback wraps the model in DDP during each fit, and only rank 0
        checkpoints, shows progress and logs.

    Seeds python/numpy/torch with ``seed`` before building the model; the data
    order and augmentations also derive from ``seed``.
    """
    from ..methods.base import Method, make_method

    if isinstance(method, str):
        overrides["method"] = method
    s = settings_from(TrainingSettings, settings, **overrides)
    if isinstance(method, Method):
        s = s.replace(method=method.name)
    else:
        method = make_method(s.method)  # an unknown name lists the registered methods
    if distributed is None:
        distributed = is_distributed()
    elif distributed and not is_distributed():
        raise ValueError("distributed=True needs an initialised torch.distributed process group of more "
                         "than one process; launch with torchrun (convml_tt train does the rest) or call "
                         "convml_tt.architectures.training.distributed.init_distributed() first")
    rank0 = get_rank() == 0 or not distributed
    if distributed:
        s = s.replace(device=ddp_device(s.device))
        progress = progress and rank0
    channels_last = s.channels_last
    if isinstance(dataset_path_or_dls, DataLoaders):
        dls = dataset_path_or_dls
        dev = resolve_device(s.device) if s.device is not None else torch.device(dls.device or "cpu")
        if s.device is not None:
            dls.device = dev
        info = getattr(dls, "convml_tt", None)
        if info is None:
            raise ValueError("DataLoaders were not built by convml_tt's make_dataloaders (no dls.convml_tt "
                             "info); build them with make_dataloaders(...)")
        want = 3 if method.sample == "triplet" else method.n_views
        if getattr(dls, "n_inp", want) != want:
            raise ValueError(f"the DataLoaders give {dls.n_inp} inputs a sample but method {method.name!r} takes "
                             f"{want} ({method.sample}); build them with make_dataloaders(..., method="
                             f"{method.name!r})")
        set_seed(s.seed)
    else:
        dev = resolve_device(s.device)
        set_seed(s.seed)
        if channels_last is None:
            channels_last = True
        dls = build_dataloaders(dataset_path_or_dls, s, dev, channels_last=channels_last,
                                progress=progress, path=path, method=method)
        info = dls.convml_tt
    if channels_last is None:
        channels_last = bool(getattr(dls.train.transform, "channels_last", False))

    # mixed precision: decide before anything is built
    mp = resolve_precision(s.mixed_precision, dev)

    if loss_func is None:
        loss_func = method.loss(s)
    config = {
        "normalization": info["normalization"],
        "tile_pixels": info["tile_pixels"],
        "training_data_path": info["training_data_path"],
        "pretrained": None,
        "loss": _loss_config(loss_func),
        "method": method.config,
        "convml_tt_version": __version__,
    }
    # the recipe the tiles were cut from and each channel's units and stretch (maps cut the same)
    config.update(dataset_recipe(info["training_data_path"]))
    n_channels = info["n_input_channels"]
    encoder = TripletEncoder(s.arch, n_channels, s.emb_dim, s.head, s.dropout, config=config)
    if s.pretrained:
        encoder.config["pretrained"] = init_from_pretrained(encoder.body, s.arch, s.pretrained, n_channels,
                                                            progress=progress)
    model = method.build_model(encoder, s)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)

    guard = CollapseGuard()
    cbs = [*method.callbacks(s), guard]
    if checkpoint_dir is not None and rank0:
        cbs.append(CheckpointCallback(checkpoint_dir))
    if distributed:
        cbs.append(DataParallel())
    if s.freeze_body:
        cbs.append(BnFreeze())
    learn = Learner(
        dls, model, loss_func=loss_func, opt_func=Adam, lr=s.lr, splitter=method.splitter(),
        metrics=[*method.metrics(), *guard.metrics], path=path or dls.path, wd=s.wd,
        train_bn=not s.freeze_body, cbs=cbs,
    )
    model.to(dev)
    # what the run is made with: its checkpoints record it, and a resume compares it
    learn.convml_tt_run = run_settings(s, get_world_size() if distributed else 1)
    if not rank0:  # one progress bar and one epoch table: rank 0's
        learn.remove_cb(learn.progress)
        learn.logger = _no_log
    if s.freeze_body:
        learn.freeze()
    if mp == "bf16" and dev.type == "cpu":
        learn.add_cb(CPUAutocast())
    elif mp == "bf16":
        learn.to_bf16()
    elif mp == "fp16":
        learn.to_fp16()
    return learn


def _no_log(*args: Any, **kwargs: Any) -> None:
    return None


def train(
    dataset: str | Path,
    out: str | Path,
    settings: TrainingSettings | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    resume_with_changes: bool = False,
    quiet: bool = False,
    loss_func: nn.Module | None = None,
    ddp_timeout: float = DEFAULT_TIMEOUT_S,
    cbs: list | None = None,
    budget: WallClockBudget | None = None,
    **overrides: Any,
) -> Learner:
    """Train an encoder on ``dataset`` with one-cycle for ``epochs`` at maximum
    learning rate ``lr`` and write the model to ``out``.

    ``settings``/``overrides`` and ``loss_func`` as for :func:`make_learner`
    (``epochs`` and ``lr`` are settings fields). With ``resume`` (a
    checkpoint), training continues after the epochs the checkpoint
    completed; a checkpoint made with other settings (epochs, ``lr``, the
    global batch size, seed, loss, augmentation...: see
    :func:`~.checkpoints.run_settings`) is refused, listing them, unless
    ``resume_with_changes`` (then the changes are logged as a warning).
    Prints fastai's per-epoch table unless ``quiet``. ``cbs``: extra fastai
    callbacks for the fit, e.g. the training curves of
    :func:`~.tracking.tracking_callbacks` (``train --log tensorboard``).

    Data-parallel (:mod:`~.distributed`): run under ``torchrun --nproc_per_node
    N`` (``WORLD_SIZE`` > 1 in the environment) the process group is set up
    here (NCCL on GPUs, gloo on CPU, ``ddp_timeout`` seconds for any
    collective) and torn down at the end; with a process group already
    initialised (by the caller) that one is used and left alone. Every rank
    calls ``train`` with the same arguments; ``batch_size`` is per rank; only
    rank 0 writes checkpoints and ``out`` (the other ranks wait for it), and
    every rank reads ``resume``. When another rank dies or stops answering,
    this raises a one-line :class:`~.distributed.LostRankError` (a
    ``RuntimeError``) within ``ddp_timeout`` naming the last checkpoint to
    resume from; the process group is then broken: end the process.

    ``budget`` (a :class:`~.budget.WallClockBudget`): training stops after the
    whole epoch past which the next would not fit its deadline; the model
    file then records the epochs actually trained (``budget.epochs_done``).
    """
    s = settings_from(TrainingSettings, settings, **overrides)
    own_group = False
    if not is_distributed() and launched_distributed():
        init_distributed(s.device, timeout=ddp_timeout)
        own_group = True
    try:
        learn = _train(dataset, out, s, checkpoint_dir=checkpoint_dir, resume=resume, quiet=quiet,
                       loss_func=loss_func, resume_with_changes=resume_with_changes, cbs=cbs, budget=budget)
    except Exception as err:
        lost = describe_lost_rank(err) if is_distributed() else None
        if lost is None:
            raise
        last = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
        where = (f"resume from the last checkpoint with --resume {last}" if last is not None and last.exists()
                 else "no checkpoint was written")
        raise LostRankError(f"rank {get_rank()} of {get_world_size()}: another rank died or stopped "
                            f"answering during data-parallel training ({lost}); {where}") from None
    if own_group:
        import torch.distributed as dist

        dist.destroy_process_group()
    return learn


def _train(dataset, out, s: TrainingSettings, *, checkpoint_dir, resume, quiet, loss_func,
           resume_with_changes=False, cbs=None, budget=None) -> Learner:
    rank0 = get_rank() == 0
    out = Path(out)
    if out.exists() and out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a folder; give a file name such as model.pt")
    # before any training: an unwritable output would otherwise fail after the first epoch
    check_writable_folder(out.parent, "the model file", "choose a writable --out")
    if checkpoint_dir is not None:
        check_writable_folder(checkpoint_dir, "checkpoints",
                              "choose a writable --checkpoint-dir (or --no-checkpoints)")
    learn = make_learner(dataset, s, loss_func=loss_func, checkpoint_dir=checkpoint_dir,
                         progress=not quiet and rank0)
    start = 0
    if resume is not None:
        changes = check_resume_settings(resume, learn.convml_tt_run, allow_changes=resume_with_changes)
        if changes and rank0:
            log.warning("resuming %s with changed settings: %s", resume, "; ".join(changes))
        start = resume_from_checkpoint(learn, resume)
        if start >= s.epochs:
            raise ValueError(f"checkpoint {str(resume)!r} already completed {start} epoch(s); ask for "
                             f"more than {start} epochs to continue")
    with ExitStack() as stack:
        if quiet and rank0:  # the other ranks have neither (make_learner)
            stack.enter_context(learn.no_bar())
            stack.enter_context(learn.no_logging())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*upsample.*")
            learn.fit_one_cycle(s.epochs, s.lr, start_epoch=start,
                                cbs=list(cbs or []) + ([budget] if budget is not None else []) or None)
    if rank0:
        check_collapse(learn, out)  # a collapsed run is reported, not saved as if trained
        save_model(learn, out, epochs_trained=budget.epochs_done if budget is not None and budget.stopped
                   else s.epochs)
    if is_distributed():
        import torch.distributed as dist

        dist.barrier()  # the model file exists when train returns on any rank
    return learn
