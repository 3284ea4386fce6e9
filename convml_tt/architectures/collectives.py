"""Autograd-aware collectives for data-parallel training (torch.distributed).

Used by the loss (in-batch negatives of the global batch) and by the CPU
batch-norm synchronisation of :mod:`.training.distributed`. Every function
here is a no-op (returns its input) when no process group with more than one
process is initialised, so single-process code is unaffected.

The gradients follow the convention of torch ``DistributedDataParallel``:
each rank ``r`` computes a loss ``L_r`` on its part of the batch and DDP
averages the parameter gradients, so the objective is ``(1/N) sum_r L_r``.
A collective whose output feeds every rank's loss must therefore pass back
to rank ``r`` the *sum* over ranks of the gradients with respect to rank
``r``'s input; the backward passes here do exactly that (an all-reduce of
the incoming gradient), which works on every backend (gloo has no
reduce-scatter).
"""
from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "get_rank", "get_world_size", "all_reduce_sum", "all_gather_cat"]


def is_distributed() -> bool:
    """True when a torch.distributed process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank in the default process group (0 without one)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """Processes in the default process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.detach().clone().contiguous()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        g = grad.detach().clone().contiguous()
        dist.all_reduce(g)  # every rank's loss used the sum: d(sum_r L_r)/d x_r
        return g


class _AllGatherCat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        g = grad.detach().clone().contiguous()
        dist.all_reduce(g)  # sum over the ranks whose loss used our rows
        return g[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of ``x`` over all ranks (same shape on every rank), differentiable.

    The gradient sent back to each rank is the sum of all ranks' gradients of
    the result (see the module docstring). Without a multi-process group:
    ``x`` itself."""
    if not is_distributed():
        return x
    return _AllReduceSum.apply(x)


def all_gather_cat(x: torch.Tensor) -> torch.Tensor:
    """The ``x`` of every rank concatenated along axis 0 in rank order,
    ``(N * n, ...)`` from ``(n, ...)`` per rank, differentiable.

    Every rank must pass the same shape (training batches are equal: the
    sharded loader drops the incomplete last global batch). Rank ``r``'s rows
    are ``[r * n, (r + 1) * n)`` of the result; the gradient of those rows,
    summed over ranks, flows back to rank ``r``'s ``x``. Without a
    multi-process group: ``x`` itself."""
    if not is_distributed():
        return x
    return _AllGatherCat.apply(x)
