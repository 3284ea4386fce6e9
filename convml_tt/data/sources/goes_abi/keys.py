"""Object keys of the NOAA GOES ABI buckets, and the checks of the names in them.

Object keys in the public buckets (``noaa-goes16`` ... ``noaa-goes19``) look
like::

    ABI-L1b-RadF/2020/036/14/OR_ABI-L1b-RadF-M6C01_G16_s20200361400212_e20200361409520_c20200361409569.nc
    <folder product>/<year>/<day of year>/<hour>/<file name>

where the file name is ``OR_<product>-M<scan mode>C<band>_G<satellite>_s<start>_e<end>_c<created>.nc``
and each time stamp is ``YYYYJJJHHMMSSt`` (``t`` = tenths of a second).
Mesoscale files say ``RadM1``/``RadM2`` in their name but live in the folder
``ABI-L1b-RadM``.

:class:`ABIKey` parses and formats these keys; :func:`product_folder` and
:func:`hour_prefix` name the bucket folders; a :class:`Scene` holds the keys
of the requested bands of one scan. The constants list the satellites,
products, sectors, scan modes and bands there are, and :data:`DATA_START`
the earliest time each satellite's bucket can hold.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Iterable, Union

SATELLITES = (16, 17, 18, 19)
#: products by processing level; others are easy to add here
PRODUCTS = {"Rad": "L1b", "CMIP": "L2", "MCMIP": "L2", "AOD": "L2"}
SECTORS = ("F", "C", "M1", "M2")
SCAN_MODES = (3, 4, 6)
BANDS = tuple(range(1, 17))

_FILENAME_RE = re.compile(
    r"^OR_ABI-(?P<level>L1b|L2)-(?P<product>[A-Za-z]+?)(?P<sector>F|C|M1|M2)"
    r"-M(?P<mode>\d)(?:C(?P<band>\d{2}))?_G(?P<sat>\d{2})"
    r"_s(?P<start>\d{14})_e(?P<end>\d{14})_c(?P<created>\d{14})\.nc$"
)


def parse_timestamp(stamp: str) -> dt.datetime:
    """Parse an ABI time stamp ``YYYYJJJHHMMSSt`` (t = tenths of a second).

    Returns a naive UTC :class:`datetime.datetime`.
    """
    if not re.fullmatch(r"\d{14}", stamp):
        raise ValueError(
            f"ABI time stamp {stamp!r} is not 14 digits 'YYYYJJJHHMMSSt'"
        )
    year, doy = int(stamp[0:4]), int(stamp[4:7])
    hour, minute, sec, tenth = (
        int(stamp[7:9]),
        int(stamp[9:11]),
        int(stamp[11:13]),
        int(stamp[13]),
    )
    if not 1 <= doy <= 366 or hour > 23 or minute > 59 or sec > 60:
        raise ValueError(f"ABI time stamp {stamp!r} has an impossible date or time")
    return dt.datetime(year, 1, 1) + dt.timedelta(
        days=doy - 1, hours=hour, minutes=minute, seconds=sec, milliseconds=100 * tenth
    )


def format_timestamp(time: dt.datetime) -> str:
    """Format a (naive UTC) datetime as an ABI time stamp ``YYYYJJJHHMMSSt``."""
    tenth = time.microsecond // 100_000
    return f"{time:%Y%j%H%M%S}{tenth}"


@dataclass(frozen=True, order=True)
class ABIKey:
    """One ABI file in a NOAA bucket, identified by its object key.

    Attributes
    ----------
    start, end, created:
        scan start, scan end and file creation times (naive UTC).
    satellite:
        16, 17, 18 or 19 (GOES-16 ... GOES-19).
    product:
        ``"Rad"`` (L1b radiance) or an L2 product such as ``"CMIP"``.
    sector:
        ``"F"`` (full disk), ``"C"`` (CONUS/PACUS), ``"M1"`` or ``"M2"`` (mesoscale).
    mode:
        ABI scan mode (3, 4 or 6).
    band:
        ABI band 1-16, or None for products without a band in the name.
    """

    start: dt.datetime
    satellite: int
    product: str
    sector: str
    band: int | None
    mode: int
    end: dt.datetime
    created: dt.datetime

    def __post_init__(self):
        if self.satellite not in SATELLITES:
            raise ValueError(
                f"unknown GOES satellite {self.satellite!r}: expected one of {SATELLITES}"
            )
        if self.product not in PRODUCTS:
            raise ValueError(
                f"unknown ABI product {self.product!r}: expected one of {sorted(PRODUCTS)}"
            )
        if self.sector not in SECTORS:
            raise ValueError(
                f"unknown ABI sector {self.sector!r}: expected one of {SECTORS}"
            )
        if self.band is not None and self.band not in BANDS:
            raise ValueError(f"unknown ABI band {self.band!r}: expected 1 to 16")
        if self.mode not in SCAN_MODES:
            raise ValueError(
                f"unknown ABI scan mode {self.mode!r}: expected one of {SCAN_MODES}"
            )

    # -- names ---------------------------------------------------------------
    @property
    def level(self) -> str:
        """Processing level, ``"L1b"`` or ``"L2"``."""
        return PRODUCTS[self.product]

    @property
    def bucket(self) -> str:
        """Name of the public bucket holding this file, e.g. ``noaa-goes16``."""
        return f"noaa-goes{self.satellite}"

    @property
    def folder_product(self) -> str:
        """Top-level folder, e.g. ``ABI-L1b-RadF`` or ``ABI-L1b-RadM`` for M1/M2."""
        return product_folder(self.product, self.sector)

    @property
    def filename(self) -> str:
        band = "" if self.band is None else f"C{self.band:02d}"
        return (
            f"OR_ABI-{self.level}-{self.product}{self.sector}-M{self.mode}{band}"
            f"_G{self.satellite}_s{format_timestamp(self.start)}"
            f"_e{format_timestamp(self.end)}_c{format_timestamp(self.created)}.nc"
        )

    @property
    def key(self) -> str:
        """The object key in the bucket (folders and file name)."""
        return f"{hour_prefix(self.product, self.sector, self.start)}/{self.filename}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> "ABIKey":
        """Parse an object key, a bucket URL (``s3://noaa-goes16/...``), a local
        cache path or a bare file name."""
        name = PurePosixPath(str(key).replace("\\", "/")).name
        m = _FILENAME_RE.match(name)
        if m is None:
            raise ValueError(
                f"{key!r} is not an ABI file name: expected "
                "'OR_ABI-<level>-<product><sector>-M<mode>C<band>_G<sat>_s<YYYYJJJHHMMSSt>"
                "_e<...>_c<...>.nc', e.g. "
                "'OR_ABI-L1b-RadF-M6C01_G16_s20200361400212_e20200361409520_c20200361409569.nc'"
            )
        product = m["product"]
        level = PRODUCTS.get(product)
        if level is not None and level != m["level"]:
            raise ValueError(f"{key!r}: product {product} is {level}, not {m['level']}")
        return cls(
            start=parse_timestamp(m["start"]),
            satellite=int(m["sat"]),
            product=product,
            sector=m["sector"],
            band=None if m["band"] is None else int(m["band"]),
            mode=int(m["mode"]),
            end=parse_timestamp(m["end"]),
            created=parse_timestamp(m["created"]),
        )

    def with_band(self, band: int) -> "ABIKey":
        """The same scan's key for another band (times unchanged)."""
        return replace(self, band=band)


def product_folder(product: str, sector: str) -> str:
    """Top-level folder in the bucket for a product and sector (``ABI-L1b-RadF``)."""
    if product not in PRODUCTS:
        raise ValueError(
            f"unknown ABI product {product!r}: expected one of {sorted(PRODUCTS)}"
        )
    if sector not in SECTORS:
        raise ValueError(f"unknown ABI sector {sector!r}: expected one of {SECTORS}")
    return f"ABI-{PRODUCTS[product]}-{product}{sector[0]}"


def hour_prefix(product: str, sector: str, time: dt.datetime) -> str:
    """Bucket folder holding the files whose scan starts in ``time``'s hour."""
    return f"{product_folder(product, sector)}/{time:%Y}/{time:%j}/{time:%H}"


#: Conservative lower bounds (UTC) for the first ABI files in each NOAA bucket:
#: no file in ``noaa-goesNN`` starts earlier (the first files may come some
#: weeks later). GOES-16 ABI data went public in early 2017 (operational as
#: GOES-East from 2017-12-18), GOES-17 from its 2018 check-out (GOES-West from
#: 2019-02-12), GOES-18 after its 2022-03-01 launch (GOES-West from 2023-01),
#: GOES-19 after its 2024-06-25 launch (preliminary data from autumn 2024,
#: operational GOES-East from 2025-04-07). A query that ends before its
#: satellite's bound is an error; one that starts before it is clipped.
DATA_START = {
    16: dt.datetime(2017, 1, 1),
    17: dt.datetime(2018, 5, 1),
    18: dt.datetime(2022, 5, 1),
    19: dt.datetime(2024, 9, 1),
}

TimeLike = Union[dt.datetime, dt.date, str]
KeyLike = Union["ABIKey", str]


def _as_utc(value: TimeLike, name: str) -> dt.datetime:
    """A time as a naive UTC datetime (tz-aware ones are converted)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().rstrip("Z"))
        except ValueError:
            raise ValueError(
                f"{name} {value!r} is not an ISO 8601 time, e.g. '2020-01-02T14:00'"
            ) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    # numpy.datetime64 and friends
    try:
        import pandas as pd

        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        return ts.to_pydatetime()
    except Exception:
        raise TypeError(
            f"{name} {value!r} is not a time: pass a datetime, a date or an ISO 8601 string"
        ) from None


def _check_satellite(satellite: int | str) -> int:
    text = str(satellite).upper().removeprefix("GOES-").removeprefix("GOES").removeprefix("G")
    try:
        sat = int(text)
    except ValueError:
        sat = None
    if sat not in SATELLITES:
        raise ValueError(
            f"unknown GOES satellite {satellite!r}: expected one of {SATELLITES}"
        )
    return sat


def _check_bands(bands: Iterable[int] | int | None) -> tuple[int, ...] | None:
    if bands is None:
        return None
    if isinstance(bands, (int, str)):
        bands = [bands]
    out = []
    for b in bands:
        try:
            bi = int(b)
        except (TypeError, ValueError):
            bi = None
        if bi not in BANDS or (isinstance(b, float) and b != bi):
            raise ValueError(f"unknown ABI band {b!r}: expected integers 1 to 16")
        if bi not in out:
            out.append(bi)
    if not out:
        raise ValueError("bands is empty: ask for at least one ABI band 1 to 16 (or None for all)")
    return tuple(out)


def _hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Each whole hour from ``start``'s hour to ``end``'s hour, inclusive."""
    h = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while h <= end:
        out.append(h)
        h += dt.timedelta(hours=1)
    return out


@dataclass
class Scene:
    """One scan: the requested bands' files, all with the same start time.

    Attributes
    ----------
    time:
        scan start time (naive UTC), as in the files' ``s`` time stamp.
    keys:
        band -> :class:`ABIKey` for each band that exists for this scan
        (band ``None`` for products without bands).
    sizes:
        band -> object size in bytes, from the bucket listing (or the cache).
    missing:
        requested bands that this scan lacks (empty for a complete scene).
    """

    time: dt.datetime
    keys: dict
    sizes: dict = field(default_factory=dict)
    missing: tuple = ()

    @property
    def complete(self) -> bool:
        """True when no requested band is missing."""
        return not self.missing

    @property
    def bands(self) -> tuple:
        return tuple(self.keys)

    @property
    def nbytes(self) -> int:
        """Total size of the scene's files in bytes."""
        return int(sum(self.sizes.values()))

    def __repr__(self) -> str:
        miss = f", missing={list(self.missing)}" if self.missing else ""
        return f"Scene({self.time:%Y-%m-%dT%H:%M:%S.%f}"[:-5] + f", bands={list(self.keys)}{miss})"
