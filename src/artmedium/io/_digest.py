"""A content key for an image source, for caches that outlive one process."""

import hashlib
import os

import numpy as np
from PIL import Image, ImageFile

from artmedium.io import _read
from artmedium.io._read import (
    ALLOWED_FORMATS,
    ImageReadError,
    _describe,
    open_image_file,
)

_CHUNK = 1 << 20


def _hash_stream(h, fp, source):
    try:
        fp.seek(0)
    except Exception:
        pass  # not seekable: hash what is left, as read_image would read it
    limit = _read.MAX_ENCODED_BYTES
    total = 0
    try:
        while chunk := fp.read(_CHUNK):
            if not isinstance(chunk, (bytes, bytearray)):
                raise ImageReadError(
                    source, "file object is in text mode; open it in binary mode ('rb')"
                )
            total += len(chunk)
            if total > limit:
                # An endless stream (a device opened by the caller) must not
                # keep the hasher busy forever.
                raise ImageReadError(
                    source, f"larger than the {limit} bytes an image file may have"
                )
            h.update(chunk)
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(source, f"cannot read file object ({exc})") from exc


def _pil_extras(im):
    """Bytes of a PIL image's palette, transparency, EXIF orientation and profile."""
    try:
        orientation = im.getexif().get(0x0112)
    except Exception:
        orientation = None  # read_image ignores broken EXIF too
    palette = im.getpalette() if im.mode in ("P", "PA") else None
    icc = im.info.get("icc_profile") or b""
    parts = [
        repr(palette).encode(),
        repr(im.info.get("transparency")).encode(),
        repr(orientation).encode(),
        hashlib.sha256(bytes(icc)).digest(),
    ]
    return b"\0".join(parts)


def image_digest(src):
    """SHA-256 of what an image source holds, without decoding it.

    Encoded sources (path, bytes, file object) are keyed by their bytes, so the
    same file under two names, or read into memory, gets the same key. PIL images
    are keyed by their pixels, mode and size, and by what else
    :func:`read_image` uses (palette, transparency, EXIF orientation, ICC
    profile); arrays by their pixels, dtype and shape.

    Parameters
    ----------
    src : str, os.PathLike, bytes, bytearray, memoryview, file object, \
PIL.Image.Image or numpy.ndarray
        Anything :func:`read_image` accepts. A file object is read from its start.

    Returns
    -------
    str
        64 hexadecimal digits.

    Raises
    ------
    ImageReadError
        When the source cannot be read at all (missing file, directory, FIFO or
        device, a stream longer than ``MAX_ENCODED_BYTES``, input of an
        unsupported type). Content that is not a valid image still gets a key:
        :func:`read_image` is what judges the content.

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium.io import image_digest
    >>> a = np.zeros((2, 2, 3), np.uint8)
    >>> image_digest(a) == image_digest(a.copy()), len(image_digest(b"abc"))
    (True, 64)
    """
    source = _describe(src)
    h = hashlib.sha256()
    if isinstance(src, (str, os.PathLike)):
        h.update(b"encoded\0")
        # Regular files only, opened without blocking: a FIFO or /dev/zero gets
        # the same error read_image gives, instead of hanging here.
        with open_image_file(src, source) as fp:
            _hash_stream(h, fp, source)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        h.update(b"encoded\0")
        h.update(src)
    elif isinstance(src, Image.Image):
        if isinstance(src, ImageFile.ImageFile) and src.format not in ALLOWED_FORMATS:
            # Hashing pixels would load it, and loading an EPS runs Ghostscript.
            raise ImageReadError(source, f"unsupported format {src.format}")
        try:
            pixels = src.tobytes()
        except Exception as exc:
            raise ImageReadError(source, f"truncated or corrupt image ({exc})") from exc
        h.update(f"pil\0{src.mode}\0{src.size}\0".encode())
        h.update(pixels)
        # What else read_image uses to turn these pixels into RGB.
        h.update(_pil_extras(src))
    elif isinstance(src, np.ndarray):
        h.update(f"array\0{src.dtype.str}\0{src.shape}\0".encode())
        h.update(np.ascontiguousarray(src).tobytes())
    elif hasattr(src, "read"):
        h.update(b"encoded\0")
        _hash_stream(h, src, source)
    else:
        raise ImageReadError(
            source,
            f"unsupported input type {type(src).__name__}: pass a path, bytes, a "
            "binary file object, a PIL image or a uint8 array",
        )
    return h.hexdigest()
