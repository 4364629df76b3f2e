"""fetch_tate against a local HTTP server that this test module starts on 127.0.0.1.

The server decides how to answer from the file name's prefix:

- ``OK``: a JPEG, 200, Range ignored.
- ``RANGE``: a JPEG, honours Range (206; 416 past the end).
- ``DROPRANGE`` / ``DROPNORANGE``: the first request sends half the file and drops
  the connection; later ones honour Range / ignore it.
- ``MISSING``: 404. ``HTML``: 200 with an HTML page. ``FLAKY``: 503 twice, then the
  JPEG. ``NOLEN``: a JPEG without Content-Length. ``STALL``: headers, then silence.
- ``SLOW``: the JPEG one byte every 50 ms. ``HANG``: headers, then 4 s of silence.
- ``BIG``: announces ``server.big`` bytes of zeros. ``STREAM``: as many, without
  Content-Length. ``REDIR``: a 302 to ``server.redirects[name]``.
- ``DRIPSTATUS`` / ``DRIPHEADER`` / ``DRIPCHUNK``: a byte every 0.1 s, for 30 s,
  of the status line / a header / the first chunk-size line (chunked).
- ``BADLEN`` / ``HUGELEN``: the JPEG with ``Content-Length: abc`` / 5000 nines.
  ``BIGRANGE``: as ``RANGE``, but a 206's Content-Range total has 5000 digits.
- ``PWNED`` (any such name, the metadata's too): 403 with a reason phrase holding
  a terminal escape sequence.
"""

import csv
import os
import random
import re
import socket
import stat
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import artmedium.io  # noqa: F401 (imported here, not inside a timed fetch)
from artmedium.datasets import (
    DownloadFailure,
    FetchInterrupted,
    FetchResult,
    fetch_tate,
    load_tate,
)
from artmedium.datasets import _fetch as fetch_module
from conftest import run_in_thread
from test_tate import jpeg_bytes, thumbnail_url

METADATA_PATH = "/collection/artwork_data.csv"
# Sets the terminal's title: what a hostile server may put in a reason phrase.
PWNED_REASON = "\x1b]0;PWNED\x07"
CSV_COLUMNS = ["accession_number", "artist", "medium", "thumbnailUrl"]


class TateHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass  # keep pytest output clean

    def do_GET(self):
        server = self.server
        name = self.path.rsplit("/", 1)[-1]
        with server.lock:
            server.hits[name] += 1
            hit = server.hits[name]
            server.requests.append((name, self.headers.get("Range")))
        if self.path == METADATA_PATH:
            return self._send(200, server.metadata, "text/csv")
        if name in ("", ".", ".."):
            # A server may answer for a folder; cut short, the answer stays a .part.
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"<html>")
            self.close_connection = True
            return None
        body = server.files.get(name)
        kind = re.match(r"[A-Z]+", name)
        kind = kind.group(0) if kind else ""
        if kind == "PWNED":
            return self._send(403, b"no", "text/plain", reason=PWNED_REASON)
        if kind == "DRIPSTATUS":
            self.wfile.write(b"HTTP/1.1 200 ")
            return self._drip_forever()
        if kind == "DRIPHEADER":
            self.send_response(200)
            self.flush_headers()
            self.wfile.write(b"X-Slow: ")
            return self._drip_forever()
        if kind == "DRIPCHUNK":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5;")  # a chunk extension follows, never ending
            return self._drip_forever()
        if body is None or kind == "MISSING":
            return self._send(404, b"not found", "text/plain")
        if kind == "HTML":
            return self._send(200, b"<html><body>Sorry</body></html>", "text/html")
        if kind == "FLAKY" and hit <= 2:
            return self._send(503, b"busy", "text/plain")
        if kind.startswith("DROP") and hit == 1:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        if kind in ("STALL", "HANG"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(0.5 if kind == "STALL" else 4)
            return None
        if kind == "SLOW":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self._drip(body)
        if kind in ("BIG", "STREAM"):
            self.send_response(200)
            if kind == "BIG":
                self.send_header("Content-Length", str(server.big))
            self.end_headers()
            self.close_connection = True
            return self._drip(b"\0" * server.big, chunk=1 << 16, pause=0)
        if kind == "REDIR":
            self.send_response(302)
            self.send_header("Location", server.redirects[name])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if kind in ("BADLEN", "HUGELEN"):
            self.send_response(200)
            length = "abc" if kind == "BADLEN" else "9" * 5000
            self.send_header("Content-Length", length)
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return None
        if kind == "NOLEN":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return None
        ranged = self.headers.get("Range")
        if ranged and kind in ("RANGE", "DROPRANGE", "BIGRANGE"):
            start = int(re.fullmatch(r"bytes=(\d+)-", ranged).group(1))
            if start >= len(body):
                return self._send(416, b"", "text/plain")
            self.send_response(206)
            self.send_header("Content-Type", "image/jpeg")
            total = "9" * 5000 if kind == "BIGRANGE" else len(body)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{total}")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            self.wfile.write(body[start:])
            return None
        return self._send(200, body, "image/jpeg")

    def _drip(self, body, chunk=1, pause=0.05):
        """Send ``body`` a chunk at a time until the client goes away."""
        try:
            for start in range(0, len(body), chunk):
                self.wfile.write(body[start : start + chunk])
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            pass  # the client gave up, as it should

    def _drip_forever(self):
        """A byte every 0.1 s for 30 s, unless the client goes away first."""
        self._drip(b"x" * 300, pause=0.1)
        self.close_connection = True

    def _send(self, status, body, content_type, reason=None):
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TateServer:
    """A ThreadingHTTPServer on 127.0.0.1, port 0, serving a synthetic collection."""

    def __init__(self, names):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), TateHandler)
        self.httpd.daemon_threads = True
        self.httpd.lock = threading.Lock()
        self.httpd.hits = Counter()
        self.httpd.requests = []
        self.httpd.files = {}
        self.httpd.big = 1 << 20
        self.httpd.redirects = {}
        self.set_collection(names)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def set_collection(self, names):
        """Serve one "Graphite on paper" artwork per accession number in ``names``."""
        self.httpd.files = {
            f"{acno}_8.jpg": jpeg_bytes(i) for i, acno in enumerate(names)
        }
        self.httpd.metadata = metadata_csv(names)

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def metadata_url(self):
        return self.url + METADATA_PATH

    @property
    def hits(self):
        return self.httpd.hits

    @property
    def requests(self):
        return self.httpd.requests

    def body(self, acno):
        return self.httpd.files[f"{acno}_8.jpg"]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def metadata_csv(names, medium="Graphite on paper", urls=()):
    """Tate-like CSV: a row per accession number, then a row per URL in ``urls``."""
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for acno in names:
        writer.writerow([acno, f"Artist, {acno}", medium, thumbnail_url(acno)])
    for k, url in enumerate(urls):
        writer.writerow([f"X{k:03d}", "Artist, X", medium, url])
    return out.getvalue().encode()


