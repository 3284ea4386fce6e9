"""Band tables of imagers (data only; :class:`~convml_tt.data.sources.base.BandTable`):
central wavelengths in micrometres, native resolution in km at the
sub-satellite point, reflective bands in reflectance factor (``"1"``),
emissive ones in brightness temperature (K).

- :data:`AHI_BANDS`: Himawari-8/9 AHI ``B01`` .. ``B16`` (JMA; B02 is a real
  green band at 0.51 um, B03 the red band at 0.64 um and 0.5 km);
- :data:`SEVIRI_BANDS`: Meteosat-8..11 SEVIRI ``VIS006`` .. ``IR_134`` at
  3 km and the broadband ``HRV`` at 1 km (EUMETSAT);
- :data:`FCI_BANDS`: MTG-I FCI ``vis_04`` .. ``ir_133`` at their FDHSI
  resolutions (1 km solar, 2 km thermal; EUMETSAT).

Only :mod:`~convml_tt.data.sources.base` is imported, so recipes can name
these bands without loading any reader.
"""
from __future__ import annotations

from .base import Band, BandTable

__all__ = ["AHI_BANDS", "SEVIRI_BANDS", "FCI_BANDS", "band_table"]


def _table(sensor: str, rows, numbered: bool = False) -> BandTable:
    """A band table from ``(name, wavelength_um, resolution_km, emissive)`` rows."""
    return BandTable(sensor, (
        Band(name, wl, "emissive" if emissive else "reflective", res, "K" if emissive else "1",
             number=k + 1 if numbered else None)
        for k, (name, wl, res, emissive) in enumerate(rows)))


#: Himawari-8/9 AHI (JMA, Himawari Standard Data User's Guide v1.3, table 1)
AHI_BANDS = _table("ahi", [
    ("B01", 0.47, 1.0, False), ("B02", 0.51, 1.0, False), ("B03", 0.64, 0.5, False),
    ("B04", 0.86, 1.0, False), ("B05", 1.6, 2.0, False), ("B06", 2.3, 2.0, False),
    ("B07", 3.9, 2.0, True), ("B08", 6.2, 2.0, True), ("B09", 6.9, 2.0, True),
    ("B10", 7.3, 2.0, True), ("B11", 8.6, 2.0, True), ("B12", 9.6, 2.0, True),
    ("B13", 10.4, 2.0, True), ("B14", 11.2, 2.0, True), ("B15", 12.4, 2.0, True),
    ("B16", 13.3, 2.0, True),
], numbered=True)
#: Meteosat-8..11 SEVIRI (EUMETSAT, MSG Level 1.5 Image Data Format Description)
SEVIRI_BANDS = _table("seviri", [
    ("VIS006", 0.635, 3.0, False), ("VIS008", 0.81, 3.0, False), ("IR_016", 1.64, 3.0, False),
    ("IR_039", 3.92, 3.0, True), ("WV_062", 6.25, 3.0, True), ("WV_073", 7.35, 3.0, True),
    ("IR_087", 8.7, 3.0, True), ("IR_097", 9.66, 3.0, True), ("IR_108", 10.8, 3.0, True),
    ("IR_120", 12.0, 3.0, True), ("IR_134", 13.4, 3.0, True), ("HRV", 0.75, 1.0, False),
], numbered=True)
#: MTG-I FCI (EUMETSAT, FCI L1c Product User Guide; FDHSI resolutions)
FCI_BANDS = _table("fci", [
    ("vis_04", 0.444, 1.0, False), ("vis_05", 0.51, 1.0, False), ("vis_06", 0.64, 1.0, False),
    ("vis_08", 0.865, 1.0, False), ("vis_09", 0.914, 1.0, False), ("nir_13", 1.38, 1.0, False),
    ("nir_16", 1.61, 1.0, False), ("nir_22", 2.25, 1.0, False), ("ir_38", 3.8, 2.0, True),
    ("wv_63", 6.3, 2.0, True), ("wv_73", 7.35, 2.0, True), ("ir_87", 8.7, 2.0, True),
    ("ir_97", 9.66, 2.0, True), ("ir_105", 10.5, 2.0, True), ("ir_123", 12.3, 2.0, True),
    ("ir_133", 13.3, 2.0, True),
])


def band_table(sensor: str) -> BandTable:
    """The band table of ``sensor`` (``ahi``, ``seviri``, ``fci``)."""
    tables = {t.sensor: t for t in (AHI_BANDS, SEVIRI_BANDS, FCI_BANDS)}
    if sensor not in tables:
        raise ValueError(f"no band table for the sensor {sensor!r} here; these have one: {', '.join(tables)}")
    return tables[sensor]
