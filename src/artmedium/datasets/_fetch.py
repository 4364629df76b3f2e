"""Download Tate's metadata and thumbnails: resumable, atomic, verified, threaded.

Every file is written to ``<name>.part`` in its final folder and moved into place
with :func:`os.replace` only once complete and verified, so a file under its final
name is always whole; a ``.part`` left by an interrupted run is resumed with an
HTTP Range request when the server answers 206, and restarted otherwise.
Only :mod:`urllib` is used, and only for http(s): the URLs come from downloaded
metadata, so nothing in them may reach the local file system or another protocol.
Each download is bounded in time (``deadline``) and size (``max_bytes``); a
watchdog shuts the connection down at the deadline, so that no read can outlast it.
"""

import io
import math
import os
import queue
import re
import socket
import stat
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from numbers import Real
from pathlib import Path
from urllib.parse import urlsplit

from sklearn.utils import check_scalar

from artmedium._files import file_kind, open_regular
from artmedium._progress import Progress
from artmedium._validation import check_count
from artmedium._version import __version__
from artmedium.datasets._folder import (
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

__all__ = [
    "TATE_METADATA_URL",
    "DownloadFailure",
    "FetchInterrupted",
    "FetchResult",
    "fetch_tate",
]

#: Tate's ``artwork_data.csv`` on GitHub (tategallery/collection).
TATE_METADATA_URL = (
    "https://github.com/tategallery/collection/raw/master/artwork_data.csv"
)
_CHUNK = 1 << 16
# At most 18 digits: any real size fits, and int() never meets a 5000-digit
# number (which it refuses with a ValueError).
_LENGTH = re.compile(r"[0-9]{1,18}")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18}|\*)")
# Worth another try: the server may be busy or the network may recover.
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_SCHEMES = ("http", "https")
# Tate's artwork_data.csv is about 40 MB: the metadata gets bounds of its own,
# far above the thumbnails' (it comes from a URL the user chose, not from the data).
_METADATA_DEADLINE = 600.0
_METADATA_MAX_BYTES = 1 << 30
# After Ctrl-C, how long to let running downloads notice and close their files.
_CANCEL_GRACE = 1.0
# Longest file name most file systems take (255 bytes), less ".part".
_MAX_NAME_BYTES = 250


