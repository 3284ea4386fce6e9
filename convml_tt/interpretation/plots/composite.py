"""A quick look at one composite (``convml_tt plot composite COMPOSITE.nc``):
its display image (the stretch its tiles get) north up on latitude /
longitude axes over the domain it was made for, titled with the
composite's recipe, platform, domain and scan time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["composite_quicklook", "composite_title"]


def _domain(ds: xr.Dataset, src: str) -> tuple[float, float, float, float]:
    """``(lon_min, lat_min, lon_max, lat_max)`` the composite was made for
    (its ``domain`` attribute)."""
    try:
        lon0, lat0, lon1, lat1 = (float(v) for v in str(ds.attrs["domain"]).split())
    except (KeyError, ValueError):
        raise ValueError(f"{src} records no domain (a 'domain' attribute of lon_min lat_min lon_max lat_max); "
                         f"give a composite made by `convml_tt composite`") from None
    return lon0, lat0, lon1, lat1


def composite_title(ds: xr.Dataset, domain: tuple[float, float, float, float]) -> str:
    """``"GOES-17 ABI C13 composite, lon -125.5..-122, lat 33..36.5, 2019-10-27 20:00 UTC"``."""
    import pandas as pd

    when = str(ds.attrs.get("time_coverage_start", ""))
    if when:
        when = pd.Timestamp(when).strftime("%Y-%m-%d %H:%M UTC")
    var = ds.attrs.get("composite_variable")
    units = str(ds[var].attrs.get("units", "")) if var in ds else ""
    what = str(ds.attrs.get("title") or "composite") + (f" ({units})" if units and units != "1" else "")
    lon0, lat0, lon1, lat1 = domain
    return f"{what}, lon {lon0:g}..{lon1:g}, lat {lat0:g}..{lat1:g}" + (f", {when}" if when else "")


def composite_quicklook(composite: Any, title: str | None = None, max_pixels: int = 900):
    """The figure of one composite (path or Dataset from
    :func:`~convml_tt.data.composites.build.load_composite`): the display
    image resampled onto a regular lat/lon grid (at most ``max_pixels`` per
    side; transparent off the scan) over the composite's domain, north up,
    and a title naming recipe, platform, domain and scan time
    (:func:`composite_title`). Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    from ...data.composites.build import load_composite
    from .maps import background

    src = f"composite {str(composite)!r}" if isinstance(composite, (str, Path)) else "the composite"
    ds = composite if isinstance(composite, xr.Dataset) else load_composite(composite, load=True)
    lon0, lat0, lon1, lat1 = domain = _domain(ds, src)
    extent = (lon0, lon1, lat0, lat1)
    image = background(ds, extent, max_pixels=max_pixels)
    if image is None:
        raise ValueError(f"{src} holds no pixel inside its own domain {domain}; make it again")
    aspect = 1.0 / np.cos(np.radians((lat0 + lat1) / 2))
    ratio = (lon1 - lon0) / ((lat1 - lat0) * aspect)
    fig, ax = plt.subplots(figsize=(float(np.clip(6.0 * ratio, 4.0, 12.0)) + 0.8, 6.6), layout="constrained")
    ax.set_facecolor("0.85")
    ax.imshow(image, extent=extent, origin="upper", interpolation="bilinear")
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect(aspect)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(title or composite_title(ds, domain), fontsize=10, wrap=True)
    return fig
