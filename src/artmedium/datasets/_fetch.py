"""Download Tate's metadata and thumbnails: resumable, atomic, verified, threaded.

Every file is written to ``<name>.part`` in its final folder and moved into place
with :func:`os.replace` only once complete and verified, so a file under its final
name is always whole; a ``.part`` left by an interrupted run is resumed with an
HTTP Range request when the server answers 206, and restarted otherwise.
Only :mod:`urllib` is used.
"""

import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlsplit

from artmedium._version import __version__
from artmedium.datasets._tate import (
    IMAGES_DIR,
    METADATA_CSV,
    REQUIRED_CSV_COLUMNS,
    find_metadata,
    medium_key,
    read_metadata,
    resolve_classes,
    tate_home,
    url_basename,
)

__all__ = ["TATE_METADATA_URL", "DownloadFailure", "FetchResult", "fetch_tate"]

#: Tate's ``artwork_data.csv`` on GitHub (tategallery/collection).
TATE_METADATA_URL = (
    "https://github.com/tategallery/collection/raw/master/artwork_data.csv"
)
_CHUNK = 1 << 16
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
# Worth another try: the server may be busy or the network may recover.
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DownloadFailure:
    """One file that could not be downloaded.

    Attributes
    ----------
    url : str
        The URL requested.
    path : str
        Where it would have been saved.
    reason : str
        What went wrong (HTTP status, network error, "not a decodable image", ...).
    """

    url: str
    path: str
    reason: str


@dataclass
class FetchResult:
    """What :func:`fetch_tate` did.

    Attributes
    ----------
    data_home : str
        The Tate folder.
    metadata : str
        Path of the metadata file used.
    downloaded : list of str
        Paths of the thumbnails downloaded by this call.
    present : list of str
        Paths of the thumbnails that were already complete on disk.
    failed : list of DownloadFailure
        Thumbnails that could not be downloaded, with URL and reason.
    n_without_url : int
        Selected rows that have no ``thumbnailUrl`` (nothing to download).

    Examples
    --------
    >>> result = FetchResult("/data/tate", "/data/tate/artwork_data.csv",
    ...                      downloaded=["/data/tate/images/A1_8.jpg"])
    >>> result.ok
    True
    >>> print(result.summary())
    Tate thumbnails in /data/tate/images: 1 downloaded, 0 already present, 0 failed
    """

    data_home: str
    metadata: str
    downloaded: list = field(default_factory=list)
    present: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    n_without_url: int = 0

    @property
    def ok(self):
        """True when no thumbnail failed."""
        return not self.failed

    def summary(self):
        """One line of counts, then one line per failure (URL: reason)."""
        images = Path(self.data_home) / IMAGES_DIR
        lines = [
            f"Tate thumbnails in {images}: {len(self.downloaded)} downloaded, "
            f"{len(self.present)} already present, {len(self.failed)} failed"
        ]
        if self.n_without_url:
            lines[0] += f" ({self.n_without_url} selected rows have no thumbnailUrl)"
        lines += [f"  failed: {f.url}: {f.reason}" for f in self.failed]
        return "\n".join(lines)

    def __str__(self):
        return self.summary()


class _Transient(Exception):
    """A failure that another attempt may fix."""


class _StalePart(_Transient):
    """HTTP 416 on a resume: the partial file does not fit the file served now."""


class _Permanent(Exception):
    """A failure that retrying will not fix (404, not an image, ...)."""


def _rewrite_url(url, url_prefix):
    """Replace the scheme and host of ``url`` by ``url_prefix`` (which may add a path).

    >>> _rewrite_url("http://www.tate.org.uk/art/images/work/A/A00/A00001_8.jpg",
    ...              "http://127.0.0.1:8000/mirror/")
    'http://127.0.0.1:8000/mirror/art/images/work/A/A00/A00001_8.jpg'
    """
    if not url_prefix:
        return url
    parts = urlsplit(url)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return url_prefix.rstrip("/") + "/" + rest.lstrip("/")


def _open(url, offset, timeout):
    request = urllib.request.Request(
        url, headers={"User-Agent": f"artmedium/{__version__}"}
    )
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        reason = f"HTTP {exc.code} {exc.reason}"
        if exc.code == 416 and offset:
            raise _StalePart(reason) from exc
        if exc.code in _TRANSIENT_HTTP:
            raise _Transient(reason) from exc
        raise _Permanent(reason) from exc
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        raise _Transient(f"network error: {getattr(exc, 'reason', exc)}") from exc


