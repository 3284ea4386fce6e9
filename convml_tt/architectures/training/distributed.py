"""Data-parallel training on N processes (torch DistributedDataParallel, ``torchrun``).

``torchrun --nproc_per_node N -m convml_tt train DATASET --out model.pt``
trains one model on N processes (ranks). Each rank:

- sets up the process group itself (:func:`init_distributed`, from the
  ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT``
  variables torchrun sets): NCCL with device ``cuda:LOCAL_RANK`` when the
  training device is a GPU, gloo on CPU. (fastai's own helper assumes CUDA
  and NCCL.) A process-group ``timeout`` (seconds) bounds every collective,
  so a rank that dies or stops answering makes the others fail with a clear
  error instead of waiting forever;
- reads its share of every global batch (the data loaders'
  :meth:`~.dataloaders.TripletDataLoader.set_shard`): the N ranks with
  ``batch_size`` B each together see exactly the batches, in the same order
  and with the same augmentations, of one process with batch size N * B;
- runs the model wrapped in ``DistributedDataParallel`` (:class:`DataParallel`,
  a fastai callback), which averages the gradients of the per-rank mean
  losses: for equal per-rank batches that is the gradient of the global
  mean loss;
- compares its anchors with the distant tiles of *all* ranks under the
  default in-batch negatives (the loss gathers them, see
  :class:`~convml_tt.architectures.losses.TripletLoss`), so the loss is the
  one-process loss of the global batch.

Batch norm: each batch-norm layer is switched, for the duration of the fit,
to one that normalises with the statistics of the *global* batch (mean and
variance summed over ranks): ``torch.nn.SyncBatchNorm`` on GPUs, and on CPU
(where torch's SyncBatchNorm refuses to run) :class:`CPUSyncBatchNorm`,
which all-reduces per-channel sums in float64. Per-rank statistics (plain
DDP) would make N ranks x B differ from one process x N*B and, with small
per-rank batches, give noisier statistics; the cost is one small all-reduce
per batch-norm layer and step. The layers are put back after the fit, with
their (shared) weights and running statistics.

Only rank 0 writes checkpoints, the model file and shows progress bars and
the epoch table; every rank reads a checkpoint to resume. Validation runs
on every rank over the whole validation set (no sharding, no gathering):
identical numbers on every rank.

Not exactly equal to one process: dropout masks (each rank draws its own
from the same seed) and the float rounding of sums split over ranks.
"""
from __future__ import annotations

import inspect
import math
import os
import re
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from ..collectives import all_reduce_sum, get_rank, get_world_size, is_distributed
from ._fastai import Callback

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "init_distributed",
    "launched_distributed",
    "ddp_device",
    "DataParallel",
    "CPUSyncBatchNorm",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "describe_lost_rank",
    "LostRankError",
]

_DDP_HAS_FORWARD_SYNC = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters

#: default process-group timeout (seconds): a rank waits this long for the others
DEFAULT_TIMEOUT_S = 300.0

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def launched_distributed() -> bool:
    """True when this process was started by torchrun (or alike) as one of
    several ranks: ``WORLD_SIZE`` > 1 in the environment."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def _local_rank() -> int:
    v = os.environ.get("LOCAL_RANK")
    if v is not None:
        return int(v)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return get_rank() % n if n else 0


def ddp_device(device: Any = None) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for ``None``/``"auto"``
    when CUDA is available (and for ``"cuda"`` without index), else the CPU;
    an explicit ``"cpu"`` or ``"cuda:N"`` as given."""
    from ..._io import resolve_device

    if device is None or device == "auto":
        if torch.cuda.is_available() and (not dist.is_initialized() or dist.get_backend() == "nccl"):
            return torch.device("cuda", _local_rank())
        return torch.device("cpu")
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", _local_rank())
    return dev