@pytest.fixture(autouse=True)
def only_local_connections(monkeypatch):
    """Fail any connection to an address other than 127.0.0.1, and bypass proxies."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"test tried to reach {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture
def server():
    srv = TateServer(["OK001", "OK002"])
    yield srv
    srv.close()


def fetch(srv, home, **options):
    options = {
        "data_home": home,
        "metadata_url": srv.metadata_url,
        "url_prefix": srv.url,
        "n_jobs": 4,
        "backoff": 0.001,
        "timeout": 5,
        "verbose": 0,
        **options,
    }
    return fetch_tate(**options)


def names_in(folder):
    return sorted(p.name for p in folder.iterdir())


MIXED = [
    "OK001",
    "RANGE01",
    "DROPRANGE01",
    "DROPNORANGE01",
    "NOLEN01",
    "MISSING01",
    "HTML01",
]


def test_fetch_downloads_verifies_and_reports_failures(server, tmp_path):
    server.set_collection(MIXED)
    home = tmp_path / "tate"
    result = fetch(server, home, max_retries=2)

    assert isinstance(result, FetchResult)
    assert (home / "artwork_data.csv").read_bytes() == server.httpd.metadata
    good = ["OK001", "RANGE01", "DROPRANGE01", "DROPNORANGE01", "NOLEN01"]
    assert sorted(result.downloaded) == sorted(
        str(home / "images" / f"{a}_8.jpg") for a in good
    )
    for acno in good:
        assert (home / "images" / f"{acno}_8.jpg").read_bytes() == server.body(acno)
    assert result.present == []
    failed = {f.url.rsplit("/", 1)[-1]: f for f in result.failed}
    assert sorted(failed) == ["HTML01_8.jpg", "MISSING01_8.jpg"]
    assert "404" in failed["MISSING01_8.jpg"].reason
    assert "not a decodable image" in failed["HTML01_8.jpg"].reason
    assert failed["HTML01_8.jpg"].url.startswith(server.url + "/art/images/work/")
    # Nothing half-written or wrong under a final name, no temp file left.
    assert names_in(home / "images") == sorted(f"{a}_8.jpg" for a in good)
    assert not result.ok
    summary = result.summary()
    assert "5 downloaded, 0 already present, 2 failed" in summary
    assert failed["MISSING01_8.jpg"].url in summary


def test_dropped_connection_resumes_with_range_or_restarts(server, tmp_path):
    server.set_collection(["DROPRANGE01", "DROPNORANGE01"])
    fetch(server, tmp_path / "tate", max_retries=1)
    ranges = dict(server.requests[1:])  # after the metadata request, by file
    half = len(server.body("DROPRANGE01")) // 2
    assert server.hits["DROPRANGE01_8.jpg"] == 2
    assert [r for n, r in server.requests if n == "DROPRANGE01_8.jpg"] == [
        None,
        f"bytes={half}-",
    ]
    # The server ignored the Range: the client started over and still got it right.
    assert server.hits["DROPNORANGE01_8.jpg"] == 2
    assert ranges["DROPNORANGE01_8.jpg"] is not None


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    server.set_collection(["RANGE01"])
    images = tmp_path / "tate" / "images"
    images.mkdir(parents=True)
    body = server.body("RANGE01")
    (images / "RANGE01_8.jpg.part").write_bytes(body[:100])
    result = fetch(server, tmp_path / "tate")
    assert result.ok and len(result.downloaded) == 1
    assert ("RANGE01_8.jpg", "bytes=100-") in server.requests
    assert (images / "RANGE01_8.jpg").read_bytes() == body
    assert names_in(images) == ["RANGE01_8.jpg"]


def test_stale_partial_file_fails_verification_then_restarts(server, tmp_path):
    server.set_collection(["RANGE01"])
    images = tmp_path / "tate" / "images"
    images.mkdir(parents=True)
    (images / "RANGE01_8.jpg.part").write_bytes(b"\0" * 100)  # not the served bytes
    result = fetch(server, tmp_path / "tate", max_retries=1)
    assert result.ok
    assert (images / "RANGE01_8.jpg").read_bytes() == server.body("RANGE01")
    assert [r for n, r in server.requests if n == "RANGE01_8.jpg"] == [
        "bytes=100-",
        None,
    ]


def test_part_file_longer_than_the_file_is_discarded_on_416(server, tmp_path):
    server.set_collection(["RANGE01"])
    images = tmp_path / "tate" / "images"
    images.mkdir(parents=True)
    body = server.body("RANGE01")
    (images / "RANGE01_8.jpg.part").write_bytes(body + b"trailing junk")
    result = fetch(server, tmp_path / "tate", max_retries=1)
    assert result.ok
    assert (images / "RANGE01_8.jpg").read_bytes() == body
    assert [r for n, r in server.requests if n == "RANGE01_8.jpg"] == [
        f"bytes={len(body) + 13}-",
        None,
    ]


def test_interrupted_download_leaves_only_a_part_file_then_resumes(server, tmp_path):
    server.set_collection(["DROPRANGE01"])
    home = tmp_path / "tate"
    first = fetch(server, home, max_retries=0)
    assert [f.reason for f in first.failed] == [
        f"incomplete download: {len(server.body('DROPRANGE01')) // 2} of "
        f"{len(server.body('DROPRANGE01'))} bytes (after 1 attempt)"
    ]
    assert names_in(home / "images") == ["DROPRANGE01_8.jpg.part"]
    second = fetch(server, home, max_retries=0)
    assert second.ok and len(second.downloaded) == 1
    assert (home / "images" / "DROPRANGE01_8.jpg").read_bytes() == server.body(
        "DROPRANGE01"
    )


def test_second_run_skips_complete_files(server, tmp_path):
    home = tmp_path / "tate"
    first = fetch(server, home)
    assert len(first.downloaded) == 2
    before = sum(server.hits.values())
    second = fetch(server, home, metadata_url=server.url + "/unused.csv")
    assert second.downloaded == [] and len(second.present) == 2 and second.ok
    assert "0 downloaded, 2 already present, 0 failed" in second.summary()
    assert sum(server.hits.values()) == before  # neither metadata nor images refetched


def test_retries_back_off_exponentially(server, tmp_path, monkeypatch):
    server.set_collection(["FLAKY01"])
    delays = []
    monkeypatch.setattr(
        fetch_module._Limits, "pause", lambda self, delay: delays.append(delay)
    )
    result = fetch(server, tmp_path / "tate", backoff=0.25, max_retries=3)
    assert result.ok
    assert server.hits["FLAKY01_8.jpg"] == 3
    assert delays == [0.25, 0.5]


def test_retries_are_bounded(server, tmp_path, monkeypatch):
    server.set_collection(["FLAKY01"])
    monkeypatch.setattr(fetch_module._Limits, "pause", lambda self, delay: None)
    result = fetch(server, tmp_path / "tate", max_retries=1)
    assert server.hits["FLAKY01_8.jpg"] == 2
    assert result.failed[0].reason == "HTTP 503 Service Unavailable (after 2 attempts)"


def test_404_is_not_retried(server, tmp_path):
    server.set_collection(["MISSING01"])
    result = fetch(server, tmp_path / "tate", max_retries=3)
    assert server.hits["MISSING01_8.jpg"] == 1
    assert result.failed[0].reason == "HTTP 404 Not Found"


def test_timeout_is_a_failure_with_a_reason(server, tmp_path):
    server.set_collection(["STALL01"])
    result = fetch(server, tmp_path / "tate", timeout=0.1, max_retries=0)
    assert len(result.failed) == 1
    assert "timed out" in result.failed[0].reason.lower()
    assert not (tmp_path / "tate" / "images" / "STALL01_8.jpg").exists()


def test_max_images_caps_the_downloads(server, tmp_path):
    server.set_collection([f"OK{i:03d}" for i in range(6)])
    result = fetch(server, tmp_path / "tate", max_images=2)
    assert len(result.downloaded) == 2
    assert sum(n.endswith(".jpg") for n, _ in server.requests) == 2


def test_max_images_is_spread_round_robin_over_classes(server, tmp_path):
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    server.httpd.files = {}
    for i, medium in enumerate(["Graphite on paper"] * 4 + ["Etching on paper"] * 2):
        acno = f"OK{i:03d}"
        server.httpd.files[f"{acno}_8.jpg"] = jpeg_bytes(i)
        writer.writerow([acno, "Artist", medium, thumbnail_url(acno)])
    writer.writerow(["OK999", "Artist", "Bronze", thumbnail_url("OK999")])
    server.httpd.files["OK999_8.jpg"] = jpeg_bytes(999)
    writer.writerow(["OK998", "Artist", "Etching on paper", ""])
    server.httpd.metadata = out.getvalue().encode()
    result = fetch(server, tmp_path / "tate", max_images=4)
    assert [p.rsplit("/", 1)[-1] for p in result.downloaded] == [
        "OK000_8.jpg",
        "OK004_8.jpg",
        "OK001_8.jpg",
        "OK005_8.jpg",
    ]
    everything = fetch(server, tmp_path / "all", classes=None)
    assert len(everything.downloaded) == 7  # Bronze too, with classes=None
    assert everything.n_without_url == 1
    assert "1 selected rows have no thumbnailUrl" in everything.summary()


def test_url_prefix_replaces_scheme_and_host():
    url = "http://www.tate.org.uk/art/images/work/A/A00/A00001_8.jpg"
    assert fetch_module._rewrite_url(url, "http://127.0.0.1:9/m/") == (
        "http://127.0.0.1:9/m/art/images/work/A/A00/A00001_8.jpg"
    )
    assert fetch_module._rewrite_url(url, None) == url


def test_metadata_failure_names_the_url(server, tmp_path):
    url = server.url + "/nothing-here.csv"
    with pytest.raises(OSError, match=re.escape(url) + ".*404"):
        fetch(server, tmp_path / "tate", metadata_url=url)
    assert not (tmp_path / "tate" / "artwork_data.csv").exists()


def test_metadata_that_is_not_tate_csv_is_refused(server, tmp_path):
    server.httpd.metadata = b"<html>moved</html>"
    with pytest.raises(OSError, match="missing column"):
        fetch(server, tmp_path / "tate")
    assert not (tmp_path / "tate" / "artwork_data.csv").exists()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"n_jobs": 0}, ValueError, "n_jobs == 0, must be >= 1"),
        ({"n_jobs": 2.5}, TypeError, "n_jobs must be an instance of int"),
        ({"n_jobs": True}, TypeError, "n_jobs must be an int, not a bool"),
        ({"max_images": 0}, ValueError, "max_images == 0, must be >= 1"),
        ({"max_retries": -1}, ValueError, "max_retries == -1, must be >= 0"),
        ({"timeout": 0}, ValueError, "timeout == 0, must be > 0"),
        ({"timeout": "3"}, TypeError, "timeout must be an instance of"),
        ({"timeout": float("nan")}, ValueError, "timeout == nan, must be a finite"),
        ({"deadline": 0}, ValueError, "deadline == 0, must be > 0"),
        ({"deadline": float("inf")}, ValueError, "deadline == inf, must be a fin"),
        ({"backoff": -0.5}, ValueError, "backoff == -0.5, must be >= 0"),
        ({"max_bytes": 0}, ValueError, "max_bytes == 0, must be >= 1"),
        ({"max_bytes": 1.5}, TypeError, "max_bytes must be an instance of int"),
        ({"classes": "everything"}, ValueError, "classes"),
        ({"metadata_url": "file:///etc/passwd"}, ValueError, "metadata_url.*'file'"),
        ({"metadata_url": "/collection/artwork_data.csv"}, ValueError, "metadata_url"),
        ({"metadata_url": None}, ValueError, "metadata_url"),
        ({"url_prefix": "file:///tmp/mirror"}, ValueError, "url_prefix.*'file'"),
        ({"url_prefix": "ftp://127.0.0.1/mirror"}, ValueError, "url_prefix.*'ftp'"),
    ],
)
def test_invalid_options_are_refused_before_any_request(
    server, tmp_path, options, error, match
):
    with pytest.raises(error, match=match):
        fetch(server, tmp_path / "tate", **options)
    assert server.requests == []


def test_zero_backoff_and_retries_are_allowed(server, tmp_path):
    result = fetch(server, tmp_path / "tate", backoff=0, max_retries=0)
    assert result.ok and len(result.downloaded) == 2


class FakeTerminal:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(server, tmp_path, monkeypatch, capsys):
    fetch(server, tmp_path / "quiet", verbose=1)
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fetch(server, tmp_path / "tty", verbose=1)
    assert "2/2" in terminal.text and terminal.text.endswith("\n")
    silent = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", silent)
    fetch(server, tmp_path / "tty0", verbose=0)
    assert silent.text == ""


def test_load_tate_downloads_when_missing(server, tmp_path, monkeypatch):
    from functools import partial

    monkeypatch.setattr(
        fetch_module,
        "fetch_tate",
        partial(
            fetch_tate,
            metadata_url=server.metadata_url,
            url_prefix=server.url,
            verbose=0,
        ),
    )
    home = tmp_path / "tate"
    with pytest.raises(FileNotFoundError):
        load_tate(data_home=home, classes=["Graphite on paper"])
    tate = load_tate(
        data_home=home, classes=["Graphite on paper"], download_if_missing=True
    )
    assert sorted(p.rsplit("/", 1)[-1] for p in tate.data) == [
        "OK001_8.jpg",
        "OK002_8.jpg",
    ]
    assert list(tate.groups) == ["Artist, OK001", "Artist, OK002"]


# ------------------------------------------------ bounds: time, size, Ctrl-C


def test_slow_server_is_stopped_at_the_deadline(server, tmp_path):
    # A byte every 50 ms never trips the 1 s socket timeout: only the deadline
    # (per file, retries included) bounds it.
    server.set_collection(["OK001", "SLOW01"])
    images = tmp_path / "tate" / "images"
    start = time.monotonic()
    result = fetch(server, tmp_path / "tate", timeout=1, deadline=0.5)
    assert time.monotonic() - start < 3
    assert result.downloaded == [str(images / "OK001_8.jpg")]
    [failure] = result.failed
    assert failure.url.endswith("/SLOW01_8.jpg")
    assert failure.reason.startswith("not complete within the 0.5 s deadline (")
    assert server.hits["SLOW01_8.jpg"] == 1  # not retried
    # As after a network error: no final file, the .part kept to resume.
    assert names_in(images) == ["OK001_8.jpg", "SLOW01_8.jpg.part"]
    part = (images / "SLOW01_8.jpg.part").read_bytes()
    assert server.body("SLOW01").startswith(part)


def test_retry_waits_never_run_past_the_deadline(server, tmp_path):
    server.set_collection(["FLAKY01"])
    start = time.monotonic()
    result = fetch(server, tmp_path / "tate", backoff=10, max_retries=3, deadline=1)
    assert time.monotonic() - start < 2
    assert [f.reason for f in result.failed] == [
        "HTTP 503 Service Unavailable (after 1 attempt; no time left for another "
        "within the 1 s deadline)"
    ]


def interrupt_at_first_result(monkeypatch):
    """Ctrl-C in the main thread as soon as the first download is counted.

    Returns a list that receives the time of the interruption.
    """
    when = []

    def update(self, failed=False):
        when.append(time.monotonic())
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch_module.Progress, "update", update)
    return when


def test_ctrl_c_stops_within_seconds_keeping_the_summary(server, tmp_path, monkeypatch):
    # SLOW01 would take a minute; HANG01 sits in a read for 4 s (timeout 5).
    # The worker done with OK001 may start SLOW03, but no other.
    names = ["OK001", "SLOW01", "HANG01", "SLOW02", "SLOW03", "OK002", "OK003"]
    server.set_collection(names)
    interrupted = interrupt_at_first_result(monkeypatch)
    images = tmp_path / "tate" / "images"
    with pytest.raises(KeyboardInterrupt) as info:
        fetch(server, tmp_path / "tate", n_jobs=4, timeout=5)
    assert time.monotonic() - interrupted[0] < 2
    assert isinstance(info.value, fetch_module.FetchInterrupted)
    result = info.value.result
    assert result.downloaded == [str(images / "OK001_8.jpg")]
    assert result.failed == [] and result.n_unfinished == 6 and not result.ok
    assert result.summary().startswith(
        f"Tate thumbnails in {images}: 1 downloaded, 0 already present, 0 failed, "
        "6 not finished (interrupted)"
    )
    # Queued downloads never started; the running ones left resumable .parts.
    assert server.hits["OK002_8.jpg"] == server.hits["OK003_8.jpg"] == 0
    assert {p for p in names_in(images) if not p.endswith(".part")} == {"OK001_8.jpg"}


@pytest.mark.parametrize("kind", ["BIG", "STREAM"])
def test_download_over_max_bytes_is_refused_leaving_no_part(server, tmp_path, kind):
    # BIG announces 1 MiB (refused before reading); STREAM just sends it.
    server.set_collection(["OK001", f"{kind}01"])
    images = tmp_path / "tate" / "images"
    result = fetch(server, tmp_path / "tate", max_bytes=10_000)
    assert result.downloaded == [str(images / "OK001_8.jpg")]
    [failure] = result.failed
    assert failure.reason.startswith("too large: ")
    assert "over the 10000-byte limit (max_bytes)" in failure.reason
    if kind == "BIG":
        assert f"{server.httpd.big} bytes announced" in failure.reason
    assert server.hits[f"{kind}01_8.jpg"] == 1  # not retried
    assert names_in(images) == ["OK001_8.jpg"]


def test_max_bytes_default_is_documented():
    import inspect

    default = inspect.signature(fetch_tate).parameters["max_bytes"].default
    assert default == 50 * 1024**2
    assert "max_bytes : int or None, default=50 * 1024**2" in fetch_tate.__doc__


# ------------------------------------------------ URLs from the metadata


def ok_url(srv, acno="OK001"):
    return srv.url + f"/art/images/work/{acno[0]}/{acno[:3]}/{acno}_8.jpg"


def test_non_http_urls_are_refused_without_touching_the_file_system(server, tmp_path):
    secret = tmp_path / "secret_8.jpg"
    secret.write_bytes(jpeg_bytes(7))
    refused = [
        secret.as_uri(),
        (tmp_path / "absent_8.jpg").as_uri(),
        "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ",
        "ftp://127.0.0.1/pub/A00001_8.jpg",
        "javascript:alert(1)//A00002_8.jpg",
    ]
    server.set_collection(["OK001"])
    server.httpd.metadata = metadata_csv([], urls=[ok_url(server), *refused])
    home = tmp_path / "tate"
    result = fetch(server, home, url_prefix=None)
    assert result.downloaded == [str(home / "images" / "OK001_8.jpg")]
    assert [f.url for f in result.failed] == refused
    assert all(f.path == "" for f in result.failed)
    reasons = [f.reason for f in result.failed]
    # The same words whether the local file exists or not: nothing was looked up.
    assert reasons[:2] == ["scheme 'file' is not allowed (http and https only)"] * 2
    assert reasons[2:] == [
        f"scheme {scheme!r} is not allowed (http and https only)"
        for scheme in ("data", "ftp", "javascript")
    ]
    assert names_in(home / "images") == ["OK001_8.jpg"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1:{port}/"])
def test_redirect_to_another_scheme_is_refused(server, tmp_path, target):
    server.set_collection(["REDIR01", "REDIR02", "OK001"])
    port = server.httpd.server_address[1]
    server.httpd.redirects = {
        "REDIR01_8.jpg": target.format(port=port),
        "REDIR02_8.jpg": ok_url(server),  # http to http is followed
    }
    images = tmp_path / "tate" / "images"
    result = fetch(server, tmp_path / "tate")
    assert sorted(result.downloaded) == [
        str(images / "OK001_8.jpg"),
        str(images / "REDIR02_8.jpg"),
    ]
    [failure] = result.failed
    assert failure.reason.startswith("HTTP 302 ")
    assert "not allowed" in failure.reason
    assert server.hits["REDIR01_8.jpg"] == 1  # refused, not retried
    assert names_in(images) == ["OK001_8.jpg", "REDIR02_8.jpg"]


def test_urls_naming_no_file_fail_cleanly(server, tmp_path):
    odd = [
        "http://www.tate.org.uk/art/images/work/.",
        "http://www.tate.org.uk/art/images/work/..",
        "http://www.tate.org.uk/art/images/work/",
        "http://www.tate.org.uk/art/images/work/..?size=8",
    ]
    server.httpd.metadata = metadata_csv(["OK001"], urls=odd)
    home = tmp_path / "tate"
    result = fetch(server, home, max_retries=0)
    assert result.downloaded == [str(home / "images" / "OK001_8.jpg")]
    assert [(f.url, f.reason) for f in result.failed] == [
        (url, f"the URL names no file (its last part is {name!r})")
        for url, name in zip(odd, [".", "..", "", ".."])
    ]
    # Neither images.part beside images/ nor ...part inside it.
    assert names_in(tmp_path) == ["tate"]
    assert names_in(home) == ["artwork_data.csv", "images"]
    assert names_in(home / "images") == ["OK001_8.jpg"]


def test_nul_byte_in_one_url_is_one_failure_row(server, tmp_path):
    bad = "http://www.tate.org.uk/art/images/work/N/NUL/NUL\x0001_8.jpg"
    server.httpd.metadata = metadata_csv(["OK001", "OK002"], urls=[bad])
    result = fetch(server, tmp_path / "tate")
    assert len(result.downloaded) == 2
    [failure] = result.failed
    assert failure.url == bad
    assert failure.reason == "character '\\x00' is not allowed in a URL"
    summary = result.summary()
    assert f"  failed: {bad!r}: character" in summary
    assert "\x00" not in summary


def test_hostile_metadata_rows_only_fail_and_write_nothing_outside_images(
    server, tmp_path
):
    outside = tmp_path / "outside_8.jpg"
    outside.write_bytes(jpeg_bytes(3))
    work = "http://www.tate.org.uk/art/images/work/"
    hostile = [
        outside.as_uri(),
        "file:///etc/passwd",
        "FILE://localhost/etc/hostname",
        "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ",
        "ftp://127.0.0.1/pub/A00001_8.jpg",
        "javascript:alert(1)//A00002_8.jpg",
        work + "NUL\x0001_8.jpg",
        work + "evil_8.jpg\r\nX-Injected: 1",
        work + "\x1b[2Jevil_8.jpg",
        work + "\u00e9vil_8.jpg",
        work + "..",
        work + ".",
        work,
        work + "..\\..\\evil_8.jpg",
        work + "A00005_8.jpg.part",
        work + "A" * 300 + "_8.jpg",
        "http:///etc/passwd",
        "//www.tate.org.uk/art/images/work/A00003_8.jpg",
        "/art/images/work/A00004_8.jpg",
        "http://[::1/A00006_8.jpg",
        # Well-formed, so requested (from the test server): failures all the same.
        work + "..%2F..%2Foutside_8.jpg",
        "http://www.tate.org.uk/" + "a/" * 40_000 + "long_8.jpg",
    ]
    server.httpd.metadata = metadata_csv([], urls=hostile)
    home = tmp_path / "tate"
    before = set(tmp_path.rglob("*"))
    result = fetch(server, home, max_retries=1)
    assert result.downloaded == [] and result.present == []
    assert len(result.failed) == len(hostile)
    # Refused before any request (no path), but for the last two (HTTP errors).
    refused = {f.url for f in result.failed if f.path == ""}
    assert refused == set(hostile[:-2])
    assert all(f.reason for f in result.failed)
    lines = result.summary().splitlines()
    assert len(lines) == 1 + len(hostile)
    assert all(line.isprintable() for line in lines)
    new = set(tmp_path.rglob("*")) - before
    assert new == {home, home / "artwork_data.csv", home / "images"}
    assert outside.read_bytes() == jpeg_bytes(3)
    requested = {name for name, _ in server.requests}
    assert requested <= {"artwork_data.csv", "..%2F..%2Foutside_8.jpg", "long_8.jpg"}


@pytest.mark.parametrize("where", ["on disk", "downloaded"])
def test_binary_metadata_is_a_value_error_naming_the_file(server, tmp_path, where):
    home = tmp_path / "tate"
    junk = random.Random(0).randbytes(4096)
    if where == "on disk":
        home.mkdir()
        (home / "artwork_data.csv").write_bytes(junk)
    else:  # a valid first line passes the download's check, the rest does not
        server.httpd.metadata = (",".join(CSV_COLUMNS) + "\n").encode() + junk
    with pytest.raises(ValueError) as info:
        fetch(server, home)
    message = str(info.value)
    assert message.startswith(f"{home / 'artwork_data.csv'} is not UTF-8 text (")
    assert "\n" not in message
    assert [name for name, _ in server.requests if name != "artwork_data.csv"] == []


# ------------------------------------------------ the deadline holds, whatever drips


def wait_until(condition, timeout=10):
    """Whether ``condition()`` became true within ``timeout`` seconds."""
    until = time.monotonic() + timeout
    while not condition() and time.monotonic() < until:
        time.sleep(0.02)
    return condition()


def deadline_timers():
    """The watchdogs' timer threads alive now (an earlier test's Ctrl-C may have
    left workers to finish their attempt: compare with a set taken before)."""
    return {t for t in threading.enumerate() if t.name == "artmedium-fetch-deadline"}


@pytest.mark.parametrize("kind", ["DRIPSTATUS", "DRIPHEADER", "DRIPCHUNK"])
def test_deadline_holds_while_the_server_drips_before_the_body(server, tmp_path, kind):
    # A byte every 0.1 s never trips the 3 s socket timeout, and no body read
    # comes for the checks between reads to run: only the watchdog ends it.
    acno = f"{kind}01"
    server.set_collection(["OK001", acno])
    home = tmp_path / "tate"
    timers = deadline_timers()
    result = run_in_thread(lambda: fetch(server, home, timeout=3, deadline=1))
    assert result.downloaded == [str(home / "images" / "OK001_8.jpg")]
    [failure] = result.failed
    assert failure.url.endswith(f"/{acno}_8.jpg")
    assert failure.reason.startswith("not complete within the 1 s deadline (")
    assert server.hits[f"{acno}_8.jpg"] == 1  # not retried
    assert not (home / "images" / f"{acno}_8.jpg").exists()
    assert deadline_timers() <= timers


@pytest.mark.parametrize("kind", ["OK", "MISSING", "FLAKY", "DRIPHEADER", "SLOW"])
def test_no_thread_outlives_a_download(server, tmp_path, kind):
    # A success, an HTTP error, retries, the watchdog firing, and Ctrl-C (the
    # cancel event) in the middle of a body: each attempt's timer is gone.
    server.set_collection([f"{kind}01"])
    dest = tmp_path / f"{kind}01_8.jpg"
    cancel = threading.Event()
    before, timers = threading.active_count(), deadline_timers()
    if kind == "SLOW":
        ctrl_c = threading.Timer(0.3, cancel.set)
        ctrl_c.start()

    def download():
        url = ok_url(server, f"{kind}01")
        options = {"timeout": 3, "deadline": 1, "backoff": 0.01, "cancel": cancel}
        return fetch_module.download(url, dest, **options)

    expected = {
        "OK": None,
        "FLAKY": None,
        "MISSING": "HTTP 404 Not Found",
        "DRIPHEADER": "not complete within the 1 s deadline (0 bytes received)",
        "SLOW": "cancelled",
    }[kind]
    if expected is None:
        assert run_in_thread(download) is True and dest.is_file()
    else:
        with pytest.raises(OSError, match=re.escape(f"_8.jpg: {expected}") + "$"):
            run_in_thread(download)
    assert deadline_timers() <= timers  # joined, not merely cancelled
    # The server's handler threads (and the Ctrl-C timer) end in their own time.
    assert wait_until(lambda: threading.active_count() <= before)


class TLSDripHandler(BaseHTTPRequestHandler):
    """Answers a TLS client hello with the header of a 16 KiB handshake record,
    then one byte of it every 0.1 s (for 30 s): the handshake never ends."""

    def handle(self):
        try:
            self.wfile.write(b"\x16\x03\x03\x3f\xff")
            for _ in range(300):
                self.wfile.write(b"\0")
                time.sleep(0.1)
        except OSError:
            pass  # the client gave up, as it should


def test_deadline_holds_through_a_dripped_tls_handshake(tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TLSDripHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    url = f"https://127.0.0.1:{httpd.server_address[1]}/A00001_8.jpg"
    dest = tmp_path / "A00001_8.jpg"
    try:
        with pytest.raises(OSError) as info:
            run_in_thread(
                lambda: fetch_module.download(url, dest, timeout=3, deadline=1)
            )
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert str(info.value) == (
        f"{url}: not complete within the 1 s deadline (0 bytes received)"
    )


def test_no_connection_is_opened_or_kept_past_the_deadline(server):
    address = server.httpd.server_address[:2]
    watchdog = fetch_module._Watchdog(0)
    try:
        assert wait_until(lambda: watchdog.expired)
        with pytest.raises(OSError, match="the deadline passed"):
            watchdog.create_connection(address, 1)
        with socket.create_connection(address, 5) as sock:
            watchdog.watch(sock)
            # Shut down at once: no wait for the (silent) server.
            assert sock.recv(1) == b""
    finally:
        watchdog.close()
    assert server.requests == []


# ------------------------------------------------ one bad answer fails one file


@pytest.mark.parametrize(
    ("kind", "shown"), [("BADLEN", "'abc'"), ("HUGELEN", "'9999999999")]
)
def test_bad_content_length_fails_that_file_only(server, tmp_path, kind, shown):
    server.set_collection(["OK001", f"{kind}01", "OK002"])
    result = fetch(server, tmp_path / "tate", max_retries=3)
    assert len(result.downloaded) == 2
    [failure] = result.failed
    assert failure.url.endswith(f"/{kind}01_8.jpg")
    assert failure.reason.startswith(f"bad Content-Length header {shown}")
    assert failure.reason.endswith(": not a byte count")
    assert len(failure.reason) < 200
    assert server.hits[f"{kind}01_8.jpg"] == 1  # a broken server: not retried


def test_bad_content_range_on_a_resume_restarts_the_file(server, tmp_path):
    server.set_collection(["OK001", "BIGRANGE01"])
    home = tmp_path / "tate"
    part = home / "images" / "BIGRANGE01_8.jpg.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(server.body("BIGRANGE01")[:100])
    first = fetch(server, home, max_retries=0)
    assert len(first.downloaded) == 1
    [failure] = first.failed
    assert failure.reason.startswith("bad Content-Range 'bytes 100-")
    assert failure.reason.endswith(" for a resume from byte 100 (after 1 attempt)")
    assert not part.exists()
    second = fetch(server, home, max_retries=0)
    assert second.ok and len(second.downloaded) == 1


def test_any_error_of_one_download_is_a_failure_row(server, tmp_path, monkeypatch):
    real = fetch_module.download

    def download(url, dest, **options):
        if url.endswith("/OK002_8.jpg"):
            raise RuntimeError("unforeseen\x1b[2J")
        return real(url, dest, **options)

    monkeypatch.setattr(fetch_module, "download", download)
    home = tmp_path / "tate"
    result = fetch(server, home)
    assert result.downloaded == [str(home / "images" / "OK001_8.jpg")]
    assert result.failed == [
        DownloadFailure(
            ok_url(server, "OK002"),
            str(home / "images" / "OK002_8.jpg"),
            repr("RuntimeError: unforeseen\x1b[2J"),
        )
    ]


def test_system_exit_in_a_download_still_stops_the_run(server, tmp_path, monkeypatch):
    real = fetch_module.download

    def download(url, dest, **options):
        if url.endswith("_8.jpg"):
            raise SystemExit(3)
        return real(url, dest, **options)

    monkeypatch.setattr(fetch_module, "download", download)
    with pytest.raises(SystemExit):
        fetch(server, tmp_path / "tate")


# ------------------------------------------------ nothing raw reaches a terminal


def test_server_reason_phrase_is_escaped_in_the_summary(server, tmp_path):
    server.set_collection(["OK001", "PWNED01"])
    result = fetch(server, tmp_path / "tate")
    [failure] = result.failed
    assert failure.reason == repr(f"HTTP 403 {PWNED_REASON}")
    summary = result.summary()
    assert "\x1b" not in summary and "\x07" not in summary
    assert all(line.isprintable() for line in summary.splitlines())
    assert "HTTP 403 \\x1b]0;PWNED\\x07" in summary


def test_metadata_error_quoting_the_server_is_escaped(server, tmp_path):
    with pytest.raises(OSError) as info:
        fetch(server, tmp_path / "tate", metadata_url=server.url + "/PWNED.csv")
    message = str(info.value)
    assert message.isprintable()
    assert message == f"{server.url}/PWNED.csv: {repr(f'HTTP 403 {PWNED_REASON}')}"


def test_summary_escapes_every_text_it_prints():
    result = FetchResult(
        "/data/t\x1b[2Jate",
        "/data/t\x1b[2Jate/artwork_data.csv",
        failed=[DownloadFailure("http://x/A\nB_8.jpg", "", "bad\rreason\u202e")],
        n_unfinished=1,
    )
    lines = result.summary().splitlines()
    assert len(lines) == 2
    assert all(line.isprintable() for line in lines)
    assert lines[0].startswith("Tate thumbnails in '/data/t\\x1b[2Jate/images': ")
    assert lines[1] == "  failed: 'http://x/A\\nB_8.jpg': 'bad\\rreason\\u202e'"
    assert str(FetchInterrupted(result)).isprintable()


# ------------------------------------------------ no FIFO or link waited on, written


needs_fifo = pytest.mark.skipif(
    not hasattr(os, "mkfifo"), reason="named pipes (FIFOs) are POSIX only"
)


@needs_fifo
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("artworks/a/evil.json", "a JSON artwork record"),
        ("artwork_data.csv", "Tate's artwork_data.csv"),
    ],
)
def test_fifo_metadata_is_a_value_error_not_a_hang(server, tmp_path, where, expected):
    home = tmp_path / "tate"
    fifo = home / where
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    with pytest.raises(ValueError) as info:
        run_in_thread(lambda: fetch(server, home))
    assert type(info.value) is ValueError
    assert str(info.value) == (
        f"{fifo} is a named pipe (FIFO), not a regular file; expected {expected}"
    )
    assert server.requests == []
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # neither read nor replaced


@needs_fifo
def test_fifo_in_place_of_a_partial_download_fails_that_file(server, tmp_path):
    home = tmp_path / "tate"
    part = home / "images" / "OK002_8.jpg.part"
    part.parent.mkdir(parents=True)
    os.mkfifo(part)
    result = run_in_thread(lambda: fetch(server, home))
    assert result.downloaded == [str(home / "images" / "OK001_8.jpg")]
    [failure] = result.failed
    assert failure.reason == f"{part} is a named pipe (FIFO), not a regular file"
    assert stat.S_ISFIFO(os.lstat(part).st_mode)


@needs_fifo
def test_fifo_in_place_of_the_metadata_part_is_an_error(server, tmp_path):
    home = tmp_path / "tate"
    home.mkdir()
    part = home / "artwork_data.csv.part"
    os.mkfifo(part)
    with pytest.raises(OSError) as info:
        run_in_thread(lambda: fetch(server, home))
    assert str(info.value) == (
        f"{server.metadata_url}: {part} is a named pipe (FIFO), not a regular file"
    )


@needs_fifo
def test_fifo_in_place_of_a_thumbnail_is_left_alone(server, tmp_path):
    home = tmp_path / "tate"
    fifo = home / "images" / "OK002_8.jpg"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    result = fetch(server, home)
    assert result.downloaded == [str(home / "images" / "OK001_8.jpg")]
    [failure] = result.failed
    assert failure.reason == f"{fifo} is a named pipe (FIFO), not a regular file"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert server.hits["OK002_8.jpg"] == 0


def test_link_in_place_of_a_partial_download_writes_nothing_through_it(
    server, tmp_path
):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    home = tmp_path / "tate"
    part = home / "images" / "OK002_8.jpg.part"
    part.parent.mkdir(parents=True)
    part.symlink_to(outside)
    result = fetch(server, home)
    assert result.downloaded == [str(home / "images" / "OK001_8.jpg")]
    [failure] = result.failed
    assert failure.reason == f"{part} is a symbolic link, not a regular file"
    assert outside.read_bytes() == b"keep me"