@dataclass(frozen=True)
class DownloadFailure:
    """One file that could not be downloaded.

    Attributes
    ----------
    url : str
        The URL requested (as found in the metadata when it was refused before
        any request).
    path : str
        Where it would have been saved; empty when the URL was refused before
        any request (not http(s), no usable file name, ...).
    reason : str
        What went wrong (HTTP status, network error, "not a decodable image",
        deadline, size limit, refused URL, ...).
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
    n_unfinished : int
        Thumbnails neither downloaded nor failed because the run was interrupted
        (see :class:`FetchInterrupted`); their ``.part`` files resume next time.

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
    n_unfinished: int = 0

    @property
    def ok(self):
        """True when no thumbnail failed and none was left unfinished."""
        return not self.failed and not self.n_unfinished

    def summary(self):
        """One line of counts, then one line per failure (URL: reason).

        Meant for a terminal: a folder name, URL or reason (which may quote the
        server) that holds a control character is shown as its ``repr``.
        """
        images = _shown(os.fspath(Path(self.data_home) / IMAGES_DIR))
        lines = [
            f"Tate thumbnails in {images}: {len(self.downloaded)} downloaded, "
            f"{len(self.present)} already present, {len(self.failed)} failed"
        ]
        if self.n_unfinished:
            lines[0] += f", {self.n_unfinished} not finished (interrupted)"
        if self.n_without_url:
            lines[0] += f" ({self.n_without_url} selected rows have no thumbnailUrl)"
        lines += [f"  failed: {_shown(f.url)}: {_shown(f.reason)}" for f in self.failed]
        return "\n".join(lines)

    def __str__(self):
        return self.summary()


class FetchInterrupted(KeyboardInterrupt):
    """Ctrl-C (KeyboardInterrupt) during :func:`fetch_tate`'s thumbnail downloads.

    A :class:`KeyboardInterrupt`, so it stops a program as Ctrl-C does, carrying
    what finished before it.

    Attributes
    ----------
    result : FetchResult
        The thumbnails downloaded, present or failed before the interruption;
        ``n_unfinished`` counts the others.
    """

    def __init__(self, result):
        super().__init__(f"interrupted: {result.summary().splitlines()[0]}")
        self.result = result


def _shown(text):
    r"""``text`` as printed: as is when printable, else its repr (NUL, ESC, newline).

    For URLs from the metadata and reasons that quote a server (an HTTP reason
    phrase, a malformed status line), so that no escape sequence reaches a
    terminal. A repr is printable, so showing a shown text changes nothing.

    >>> print(_shown("HTTP 403 \x1b]0;PWNED\x07"))
    'HTTP 403 \x1b]0;PWNED\x07'
    >>> _shown(_shown("a\nb")) == _shown("a\nb")
    True
    """
    return text if text.isprintable() else repr(text)


class _Transient(Exception):
    """A failure that another attempt may fix."""


class _StalePart(_Transient):
    """HTTP 416 on a resume: the partial file does not fit the file served now."""


class _Permanent(Exception):
    """A failure that retrying will not fix (404, not an image, ...)."""


class _Cancelled(_Permanent):
    """The run was interrupted (the cancel event is set)."""


def _url_problem(url):
    r"""Why ``url`` may not be requested, or None for an http(s) URL with a host.

    >>> _url_problem("file:///etc/passwd")
    "scheme 'file' is not allowed (http and https only)"
    >>> print(_url_problem("http://www.tate.org.uk/A\x00_8.jpg"))
    character '\x00' is not allowed in a URL
    >>> _url_problem("https://www.tate.org.uk/A00001_8.jpg") is None
    True
    """
    # Control characters, spaces and non-ASCII: http.client would refuse or
    # mis-encode them, and they have no place in Tate's URLs.
    bad = next((c for c in url if c <= " " or c == "\x7f" or not c.isascii()), None)
    if bad is not None:
        return f"character {bad!r} is not allowed in a URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if not parts.scheme:
        return "not an absolute http(s) URL"
    if parts.scheme.lower() not in _SCHEMES:
        return f"scheme {parts.scheme!r} is not allowed (http and https only)"
    if not host:
        return "the URL has no host"
    return None


def _thumbnail_name(url):
    """File name in ``images/`` for a thumbnail URL; ValueError when there is none.

    >>> _thumbnail_name("http://www.tate.org.uk/art/images/work/A/A00/A00001_8.jpg")
    'A00001_8.jpg'
    >>> _thumbnail_name("http://www.tate.org.uk/art/..")
    Traceback (most recent call last):
    ...
    ValueError: the URL names no file (its last part is '..')
    """
    problem = _url_problem(url)
    if problem:
        raise ValueError(problem)
    name = url_basename(url)
    # ".", ".." or "" would name the images folder or its parent (and leave
    # "images.part" beside it); "x.part" is another download's temp file.
    if name in ("", ".", ".."):
        raise ValueError(f"the URL names no file (its last part is {name!r})")
    if "\\" in name:  # a folder separator on Windows
        raise ValueError(f"the URL's file name {name!r} contains a backslash")
    if name.endswith(".part"):
        raise ValueError(f"the URL names a partial-download file ({name!r})")
    if len(name.encode()) > _MAX_NAME_BYTES:
        raise ValueError(
            f"the URL's file name is too long ({len(name.encode())} bytes, "
            f"at most {_MAX_NAME_BYTES})"
        )
    return name


@dataclass(frozen=True)
class _Limits:
    """What bounds one download: a deadline, a size cap and a cancel event."""

    deadline: float = None
    ends_at: float = None
    max_bytes: int = None
    cancel: threading.Event = None

    @classmethod
    def starting_now(cls, deadline, max_bytes, cancel):
        ends_at = None if deadline is None else time.monotonic() + deadline
        return cls(deadline, ends_at, max_bytes, cancel)

    def time_left(self):
        if self.ends_at is None:
            return float("inf")
        return self.ends_at - time.monotonic()

    def check(self, received):
        """Raise when cancelled or past the deadline; called between reads."""
        if self.cancel is not None and self.cancel.is_set():
            raise _Cancelled("cancelled")
        if self.time_left() <= 0:
            raise self.past_deadline(received)

    def past_deadline(self, received):
        return _Permanent(
            f"not complete within the {self.deadline:g} s deadline "
            f"({received} bytes received)"
        )

    def too_large(self, size):
        return self.max_bytes is not None and size > self.max_bytes

    def pause(self, delay):
        """Wait ``delay`` seconds before a retry; Ctrl-C ends the wait at once."""
        if self.cancel is None:
            time.sleep(delay)
        elif self.cancel.wait(delay):
            raise _Cancelled("cancelled")


class _Watchdog:
    """Shuts the connections of one attempt down when its deadline passes.

    The socket timeout bounds each read, not the download: a server that sends
    its status line, a header or a chunk-size line a byte at a time never trips
    it, and the deadline checks between body reads never run. At the deadline a
    :class:`threading.Timer` shuts down every socket of the attempt, so whatever
    read waits (status line, headers, chunk lines, body, TLS handshake) fails at
    once; a connection opened after that is refused. :meth:`close` ends the
    timer on every path, so no thread outlives the attempt.

    ``seconds=None``: no deadline, no timer.
    """

    def __init__(self, seconds):
        self._lock = threading.Lock()
        self._socks = []
        self.expired = False
        self._timer = None
        if seconds is not None:
            self._timer = threading.Timer(max(seconds, 0.0), self._expire)
            self._timer.name = "artmedium-fetch-deadline"
            self._timer.daemon = True
            self._timer.start()

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shut_down(sock)

    def watch(self, sock):
        """Shut ``sock`` down at the deadline, or now when it has passed."""
        # A duplicate, because ssl's wrap_socket detaches ``sock`` (its file
        # descriptor moves to the SSL socket) before the handshake: shutting
        # down the duplicate ends the one connection whoever holds it.
        copy = sock.dup()
        with self._lock:
            self._socks.append(copy)
            if self.expired:
                _shut_down(copy)

    def create_connection(self, address, *args, **kwargs):
        """:func:`socket.create_connection`, watched; refused past the deadline."""
        if self.expired:
            raise OSError(f"no new connection to {address[0]}: the deadline passed")
        # Looked up at call time, so that a test can guard the addresses reached.
        sock = socket.create_connection(address, *args, **kwargs)
        try:
            self.watch(sock)
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self):
        """Stop the timer (waiting for it) and let go of the sockets."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        with self._lock:
            socks, self._socks = self._socks, []
        for sock in socks:
            sock.close()