def init_distributed(device: Any = None, timeout: float = DEFAULT_TIMEOUT_S, backend: str | None = None
                     ) -> torch.device:
    """Join the process group of a torchrun launch; return this rank's device.

    Reads ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` (and
    ``LOCAL_RANK``) from the environment. ``backend``: None picks ``"nccl"``
    when the device (:func:`ddp_device` of ``device``) is a GPU, else
    ``"gloo"``. ``timeout``: seconds any collective may wait for the other
    ranks before failing (a dead or stuck rank). When a process group is
    already initialised it is used as it is (its own timeout applies).
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout={timeout!r} must be a positive number of seconds, e.g. 300")
    if dist.is_initialized():
        return ddp_device(device)
    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise ValueError(f"no torch.distributed process group and the environment lacks {missing}; "
                         f"launch with torchrun --nproc_per_node N (or set RANK, WORLD_SIZE, "
                         f"MASTER_ADDR, MASTER_PORT)")
    dev = ddp_device(device)
    if backend is None:
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend == "nccl" and dev.type != "cuda":
        raise ValueError(f"backend 'nccl' needs a CUDA device, got {dev}; use backend 'gloo' on CPU")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, init_method="env://", timeout=timedelta(seconds=float(timeout)))
    return dev


class LostRankError(RuntimeError):
    """Another rank died or stopped answering during data-parallel training.

    The process group is broken after this: end the process (the command
    line does so with ``os._exit(1)`` after printing the message, because
    the teardown of a gloo group with a dead peer can abort the interpreter
    at exit)."""


def describe_lost_rank(err: BaseException) -> str | None:
    """A one-line description when ``err`` is a collective that failed because
    another rank died, stopped answering or timed out; None for other errors."""
    text = " ".join(str(err).split())
    is_comm = isinstance(err, getattr(dist, "DistError", ())) or isinstance(err, RuntimeError) and any(
        w in text for w in ("gloo", "Gloo", "NCCL", "Connection closed", "Connection reset", "Timed out",
                            "timed out", "Broken pipe", "peer"))
    if not is_comm:
        return None
    text = re.sub(r"\[[^\]]*\.(?:cc|cpp|h|hpp):\d+\]\s*", "", text)  # the C++ source location
    text = text.split(" This is typically caused")[0]
    return text[:300]


# -- batch norm over the global batch ---------------------------------------------------------


class CPUSyncBatchNorm(_BatchNorm):
    """Batch norm with the statistics of the global batch of all ranks, for any device.

    In training mode under a multi-process group, per-channel ``sum(x)``,
    ``sum(x**2)`` and the count are summed over ranks (one differentiable
    all-reduce, in float64), and the batch is normalised with the global mean
    and (biased) variance; the running statistics get the global mean and
    unbiased variance, as ``BatchNorm`` computes on one process with the
    whole batch. Otherwise (eval mode, one process) it is the plain batch norm.
    Input ``(N, C)`` or ``(N, C, ...)``. Used on CPU, where
    ``torch.nn.SyncBatchNorm`` does not run.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (N, C, ...), got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        self._check_input_dim(x)
        c = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        xd = x.double()
        stats = torch.cat([xd.sum(dims), (xd * xd).sum(dims), xd.new_tensor([x.numel() // c])])
        stats = all_reduce_sum(stats)
        n = stats[2 * c]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.mul_(1 - m).add_(mean.to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = ((xd - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)).to(x.dtype)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def _sync_copy(bn: _BatchNorm, cls: type) -> _BatchNorm:
    """A ``cls`` batch norm sharing ``bn``'s parameters and buffers (same tensors)."""
    new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    with torch.no_grad():
        if bn.affine:
            new.weight, new.bias = bn.weight, bn.bias
        new.running_mean, new.running_var = bn.running_mean, bn.running_var
        new.num_batches_tracked = bn.num_batches_tracked
    new.train(bn.training)
    if hasattr(bn, "qconfig"):
        new.qconfig = bn.qconfig
    return new


def _swap_batchnorms(model: nn.Module, cls: type) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every trainable batch-norm layer of ``model`` (not the root) by a
    ``cls`` sharing its tensors; returns ``(parent, name, original)`` to put
    them back. Frozen layers (affine parameters without gradient, as with
    ``freeze_body``) stay as they are, for fastai's ``BnFreeze`` to keep in
    eval mode."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            frozen = child.affine and not child.weight.requires_grad if isinstance(child, _BatchNorm) else False
            if (isinstance(child, _BatchNorm) and not frozen
                    and not isinstance(child, (nn.SyncBatchNorm, CPUSyncBatchNorm))):
                setattr(parent, name, _sync_copy(child, cls))
                swapped.append((parent, name, child))
    return swapped


class DataParallel(Callback):
    """fastai callback: train ``learn.model`` with torch ``DistributedDataParallel``.

    Needs an initialised process group (:func:`init_distributed`);
    ``make_learner`` adds it when one with more than one process is there.
    At the start of each fit it switches batch norm to global-batch
    statistics (see the module docstring), wraps the model in DDP (``device_ids``
    = this rank's GPU; parameters broadcast from rank 0) and shards the
    training loader; after the fit it undoes all three. Order 11: after
    fastai's TrainEvalCallback, before the Recorder and progress bars (which
    then count the rank's batches).

    ``sync_batchnorm=False`` keeps per-rank batch-norm statistics (plain DDP:
    cheaper, no longer equal to one process with the global batch; rank 0's
    running statistics are broadcast at every forward);
    ``ddp_kwargs`` go to ``DistributedDataParallel``.
    """

    order = 11

    def __init__(self, sync_batchnorm: bool = True, **ddp_kwargs: Any) -> None:
        self.sync_batchnorm = bool(sync_batchnorm)
        self.ddp_kwargs = dict(ddp_kwargs)
        self._swapped: list = []
        self._sharded = None

    def before_fit(self) -> None:
        if not is_distributed():
            raise RuntimeError("DataParallel: no torch.distributed process group with more than one "
                               "process; launch with torchrun or call init_distributed() first")
        learn = self.learn
        rank, world = get_rank(), get_world_size()
        train_dl = learn.dls.train
        if hasattr(train_dl, "set_shard"):
            train_dl.set_shard(rank, world)  # raises when the global batch is larger than the data
            self._sharded = train_dl
        model = learn.model
        dev = next(model.parameters()).device
        cls = nn.SyncBatchNorm if dev.type == "cuda" else CPUSyncBatchNorm
        self._swapped = _swap_batchnorms(model, cls) if self.sync_batchnorm else []
        # global-batch statistics: the running statistics agree already, no buffer broadcast per
        # forward; per-rank statistics: DDP's default, rank 0's buffers broadcast at every forward
        sync = not self.sync_batchnorm
        kw = dict(forward_sync_buffers=sync) if _DDP_HAS_FORWARD_SYNC else dict(broadcast_buffers=sync)
        if dev.type == "cuda":
            kw["device_ids"], kw["output_device"] = [dev.index], dev.index
        kw.update(self.ddp_kwargs)
        learn.model = DistributedDataParallel(model, **kw)

    def after_fit(self) -> None:
        self._undo()

    def _undo(self) -> None:
        learn = self.learn
        if isinstance(learn.model, DistributedDataParallel):
            learn.model = learn.model.module
        for parent, name, original in reversed(self._swapped):
            original.train(getattr(parent, name).training)
            setattr(parent, name, original)
        self._swapped = []
        if self._sharded is not None:
            self._sharded.set_shard(0, 1)
            self._sharded = None
