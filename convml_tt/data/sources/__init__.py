"""Sources of scenes: one package or module per kind of input (see :mod:`~convml_tt.data.sources.base`)."""
