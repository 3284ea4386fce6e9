"""The options of surface selection and cloud thresholds (triplets, map)."""
from __future__ import annotations


def _threshold(text: str) -> float:
    import argparse

    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (a threshold in the recipe's mask units: "
                                         f"reflectance factor 0-1.5 or brightness temperature 150-350 K)")


def add_index_options(p, what: str, wavelet: bool = False) -> None:
    """``--surface``, ``--cloud-threshold`` (and ``--wavelet-indices``) on parser ``p``;
    ``what``: the things --surface selects ("tiles are drawn", "cells are mapped")."""
    from ..data.surface import SURFACE_CHOICES

    p.add_argument("--surface", choices=SURFACE_CHOICES, default=None,
                   help=f"{what} only over this surface (GLOBE 1 km land/sea mask: ocean or land with at most "
                        f"1 %% of the other; default any)")
    p.add_argument("--cloud-threshold", type=_threshold, default=None, metavar="VALUE",
                   help="cloud-mask threshold of the organisation indices for every scene, in the units of the "
                        "recipe's mask plane (e.g. 0.2 for C01 reflectance, 285 for C13 in K); default: each "
                        "scene's own, from its clear-sky peak over ocean and over land (docs/organisation.md)")
    if wavelet:
        p.add_argument("--wavelet-indices", action="store_true", default=None,
                       help="also store the wavelet organisation indices WOI1-3 per tile (~8 ms per 256 px tile)")
