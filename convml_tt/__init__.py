"""convml_tt: unsupervised learning of cloud organisation from GOES ABI imagery.

The package is organised in three rooms, each depending only on the ones
below it:

* :mod:`convml_tt.data` -- GOES ABI files (catalogue, download, navigation,
  composites, tiles, triplet datasets, synthetic scenes). Free of torch
  except :mod:`convml_tt.data.dataset`.
* :mod:`convml_tt.architectures` -- the triplet-trained ResNet encoder.
* :mod:`convml_tt.interpretation` -- embeddings, plots and quality metrics.

Importing ``convml_tt`` itself is light: it does not import torch.
"""

__version__ = "0.1.0"
