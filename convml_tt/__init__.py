"""convml_tt: unsupervised learning of cloud organisation from GOES ABI imagery.

The package is organised in three rooms, each depending only on the ones
below it:

* :mod:`convml_tt.data` -- GOES ABI files (catalogue, download, navigation,
  composites, tiles, triplet datasets, synthetic scenes). Free of torch
  except :mod:`convml_tt.data.dataset`.
* :mod:`convml_tt.architectures` -- the triplet-trained ResNet encoder.
* :mod:`convml_tt.interpretation` -- embeddings, plots and quality metrics.

Importing ``convml_tt`` itself is light: it does not import torch. It sets
``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets it (see
:data:`OMP_WAIT_POLICY`).
"""

import os as _os

__version__ = "0.1.0"

#: OpenMP's wait policy for torch's CPU threads, set before torch loads
#: (``os.environ.setdefault``: a value the user set wins; no effect when
#: torch was imported first). By default OpenMP threads spin while they wait
#: for work; on a 2-core machine with two other busy processes a ResNet-18
#: training step at 64 px then took 2.5 s with torch's 2 threads against
#: 1.3 s with passive waiting (a spinning thread takes the core its partner
#: needs), and a demo epoch 466 s against 140 s; on the same machine idle,
#: 0.58 s against 0.64 s (bench/threads.py, docs/benchmarks.md).
OMP_WAIT_POLICY = _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
