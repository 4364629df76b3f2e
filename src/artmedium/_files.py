"""Reading files we did not write, and writing files nobody sees half-written.

Private helpers shared by the image reader, the feature cache and persistence:

* :func:`open_regular` opens a path only if it is a regular file, without ever
  blocking on a FIFO or a device (``/dev/zero``, a named pipe) and without the
  race between checking a path and opening it;
* :func:`read_limited` reads a whole file, refusing one larger than a limit
  before its bytes are in memory;
* :func:`atomic_write` writes under a temporary name and renames into place.
"""

import errno
import os
import stat
import uuid
from pathlib import Path

_CHUNK = 1 << 20


class NotRegularFileError(OSError):
    """A path names a FIFO, a device, a socket or a link, not a regular file.

    Attributes
    ----------
    kind : str
        What it is, in words (``"a named pipe (FIFO)"``, ``"a device"``, ...).
    """

    def __init__(self, path, kind):
        super().__init__(f"{os.fsdecode(path)} is {kind}, not a regular file")
        self.kind = kind


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode):
    """What a ``st_mode`` that is not a regular file is, in words.

    Examples
    --------
    >>> import stat
    >>> from artmedium._files import file_kind
    >>> file_kind(stat.S_IFIFO)
    'a named pipe (FIFO)'
    """
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def open_regular(path, *, follow_symlinks=True):
    """Open ``path`` for binary reading only if it is a regular file.

    The file is opened non-blocking, so a FIFO with no writer or a device cannot
    make the call wait, and its type is checked on the open descriptor
    (``fstat``), so nothing can swap the path between the check and the read.

    Parameters
    ----------
    path : str or os.PathLike
    follow_symlinks : bool, default=True
        False refuses a symbolic link (``O_NOFOLLOW``) with
        :class:`NotRegularFileError`.

    Returns
    -------
    file object
        Opened in ``"rb"`` mode; the caller closes it.

    Raises
    ------
    FileNotFoundError
        No such path.
    IsADirectoryError
        ``path`` is a directory.
    NotRegularFileError
        A FIFO, device, socket or (with ``follow_symlinks=False``) a link.
    OSError
        Any other reason the file cannot be opened (permissions, ...).

    Examples
    --------
    >>> import tempfile, os
    >>> from artmedium._files import open_regular
    >>> folder = tempfile.mkdtemp()
    >>> os.mkfifo(os.path.join(folder, "pipe"))
    >>> open_regular(os.path.join(folder, "pipe"))
    Traceback (most recent call last):
    ...
    artmedium._files.NotRegularFileError: ... is a named pipe (FIFO), not a regular file
    """
    nonblock = getattr(os, "O_NONBLOCK", 0)  # POSIX only: Windows has no FIFOs
    flags = os.O_RDONLY | nonblock | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise NotRegularFileError(path, "a symbolic link") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(
                errno.EISDIR, f"{os.fsdecode(path)} is a directory, not a file"
            )
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, file_kind(mode))
        if nonblock:
            # Only where O_NONBLOCK was set: on Windows set_blocking exists
            # (Python >= 3.12) but works on pipes only.
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(fp, limit, *, name):
    """All bytes of an open binary file, refusing more than ``limit``.

    Reads at most ``limit + 1`` bytes whatever the file claims, so neither a
    huge (or sparse) file nor one that grows while it is read can exhaust memory.

    Parameters
    ----------
    fp : binary file object
    limit : int
        Largest number of bytes accepted.
    name : str
        How the file is named in the error.

    Returns
    -------
    bytes

    Raises
    ------
    ValueError
        The file holds more than ``limit`` bytes.

    Examples
    --------
    >>> import io
    >>> from artmedium._files import read_limited
    >>> read_limited(io.BytesIO(b"abc"), 3, name="x")
    b'abc'
    >>> read_limited(io.BytesIO(b"abcd"), 3, name="x")
    Traceback (most recent call last):
    ...
    ValueError: x is larger than the 3 bytes accepted
    """
    buffer = bytearray()
    while len(buffer) <= limit:
        chunk = fp.read(min(_CHUNK, limit + 1 - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    if len(buffer) > limit:
        raise ValueError(f"{name} is larger than the {limit} bytes accepted")
    return bytes(buffer)


def atomic_write(path, write):
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``.

    A reader never sees a half-written file, and a failed write leaves any
    previous file in place and no temporary file behind.

    Parameters
    ----------
    path : str or os.PathLike
        The final file.
    write : callable
        ``write(tmp_path)`` creates and fills the temporary file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from artmedium._files import atomic_write
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> atomic_write(target, lambda tmp: Path(tmp).write_text("done"))
    >>> target.read_text(), [p.name for p in target.parent.iterdir()]
    ('done', ['out.txt'])
    """
    path = Path(path)
    # A fresh name in the same folder (so the rename is atomic), created by
    # ``write`` itself so that it gets the usual permissions, unlike mkstemp's.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
