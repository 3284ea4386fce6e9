"""GOES ABI catalogue, download and cache, against a real S3-protocol
server (moto) on 127.0.0.1 behind a logging, fault-injecting proxy.

Everything goes through the public API of :mod:`convml_tt.data.sources.goes_abi` and the
``convml_tt fetch`` command.
"""
from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import warnings
from pathlib import Path

import pytest
from conftest import _public_read_policy

from convml_tt.data.sources import goes_abi as goes
from convml_tt.data.sources.goes_abi import (
    ABIKey,
    DownloadError,
    GOESCatalogue,
    MissingBandsError,
    MissingBandsWarning,
    Scene,
    local_solar_noon,
    split_train_study,
)

T = dt.datetime
BUCKET = "noaa-goes16"
BIG = 300_000  # bytes of the files used for chunked / resumed downloads
CHUNK = 64 * 1024


_BUCKET_CONTENTS: dict[str, bytes] = {}


def cat_bytes(key: ABIKey) -> bytes:
    """What the test bucket holds under ``key``."""
    return _BUCKET_CONTENTS[key.key]


def make_key(start, band, sector="F", sat=16, mode=6, product="Rad") -> ABIKey:
    return ABIKey(
        start=start,
        satellite=sat,
        product=product,
        sector=sector,
        band=band,
        mode=mode,
        end=start + dt.timedelta(minutes=9, seconds=37, microseconds=800_000),
        created=start + dt.timedelta(minutes=9, seconds=52, microseconds=300_000),
    )


def scan_times(start: dt.datetime, stop: dt.datetime, minutes: int = 10):
    t = start
    while t <= stop:
        yield t
        t += dt.timedelta(minutes=minutes)


NOON_LON = -60.0
NOON_DAYS = [dt.date(2020, 3, 1), dt.date(2020, 3, 2), dt.date(2020, 3, 3)]
#: on the last noon day, the scan nearest noon lacks band 3
NOON_GAP = (T(2020, 3, 3, 16, 10), 3)


def bucket_layout() -> dict[ABIKey, int]:
    """Every object of the test bucket, key -> size in bytes."""
    layout: dict[ABIKey, int] = {}
    rng = random.Random(3)

    def add(times, bands=(1, 2, 3), size=None, **kw):
        for t in times:
            for b in bands:
                layout[make_key(t, b, **kw)] = size or rng.randrange(1_000, 9_000)

    # across a year boundary
    add(scan_times(T(2019, 12, 31, 23, 40), T(2020, 1, 1, 0, 10)))
    # an hour boundary on 2020-02-05 (day 036); 14:30 lacks band 2
    add(scan_times(T(2020, 2, 5, 13, 40), T(2020, 2, 5, 14, 20)))
    add([T(2020, 2, 5, 14, 30)], bands=(1, 3))
    # a day boundary
    add([T(2020, 2, 5, 23, 50), T(2020, 2, 6, 0, 0)])
    # three days around local noon at 60 W (about 16:12 UTC)
    for day in NOON_DAYS:
        for t in scan_times(T(day.year, day.month, day.day, 15, 0), T(day.year, day.month, day.day, 17, 30)):
            add([t], bands=tuple(b for b in (1, 2, 3) if (t, b) != NOON_GAP))
    # bigger files for chunked, concurrent and resumed downloads
    add(scan_times(T(2020, 4, 1, 12, 0), T(2020, 4, 1, 12, 30)), size=BIG)
    # mesoscale sectors share the folder ABI-L1b-RadM
    add([T(2020, 2, 5, 14, 0, 25, 300_000)], sector="M1", mode=3)
    add([T(2020, 2, 5, 14, 0, 55, 300_000)], sector="M2", mode=3)
    # a stray file that is not ABI data
    return layout


@pytest.fixture(scope="session")
def bucket(s3_server) -> dict[str, bytes]:
    """Upload the layout to ``noaa-goes16``; returns key -> content."""
    _, client = s3_server
    rng = random.Random(16)
    contents = {}
    for key, size in bucket_layout().items():
        data = rng.randbytes(size)
        client.put_object(Bucket=BUCKET, Key=key.key, Body=data)
        contents[key.key] = data
    _BUCKET_CONTENTS.update(contents)
    client.put_object(Bucket=BUCKET, Key="ABI-L1b-RadF/2020/036/14/README.txt", Body=b"not ABI")
    return contents


@pytest.fixture()
def cat(bucket, s3_proxy, tmp_path) -> GOESCatalogue:
    """An online catalogue reading through the proxy into a fresh cache."""
    return GOESCatalogue(
        data_root=tmp_path / "data", endpoint_url=s3_proxy.url, backoff=0.01, timeout=10, chunk_size=CHUNK
    )