def _shut_down(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer


class _WatchedConnections:
    """Mixin for urllib's HTTP(S) handlers: every connection is watched."""

    def __init__(self, watchdog):
        super().__init__()
        self._watchdog = watchdog

    def do_open(self, http_class, req, **kwargs):
        def connection(*args, **kw):
            conn = http_class(*args, **kw)
            # http.client opens its socket through this attribute (the TLS
            # handshake and a proxy's CONNECT come after), so the watchdog
            # sees the socket before anything is read from it.
            conn._create_connection = self._watchdog.create_connection
            return conn

        return super().do_open(connection, req, **kwargs)


class _WatchedHTTPHandler(_WatchedConnections, urllib.request.HTTPHandler):
    pass


class _WatchedHTTPSHandler(_WatchedConnections, urllib.request.HTTPSHandler):
    pass


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    # urllib itself refuses redirects to file: but follows ftp:.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        problem = _url_problem(newurl)
        if problem:
            raise urllib.error.HTTPError(
                newurl,
                code,
                f"redirect to {_shown(newurl)} refused: {problem}",
                headers,
                fp,
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(watchdog):
    """An opener that speaks http(s) only: no file:, data: or ftp: handler.

    Built per request (unlike :func:`urllib.request.urlopen`'s cached one), so
    that proxy settings are read from the environment of the moment, and so
    that its connections (redirects included) are those ``watchdog`` watches.
    """
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _WatchedHTTPHandler(watchdog),
        _WatchedHTTPSHandler(watchdog),
        urllib.request.HTTPDefaultErrorHandler(),
        _HTTPOnlyRedirects(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


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


def _open(url, offset, timeout, watchdog):
    request = urllib.request.Request(
        url, headers={"User-Agent": f"artmedium/{__version__}"}
    )
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return _opener(watchdog).open(request, timeout=timeout)
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


def _part_size(part):
    """Size of the partial download ``part`` (0 when absent).

    Anything but a regular file there (a FIFO would block the write forever, a
    link would send the bytes elsewhere) fails the download.
    """
    try:
        info = os.lstat(part)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(info.st_mode):
        raise _Permanent(f"{part} is {file_kind(info.st_mode)}, not a regular file")
    return info.st_size


def _open_part(part, append):
    """Open ``part`` to write, refusing what is not (or stops being) a regular file.

    Non-blocking and without following links, as :func:`~artmedium._files.open_regular`
    reads, since the path may have changed since :func:`_part_size` looked.
    """
    nonblock = getattr(os, "O_NONBLOCK", 0)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    for name in ("O_NOFOLLOW", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(part, flags | nonblock, 0o666)
    except OSError as exc:
        raise _Permanent(f"cannot write {part}: {exc.strerror}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _Permanent(f"{part} is {file_kind(mode)}, not a regular file")
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


def _length(headers, header):
    """The byte count in ``header`` (None when absent); a bad one fails the file."""
    value = headers.get(header)
    if value is None:
        return None
    if not _LENGTH.fullmatch(value.strip()):
        raise _Permanent(f"bad {header} header {value[:80]!r}: not a byte count")
    return int(value)


def _attempt(url, part, timeout, limits):
    """Fetch ``url`` into ``part`` once, resuming it when it exists.

    Returns whether earlier bytes were kept (a resumed download). At the
    deadline the watchdog shuts the connection down, and whatever that made
    the attempt do (a network error, a short read, an early end) is reported
    as the deadline.
    """
    offset = _part_size(part)
    if limits.too_large(offset):
        part.unlink()
        offset = 0
    limits.check(offset)
    watchdog = _Watchdog(None if limits.ends_at is None else limits.time_left())
    try:
        try:
            resumed = _transfer(url, part, offset, timeout, limits, watchdog)
        except Exception as exc:
            if watchdog.expired:
                raise limits.past_deadline(_part_size(part)) from exc
            raise
        if watchdog.expired:  # the end seen may be the shutdown's
            raise limits.past_deadline(_part_size(part))
        return resumed
    finally:
        watchdog.close()


def _transfer(url, part, offset, timeout, limits, watchdog):
    try:
        # Capped at the time left: the watchdog sees a socket once connected,
        # so this is what bounds the connect itself.
        response = _open(url, offset, min(timeout, limits.time_left()), watchdog)
    except _StalePart:
        part.unlink()
        raise
    with response:
        total = None
        content_length = _length(response.headers, "Content-Length")
        if response.status == 206 and offset:
            content_range = response.headers.get("Content-Range", "")
            match = _CONTENT_RANGE.fullmatch(content_range)
            if not match or int(match[1]) != offset:
                part.unlink()
                raise _Transient(
                    f"bad Content-Range {content_range[:80]!r} "
                    f"for a resume from byte {offset}"
                )
            if match[3] != "*":
                total = int(match[3])
            elif content_length is not None:
                total = offset + content_length
            append = True
        else:
            # 200 (Range ignored, or no partial file): start over.
            offset, append = 0, False
            total = content_length
        if total is not None and limits.too_large(total):
            part.unlink(missing_ok=True)
            raise _Permanent(
                f"too large: {total} bytes announced, over the "
                f"{limits.max_bytes}-byte limit (max_bytes)"
            )
        size = offset
        try:
            with _open_part(part, append) as out:
                # read1, not read: read(n) waits for all n bytes, so a server
                # sending a byte a second would never let the checks run.
                while chunk := response.read1(_CHUNK):
                    size += len(chunk)
                    if limits.too_large(size):
                        break
                    out.write(chunk)
                    limits.check(size)
        except (HTTPException, OSError) as exc:
            raise _Transient(f"connection lost: {exc!r}") from exc
    if limits.too_large(size):
        part.unlink()
        raise _Permanent(
            f"too large: over the {limits.max_bytes}-byte limit (max_bytes)"
        )
    size = _part_size(part)
    if total is not None and size != total:
        if size > total:
            part.unlink()
        raise _Transient(f"incomplete download: {size} of {total} bytes")
    return offset > 0


def download(
    url,
    dest,
    *,
    timeout=30.0,
    max_retries=3,
    backoff=0.5,
    verify=None,
    deadline=None,
    max_bytes=None,
    cancel=None,
):
    """Download ``url`` to ``dest`` atomically; skip it when ``dest`` exists.

    Parameters
    ----------
    url : str
        What to fetch: an http(s) URL (anything else is refused, redirects too).
    dest : path-like
        Final path; the data goes to ``<dest>.part`` first. Neither may be
        anything but a regular file (a FIFO, a folder, a link is refused and
        left as it is).
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
    deadline : float, optional
        Seconds for the whole download, retries and waits included. At the
        deadline the connection is shut down, whatever it waits for (status
        line, headers, body); only a connect still under way waits out its
        ``timeout``. The ``.part`` is kept, as after a network error, to resume
        later.
    max_bytes : int, optional
        Refuse a file announced (Content-Length) or found larger than this; its
        ``.part`` is removed.
    cancel : threading.Event, optional
        When set, the download stops at its next read (or retry wait),
        keeping its ``.part``.

    Returns
    -------
    bool
        True when downloaded, False when ``dest`` was already there.

    Raises
    ------
    OSError
        When the file could not be fetched; the message names the URL and reason
        (shown as its ``repr`` when it holds a control character: it may quote
        the server). No file is left under ``dest``.
    """
    problem = _url_problem(url)
    if problem:
        raise OSError(f"{_shown(url)}: {problem}")
    # From here on the URL is printable (_url_problem refuses control characters).
    dest = Path(dest)
    if dest.is_file():
        return False
    if os.path.lexists(dest):  # a FIFO, a folder, a dangling link: not ours
        kind = file_kind(os.lstat(dest).st_mode)
        raise OSError(f"{url}: {_shown(os.fspath(dest))} is {kind}, not a regular file")
    part = dest.with_name(dest.name + ".part")
    limits = _Limits.starting_now(deadline, max_bytes, cancel)
    attempt = 0
    while True:
        try:
            resumed = _attempt(url, part, timeout, limits)
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
            raise OSError(f"{url}: {_shown(str(exc))}") from None
        except _Transient as exc:
            reason = _shown(str(exc))
            tries = "attempt" if attempt == 0 else "attempts"
            if attempt >= max_retries:
                raise OSError(
                    f"{url}: {reason} (after {attempt + 1} {tries})"
                ) from None
            delay = backoff * 2**attempt
            if limits.time_left() <= delay:
                raise OSError(
                    f"{url}: {reason} (after {attempt + 1} {tries}; no time left for "
                    f"another within the {deadline:g} s deadline)"
                ) from None
            try:
                limits.pause(delay)
            except _Cancelled as cancelled:
                raise OSError(f"{url}: {cancelled}") from None
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
    raw = open_regular(path, follow_symlinks=False)
    with io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace") as f:
        header = f.readline(1 << 16)  # not a whole 1 GiB file without a newline
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


def _check_seconds(value, name, *, allow_none=False, allow_zero=False):
    """A duration in seconds: a finite real number, > 0 (or >= 0), or None."""
    if value is None and allow_none:
        return
    bounds = "left" if allow_zero else "neither"
    check_scalar(value, name, Real, min_val=0, include_boundaries=bounds)
    # check_scalar lets NaN through (it compares False), and infinity would
    # reach the socket and timer calls, which refuse it.
    if not math.isfinite(value):
        raise ValueError(f"{name} == {value}, must be a finite number of seconds.")


def fetch_tate(
    *,
    data_home=None,
    classes="poster",
    max_images=None,
    n_jobs=4,
    metadata_url=TATE_METADATA_URL,
    url_prefix=None,
    timeout=30.0,
    deadline=None,
    max_bytes=50 * 1024**2,
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

    The metadata comes from strangers, so its URLs are checked before any
    request: only http(s) (redirects too), and a file name that stays in
    ``images/``; any other URL (``file:``, ``data:``, ``ftp:``, ``..``, control
    characters, ...) becomes a failure row without touching the file system.
    Each thumbnail is bounded in time (``deadline``) and size (``max_bytes``).
    Ctrl-C stops within about a second and raises :class:`FetchInterrupted`,
    which carries the result of what finished.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The Tate folder, as in :func:`load_tate`; created when missing.
    classes : "poster", list of str or None, default="poster"
        Rows whose medium (compared as in :func:`load_tate`) is one of these;
        None: every row with a non-empty medium.
    max_images : int, default=None
        Keep at most this many thumbnails (already present ones and refused
        URLs included), taken round-robin over the classes, most frequent class
        first, so that a small cap still covers every class.
    n_jobs : int, default=4
        Concurrent downloads (threads).
    metadata_url : str, default=TATE_METADATA_URL
        Where to get ``artwork_data.csv`` (http or https). Being one large
        file, it gets the longer of ``deadline`` and 10 minutes, and up to
        1 GiB whatever ``max_bytes`` says.
    url_prefix : str, default=None
        Replaces the scheme and host of every thumbnail URL (a mirror, or a test
        server; http or https): ``"http://mirror/tate"`` turns
        ``http://www.tate.org.uk/art/images/...`` into ``http://mirror/tate/art/images/...``.
    timeout : float, default=30.0
        Socket timeout per request, in seconds: how long one read may wait.
    deadline : float, default=None
        Seconds allowed for each thumbnail, retries included (None: four times
        ``timeout``). A thumbnail past it fails ("not complete within the
        deadline"), its ``.part`` kept to resume next time; its connection is
        shut down then, so that a server sending its headers (or anything) a
        byte at a time cannot hold it longer.
    max_bytes : int or None, default=50 * 1024**2
        Largest thumbnail accepted, in bytes (None: no limit); a larger one
        fails without reading further and leaves no ``.part``.
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
    TypeError
        For an option of the wrong type (``n_jobs=2.5``, ``timeout="3"``).
    ValueError
        For invalid options (out of range, or a ``metadata_url`` or
        ``url_prefix`` that is not http(s)), or metadata that is unreadable, not
        a regular file or in an unknown layout (the message names the file).
    FetchInterrupted
        On Ctrl-C while thumbnails download: a :class:`KeyboardInterrupt`
        whose ``result`` is the :class:`FetchResult` of what finished.

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
    check_count(max_images, "max_images", allow_none=True)
    check_count(n_jobs, "n_jobs")
    _check_seconds(timeout, "timeout")
    _check_seconds(deadline, "deadline", allow_none=True)
    check_count(max_bytes, "max_bytes", allow_none=True)
    check_count(max_retries, "max_retries", minimum=0)
    _check_seconds(backoff, "backoff", allow_zero=True)
    urls = {"metadata_url": metadata_url}
    if url_prefix is not None:
        urls["url_prefix"] = url_prefix
    for name, url in urls.items():
        problem = _url_problem(str(url))
        if problem:
            raise ValueError(f"{name} must be an http(s) URL, got {url!r}: {problem}")
    wanted = resolve_classes(classes)
    retries = {"timeout": timeout, "max_retries": max_retries, "backoff": backoff}
    if deadline is None:
        deadline = 4 * timeout

    home = tate_home(data_home)
    images_dir = home / IMAGES_DIR
    images_dir.mkdir(parents=True, exist_ok=True)
    try:
        meta_path, layout = find_metadata(home)
    except FileNotFoundError:
        meta_path, layout = home / METADATA_CSV, "csv"
        download(
            metadata_url,
            meta_path,
            verify=_verify_metadata,
            deadline=max(deadline, _METADATA_DEADLINE),
            max_bytes=_METADATA_MAX_BYTES,
            **retries,
        )
    meta = read_metadata(meta_path, layout)

    result = FetchResult(data_home=str(home), metadata=str(meta_path))
    jobs, seen, rank = [], set(), {}
    for i in _select(meta, wanted):
        url = meta.thumbnail_url[i].strip()
        if not url:
            result.n_without_url += 1
            continue
        if max_images is not None and len(rank) >= max_images:
            continue
        try:
            name = _thumbnail_name(url)
        except ValueError as exc:
            if url not in rank:
                rank[url] = len(rank)
                result.failed.append(DownloadFailure(url, "", str(exc)))
            continue
        if name in seen:
            continue
        seen.add(name)
        # The path is kept from the metadata, so the rewritten URL is as safe.
        job = (_rewrite_url(url, url_prefix), images_dir / name)
        rank[job[0]] = len(rank)
        jobs.append(job)

    options = {"verify": _verify_image, "deadline": deadline, "max_bytes": max_bytes}
    try:
        _download_all(jobs, result, n_jobs, verbose, **options, **retries)
    finally:
        order = {str(dest): k for k, (_, dest) in enumerate(jobs)}
        for paths in (result.downloaded, result.present):
            paths.sort(key=order.__getitem__)
        result.failed.sort(key=lambda f: rank[f.url])
    return result


def _download_all(jobs, result, n_jobs, verbose, **options):
    """Run :func:`download` over ``jobs`` in ``n_jobs`` threads, filling ``result``.

    Daemon threads rather than a ThreadPoolExecutor, whose workers are joined at
    interpreter exit: after Ctrl-C, a worker waiting on a silent server would
    hold the process for up to ``timeout`` seconds.
    """
    cancel = threading.Event()
    todo, done = queue.SimpleQueue(), queue.SimpleQueue()
    for job in jobs:
        todo.put(job)

    def work():
        while not cancel.is_set():
            try:
                url, dest = todo.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = download(url, dest, cancel=cancel, **options)
            except BaseException as exc:  # the main thread reports or raises it
                outcome = exc
            done.put((url, dest, outcome))

    workers = [
        threading.Thread(target=work, name=f"artmedium-fetch-{k}", daemon=True)
        for k in range(min(n_jobs, len(jobs)))
    ]
    progress = Progress(
        len(jobs), label="Tate thumbnails", enabled=verbose > 0, leave=True
    )
    finished = 0
    try:
        for worker in workers:
            worker.start()
        while finished < len(jobs):
            url, dest, outcome = done.get()
            finished += 1
            if isinstance(outcome, bool):
                (result.downloaded if outcome else result.present).append(str(dest))
                progress.update()
            elif isinstance(outcome, Exception):
                # Whatever one download raised fails that file only; Ctrl-C
                # and SystemExit (BaseException) still stop the run.
                reason = _failure_reason(url, outcome)
                result.failed.append(DownloadFailure(url, str(dest), reason))
                progress.update(failed=1)
            else:
                raise outcome
    except KeyboardInterrupt:
        _stop(workers, cancel)
        # Files completed during the grace period are in place: count them.
        # Failures then are mostly cancellations, left for the next run.
        while not done.empty():
            url, dest, outcome = done.get()
            if isinstance(outcome, bool):
                finished += 1
                (result.downloaded if outcome else result.present).append(str(dest))
        result.n_unfinished = len(jobs) - finished
        raise FetchInterrupted(result) from None
    finally:
        if not cancel.is_set():  # not stopped above already
            _stop(workers, cancel)
        progress.close()


def _failure_reason(url, exc):
    """The reason of a failed download, as :func:`download`'s error gives it."""
    if isinstance(exc, OSError):
        return _shown(str(exc).removeprefix(f"{_shown(url)}: "))
    # Not one of download's errors: a bug or an unforeseen answer. Name it.
    return _shown(f"{type(exc).__name__}: {exc}")


def _stop(workers, cancel):
    """Cancel queued and running downloads; wait for them at most a moment."""
    # Queued downloads never start; running ones stop at their next read.
    cancel.set()
    until = time.monotonic() + _CANCEL_GRACE
    for worker in workers:
        if worker.is_alive():
            worker.join(max(0.0, until - time.monotonic()))
