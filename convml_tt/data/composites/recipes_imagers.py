"""Recipes of other imagers than ABI (``Recipe.sensor`` names their band
table, :mod:`convml_tt.data.sources.bands`); registered on import (by
:mod:`convml_tt.data.composites`).

- ``ahi_truecolor`` (Himawari AHI): red B03 (0.64 um), green B02 (0.51 um:
  AHI's real green band, no simulated green), blue B01 (0.47 um);
- ``ahi_B13``: AHI's clean infrared window B13 (10.4 um), brightness temperature;
- ``seviri_natural`` (Meteosat SEVIRI, which has no blue or green band):
  EUMETSAT's natural-colour RGB, red IR_016 (1.64 um), green VIS008
  (0.81 um), blue VIS006 (0.635 um);
- ``seviri_IR_108``: SEVIRI's infrared window IR_108 (10.8 um);
- ``fci_truecolor`` (MTG FCI): red vis_06 (0.64 um), green vis_05 (0.51 um,
  a real green band), blue vis_04 (0.444 um);
- ``fci_ir_105``: FCI's infrared window ir_105 (10.5 um).

The colour recipes store linear reflectance factors, sun-zenith corrected
by default (``sunz``) and sampled where the solar zenith angle is at most
:data:`~convml_tt.data.composites.recipes.DAYLIGHT_MAX_SZA` (80 degrees),
as ABI's ``truecolor``; the infrared ones brightness temperatures in K, day
and night. Cloud masks (:class:`~convml_tt.data.composites.recipes.CloudMask`,
for the organisation indices) carry the thresholds of the ABI recipes at
the nearest wavelength, which the same physics sets (docs/organisation.md):
at 0.64 um the sun-zenith corrected clear ocean is 0.03-0.07 and marine
stratocumulus above 0.2, so cloud is a reflectance above 0.10 (the
threshold of ABI ``truecolor``, red C02 0.64 um); in the 10.3-11.2 um
windows the clear ocean of the real GOES-17 scan off California was
288.5 K and marine stratocumulus tops 280-288 K, so cloud is a brightness
temperature below 285 K (ABI ``C13``/``C14``; regional: tropical clear sky
is ~296 K).
"""
from __future__ import annotations

from ..sources.bands import AHI_BANDS, FCI_BANDS, SEVIRI_BANDS
from ..sources.base import BandTable
from .enhance import GAMMA
from .recipes import DAYLIGHT_MAX_SZA, CloudMask, Recipe, register_recipe

__all__ = ["IMAGER_RECIPES", "VISIBLE_CLOUD_REFLECTANCE", "WINDOW_CLOUD_BT"]

#: cloud where the sun-zenith corrected 0.64 um reflectance factor exceeds this
VISIBLE_CLOUD_REFLECTANCE = 0.10
#: cloud where the infrared-window brightness temperature (K) is below this
WINDOW_CLOUD_BT = 285.0


def _colour(name: str, table: BandTable, rgb: tuple[str, str, str], what: str, mask_channel: str) -> Recipe:
    """A three-channel reflectance recipe: ``rgb`` = the red, green and blue bands of ``table``."""
    bands = [table.get(b) for b in rgb]
    listed = ", ".join(f"{c} {b.name} ({b.wavelength_um:g} um)" for c, b in zip(("red", "green", "blue"), bands))
    masked = bands[("red", "green", "blue").index(mask_channel)]
    return Recipe(
        name=name, bands=tuple(b.name for b in bands), sensor=table.sensor, variable="rgb",
        channels=("red", "green", "blue"), units="1",
        long_name=f"{what} reflectance factor ({listed})",
        attrs={"channel_bands": " ".join(b.name for b in bands),
               "display_stretch": f"uint8 = round(255 * clip(value, 0, 1) ** (1 / {GAMMA}))"},
        read_into={b.name: i for i, b in enumerate(bands)},
        description=f"{table.sensor.upper()} {what}: {listed} (reflectance factor)",
        sunz=True, max_sza=DAYLIGHT_MAX_SZA,
        cloud_mask=CloudMask(mask_channel, above=VISIBLE_CLOUD_REFLECTANCE, description=(
            f"{mask_channel} ({masked.name}, {masked.wavelength_um:g} um) reflectance > "
            f"{VISIBLE_CLOUD_REFLECTANCE:g}: ABI truecolor's threshold at 0.64 um; clear ocean 0.03-0.07, "
            f"stratocumulus > 0.2 (docs/organisation.md)")),
    )


def _window(name: str, table: BandTable, band: str) -> Recipe:
    """A one-band infrared-window recipe (brightness temperature, K)."""
    b = table.get(band)
    return Recipe(
        name=name, bands=(b.name,), sensor=table.sensor, units="K",
        long_name=f"{table.sensor.upper()} band {b.name} brightness temperature",
        description=f"{table.sensor.upper()} {b.name} ({b.wavelength_um:g} um) brightness temperature, "
                    f"the infrared window",
        cloud_mask=CloudMask(below=WINDOW_CLOUD_BT, description=(
            f"BT < {WINDOW_CLOUD_BT:g} K: ABI C13/C14's threshold (3.5 K below the 288.5 K clear ocean of the real "
            f"GOES-17 scan); marine Sc tops 280-288 K (regional: tropical clear sky is ~296 K)")),
    )


#: the recipes registered here, by name
IMAGER_RECIPES = {r.name: register_recipe(r) for r in (
    _colour("ahi_truecolor", AHI_BANDS, ("B03", "B02", "B01"), "true colour", "red"),
    _window("ahi_B13", AHI_BANDS, "B13"),
    _colour("seviri_natural", SEVIRI_BANDS, ("IR_016", "VIS008", "VIS006"), "natural colour", "blue"),
    _window("seviri_IR_108", SEVIRI_BANDS, "IR_108"),
    _colour("fci_truecolor", FCI_BANDS, ("vis_06", "vis_05", "vis_04"), "true colour", "red"),
    _window("fci_ir_105", FCI_BANDS, "ir_105"),
)}