def assert_unsigned(proxy) -> None:
    assert proxy.requests, "no request reached the server"
    for method, path, headers in proxy.requests:
        names = {k.lower() for k in headers}
        assert "authorization" not in names, (method, path)
        assert "x-amz-security-token" not in names and "X-Amz-Credential" not in path


def no_partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and (p.name.startswith(".") or p.suffix == ".part")]


# --- keys ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "sat,product,sector,mode",
    list(itertools.product(goes.SATELLITES, ("Rad", "CMIP"), goes.SECTORS, goes.SCAN_MODES)),
)
def test_key_round_trip(sat, product, sector, mode):
    start = T(2020, 12, 31, 23, 59, 58, 700_000)  # day 366 of a leap year, tenths
    key = make_key(start, band=7, sector=sector, sat=sat, mode=mode, product=product)
    parsed = ABIKey.parse(key.key)
    assert parsed == key
    assert parsed.key == key.key
    assert ABIKey.parse(f"s3://{key.bucket}/{key.key}") == key
    assert key.bucket == f"noaa-goes{sat}"
    folder = f"ABI-{goes.PRODUCTS[product]}-{product}{sector[0]}"
    assert key.key == f"{folder}/2020/366/23/{key.filename}"
    assert f"-{product}{sector}-M{mode}C07_G{sat}_s20203662359587_" in key.filename


def test_key_matches_noaa_example():
    text = "ABI-L1b-RadF/2020/036/14/OR_ABI-L1b-RadF-M6C01_G16_s20200361400212_e20200361409520_c20200361409569.nc"
    key = ABIKey.parse(text)
    assert (key.start, key.band, key.mode, key.sector) == (T(2020, 2, 5, 14, 0, 21, 200_000), 1, 6, "F")
    assert key.key == text
    m1 = ABIKey.parse("OR_ABI-L1b-RadM1-M6C02_G17_s20191231200251_e20191231200308_c20191231200339.nc")
    assert m1.key.startswith("ABI-L1b-RadM/2019/123/12/") and m1.sector == "M1"


@pytest.mark.parametrize(
    "text",
    [
        "foo.nc",
        "OR_ABI-L1b-RadF-M6C01_G16_s2020036140021_e20200361409520_c20200361409569.nc",  # 13 digits
        "OR_ABI-L1b-RadX-M6C01_G16_s20200361400212_e20200361409520_c20200361409569.nc",  # sector
        "OR_ABI-L1b-RadF-M6C01_G15_s20200361400212_e20200361409520_c20200361409569.nc",  # satellite
        "OR_ABI-L1b-RadF-M6C01_G16_s20203671400212_e20200361409520_c20200361409569.nc",  # day 367
    ],
)
def test_unparsable_key(text):
    with pytest.raises(ValueError, match="ABI|satellite|sector|impossible"):
        ABIKey.parse(text)


# --- bad input ----------------------------------------------------------------
def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unknown GOES satellite 15.*16, 17, 18, 19"):
        GOESCatalogue(satellite=15, data_root=tmp_path)
    with pytest.raises(ValueError, match="unknown ABI product 'Radiance'"):
        GOESCatalogue(product="Radiance", data_root=tmp_path)
    with pytest.raises(ValueError, match="unknown ABI sector 'M3'"):
        GOESCatalogue(sector="M3", data_root=tmp_path)
    cat = GOESCatalogue(data_root=tmp_path, offline=True)
    for bands in [(0,), (1, 17), ("x",)]:
        with pytest.raises(ValueError, match="unknown ABI band"):
            cat.query(T(2020, 1, 1), T(2020, 1, 2), bands=bands)
    with pytest.raises(ValueError, match="ends .* before it starts"):
        cat.query(T(2020, 1, 2), T(2020, 1, 1))
    with pytest.raises(ValueError, match="before GOES-16 ABI data begin"):
        cat.query(T(2016, 1, 1), T(2016, 2, 1))
    with pytest.raises(ValueError, match="before GOES-19 ABI data begin"):
        GOESCatalogue(satellite=19, data_root=tmp_path, offline=True).nearest(T(2023, 1, 1))
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        cat.query("yesterday", T(2020, 1, 1))
    with pytest.raises(ValueError, match="not an ABI file name"):
        cat.download("ABI-L1b-RadF/2020/036/14/foo.nc")
    with pytest.raises(ValueError, match="not this catalogue's"):
        cat.download(make_key(T(2020, 1, 1), 1, sat=17))
    with pytest.raises(ValueError, match="longitude"):
        local_solar_noon(dt.date(2020, 1, 1), 400)


