"""Download throughput of the GOES catalogue: sequential vs concurrent.

Starts a moto S3 server on 127.0.0.1, makes a public-read ``noaa-goes16``
bucket, uploads N files of a few MB under real ABI key layouts, and times

* ``GOESCatalogue.download(max_workers=1)``   (sequential),
* ``GOESCatalogue.download(max_workers=W)``   (concurrent, bounded pool),
* ``s3fs.S3FileSystem.get`` of the same keys  (reference: s3fs's own batched
  asynchronous copy, no cache/resume/size checks),

each into an empty cache, and prints time, MB/s and the ratio to sequential.
``--latency-ms`` puts a small proxy in front of moto that delays every
request, to mimic the round trip to a real S3 region (where concurrency pays
off most); 0 talks to moto directly.

    .venv/bin/python bench/fetch.py --files 18 --size-mb 4 --workers 8
    .venv/bin/python bench/fetch.py --files 18 --size-mb 4 --workers 8 --latency-ms 30
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


def delay_proxy(upstream: str, latency_s: float) -> tuple[str, ThreadingHTTPServer]:
    """An HTTP proxy on 127.0.0.1 that waits ``latency_s`` before forwarding."""
    up = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _handle(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            time.sleep(latency_s)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
            conn.request(self.command, self.path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=18, help="number of files (default 18)")
    ap.add_argument("--size-mb", type=float, default=4.0, help="size of each file in MB (default 4)")
    ap.add_argument("--workers", type=int, default=8, help="concurrent downloads (default 8)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every request (default 0)")
    ap.add_argument("--repeat", type=int, default=2, help="runs per method; the best is reported")
    args = ap.parse_args(argv)

    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    import boto3
    import s3fs
    from moto.server import ThreadedMotoServer

    import warnings

    from convml_tt.data.sources.goes_abi import ABIKey, GOESCatalogue, MissingBandsWarning

    warnings.simplefilter("ignore", MissingBandsWarning)  # with --files not a multiple of 3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    bucket = "noaa-goes16"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
                       "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}],
    }))
    size = int(args.size_mb * 1e6)
    payload = os.urandom(size)
    keys = []
    t0 = dt.datetime(2020, 2, 5, 12, 0)
    for i in range(args.files):
        start = t0 + dt.timedelta(minutes=10 * (i // 3))
        key = ABIKey(start=start, satellite=16, product="Rad", sector="F", band=1 + i % 3, mode=6,
                     end=start + dt.timedelta(minutes=9, seconds=38), created=start + dt.timedelta(minutes=9, seconds=52))
        client.put_object(Bucket=bucket, Key=key.key, Body=payload[i:] + payload[:i])
        keys.append(key)
    url, proxy = (delay_proxy(moto_url, args.latency_ms / 1000) if args.latency_ms > 0 else (moto_url, None))
    total_mb = size * args.files / 1e6

    work = Path(tempfile.mkdtemp(prefix="bench-fetch-"))

    def ours(workers: int) -> float:
        root = work / f"w{workers}"
        shutil.rmtree(root, ignore_errors=True)
        cat = GOESCatalogue(data_root=root, endpoint_url=url, max_workers=workers)
        cat.query(keys[0].start, keys[-1].start, bands=(1, 2, 3))  # sizes from the listing
        t = time.perf_counter()
        got = cat.download(keys, max_workers=workers, progress=False)
        el = time.perf_counter() - t
        assert len(got.downloaded) == len(keys) and all(p.stat().st_size == size for p in got)
        return el

    def reference() -> float:
        root = work / "s3fs"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        fs = s3fs.S3FileSystem(anon=True, client_kwargs={"endpoint_url": url}, skip_instance_cache=True)
        t = time.perf_counter()
        fs.get([f"{bucket}/{k.key}" for k in keys], [str(root / k.filename) for k in keys])
        el = time.perf_counter() - t
        assert all((root / k.filename).stat().st_size == size for k in keys)
        return el

    rows = []
    try:
        seq = min(ours(1) for _ in range(args.repeat))
        rows.append(("GOESCatalogue.download, 1 worker", seq))
        rows.append((f"GOESCatalogue.download, {args.workers} workers", min(ours(args.workers) for _ in range(args.repeat))))
        rows.append(("reference: s3fs.get (batched async)", min(reference() for _ in range(args.repeat))))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if proxy is not None:
            proxy.shutdown()
        server.stop()

    print(f"{args.files} files x {args.size_mb:g} MB = {total_mb:.0f} MB from moto on 127.0.0.1"
          f" (added latency {args.latency_ms:g} ms/request), best of {args.repeat}")
    print(f"{'method':<40} {'time (s)':>9} {'MB/s':>8} {'vs 1 worker':>12}")
    for name, el in rows:
        print(f"{name:<40} {el:9.2f} {total_mb / el:8.1f} {seq / el:11.2f}x")


if __name__ == "__main__":
    main()
