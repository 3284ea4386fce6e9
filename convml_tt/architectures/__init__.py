"""Architectures room: the triplet-trained encoder (needs torch and fastai)."""