def _attempt(url, part, timeout):
    """Fetch ``url`` into ``part`` once, resuming it when it exists.

    Returns whether earlier bytes were kept (a resumed download).
    """
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except _StalePart:
        part.unlink()
        raise
    with response:
        total = None
        content_length = response.headers.get("Content-Length")
        if response.status == 206 and offset:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if not match or int(match[1]) != offset:
                part.unlink()
                raise _Transient(
                    f"bad Content-Range {response.headers.get('Content-Range')!r} "
                    f"for a resume from byte {offset}"
                )
            if match[3] != "*":
                total = int(match[3])
            elif content_length is not None:
                total = offset + int(content_length)
            mode = "ab"
        else:
            # 200 (Range ignored, or no partial file): start over.
            offset, mode = 0, "wb"
            total = int(content_length) if content_length is not None else None
        try:
            with open(part, mode) as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
        except (HTTPException, OSError) as exc:
            raise _Transient(f"connection lost: {exc!r}") from exc
    size = part.stat().st_size
    if total is not None and size != total:
        if size > total:
            part.unlink()
        raise _Transient(f"incomplete download: {size} of {total} bytes")
    return offset > 0


def download(url, dest, *, timeout=30.0, max_retries=3, backoff=0.5, verify=None):
    """Download ``url`` to ``dest`` atomically; skip it when ``dest`` exists.

    Parameters
    ----------
    url : str
        What to fetch.
    dest : path-like
        Final path; the data goes to ``<dest>.part`` first.
    timeout : float
        Socket timeout in seconds, per attempt.
    max_retries : int
        Further attempts after the first one for transient failures (network
        errors, 5xx, 429, short reads), waiting ``backoff * 2**k`` seconds before
        retry ``k`` (0-based).
    backoff : float
        First retry delay in seconds.
    verify : callable, optional
        Called with the ``.part`` path once complete; raises ``ValueError`` (or
        :class:`~artmedium.io.ImageReadError`) to reject the content.

    Returns
    -------
    bool
        True when downloaded, False when ``dest`` was already there.

    Raises
    ------
    OSError
        When the file could not be fetched; the message names the URL and reason.
        No file is left under ``dest``.
    """
    dest = Path(dest)
    if dest.is_file():
        return False
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        try:
            resumed = _attempt(url, part, timeout)
            if verify is not None:
                try:
                    verify(part)
                except ValueError as exc:
                    part.unlink(missing_ok=True)
                    reason = getattr(exc, "reason", None) or str(exc)
                    if resumed:
                        # The old bytes may not belong to the file served now.
                        raise _Transient(f"resumed file rejected: {reason}") from exc
                    raise _Permanent(reason) from exc
            break
        except _Permanent as exc:
            raise OSError(f"{url}: {exc}") from None
        except _Transient as exc:
            if attempt >= max_retries:
                tries = "attempt" if attempt == 0 else "attempts"
                raise OSError(f"{url}: {exc} (after {attempt + 1} {tries})") from None
            time.sleep(backoff * 2**attempt)
            attempt += 1
    os.replace(part, dest)
    return True


def _verify_image(path):
    # Imported here: artmedium.io pulls in torch, which `import artmedium.datasets`
    # (and `artmedium fetch-tate --help`) should not pay for.
    from artmedium.io import ImageReadError, read_image

    try:
        read_image(path)
    except ImageReadError as exc:
        raise ValueError(f"not a decodable image: {exc.reason}") from exc


def _verify_metadata(path):
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"not Tate's artwork_data.csv: missing column(s) {missing}")


def _select(meta, wanted):
    """Row indices to fetch: round-robin over the classes, so a cap stays balanced."""
    by_class = {}
    keys = None if wanted is None else {medium_key(name) for name in wanted}
    for i, medium in enumerate(meta.medium):
        key = medium_key(medium)
        if key and (keys is None or key in keys):
            by_class.setdefault(key, []).append(i)
    queues = sorted(by_class.values(), key=lambda rows: (-len(rows), rows[0]))
    order = []
    for depth in range(max((len(q) for q in queues), default=0)):
        order.extend(q[depth] for q in queues if depth < len(q))
    return order


def _check_positive(value, name, *, number=int, allow_none=False, allow_zero=False):
    if value is None and allow_none:
        return
    ok = isinstance(value, number) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a {kind} number, got {value!r}")


