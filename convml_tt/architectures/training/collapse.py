"""The collapse guard: is the encoder still telling tiles apart?

Self-supervised methods can *collapse*: every tile gets (nearly) the same
embedding and the loss still looks reasonable (BYOL and SimCLR with a too
high learning rate, a triplet loss whose margin is met by shrinking
everything). :class:`CollapseGuard` embeds a fixed probe of up to 64
validation tiles (training tiles without a validation part) after each
epoch's training, with the encoder in eval mode, and reports

``emb_std``
    the spread: the per-dimension standard deviation over the probe tiles,
    averaged over dimensions (embedding units);
``emb_cos``
    the mean cosine similarity of the probe embeddings, pairs of distinct tiles.

Both are columns of fastai's epoch table and ``learn.collapse_guard.history``.
A warning (logging) says when they approach collapse (the spread below 2 %
of the embeddings' scale, or mean cosine above 0.98); when the spread is
below 0.1 % of the scale (all embeddings equal) the run has *collapsed*,
and :func:`check_collapse` refuses to save it as a trained model.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..model_file import encoder_of
from ._fastai import Callback

__all__ = ["CollapseGuard", "TrainingCollapsed", "check_collapse", "embedding_spread", "PROBE_TILES"]

log = logging.getLogger(__name__)

#: tiles in the probe
PROBE_TILES = 64
#: relative spread (spread / scale) below which a run has collapsed, and below which it is warned about
COLLAPSED, WARN_SPREAD, WARN_COS = 1e-3, 0.02, 0.98


class TrainingCollapsed(ValueError):
    """A training run whose embeddings collapsed (all equal); the model was not saved."""


def embedding_spread(z: torch.Tensor) -> dict:
    """``{"std", "relative", "cos"}`` of embeddings ``z`` ``(N, E)``, N >= 2: mean per-dimension
    standard deviation, that over the root-mean-square value (the embeddings' scale) and the mean
    cosine similarity of distinct pairs."""
    z = z.double()
    std = float(z.std(dim=0).mean())
    scale = float(z.pow(2).mean().sqrt())
    zn = torch.nn.functional.normalize(z, dim=1)
    n = len(z)
    cos = float(((zn @ zn.T).sum() - (zn * zn).sum()) / (n * (n - 1)))
    return {"std": std, "relative": std / scale if scale > 0 else 0.0, "cos": cos}


class CollapseGuard(Callback):
    """Logs ``emb_std`` and ``emb_cos`` every epoch and warns when they collapse (see the module).
    Give the Learner its :attr:`metrics` (the two columns) beside the method's."""

    order = 40  # before the Recorder (50), which reads the metric values after validation

    def __init__(self) -> None:
        from fastai.metrics import ValueMetric

        self.history: list[dict] = []
        self._probe: torch.Tensor | None = None
        self._last: dict = {}
        self.metrics = [ValueMetric(lambda: self._last.get("std"), "emb_std"),
                        ValueMetric(lambda: self._last.get("cos"), "emb_cos")]

    def after_create(self) -> None:
        self.learn.collapse_guard = self

    def _probe_tiles(self) -> torch.Tensor:
        if self._probe is None:
            dls = self.learn.dls
            ds = dls.valid.dataset if len(dls.valid.dataset) >= 2 else dls.train.dataset
            n = min(PROBE_TILES, len(ds))
            raw = ds.load_batch(list(range(n)))
            tiles = raw[:, 0] if raw.ndim == 5 else raw  # the anchors of triplets
            tf = dls.train.transform
            self._probe = tf.normalize(tf.to_float(tiles.to(dls.device)))
        return self._probe

    def before_validate(self) -> None:
        enc = encoder_of(self.learn)
        x = self._probe_tiles()
        if len(x) < 2:
            return
        modes = [(m, m.training) for m in enc.modules()]
        try:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                enc.eval()
                z = enc(x.to(next(enc.parameters()).device)).float()
        finally:
            for m, mode in modes:
                m.training = mode
        self._last = embedding_spread(z)
        self._last["epoch"] = int(getattr(self.learn, "epoch", 0)) + 1
        self.history.append(dict(self._last))
        rel, cos = self._last["relative"], self._last["cos"]
        log.info("epoch %d: embedding spread %.4g (%.3g of the scale), mean cosine %.3f",
                 self._last["epoch"], self._last["std"], rel, cos)
        if rel < COLLAPSED:
            log.warning("epoch %d: the embeddings have collapsed: all %d probe tiles get the same embedding "
                        "(spread %.3g of the scale)", self._last["epoch"], len(x), rel)
        elif rel < WARN_SPREAD or cos > WARN_COS:
            log.warning("epoch %d: the embeddings are collapsing: spread %.3g of the scale, mean cosine "
                        "%.3f between tiles", self._last["epoch"], rel, cos)

    @property
    def collapsed(self) -> bool:
        """Whether the last epoch's embeddings were all equal."""
        return bool(self.history) and self.history[-1]["relative"] < COLLAPSED


def check_collapse(learn, out: str | Path) -> None:
    """A :class:`TrainingCollapsed` error when the run of ``learn`` ended collapsed (the model file
    ``out`` is then not written)."""
    guard = getattr(learn, "collapse_guard", None)
    if guard is None or not guard.collapsed:
        return
    last = guard.history[-1]
    raise TrainingCollapsed(
        f"training collapsed: after epoch {last['epoch']} every probe tile gets the same embedding (spread "
        f"{last['std']:.3g}, {last['relative']:.2g} of the embeddings' scale; mean cosine {last['cos']:.4f}), "
        f"so the model was not written to {str(out)!r}; train again with a lower --lr, another --method or "
        f"more varied tiles")