def test_unwritable_cache(cat, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    bad = GOESCatalogue(data_root=blocker / "data", endpoint_url=cat.endpoint_url)
    with pytest.raises(PermissionError, match=r"cache directory .*a_file.* is not writable"):
        bad.download(make_key(T(2020, 2, 5, 14), 1))
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root ignores permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(PermissionError, match="not writable"):
            GOESCatalogue(data_root=ro).check_writable()


def test_no_files_found_names_folders(cat):
    with pytest.raises(FileNotFoundError, match=r"listed s3://noaa-goes16 folders: ABI-L1b-RadF/2020/153/10, ABI-L1b-RadF/2020/153/11$"):
        cat.query(T(2020, 6, 1, 10, 5), T(2020, 6, 1, 11, 55))
    offline = GOESCatalogue(data_root=cat.data_root, offline=True)
    with pytest.raises(FileNotFoundError, match="listed cache .* folders: ABI-L1b-RadF/2020/153/10"):
        offline.query(T(2020, 6, 1, 10, 5), T(2020, 6, 1, 10, 55))


# --- queries ------------------------------------------------------------------
def test_query_across_hour_boundary(cat, s3_proxy):
    res = cat.query(T(2020, 2, 5, 13, 45), T(2020, 2, 5, 14, 25))
    assert [s.time for s in res] == list(scan_times(T(2020, 2, 5, 13, 50), T(2020, 2, 5, 14, 20)))
    assert all(list(s.keys) == [1, 2, 3] and s.complete for s in res)
    folders = ["ABI-L1b-RadF/2020/036/13", "ABI-L1b-RadF/2020/036/14"]
    assert res.folders == folders
    assert sorted(s3_proxy.listed_prefixes()) == folders  # exactly these, each once
    assert res.incomplete == []
    assert_unsigned(s3_proxy)
    # a range inside one hour lists one folder
    s3_proxy.reset()
    res = cat.query(T(2020, 2, 5, 14, 0), T(2020, 2, 5, 14, 15), bands=[2])
    assert s3_proxy.listed_prefixes() == ["ABI-L1b-RadF/2020/036/14"]
    assert [(s.time, list(s.keys)) for s in res] == [(T(2020, 2, 5, 14, 0), [2]), (T(2020, 2, 5, 14, 10), [2])]
    # every scan time is an exact file start; scenes carry the listed sizes
    s = res[0]
    assert s.sizes[2] == len(cat_bytes(s.keys[2]))


def test_query_across_day_and_year(cat, s3_proxy):
    res = cat.query(T(2019, 12, 31, 23, 45), "2020-01-01T00:05:00Z")
    assert [s.time for s in res] == [T(2019, 12, 31, 23, 50), T(2020, 1, 1, 0, 0)]
    assert res.folders == ["ABI-L1b-RadF/2019/365/23", "ABI-L1b-RadF/2020/001/00"]
    assert sorted(s3_proxy.listed_prefixes()) == res.folders
    s3_proxy.reset()
    res = cat.query(T(2020, 2, 5, 23, 30), T(2020, 2, 6, 0, 30), bands=(3, 1))
    assert [s.time for s in res] == [T(2020, 2, 5, 23, 50), T(2020, 2, 6)]
    assert list(res[0].keys) == [3, 1]
    assert sorted(s3_proxy.listed_prefixes()) == ["ABI-L1b-RadF/2020/036/23", "ABI-L1b-RadF/2020/037/00"]
    # tz-aware input is converted to UTC
    aware = dt.datetime(2020, 2, 5, 18, 50, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert [s.time for s in cat.query(aware, aware)] == [T(2020, 2, 5, 23, 50)]


def test_missing_band_reported(cat):
    with pytest.warns(MissingBandsWarning, match=r"2020-02-05T14:30:00 lacks bands \[2\]"):
        res = cat.query(T(2020, 2, 5, 14, 0), T(2020, 2, 5, 14, 59))
    assert [s.time for s in res] == [T(2020, 2, 5, 14, m) for m in (0, 10, 20)]
    (gap,) = res.incomplete
    assert gap.time == T(2020, 2, 5, 14, 30) and gap.missing == (2,) and list(gap.keys) == [1, 3]
    assert "missing bands [2]" in res.missing_report()
    with pytest.raises(MissingBandsError, match="lacks bands"):
        cat.query(T(2020, 2, 5, 14, 0), T(2020, 2, 5, 14, 59), strict=True)
    # bands that the gap has: nothing missing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(cat.query(T(2020, 2, 5, 14, 0), T(2020, 2, 5, 14, 59), bands=(1, 3))) == 4
    # only the gap's time: no complete scene, still reported
    with pytest.warns(MissingBandsWarning):
        res = cat.query(T(2020, 2, 5, 14, 30), T(2020, 2, 5, 14, 30))
    assert list(res) == [] and len(res.incomplete) == 1


def test_sectors_share_mesoscale_folder(cat, s3_proxy):
    m1 = GOESCatalogue(sector="M1", data_root=cat.data_root, endpoint_url=s3_proxy.url)
    m2 = GOESCatalogue(sector="M2", data_root=cat.data_root, endpoint_url=s3_proxy.url)
    (a,) = m1.query(T(2020, 2, 5, 14), T(2020, 2, 5, 14, 1))
    (b,) = m2.query(T(2020, 2, 5, 14), T(2020, 2, 5, 14, 1))
    assert a.time == T(2020, 2, 5, 14, 0, 25, 300_000) and a.keys[1].sector == "M1"
    assert b.time == T(2020, 2, 5, 14, 0, 55, 300_000) and b.keys[1].sector == "M2"
    assert set(s3_proxy.listed_prefixes()) == {"ABI-L1b-RadM/2020/036/14"}


def test_nearest(cat):
    assert cat.nearest(T(2020, 2, 5, 14, 4)).time == T(2020, 2, 5, 14, 0)
    assert cat.nearest(T(2020, 2, 5, 14, 5)).time == T(2020, 2, 5, 14, 0)  # tie -> earlier
    assert cat.nearest("2020-02-05T13:56", tolerance=dt.timedelta(minutes=5)).time == T(2020, 2, 5, 14, 0)
    # the nearest scan (14:30) lacks band 2: the nearest complete one is returned, with a report
    with pytest.warns(MissingBandsWarning, match="14:30:00 lacks bands"):
        assert cat.nearest(T(2020, 2, 5, 14, 29)).time == T(2020, 2, 5, 14, 20)
    with pytest.raises(MissingBandsError):
        cat.nearest(T(2020, 2, 5, 14, 29), strict=True)
    with pytest.raises(FileNotFoundError, match=r"within 0:02:00 .*incomplete scans: 14:30:00 lacks bands \[2\]"):
        cat.nearest(T(2020, 2, 5, 14, 29), tolerance=dt.timedelta(minutes=2))
    with pytest.raises(FileNotFoundError, match="ABI-L1b-RadF/2020/036/15"):
        cat.nearest(T(2020, 2, 5, 15, 30), tolerance=dt.timedelta(minutes=10))


def test_local_solar_noon():
    # Greenwich: the equation of time is about -14.2 min mid-February, +16.4 min early November
    assert abs(local_solar_noon(dt.date(2020, 2, 11), 0.0) - T(2020, 2, 11, 12, 14, 14)) < dt.timedelta(minutes=1)
    assert abs(local_solar_noon(dt.date(2020, 11, 3), 0.0) - T(2020, 11, 3, 11, 43, 36)) < dt.timedelta(minutes=1)
    assert local_solar_noon(T(2020, 6, 1, 3), -60, equation_of_time=False) == T(2020, 6, 1, 16)
    assert local_solar_noon(dt.date(2020, 6, 1), 300, equation_of_time=False) == T(2020, 6, 1, 16)
    assert local_solar_noon(dt.date(2020, 6, 1), 150, equation_of_time=False) == T(2020, 6, 1, 2)


def test_near_local_noon(cat, s3_proxy):
    with pytest.warns(MissingBandsWarning, match=r"2020-03-03T16:10:00 lacks bands \[3\]"):
        res = cat.query(T(2020, 3, 1), T(2020, 3, 3, 23, 59), near_local_noon=NOON_LON)
    complete = {t for k in bucket_layout() if k.band == 3 for t in [k.start]}
    expected = []
    for day in NOON_DAYS:
        noon = local_solar_noon(day, NOON_LON)
        cands = [t for t in complete if t.date() == day and abs(t - noon) <= dt.timedelta(minutes=30)]
        expected.append(min(cands, key=lambda t: abs(t - noon)))
    assert [s.time for s in res] == expected
    assert expected[-1] == T(2020, 3, 3, 16, 20)  # 16:10 lacks band 3
    assert [s.time for s in res.incomplete] == [NOON_GAP[0]]
    # only the hours around noon are listed (15 and 16 UTC on each day)
    want = [f"ABI-L1b-RadF/2020/{d.timetuple().tm_yday:03d}/{h}" for d in NOON_DAYS for h in (15, 16)]
    assert res.folders == want and sorted(s3_proxy.listed_prefixes()) == sorted(want)
    assert res.days_without_scene == []
    # a day without data near noon is reported
    with pytest.warns(MissingBandsWarning, match="no complete scene within 0:30:00 of local solar noon .* on 2020-02-29"):
        res = cat.query(T(2020, 2, 29), T(2020, 3, 1, 23), near_local_noon=NOON_LON, bands=(1,))
    assert res.days_without_scene == [dt.date(2020, 2, 29)] and len(res) == 1


def test_split_train_study():
    scenes = [Scene(time=T(2020, 1, d, h), keys={}) for d in (1, 2, 3, 4) for h in (12, 14, 16)]
    train, study = split_train_study(scenes, seed=1)
    assert len(study) == 4 and len(train) == 8
    assert sorted({s.time.date() for s in study}) == [dt.date(2020, 1, d) for d in (1, 2, 3, 4)]
    assert {id(s) for s in train}.isdisjoint({id(s) for s in study})
    assert split_train_study(list(reversed(scenes)), seed=1) == (train, study)
    picks = {tuple(s.time for s in split_train_study(scenes, seed=s)[1]) for s in range(10)}
    assert len(picks) > 1
    with pytest.raises(TypeError, match="no 'time'"):
        split_train_study([object()])


# --- download -----------------------------------------------------------------
def test_download_cache_hits_and_offline(cat, s3_proxy):
    with pytest.warns(MissingBandsWarning):
        res = cat.query(T(2020, 2, 5, 13, 45), T(2020, 2, 5, 14, 35))
    scenes = list(res) + res.incomplete
    got = cat.download(scenes, progress=False)
    keys = [k for s in scenes for k in s.keys.values()]
    assert len(got) == len(keys) == 14
    assert got == [cat.data_root / "sources" / "goes16" / k.key for k in keys]
    assert [p.read_bytes() for p in got] == [cat_bytes(k) for k in keys]
    assert sorted(got.downloaded) == sorted(got) and got.cached == []
    assert len(s3_proxy.object_gets()) == 14  # files smaller than a chunk: one GET each
    assert_unsigned(s3_proxy)
    assert no_partials(cat.data_root) == []

    # cache hit: a second download (new catalogue, same cache) issues no GET at all
    s3_proxy.reset()
    again = GOESCatalogue(data_root=cat.data_root, endpoint_url=s3_proxy.url).download(scenes, progress=False)
    assert list(again) == list(got) and again.downloaded == [] and len(again.cached) == 14
    assert s3_proxy.object_gets() == [] and s3_proxy.requests == []  # sizes came from the scenes

    # a damaged cached file (wrong size) is fetched again
    got[0].write_bytes(b"short")
    s3_proxy.reset()
    fixed = cat.download(scenes[0], progress=False)
    assert fixed.downloaded == [got[0]] and got[0].read_bytes() == cat_bytes(keys[0])
    assert len(s3_proxy.object_gets()) == 1

    # offline: same answers from the cache alone, and no network
    near_online = cat.nearest(T(2020, 2, 5, 14, 4))
    s3_proxy.reset()
    offline = GOESCatalogue(data_root=cat.data_root, offline=True)
    with pytest.warns(MissingBandsWarning):
        off = offline.query(T(2020, 2, 5, 13, 45), T(2020, 2, 5, 14, 35))
    assert off == res and off.incomplete == res.incomplete and off.folders == res.folders
    assert offline.nearest(T(2020, 2, 5, 14, 4)) == near_online
    assert list(offline.download(list(off) + off.incomplete, progress=False)) == list(got)
    with pytest.raises(FileNotFoundError, match="offline: 1 file.*not in the cache"):
        offline.download(make_key(T(2020, 2, 6), 1))
    with pytest.raises(RuntimeError, match="offline"):
        offline.fs
    assert s3_proxy.requests == []


def test_download_keys_and_strings(cat, s3_proxy):
    key = make_key(T(2020, 4, 1, 12, 0), 2)
    paths = cat.download([key.key, key], progress=False, max_workers=2)  # duplicate: fetched once
    assert paths[0] == paths[1] == cat.local_path(key) and paths[0].read_bytes() == cat_bytes(key)
    assert len(s3_proxy.object_gets()) == -(-BIG // CHUNK)  # ranged GETs of CHUNK bytes
    with pytest.raises(FileNotFoundError):
        cat.download(make_key(T(2020, 4, 1, 12, 0), 9), progress=False)
    assert no_partials(cat.data_root) == []


def test_concurrent_downloads(cat, s3_proxy):
    res = cat.query(T(2020, 4, 1, 12), T(2020, 4, 1, 12, 30))
    assert len(res) == 4
    s3_proxy.delay = 0.05
    got = cat.download(res, max_workers=4, progress=True)
    assert 2 <= s3_proxy.max_in_flight <= 4
    assert all(p.read_bytes() == cat_bytes(k) for p, k in zip(got, (k for s in res for k in s.keys.values())))
    # one worker: one request at a time
    s3_proxy.reset()
    s3_proxy.delay = 0.01
    other = GOESCatalogue(data_root=cat.data_root / "seq", endpoint_url=s3_proxy.url, chunk_size=CHUNK)
    other.download(res[0], max_workers=1, progress=False)
    assert s3_proxy.max_in_flight == 1


def test_resume_after_interrupted_download(cat, s3_proxy):
    key = make_key(T(2020, 4, 1, 12, 10), 1)
    path = cat.local_path(key)
    seen = []

    def cut_third_chunk(i, method, url, headers):
        if method == "GET" and url.startswith(f"/{BUCKET}/{key.key}"):
            seen.append(headers.get("Range"))
            if len(seen) == 3:
                return "truncate"
        return None

    s3_proxy.fault = cut_third_chunk
    with pytest.raises(DownloadError, match="1 of 1 file.* failed after 0 retries") as err:
        cat.download(key, progress=False, retries=0)
    assert key.key in err.value.failed and err.value.paths == []
    assert not path.exists()  # nothing under the final name
    (part,) = no_partials(cat.data_root)
    assert part.parent == path.parent and part.stat().st_size == 2 * CHUNK
    assert part.read_bytes() == cat_bytes(key)[: 2 * CHUNK]

    # the next run resumes from the partial file
    s3_proxy.reset()
    fresh = GOESCatalogue(data_root=cat.data_root, endpoint_url=s3_proxy.url, chunk_size=CHUNK)
    got = fresh.download(key, progress=False)
    ranges = [h.get("Range") for _, _, h in s3_proxy.object_gets()]
    assert ranges[0] == f"bytes={2 * CHUNK}-{3 * CHUNK - 1}"
    assert len(ranges) == -(-BIG // CHUNK) - 2
    assert got == [path] and path.read_bytes() == cat_bytes(key)
    assert no_partials(cat.data_root) == []

    # a stale partial file longer than the object is discarded
    part.write_bytes(b"x" * (BIG + 10))
    path.unlink()
    got = fresh.download(key, progress=False)
    assert path.read_bytes() == cat_bytes(key) and no_partials(cat.data_root) == []


def test_faults_every_file_arrives_intact(cat, s3_proxy):
    faults = itertools.cycle([500, 503, "drop", "truncate"])

    def every_third(i, method, url, headers):
        return next(faults) if i % 3 == 1 else None

    s3_proxy.fault = every_third
    # listings go through the faults too
    res = cat.query(T(2019, 12, 31, 23, 30), T(2020, 1, 1, 0, 30))
    big = cat.query(T(2020, 4, 1, 12), T(2020, 4, 1, 12, 30))
    assert len(res) == 4 and len(big) == 4
    scenes = list(big) + list(res)
    got = cat.download(scenes, max_workers=3, progress=False, retries=6)
    keys = [k for s in scenes for k in s.keys.values()]
    assert [p.read_bytes() for p in got] == [cat_bytes(k) for k in keys]
    assert s3_proxy.faults_injected >= 10
    assert no_partials(cat.data_root) == []
    # a server that always fails: bounded retries, a clear error, no file under a final name
    s3_proxy.fault = lambda *a: 503
    bad = make_key(T(2020, 2, 5, 14, 0), 1)
    with pytest.raises(DownloadError, match="failed after 2 retries"):
        cat.download(bad, progress=False, retries=2)
    assert not cat.local_path(bad).exists()
    with pytest.raises(OSError):
        cat.query(T(2020, 2, 5, 14), T(2020, 2, 5, 14, 5))


# --- command line -------------------------------------------------------------
def test_cli_fetch(cat, s3_proxy, capsys):
    from convml_tt.cli import main

    root = str(cat.data_root)
    args = ["fetch", "--data-root", root, "--satellite", "16", "--product", "Rad", "--sector", "F",
            "--bands", "1", "2", "3", "--start", "2020-02-05T13:45", "--end", "2020-02-05T14:35", "--quiet"]
    with pytest.warns(MissingBandsWarning):
        assert main(args + ["--endpoint-url", s3_proxy.url, "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "4 scene(s)" in out and "2020-02-05T14:30:00: missing bands [2]" in out
    assert "downloaded 12" in out and "cached 0" in out
    assert main(args + ["--offline"]) == 0  # only complete scenes were fetched
    out = capsys.readouterr().out
    assert "4 scene(s)" in out and "downloaded 0" in out and "cached 12" in out
    assert main(["fetch", "--data-root", root, "--start", "2020-02-05T14:00", "--end", "2020-02-05T13:00", "--offline"]) == 1
    assert "before it starts" in capsys.readouterr().err
    noon = ["fetch", "--data-root", root, "--start", "2020-03-01", "--end", "2020-03-02T23:00",
            "--near-local-noon", "-60", "--endpoint-url", s3_proxy.url, "--quiet"]
    assert main(noon) == 0
    out = capsys.readouterr().out
    assert "2 scene(s)" in out and "2020-03-01T16:10:00" in out


# --- synthetic scenes (convml_tt.data.synthetic) ------------------------------
def test_synthetic_scenes_round_trip(s3_server, s3_proxy, tmp_path):
    synthetic = pytest.importorskip("convml_tt.data.synthetic")
    _, client = s3_server
    src = tmp_path / "synthetic"
    made = synthetic.write_synthetic_scenes(
        src, start=T(2021, 6, 1, 14), count=2, interval=dt.timedelta(days=1), seed=0,
        satellite=16, sector="M1", size_km=100, progress=False,
    )
    offline = GOESCatalogue(sector="M1", data_root=src, offline=True)
    for scene in made:
        for band, path in scene.files.items():
            key = ABIKey.parse(path.name)
            assert path == offline.local_path(key)
            client.put_object(Bucket=BUCKET, Key=key.key, Body=path.read_bytes())
    online = GOESCatalogue(sector="M1", data_root=tmp_path / "fetched", endpoint_url=s3_proxy.url, backoff=0.01)
    res = online.query(T(2021, 6, 1), T(2021, 6, 2, 23))
    assert [s.time for s in res] == [s.time for s in made]
    assert offline.query(T(2021, 6, 1), T(2021, 6, 2, 23)) == res
    got = online.download(res, progress=False)
    assert [p.read_bytes() for p in got] == [p.read_bytes() for s in made for p in s.files.values()]
    assert_unsigned(s3_proxy)


def test_anonymous_access_depends_on_public_policy(s3_server, s3_proxy, tmp_path):
    """The library's requests are unsigned: moto serves them only because the
    bucket policy grants ``Principal: *`` read, as NOAA's buckets do."""
    _, client = s3_server
    bucket18 = "noaa-goes18"
    key = make_key(T(2023, 1, 10, 18, 0), 1, sat=18)
    client.put_object(Bucket=bucket18, Key=key.key, Body=b"g18" * 100)
    cat18 = GOESCatalogue(satellite=18, data_root=tmp_path, endpoint_url=s3_proxy.url, backoff=0.01, retries=1)
    (scene,) = cat18.query(T(2023, 1, 10, 18), T(2023, 1, 10, 18, 5), bands=[1])
    client.delete_bucket_policy(Bucket=bucket18)
    try:
        with pytest.raises(DownloadError, match="Forbidden.*anonymous") as err:
            cat18.download(scene, progress=False)
        assert isinstance(err.value.failed[scene.keys[1].key], PermissionError)
        assert not cat18.local_path(scene.keys[1]).exists()
    finally:
        client.put_bucket_policy(Bucket=bucket18, Policy=_public_read_policy(bucket18))
    assert cat18.download(scene, progress=False)[0].read_bytes() == b"g18" * 100
    assert_unsigned(s3_proxy)


# --- unreachable endpoints: bounded time, one clear error ----------------------
FOLDER = "ABI-L1b-RadF/2020/036/14"


def known_scene(bands=(1, 2)) -> Scene:
    """A scene whose sizes are known, so download goes straight to the reads."""
    t = T(2020, 2, 5, 14, 0, 21, 200_000)
    keys = {b: make_key(t, b) for b in bands}
    return Scene(time=t, keys=keys, sizes={b: 1000 for b in bands}, missing=())


def online_cat(tmp_path, url, **kw) -> GOESCatalogue:
    cat = GOESCatalogue(data_root=tmp_path / "data", endpoint_url=url, **kw)
    cat.fs  # imports and client set-up happen here, not inside the timed calls
    return cat


def timed(fn):
    from time import monotonic

    t0 = monotonic()
    with pytest.raises(goes.download.EndpointUnreachableError) as info:
        fn()
    return info.value, monotonic() - t0


def test_timeouts_reach_botocore(tmp_path):
    cat = GOESCatalogue(data_root=tmp_path, endpoint_url="http://127.0.0.1:9", connect_timeout=2,
                        read_timeout=3, retry_budget=7)
    conf = cat.fs.config_kwargs
    assert (conf["connect_timeout"], conf["read_timeout"]) == (2, 3)
    assert conf["retries"]["total_max_attempts"] == 1  # botocore does not retry on top of ours
    defaults = GOESCatalogue(data_root=tmp_path)
    assert (defaults.connect_timeout, defaults.read_timeout, defaults.retry_budget) == (10, 30, 120)
    assert GOESCatalogue(data_root=tmp_path, timeout=4).connect_timeout == 4  # the former single setting
    for bad in ({"read_timeout": 0}, {"connect_timeout": -1}, {"retry_budget": float("nan")}):
        with pytest.raises(ValueError, match="must be a positive number of seconds"):
            GOESCatalogue(data_root=tmp_path, **bad)


def test_closed_port_fails_fast_and_clearly(tmp_path, closed_port_url):
    cat = online_cat(tmp_path, closed_port_url, retries=2, backoff=0.05)
    err, elapsed = timed(lambda: cat.query(T(2020, 2, 5, 14), T(2020, 2, 5, 14, 5)))
    msg = str(err)
    assert "\n" not in msg
    assert msg.startswith(f"cannot reach {closed_port_url} while listing folder {FOLDER} of noaa-goes16: "
                          "connection refused (3 attempt(s) in ")
    assert "--endpoint-url" in msg and "--offline" in msg
    assert isinstance(err, ConnectionError) and isinstance(err, RuntimeError) and isinstance(err, DownloadError)
    assert err.endpoint == closed_port_url and err.attempts == 3
    assert elapsed < 3, elapsed  # backoff 0.05 + 0.1 s, refused at once
    scene = known_scene()
    err, elapsed = timed(lambda: cat.download(scene, progress=False, retries=0))
    assert "while downloading ABI-L1b-RadF/2020/036/14/OR_ABI-L1b-RadF-M6C0" in str(err)
    assert "connection refused (1 attempt(s)" in str(err) and "2 of 2 file(s) not downloaded" in str(err)
    assert set(err.failed) == {k.key for k in scene.keys.values()} and err.paths == []
    assert elapsed < 3, elapsed
    assert not any(cat.local_path(k).exists() for k in scene.keys.values())


def test_silent_server_listing_and_download_bounded(tmp_path, silent_server):
    # read timeout 1 s, one retry: two attempts of 1 s and a 0.05 s backoff
    cat = online_cat(tmp_path, silent_server.url, read_timeout=1, connect_timeout=1, retries=1, backoff=0.05)
    err, elapsed = timed(lambda: cat.query(T(2020, 2, 5, 14), T(2020, 2, 5, 14, 5)))
    assert str(err).startswith(
        f"cannot reach {silent_server.url} while listing folder {FOLDER} of noaa-goes16: "
        "no answer within 1 s (2 attempt(s) in "
    )
    assert 1.9 < elapsed < 2 * 1 + 1.5, elapsed
    assert silent_server.accepted == 2
    scene = known_scene()
    err, elapsed = timed(lambda: cat.download(scene, progress=False, max_workers=2))
    assert "while downloading ABI-L1b-RadF/2020/036/14/OR_ABI-L1b-RadF-M6C0" in str(err)
    assert "no answer within 1 s (2 attempt(s)" in str(err) and "2 of 2 file(s) not downloaded" in str(err)
    assert 1.9 < elapsed < 2 * 1 + 1.5, elapsed  # the two files wait at the same time
    assert not any(cat.local_path(k).exists() for k in scene.keys.values())


def test_retry_budget_stops_retries(tmp_path, silent_server):
    # 5 retries of a 1 s read timeout would take 5 s and more: the 1.5 s budget cuts them
    cat = online_cat(tmp_path, silent_server.url, read_timeout=1, retries=5, backoff=0.05, retry_budget=1.5)
    err, elapsed = timed(lambda: cat.query(T(2020, 2, 5, 14), T(2020, 2, 5, 14, 5)))
    assert "1.5 s retry budget" in str(err) and err.attempts == 2
    assert elapsed < 1.5 + 1, elapsed
    err, elapsed = timed(lambda: cat.download(known_scene((1,)), progress=False))
    assert "1.5 s retry budget" in str(err)
    assert elapsed < 1.5 + 1, elapsed


def test_unreachable_stops_the_other_requests(tmp_path, silent_server):
    # 9 hour folders on 3 workers would take 3 rounds of 1 s: the first
    # unreachable folder stops the others
    cat = online_cat(tmp_path, silent_server.url, read_timeout=1, retries=0, max_workers=3)
    err, elapsed = timed(lambda: cat.query(T(2020, 2, 5, 6), T(2020, 2, 5, 14, 5)))
    assert "no answer within 1 s" in str(err)
    assert elapsed < 2.5, elapsed
    assert silent_server.accepted <= 4


def test_cli_fetch_unreachable_endpoint(tmp_path, silent_server, closed_port_url, capsys):
    from time import monotonic

    from convml_tt.cli import main

    args = ["fetch", "--data-root", str(tmp_path / "data"), "--start", "2020-02-05T14:00",
            "--end", "2020-02-05T14:05", "--quiet", "--retries", "1"]
    t0 = monotonic()
    assert main(args + ["--endpoint-url", silent_server.url, "--timeout", "1", "--connect-timeout", "1"]) == 1
    elapsed = monotonic() - t0
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in captured.err
    assert err.startswith(f"convml_tt fetch: error: cannot reach {silent_server.url} while listing folder {FOLDER}")
    assert "no answer within 1 s (2 attempt(s)" in err and "--endpoint-url" in err and "--offline" in err
    assert elapsed < 2 * 1 + 0.5 * 1.25 + 4, elapsed  # two 1 s attempts, a ~0.5 s backoff, start-up
    assert main(args[:-1] + ["0", "--endpoint-url", closed_port_url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"convml_tt fetch: error: cannot reach {closed_port_url} while listing folder {FOLDER}")
    assert "connection refused (1 attempt(s)" in err