class _Progress:
    """A one-line progress counter on stderr, shown only on a terminal."""

    def __init__(self, total, enabled, stream=None):
        self.stream = stream or sys.stderr
        self.total = total
        self.enabled = enabled and total > 0 and self.stream.isatty()
        self.done = self.failed = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def update(self, failed=False):
        with self._lock:
            self.done += 1
            self.failed += failed
            if self.enabled:
                width = 30
                filled = width * self.done // self.total
                rate = self.done / max(time.monotonic() - self._start, 1e-9)
                self.stream.write(
                    f"\rTate thumbnails [{'#' * filled}{'.' * (width - filled)}] "
                    f"{self.done}/{self.total} ({self.failed} failed, {rate:.1f}/s)"
                )
                self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def fetch_tate(
    *,
    data_home=None,
    classes="poster",
    max_images=None,
    n_jobs=4,
    metadata_url=TATE_METADATA_URL,
    url_prefix=None,
    timeout=30.0,
    max_retries=3,
    backoff=0.5,
    verbose=1,
):
    """Download Tate's metadata and the ``_8`` thumbnails of the selected rows.

    The metadata CSV goes to ``<data_home>/artwork_data.csv`` (skipped when
    metadata, CSV or JSON tree, is already there); the thumbnails, from the
    ``thumbnailUrl`` of each selected row, to ``<data_home>/images/``, named by
    the URL's basename as :func:`load_tate` expects. Files already complete are
    skipped, partial ones resumed (HTTP Range) or restarted, every thumbnail is
    checked to be a decodable image (and of the announced size) before it is
    moved into place. One failure never stops the others.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The Tate folder, as in :func:`load_tate`; created when missing.
    classes : "poster", list of str or None, default="poster"
        Rows whose medium (compared as in :func:`load_tate`) is one of these;
        None: every row with a non-empty medium.
    max_images : int, default=None
        Keep at most this many thumbnails (already present ones included),
        taken round-robin over the classes, most frequent class first, so that a
        small cap still covers every class.
    n_jobs : int, default=4
        Concurrent downloads (threads).
    metadata_url : str, default=TATE_METADATA_URL
        Where to get ``artwork_data.csv``.
    url_prefix : str, default=None
        Replaces the scheme and host of every thumbnail URL (a mirror, or a test
        server): ``"http://mirror/tate"`` turns
        ``http://www.tate.org.uk/art/images/...`` into ``http://mirror/tate/art/images/...``.
    timeout : float, default=30.0
        Socket timeout per request, in seconds.
    max_retries : int, default=3
        Retries after a transient failure (network error, short read, 5xx, 429).
    backoff : float, default=0.5
        Delay before the first retry in seconds, doubled for each next one.
    verbose : int, default=1
        0: silent. 1: a progress line on stderr when it is a terminal.

    Returns
    -------
    FetchResult
        ``downloaded``, ``present`` and ``failed`` (URL and reason each), with
        :meth:`FetchResult.summary` for printing.

    Raises
    ------
    OSError
        When the metadata cannot be downloaded (the message names the URL).
    ValueError
        For invalid options, or metadata in an unknown layout.

    Examples
    --------
    >>> import csv, os, tempfile
    >>> home = tempfile.mkdtemp()
    >>> with open(os.path.join(home, "artwork_data.csv"), "w", newline="") as f:
    ...     w = csv.writer(f)
    ...     _ = w.writerow(["accession_number", "artist", "medium", "thumbnailUrl"])
    ...     _ = w.writerow(["A1", "Moore, Henry", "Bronze", "http://x.invalid/A1_8.jpg"])
    >>> # Metadata present, no row in a poster class: nothing to download.
    >>> result = fetch_tate(data_home=home, verbose=0)
    >>> result.summary().endswith("0 downloaded, 0 already present, 0 failed")
    True
    """
    _check_positive(max_images, "max_images", allow_none=True)
    _check_positive(n_jobs, "n_jobs")
    _check_positive(timeout, "timeout", number=(int, float))
    _check_positive(max_retries, "max_retries", allow_zero=True)
    _check_positive(backoff, "backoff", number=(int, float), allow_zero=True)
    wanted = resolve_classes(classes)
    options = {"timeout": timeout, "max_retries": max_retries, "backoff": backoff}

    home = tate_home(data_home)
    images_dir = home / IMAGES_DIR
    images_dir.mkdir(parents=True, exist_ok=True)
    try:
        meta_path, layout = find_metadata(home)
    except FileNotFoundError:
        meta_path, layout = home / METADATA_CSV, "csv"
        download(metadata_url, meta_path, verify=_verify_metadata, **options)
    meta = read_metadata(meta_path, layout)

    result = FetchResult(data_home=str(home), metadata=str(meta_path))
    jobs, seen = [], set()
    for i in _select(meta, wanted):
        url = meta.thumbnail_url[i].strip()
        if not url:
            result.n_without_url += 1
            continue
        name = url_basename(url)
        if not name or name in seen:
            continue
        seen.add(name)
        if max_images is None or len(jobs) < max_images:
            jobs.append((_rewrite_url(url, url_prefix), images_dir / name))

    progress = _Progress(len(jobs), enabled=verbose > 0)
    pool = ThreadPoolExecutor(max_workers=n_jobs)
    try:
        futures = {}
        for url, dest in jobs:
            future = pool.submit(download, url, dest, verify=_verify_image, **options)
            futures[future] = (url, dest)
        for future in as_completed(futures):
            url, dest = futures[future]
            try:
                fetched = future.result()
            except OSError as exc:
                reason = str(exc).removeprefix(f"{url}: ")
                result.failed.append(DownloadFailure(url, str(dest), reason))
                progress.update(failed=True)
                continue
            (result.downloaded if fetched else result.present).append(str(dest))
            progress.update()
    finally:
        # On Ctrl-C, drop the queued downloads instead of finishing them all
        # first; only the few running ones complete.
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
    order = {str(dest): k for k, (_, dest) in enumerate(jobs)}
    for paths in (result.downloaded, result.present):
        paths.sort(key=order.__getitem__)
    result.failed.sort(key=lambda f: order[f.path])
    return result
