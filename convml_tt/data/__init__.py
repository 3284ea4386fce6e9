"""Data room: GOES ABI files, composites, tiles and triplet datasets.

Nothing here imports torch except :mod:`convml_tt.data.dataset`, so fetching
and compositing work on nodes without a GPU stack.
"""
