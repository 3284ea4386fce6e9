"""Mixed precision: which autocast a device gets, and bf16 autocast on CPU."""
from __future__ import annotations

import torch

from ._fastai import Callback

__all__ = ["cpu_has_native_bf16", "CPUAutocast", "resolve_precision"]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 dot-product instructions (x86 ``avx512_bf16``
    or ``amx_bf16``), where bf16 autocast roughly doubles convolution throughput.

    On CPUs without them bf16 is emulated and slower than fp32. Reads the
    Linux ``/proc/cpuinfo`` flags; False elsewhere.
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


class CPUAutocast(Callback):
    """bf16 autocast of the forward pass on CPU (fastai's ``MixedPrecision`` is CUDA-only).

    The model's forward runs under ``torch.autocast("cpu", torch.bfloat16)``;
    the predictions are cast back to float32 before the loss, so the loss,
    gradients of the loss, weights and optimiser state stay float32 (bf16 has
    float32's exponent range, so no gradient scaling is needed).
    """

    order = 10

    def __init__(self) -> None:
        self._ctx = None

    def before_batch(self) -> None:
        self._ctx = torch.autocast("cpu", dtype=torch.bfloat16)
        self._ctx.__enter__()

    def _leave(self) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(None, None, None)
            self._ctx = None

    def after_pred(self) -> None:
        self._leave()
        self.learn.pred = self.learn.pred.float()

    def after_batch(self) -> None:
        self._leave()  # when a batch was cancelled before its prediction

    after_cancel_batch = after_batch


def resolve_precision(mixed_precision: str | bool | None, dev: torch.device) -> str | None:
    """``"bf16"``, ``"fp16"`` or None (float32) for ``make_learner``'s ``mixed_precision`` on ``dev``."""
    mp = mixed_precision
    if mp in (False, "no", "none", "off", "fp32"):
        return None
    if mp is None or mp is True or mp == "auto":
        if dev.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if dev.type == "cpu" and cpu_has_native_bf16() else None
    if mp not in ("bf16", "fp16"):
        raise ValueError(f"mixed_precision={mixed_precision!r}; use None (auto), 'bf16', 'fp16' or 'no'")
    if dev.type == "cuda" or (mp == "bf16" and dev.type == "cpu"):
        return mp
    raise ValueError(f"mixed_precision={mixed_precision!r} is not available on {dev} "
                     f"(fp16 needs CUDA; bf16 works on CUDA and CPU); use 'bf16' or 'no'")
