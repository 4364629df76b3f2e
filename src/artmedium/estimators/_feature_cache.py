"""A disk cache of per-image activations that cannot run code when read.

joblib's ``Memory`` stores results as pickles, so whoever can write to a cache
folder (a shared disk, a Dask cluster's scratch space) could run code in every
process that reads it. This cache stores plain ``.npy`` arrays and reads them
with ``allow_pickle=False``, only after checking that the file is a regular
file of exactly the size an array of the expected shape and dtype has; anything
else found there is ignored (and overwritten by a fresh result), never loaded.
"""

import hashlib
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from artmedium._files import NotRegularFileError, atomic_write, open_regular

#: Folder under the cache location; the version changes when the layout does.
CACHE_DIR = "artmedium-features-v1"


def cache_location(memory):
    """The folder a ``memory`` parameter names, or None for no cache.

    Parameters
    ----------
    memory : None, str, os.PathLike or joblib.Memory
        A :class:`joblib.Memory` is accepted for its ``location`` only: its
        pickle-based store is never used. (scikit-learn's ``check_memory`` is
        not used for the same reason: it returns such a store.)

    Returns
    -------
    pathlib.Path or None

    Raises
    ------
    ValueError
        Any other type.

    Examples
    --------
    >>> from artmedium.estimators._feature_cache import cache_location
    >>> cache_location(None) is None, cache_location("/tmp/cache").name
    (True, 'cache')
    """
    if memory is None:
        return None
    if isinstance(memory, (str, bytes, os.PathLike)):
        return Path(os.fsdecode(memory)).expanduser()
    if hasattr(memory, "cache") and hasattr(memory, "location"):
        location = memory.location
        return None if location is None else Path(os.fsdecode(location)).expanduser()
    raise ValueError(
        "memory must be None, a directory path or a joblib.Memory; "
        f"got {type(memory).__name__}."
    )


def _npy_header(shape, dtype):
    """The header ``np.save`` writes for an array of this shape and dtype."""
    buffer = io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _npy_size(shape, dtype):
    """Bytes of the ``.npy`` file ``np.save`` writes for this shape and dtype."""
    return (
        len(_npy_header(shape, dtype))
        + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    )


class FeatureCache:
    """Arrays by key in a folder of ``.npy`` files, read without pickle.

    Parameters
    ----------
    location : str or os.PathLike
        The cache folder (created on first write). Entries live under
        ``location/artmedium-features-v1/``, one file per key, named by the
        key's SHA-256; files a previous artmedium wrote with joblib are never
        read.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from artmedium.estimators._feature_cache import FeatureCache
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> cache.get("k", (2,), np.float32) is None
    True
    >>> cache.put("k", np.array([1.0, 2.0], np.float32))
    >>> cache.get("k", (2,), np.float32)
    array([1., 2.], dtype=float32)
    >>> cache.get("other key", (2,), np.float32) is None
    True
    """

    def __init__(self, location):
        self.location = Path(location)
        self.root = self.location / CACHE_DIR
        self._sizes = {}
        self._write_failed = False

    def path(self, key):
        """Where the entry of ``key`` lives."""
        name = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.root / name[:2] / f"{name}.npy"

    def _expected(self, shape, dtype):
        """(file size, header) of a valid entry of this shape and dtype."""
        spec = (tuple(int(s) for s in shape), np.dtype(dtype).str)
        if spec not in self._sizes:
            header = _npy_header(*spec)
            self._sizes[spec] = (_npy_size(*spec), header)
        return self._sizes[spec]

    def _expected_size(self, shape, dtype):
        return self._expected(shape, dtype)[0]

    def get(self, key, shape, dtype):
        """The array stored under ``key``, or None when there is no valid one.

        Parameters
        ----------
        key : str
        shape : tuple of int
            The shape a valid entry has.
        dtype : numpy dtype
            The dtype a valid entry has.

        Returns
        -------
        numpy.ndarray or None
            None for a miss. A file that is not a regular file, or not an array
            of exactly this shape and dtype, is ignored with a warning naming it.
        """
        path = self.path(key)
        expected, header = self._expected(shape, dtype)
        try:
            fp = open_regular(path, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None  # a miss; a missing or blocked folder is one too
        except (NotRegularFileError, IsADirectoryError) as exc:
            return self._refuse(path, str(exc))
        except OSError as exc:
            return self._refuse(path, f"cannot be opened ({exc.strerror or exc})")
        with fp:
            size = os.fstat(fp.fileno()).st_size
            if size != expected:
                return self._refuse(
                    path, f"{size} bytes where an entry has {expected} bytes"
                )
            data = bytearray(expected + 1)  # one more: a file that grew since
            n_read = fp.readinto(data)
        if n_read == expected and data.startswith(header):
            # Byte for byte the header np.save writes for this shape and dtype
            # (what put wrote), then exactly the data it describes: the array,
            # without parsing the header again (np.load's literal_eval).
            count = (expected - len(header)) // np.dtype(dtype).itemsize
            array = np.frombuffer(data, dtype=dtype, count=count, offset=len(header))
            return array.reshape(shape)
        data = bytes(data[:n_read])
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:  # numpy raises several types on a bad header
            return self._refuse(path, f"not a .npy array ({exc})")
        if array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
            return self._refuse(
                path,
                f"an array of {array.shape} {array.dtype}, not {tuple(shape)} "
                f"{np.dtype(dtype)}",
            )
        return array

    def _refuse(self, path, why):
        warnings.warn(
            f"feature cache: ignoring {path}: {why}; it is recomputed and replaced.",
            UserWarning,
            stacklevel=3,
        )
        return None

    def put(self, key, array):
        """Store ``array`` under ``key`` (atomically; a failure only warns).

        Parameters
        ----------
        key : str
        array : numpy.ndarray
            A numeric array (never an object array).
        """
        array = np.ascontiguousarray(array)
        if array.dtype.hasobject:
            raise TypeError("the feature cache stores numeric arrays only")
        path = self.path(key)
        try:
            # Our own folders must be real folders, checked before anything is
            # created in them: a link planted in a shared cache would send our
            # writes somewhere else.
            for folder in (self.root, path.parent):
                folder.mkdir(parents=True, exist_ok=True)
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    raise NotADirectoryError(f"{folder} is not a real folder (a link?)")

            def write(tmp):
                with open(tmp, "xb") as fh:
                    np.save(fh, array, allow_pickle=False)

            atomic_write(path, write)
        except OSError as exc:
            if not self._write_failed:  # one warning per cache, not per image
                self._write_failed = True
                warnings.warn(
                    f"feature cache: cannot write to {self.root} ({exc}); "
                    "results are computed but not cached.",
                    UserWarning,
                    stacklevel=2,
                )
