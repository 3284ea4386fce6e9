"""Synthetic GOES ABI L1b scenes with known cloud-organisation regimes.

No real GOES visible-band data can be downloaded everywhere this package is
used (tests, demo, benchmarks), so it writes *faithful* stand-ins: ABI L1b
radiance files for the reflective bands 1, 2 and 3 (0.47, 0.64 and 0.86 um
at 1, 0.5 and 1 km) with the real file names, variables, attributes,
packing and fixed-grid geometry, into the source-cache layout
``{data_root}/sources/goes{satellite}/{key}`` exactly where fetched files go.
Every later step (catalogue, composite, triplets, training) treats them like
downloaded files; only the regime *label map* written beside them is extra.

Regimes
-------
:data:`REGIMES` names the labels; the index of a name is its integer label
(label 0 is cloud-free ocean, ``clear``):

=====  ===============  ===========  ==========================================
label  name             cloud frac.  organisation
=====  ===============  ===========  ==========================================
0      clear            0.02         dark ocean with a very few tiny cumuli
1      sugar            0.12         dusting of small (1-3 km), dim, sparse
                                     cumuli, evenly spread
2      gravel           0.30         cumulus clumps (2-5 km) on arcs and rings
                                     around 15-40 km cold pools
3      flowers          0.30         bright 20-60 km patches, regularly spaced,
                                     with wide clear gaps
4      fish             0.30         elongated (hundreds of km), narrow,
                                     skeletal bands of cloud, ragged edges
5      stratocumulus    0.88         closed-cell deck: bright 15-30 km cells
                                     with darker thin rims and a few rifts
=====  ===============  ===========  ==========================================

``gravel``, ``flowers`` and ``fish`` have the *same* nominal cloud fraction
(0.30, exactly, within their regions at 0.5 km), so a model can only tell
them apart by spatial organisation (object size, shape and arrangement),
which is what the later quality evaluation is meant to measure. Cloud
fraction is the fraction of band-2 (0.64 um) pixels of a region with
reflectance factor above :data:`CLOUD_REFLECTANCE_THRESHOLD` (0.10); each
scene varies it, the cloud brightness and the size of all cloud objects
from day to day (:func:`day_to_day`), and records the factors in its label
map.

Modules
-------
- :mod:`.regimes`: the regimes, their label maps (:func:`load_regime_labels`,
  :func:`regime_at`) and :class:`RegimeLabeler` for triplet tiles;
- :mod:`.geometry`: the sector on the ABI fixed grid (:func:`sector_geometry`);
- :mod:`.textures`: random cloud textures;
- :mod:`.fields`: regime layout, day-to-day weather and the reflectance of a
  scene in memory (:func:`make_scene_fields`);
- :mod:`.l1b`: the ABI L1b file writer (:func:`write_abi_l1b`);
- :mod:`.scenes`: :func:`write_synthetic_scenes`, band files and label map
  of each scan time.

Files
-----
One L1b file per band (:mod:`.l1b`); the sector lies on the real full-disk
fixed grid, its corners snapped to the 2 km grid as real mesoscale sectors
are. The label map, ``convml_tt-synthetic-labels_{sector}_G{sat}_s{start}.nc``
beside the band files (its name does not start with ``OR_ABI``, so catalogue
queries skip it), holds ``regime`` (int8, ``-1`` off the Earth's disk) on
the 1 km grid of the scene.

Sunlight: the reflectance fields are the pattern with the Sun overhead;
the radiance written carries the cosine of the solar zenith angle of each
pixel at the scan start (:func:`illumination`), as a real scene does, so
the sun-zenith-corrected composites (true colour by default) give back the
pattern and the uncorrected reflectance factor is ``pattern * cos(SZA)``
(the default scenes, 14:00 UTC near 15N 50W, are lit at SZA ~40-50 degrees).

Round trips (tested): reflectance read back through
:func:`convml_tt.data.sources.goes_abi.calibrate` equals the generated field times
``illumination`` within half a packing step (band 1: ~6e-4, band 2:
1.5e-4, band 3: ~6e-4); satpy's
``abi_l1b`` reader (0.60) opens the files, its reflectances (percent) agree
with ``convml_tt.data.sources.goes_abi`` to float32 rounding (relative 1e-5; measured
max 8e-6 %) and its longitudes/latitudes within 1e-5 degrees (measured
~3e-6: satpy decodes the int16 scan angles in float64, xarray in float32).
"""
from __future__ import annotations

from .fields import (
    CLOUD_GAIN,
    DAY_TO_DAY,
    DRIFT_EPOCH,
    DRIFT_KMH,
    OCEAN_REFLECTANCE,
    DayToDay,
    SceneFields,
    cloud_fraction_by_regime,
    day_to_day,
    make_scene_fields,
)
from .geometry import SATELLITE_POSITIONS, SPACING_1KM, SectorGeometry, sector_geometry
from .l1b import (
    BAND_CONSTANTS,
    CHUNK,
    SCAN_SECONDS,
    SCENE_IDS,
    earth_sun_distance_au,
    kappa0_for,
    write_abi_l1b,
)
from .regimes import (
    CLOUD_FRACTION,
    CLOUD_REFLECTANCE_THRESHOLD,
    LABEL_PREFIX,
    REGIMES,
    RegimeLabeler,
    label_path_for,
    load_regime_labels,
    regime_at,
)
from .scenes import SyntheticScene, illumination, write_synthetic_scenes

__all__ = [
    "REGIMES",
    "CLOUD_FRACTION",
    "CLOUD_REFLECTANCE_THRESHOLD",
    "SyntheticScene",
    "SceneFields",
    "SectorGeometry",
    "sector_geometry",
    "make_scene_fields",
    "DAY_TO_DAY",
    "DayToDay",
    "day_to_day",
    "write_synthetic_scenes",
    "illumination",
    "write_abi_l1b",
    "load_regime_labels",
    "regime_at",
    "cloud_fraction_by_regime",
    "label_path_for",
    "RegimeLabeler",
]
