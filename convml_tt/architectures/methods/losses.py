"""Self-supervised losses on two batches of projections ``(z_a, z_b)``, each ``(B, D)``.

Each loss takes the two views' projections as lightly's do (``loss(z_a,
z_b)``), not a layout; the view methods' models return ``(B, k, D)`` and
the method's loss module unbinds it. Written here (about 60 lines) rather
than imported from lightly, whose package requires pytorch-lightning and
hydra-core; the formulas follow the papers and lightly's implementations
(``NTXentLoss``, ``VICRegLoss``, ``NegativeCosineSimilarity``,
``BarlowTwinsLoss``), with the same default hyper-parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..collectives import all_gather_cat, get_rank

__all__ = ["nt_xent", "vicreg", "negative_cosine", "barlow_twins"]


def nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's NT-Xent: each view's positive is the other view of its tile, the
    ``2B - 2`` other projections of the (global, under DDP) batch are negatives."""
    a, b = F.normalize(z_a.float(), dim=1), F.normalize(z_b.float(), dim=1)
    n = a.shape[0]
    if torch.is_grad_enabled():
        ga, gb = all_gather_cat(a), all_gather_cat(b)
    else:
        ga, gb = a, b
    offset = 0 if ga.shape[0] == n else get_rank() * n  # this rank's rows of the global batch
    out = torch.cat([a, b])  # (2B, D)
    every = torch.cat([ga, gb])  # (2N, D)
    logits = out @ every.T / temperature
    big_n = ga.shape[0]
    idx = torch.arange(n, device=a.device) + offset
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(n), idx] = True
    self_mask[torch.arange(n) + n, idx + big_n] = True
    logits = logits.masked_fill(self_mask, float("-inf"))
    target = torch.cat([idx + big_n, idx])
    return F.cross_entropy(logits, target)


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


def vicreg(z_a: torch.Tensor, z_b: torch.Tensor, lambda_param: float = 25.0, mu_param: float = 25.0,
           nu_param: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """VICReg: ``lambda`` x invariance (MSE between views) + ``mu`` x variance (hinge on
    each dimension's std at 1) + ``nu`` x covariance (off-diagonal squares / D), per view."""
    a, b = z_a.float(), z_b.float()
    inv = F.mse_loss(a, b)
    var = cov = 0.0
    for z in (a, b):
        std = torch.sqrt(z.var(dim=0) + eps)
        var = var + F.relu(1.0 - std).mean() / 2
        zc = z - z.mean(dim=0)
        c = (zc.T @ zc) / max(z.shape[0] - 1, 1)
        cov = cov + _off_diagonal(c).pow(2).sum() / z.shape[1]
    return lambda_param * inv + mu_param * var + nu_param * cov


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """BYOL's loss of a prediction ``p`` against a target projection ``z`` (no gradient through ``z``):
    ``2 - 2 cos(p, z)``, averaged."""
    return (2 - 2 * F.cosine_similarity(p.float(), z.detach().float(), dim=1)).mean()


def barlow_twins(z_a: torch.Tensor, z_b: torch.Tensor, lambda_param: float = 5e-3) -> torch.Tensor:
    """Barlow Twins: the cross-correlation of the batch-standardised views pushed to the
    identity: ``sum (1 - c_ii)^2 + lambda sum_{i != j} c_ij^2``."""
    a, b = z_a.float(), z_b.float()
    n = a.shape[0]
    a = (a - a.mean(0)) / (a.std(0) + 1e-5)
    b = (b - b.mean(0)) / (b.std(0) + 1e-5)
    c = a.T @ b / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    return on + lambda_param * _off_diagonal(c).pow(2).sum()
