"""Shared pytest fixtures, in blocks named by what they serve."""


# --- S3 fixtures (GOES catalogue) ---------------------------------------------
# A real S3-protocol server (moto's) on 127.0.0.1 with public-read NOAA-style
# buckets, and a small HTTP proxy in front of it that logs every request and
# can inject faults (HTTP 500/503, dropped connections, truncated bodies).
import http.client as _http_client
import json as _json
import socket as _socket
import threading as _threading
import time as _time_mod
from http.server import BaseHTTPRequestHandler as _BaseHandler
from http.server import ThreadingHTTPServer as _ThreadingHTTPServer
from urllib.parse import urlsplit as _urlsplit

import pytest as _pytest


def _public_read_policy(bucket: str) -> str:
    """Bucket policy of the NOAA open-data buckets: anyone may list and get."""
    return _json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicRead",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
    )


@_pytest.fixture(scope="session")
def s3_server():
    """``(endpoint_url, boto3 client)`` of a moto S3 server on 127.0.0.1 with
    buckets ``noaa-goes16`` ... ``noaa-goes19``, public-read by bucket policy.

    Dummy credentials are set so that nothing can reach real AWS; the client
    here (used only to upload test data) signs its requests, the library under
    test must not.
    """
    from moto.server import ThreadedMotoServer

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with _pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        import boto3

        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        for sat in (16, 17, 18, 19):
            bucket = f"noaa-goes{sat}"
            client.create_bucket(Bucket=bucket)
            client.put_bucket_policy(Bucket=bucket, Policy=_public_read_policy(bucket))
        try:
            yield url, client
        finally:
            server.stop()


class FaultProxy:
    """Threaded HTTP proxy on 127.0.0.1 in front of an S3 endpoint.

    ``requests`` logs ``(method, path_with_query, headers)`` of every request;
    ``fault`` is called with ``(index, method, path, headers)`` and may return
    ``None`` (forward), ``500``/``503`` (answer with an S3 error), ``"drop"``
    (close the connection without answering) or ``"truncate"`` (send the
    headers and half the body, then close); ``delay`` seconds are slept
    before forwarding each object GET. ``max_in_flight`` is the largest number
    of object GETs served at once.
    """

    def __init__(self, upstream: str):
        self.upstream = _urlsplit(upstream)
        self.requests: list = []
        self.fault = None
        self.delay = 0.0
        self.faults_injected = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = _threading.Lock()
        proxy = self

        class Handler(_BaseHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _hang_up(self):
                """Drop the connection mid-exchange, as a flaky server would."""
                self.close_connection = True
                try:
                    self.connection.shutdown(_socket.SHUT_RDWR)
                except OSError:
                    pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()}
                with proxy._lock:
                    index = len(proxy.requests)
                    proxy.requests.append((self.command, self.path, headers))
                action = proxy.fault(index, self.command, self.path, headers) if proxy.fault else None
                is_object_get = self.command == "GET" and "?" not in self.path
                if action is not None:
                    with proxy._lock:
                        proxy.faults_injected += 1
                if action == "drop":
                    self._hang_up()
                    return
                if action in (500, 503):
                    code = "InternalError" if action == 500 else "SlowDown"
                    payload = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(action)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if is_object_get:
                    with proxy._lock:
                        proxy._in_flight += 1
                        proxy.max_in_flight = max(proxy.max_in_flight, proxy._in_flight)
                try:
                    if is_object_get and proxy.delay:
                        _time_mod.sleep(proxy.delay)
                    conn = _http_client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                    fwd = {k: v for k, v in headers.items() if k.lower() not in ("connection", "keep-alive")}
                    conn.request(self.command, self.path, body=body, headers=fwd)
                    resp = conn.getresponse()
                    data = resp.read()
                    conn.close()
                finally:
                    if is_object_get:
                        with proxy._lock:
                            proxy._in_flight -= 1
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if action == "truncate" and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._hang_up()
                    return
                self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

        self._server = _ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = _threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        """Forget the request log and stop injecting faults."""
        with self._lock:
            self.requests.clear()
            self.fault = None
            self.delay = 0.0
            self.faults_injected = 0
            self.max_in_flight = 0

    def object_gets(self, bucket: str | None = None) -> list:
        """Logged GETs of objects (not listings), optionally in one bucket."""
        out = [r for r in self.requests if r[0] == "GET" and "?" not in r[1]]
        if bucket:
            out = [r for r in out if r[1].startswith(f"/{bucket}/")]
        return out

    def listed_prefixes(self) -> list:
        """The ``prefix=`` of each logged listing request, in order."""
        from urllib.parse import parse_qs, unquote

        out = []
        for method, path, _ in self.requests:
            if method == "GET" and "list-type" in path:
                q = parse_qs(path.split("?", 1)[1])
                out.append(unquote(q.get("prefix", [""])[0]).rstrip("/"))
        return out

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@_pytest.fixture()
def s3_proxy(s3_server):
    """A :class:`FaultProxy` in front of the moto server (fresh log, no faults)."""
    proxy = FaultProxy(s3_server[0])
    try:
        yield proxy
    finally:
        proxy.close()


# --- synthetic scene fixtures (convml_tt.data.synthetic) ----------------------
# ``synthetic_scenes`` (3 scenes of a 300 km sector) and ``synthetic_data_root``;
# see tests/synthetic_fixtures.py.
from synthetic_fixtures import synthetic_data_root, synthetic_scenes  # noqa: E402,F401


# --- unreachable endpoints (GOES catalogue timeouts) ---------------------------
# A port on 127.0.0.1 where nothing listens, and a server that accepts TCP
# connections and never answers (what a firewall that drops packets after the
# handshake, or a hung server, looks like).
class SilentServer:
    """Accepts connections on 127.0.0.1 and never sends a byte.

    ``url`` is its ``http://`` address; ``accepted`` counts the connections
    accepted so far. :meth:`close` stops it and closes every connection.
    """

    def __init__(self):
        self._sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._conns: list = []
        self._lock = _threading.Lock()
        self._stop = _threading.Event()
        self._thread = _threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._conns)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, _socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)  # read nothing, answer nothing

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
        with self._lock:
            for conn in self._conns:
                conn.close()


@_pytest.fixture()
def silent_server():
    """A :class:`SilentServer` (closed at the end of the test)."""
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()


@_pytest.fixture()
def closed_port_url():
    """``http://127.0.0.1:PORT`` where nothing listens (a port bound, then closed)."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
