"""The parts of fastai the training modules use, imported once, quietly.

fastai.layers applies ``torch.jit.script`` at import, which recent torch
deprecates with a FutureWarning about fastai's code, not the user's.
"""
from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    import fastai.callback.fp16  # noqa: F401  (Learner.to_fp16 / to_bf16)
    import fastai.callback.progress  # noqa: F401  (progress bars, Learner.no_bar)
    import fastai.callback.schedule  # noqa: F401  (Learner.fit_one_cycle, lr_find)
    from fastai.callback.core import CancelFitException, Callback
    from fastai.callback.training import BnFreeze
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.optimizer import Adam
    from fastai.torch_core import set_seed
    from fastcore.foundation import L

__all__ = ["Callback", "CancelFitException", "BnFreeze", "DataLoaders", "DataLoader", "Learner", "Adam", "set_seed", "L"]
