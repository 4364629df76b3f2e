"""Turn paths, bytes, file objects, PIL images and arrays into RGB uint8 images.

This is the only module of artmedium that opens image files. Everything a hostile or
broken file can make Pillow raise is turned into :class:`ImageReadError` here, so
that a bad file fails when it is read, naming itself, and never later inside a
DataLoader worker or a thread pool.
"""

import functools
import importlib
import io
import mmap
import os
import re
import threading
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import (
    BmpImagePlugin,  # noqa: F401 (imported to register the allowed plugins)
    GifImagePlugin,  # noqa: F401
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,  # noqa: F401
    MpoImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from artmedium._files import NotRegularFileError, open_regular, read_limited
from artmedium._validation import check_count

#: Formats read_image accepts, as Pillow names them after sniffing the content.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "TIFF", "WEBP", "BMP", "GIF")

# Signatures Pillow cannot open (or must never open), so that the error can name
# the format instead of saying "not an image". Pillow's own accept() functions are
# consulted afterwards for everything else.
_FOREIGN_MAGIC = (
    (b"%PDF", "PDF"),
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"<svg", "SVG"),
    (b"8BPS", "PSD"),
    (b"gimp xcf", "XCF"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG2000"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}

#: Largest encoded image (file, bytes or stream) read or hashed: 2 GiB. Files on
#: disk are bounded by their size; this bounds endless streams.
MAX_ENCODED_BYTES = 2 << 30

#: Bumped whenever the pixels read_image returns for the same bytes change (2: ICC
#: colour profiles applied), so caches keyed on image content know to recompute.
READER_VERSION = 2

try:  # Pillow built without LittleCMS has no ImageCms: profiles are then ignored.
    from PIL import ImageCms

    _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
except ImportError:  # pragma: no cover - every Pillow wheel ships LittleCMS
    ImageCms = None

# Image.open() checks the header size against Pillow's own limit and *warns*
# between 1x and 2x that limit. warnings.catch_warnings() mutates process-wide state,
# so the short sections that may warn (header parsing; decoding images above
# Pillow's limit that the caller explicitly allowed) are serialised by this lock.
_PILLOW_WARNINGS_LOCK = threading.Lock()
_PILLOW_HARD_LIMIT = (
    "(Pillow refuses more than twice PIL.Image.MAX_IMAGE_PIXELS whatever "
    "max_pixels says; raise PIL.Image.MAX_IMAGE_PIXELS too if the file is trusted)"
)


class ImageReadError(ValueError):
    """An input could not be read as an image.

    Parameters
    ----------
    source : str
        Printable name of the input: the path, or ``"<bytes>"``, ``"<file object>"``,
        ``"<PIL image>"``, ``"<array>"``.
    reason : str
        Short text saying what is wrong.

    Attributes
    ----------
    source : str
        Printable name of the input.
    reason : str
        What is wrong with it.

    Examples
    --------
    >>> from artmedium.io import ImageReadError, read_image
    >>> try:
    ...     read_image(b"")
    ... except ImageReadError as exc:
    ...     print(exc.source, "|", exc.reason)
    <bytes> | empty (0 bytes)
    """

    def __init__(self, source, reason):
        self.source = source
        self.reason = reason
        super().__init__(f"cannot read image {source}: {reason}")

    def __reduce__(self):
        # Exceptions pickle their args; ours are (source, reason), not the message.
        return type(self), (self.source, self.reason)


# --------------------------------------------------------------------------- inputs


def _describe(src):
    if isinstance(src, (str, os.PathLike)):
        return os.fsdecode(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(src, Image.Image):
        return "<PIL image>"
    if isinstance(src, np.ndarray):
        return "<array>"
    if hasattr(src, "read"):
        name = getattr(src, "name", None)
        return name if isinstance(name, str) else "<file object>"
    return f"<{type(src).__name__}>"


def _effective_limit(max_pixels):
    if max_pixels is not None:
        return max_pixels
    # The package namespace holds the user-settable default, read at call time so
    # that `artmedium.io.MAX_IMAGE_PIXELS = ...` (or a monkeypatch) takes effect.
    limit = importlib.import_module(__package__).MAX_IMAGE_PIXELS
    if limit is None:
        limit = Image.MAX_IMAGE_PIXELS
    return limit


def _check_pixels(source, size, limit):
    if limit is None:
        return
    width, height = size
    pixels = max(1, width) * max(1, height)
    if pixels > limit:
        raise ImageReadError(
            source,
            f"too many pixels: {width} x {height} = {pixels} pixels exceeds the "
            f"limit of {limit} (raise it with max_pixels= or "
            "artmedium.io.MAX_IMAGE_PIXELS if the file is trusted)",
        )


def _validate_options(min_size, max_pixels):
    check_count(min_size, "min_size", allow_none=True)
    check_count(max_pixels, "max_pixels", allow_none=True)


# ---------------------------------------------------------------- format sniffing


def _sniff_format(prefix):
    """Name the format of ``prefix`` (first bytes), or None when unknown."""
    for magic, name in _FOREIGN_MAGIC:
        if prefix.startswith(magic):
            return name
    if prefix[4:8] == b"ftyp" and prefix[8:12] in _HEIF_BRANDS:
        return "HEIF"
    Image.init()
    for name, (_, accept) in list(Image.OPEN.items()):
        if accept is None:
            continue
        try:
            # accept() may return a warning string; only True identifies a format.
            if accept(prefix[:16]) is True:
                return name
        except Exception:  # a sniffing helper failing just means "not this one"
            continue
    return None


def _allowed_formats():
    # WEBP is registered even when Pillow was built without libwebp; MPO and the
    # others are always there. Image.open raises KeyError for unregistered names.
    return [name for name in ALLOWED_FORMATS if name in Image.OPEN]


# ------------------------------------------------------------------ pixel modes


def _scale_to_uint8(values, mode):
    """Map single-band integer or float data onto 0..255 by its storage range."""
    values = np.asarray(values)
    if mode.startswith("I;16"):
        return np.rint(values.astype(np.float64) / 257.0).astype(np.uint8)
    data = values.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(values.shape, np.uint8)
    data = np.where(finite, data, 0.0)
    lo, hi = data.min(), data.max()
    # The narrowest storage range holding the data decides what white is, so
    # 16-bit data held in a 32-bit mode is not clipped to white nor crushed to
    # black. Floats in [0, 1] follow the usual convention of 1.0 == white.
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = data * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        scaled = data
    elif lo >= 0.0 and hi <= 65535.0:
        scaled = data / 257.0
    elif mode != "F" and lo >= 0.0:
        scaled = data / (2.0**31 - 1) * 255.0
    elif mode != "F":
        scaled = (data + 2.0**31) / (2.0**32 - 1) * 255.0
    else:  # floats outside every integer convention: stretch what is there
        scaled = (data - lo) / (hi - lo) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _has_alpha(im):
    return (
        "A" in im.getbands()
        or im.mode in ("RGBa", "La", "PA")
        or "transparency" in im.info
    )


# Every level 0, 17, ..., 255 of each channel: 4,096 colours that tell whether a
# profile's transform to sRGB changes anything.
_PROBE_LEVELS = np.arange(0, 256, 17, dtype=np.uint8)
_PROBE = np.stack(
    np.meshgrid(_PROBE_LEVELS, _PROBE_LEVELS, _PROBE_LEVELS, indexing="ij"), -1
).reshape(64, 64, 3)


@functools.lru_cache(maxsize=16)
def _rgb_profile_is_srgb(icc):
    """Whether an RGB profile's transform to sRGB moves no colour by over 1 level.

    Decided by what the profile does, not what it is called (a linear-light
    profile may well be named "sRGB ..."); cached per profile, so the many camera
    images that carry the same sRGB profile pay for one 4,096-colour probe.
    """
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    probe = Image.fromarray(_PROBE, "RGB")
    out = ImageCms.profileToProfile(probe, profile, _SRGB, outputMode="RGB")
    return int(np.abs(np.asarray(out, np.int16) - _PROBE).max()) <= 1


def _colour_managed(im):
    """``im`` with its embedded ICC profile applied (sRGB pixels), or ``im``.

    RGB, RGBA, CMYK and palette images are managed; a palette image, or an RGB
    image with a transparent colour key, is first expanded to RGB(A) so that the
    profile acts on colours and transparency survives. Greyscale profiles are
    ignored. An unusable profile (broken, or made for another colour space) is
    ignored too: like broken EXIF, a bad colour hint must not lose the pixels.
    """
    icc = im.info.get("icc_profile")
    if ImageCms is None or not icc:
        return im
    if im.mode in ("P", "PA") or (im.mode == "RGB" and "transparency" in im.info):
        try:
            im = im.convert("RGBA" if _has_alpha(im) else "RGB")
        except (ValueError, OSError):
            return im
    if im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        icc = bytes(icc)
        if im.mode != "CMYK" and _rgb_profile_is_srgb(icc):
            return im  # the common case: nothing to convert
        return ImageCms.profileToProfile(
            im,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            _SRGB,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGBA" if im.mode == "RGBA" else "RGB",
        )
    except Exception:
        # Whatever a hostile profile makes LittleCMS raise, the pixels stand.
        return im


def _to_rgb(im, source):
    """Return a new, loaded RGB image; alpha is composited onto white paper.

    An embedded ICC profile is applied first (the result is sRGB).
    """
    im = _colour_managed(im)
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im.copy()
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _scale_to_uint8(np.asarray(im), mode)
        return Image.fromarray(grey, "L").convert("RGB")
    try:
        if _has_alpha(im):
            rgba = im.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(paper, rgba).convert("RGB")
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageReadError(source, f"unsupported pixel mode {mode}: {exc}") from exc


def _exif_transposed(im):
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        # Broken EXIF in an otherwise sound image: the pixels are still right, only
        # the orientation hint is unusable, so keep the stored orientation.
        return im


# --------------------------------------------------------------------- decoding


def _explain(exc):
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _WatchedReader:
    """Read-only file wrapper that notes when decoding asks for bytes past the end.

    Pillow pads truncated data silently when ``ImageFile.LOAD_TRUNCATED_IMAGES`` is
    set (by anyone, anywhere in the process); a read that comes back empty while
    the pixels are being decoded is how we still see the truncation. It offers no
    ``fileno``, so libtiff reads through it as well.
    """

    def __init__(self, raw):
        self._raw = raw
        self.watching = False
        self.starved = False

    def read(self, size=-1):
        data = self._raw.read(size)
        if self.watching and not data and size != 0:
            self.starved = True
        return data

    def seek(self, offset, whence=0):
        return self._raw.seek(offset, whence)

    def tell(self):
        return self._raw.tell()


# A marker: a run of 0xFF fill bytes, then the marker's code.
_MARKER = re.compile(rb"\xff+(.)", re.DOTALL)
# In entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker
# (0xD0-0xD7); anything else after a run of 0xFF ends the data.
_END_OF_SCAN = re.compile(rb"\xff+[^\x00\xff\xd0-\xd7]")
_NO_LENGTH = frozenset([0x01, *range(0xD0, 0xD8)])
_FILL_BYTE = re.compile(rb"\xff")


def _whole(raw):
    """The bytes of a seekable binary file, without copying where possible."""
    if isinstance(raw, io.BytesIO):
        return raw.getbuffer()
    try:
        return mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        raw.seek(0)
        return read_limited(raw, MAX_ENCODED_BYTES, name="the file")


def _jpeg_has_end(fp):
    """Whether the first JPEG image in ``fp`` runs to its end-of-image marker.

    Walks the marker segments from the start; after each start-of-scan it skips
    the entropy-coded data to the next real marker (a regular expression, so
    megabytes of data or restart markers cost milliseconds). Data after the
    first image's EOI (an MPO's other frames, a phone's appended video) is never
    looked at; a file is mapped, not read into memory.
    """
    raw = getattr(fp, "_raw", fp)
    data = _whole(raw)
    try:
        n = min(len(data), MAX_ENCODED_BYTES)
        pos = 2  # after SOI
        while pos < n:
            if data[pos] != 0xFF:
                # Stray bytes between segments: libjpeg skips to the next marker.
                match = _FILL_BYTE.search(data, pos, n)
                if match is None:
                    return False
                pos = match.start()
            match = _MARKER.match(data, pos, n)
            if match is None:
                return False
            marker, pos = match.group(1)[0], match.end()
            if marker == 0xD9:  # EOI
                return True
            if marker in _NO_LENGTH:
                continue
            if pos + 2 > n:
                return False
            pos += int.from_bytes(data[pos : pos + 2], "big")
            if marker == 0xDA:  # SOS: skip the entropy-coded data
                match = _END_OF_SCAN.search(data, pos, n)
                if match is None:
                    return False
                pos = match.start()
        return False
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
        elif isinstance(data, memoryview):
            data.release()


def _decode(raw, source, *, min_size, limit):
    """Open ``raw`` (a seekable binary file), enforce the limits, decode fully."""
    fp = _WatchedReader(raw)
    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        with _PILLOW_WARNINGS_LOCK, warnings.catch_warnings():
            # Our limit replaces Pillow's warning; Pillow's hard error (2x its
            # limit) still fires and is turned into ImageReadError below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=_allowed_formats())
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            source, f"too many pixels: {exc} {_PILLOW_HARD_LIMIT}"
        ) from exc
    except UnidentifiedImageError as exc:
        try:
            fp.seek(0)
            fmt = _sniff_format(bytes(fp.read(32)))
        except Exception:
            fmt = None
        if fmt is None:
            reason = "not an image (content matches no known image format)"
        elif fmt in ALLOWED_FORMATS:
            reason = f"truncated or corrupt {fmt} file (its header cannot be parsed)"
        else:
            reason = f"unsupported format {fmt} (allowed: {', '.join(ALLOWED_FORMATS)})"
        raise ImageReadError(source, reason) from exc
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(
            source, f"truncated or corrupt image ({_explain(exc)})"
        ) from exc

    with im:
        fmt = im.format
        # The limit is on the size the file declares, checked before decoding: a
        # JPEG drafted to 1/8 would allocate less, but its declared size is what an
        # attacker controls and what other formats would allocate in full.
        _check_pixels(source, im.size, limit)
        try:
            if min_size is not None and fmt in ("JPEG", "MPO"):
                # Pillow picks the largest of 1/2, 1/4, 1/8 that keeps both sides
                # >= the request, so asking for a square of min_size keeps the
                # shorter side >= min_size.
                im.draft("RGB", (min_size, min_size))
            over_pillow = (
                pillow_limit is not None and im.size[0] * im.size[1] > pillow_limit
            )
            fp.watching = True
            if over_pillow:  # the caller allowed more than Pillow: silence its warning
                with _PILLOW_WARNINGS_LOCK, warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    im.load()
            else:
                im.load()
            fp.watching = False
            if fp.starved:
                raise OSError("image file is truncated")
            if fmt in ("JPEG", "MPO") and not _jpeg_has_end(fp):
                # libjpeg decodes zero padding as image data and stops when it has
                # every block, so a truncated file padded to length reads "fine".
                raise OSError("image file is truncated (no end-of-image marker)")
            return _to_rgb(_exif_transposed(im), source)
        except ImageReadError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageReadError(
                source, f"too many pixels: {exc} {_PILLOW_HARD_LIMIT}"
            ) from exc
        except Exception as exc:
            raise ImageReadError(
                source, f"truncated or corrupt {fmt} data ({_explain(exc)})"
            ) from exc


def open_image_file(path, source):
    """Open an image path for reading, or raise :class:`ImageReadError`.

    Only regular files are opened, without blocking: a FIFO, ``/dev/zero`` or
    another device is refused instead of hanging the reader or the hasher.
    """
    try:
        return open_regular(path)
    except FileNotFoundError:
        raise ImageReadError(source, "missing (no such file)") from None
    except IsADirectoryError:
        raise ImageReadError(source, "is a directory, not an image file") from None
    except NotRegularFileError as exc:
        raise ImageReadError(source, f"not a regular file but {exc.kind}") from None
    except OSError as exc:
        raise ImageReadError(
            source, f"cannot open file ({exc.strerror or exc})"
        ) from None


def _read_path(path, source, *, min_size, limit):
    with open_image_file(path, source) as fp:
        try:
            empty = os.fstat(fp.fileno()).st_size == 0
        except OSError as exc:
            raise ImageReadError(
                source, f"cannot access file ({exc.strerror})"
            ) from None
        if empty:
            raise ImageReadError(source, "empty (0 bytes)")
        return _decode(fp, source, min_size=min_size, limit=limit)


def _read_fileobj(fp, source, *, min_size, limit):
    try:
        fp.seek(0)
        seekable = True
    except Exception:
        seekable = False
    if not seekable:  # pipes, sockets: Pillow needs to seek back after sniffing
        try:
            fp = io.BytesIO(read_limited(fp, MAX_ENCODED_BYTES, name="the stream"))
        except ValueError as exc:
            raise ImageReadError(source, str(exc)) from None
        except Exception as exc:
            raise ImageReadError(
                source, f"cannot read file object ({_explain(exc)})"
            ) from exc
    else:
        try:
            first = fp.read(1)
            fp.seek(0)
        except Exception as exc:
            raise ImageReadError(
                source, f"cannot read file object ({_explain(exc)})"
            ) from exc
        if not isinstance(first, (bytes, bytearray)):
            raise ImageReadError(
                source, "file object is in text mode; open it in binary mode ('rb')"
            )
        if not first:
            raise ImageReadError(source, "empty (0 bytes)")
    if isinstance(fp, io.BytesIO) and not fp.getbuffer().nbytes:
        raise ImageReadError(source, "empty (0 bytes)")
    return _decode(fp, source, min_size=min_size, limit=limit)


def _read_array(arr, source, *, limit):
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f":
            hint = (
                "float arrays are ambiguous (0..1 or 0..255?); convert first, e.g. "
                "(a * 255).round().astype(np.uint8) for data in [0, 1]"
            )
        elif arr.dtype.kind == "b":
            hint = "convert a boolean mask explicitly, e.g. a.astype(np.uint8) * 255"
        else:
            hint = "convert it to uint8 (0..255) first"
        raise ImageReadError(source, f"bad array dtype {arr.dtype}: need uint8; {hint}")
    shape_ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
    if not shape_ok:
        raise ImageReadError(
            source,
            f"bad array shape {arr.shape}: need (H, W), (H, W, 1), (H, W, 3) or "
            "(H, W, 4)",
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(source, f"bad array shape {arr.shape}: it is empty")
    _check_pixels(source, (arr.shape[1], arr.shape[0]), limit)
    arr = np.ascontiguousarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return Image.fromarray(arr, "L").convert("RGB")
    if arr.shape[2] == 3:
        return Image.fromarray(arr, "RGB")
    return _to_rgb(Image.fromarray(arr, "RGBA"), source)


def _read_pil(im, source, *, limit):
    _check_pixels(source, im.size, limit)
    if isinstance(im, ImageFile.ImageFile) and im.format not in ALLOWED_FORMATS:
        # An unloaded EPS would start Ghostscript on load(); refuse it like a file.
        raise ImageReadError(
            source,
            f"unsupported format {im.format} (allowed: {', '.join(ALLOWED_FORMATS)})",
        )
    try:
        im.load()
        return _to_rgb(_exif_transposed(im), source)
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(
            source, f"truncated or corrupt image ({_explain(exc)})"
        ) from exc


def _read_rgb(src, *, min_size, limit):
    source = _describe(src)
    if isinstance(src, (str, os.PathLike)):
        return _read_path(src, source, min_size=min_size, limit=limit)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise ImageReadError(source, "empty (0 bytes)")
        return _decode(io.BytesIO(data), source, min_size=min_size, limit=limit)
    if isinstance(src, Image.Image):
        return _read_pil(src, source, limit=limit)
    if isinstance(src, np.ndarray):
        return _read_array(src, source, limit=limit)
    if hasattr(src, "read"):
        return _read_fileobj(src, source, min_size=min_size, limit=limit)
    raise ImageReadError(
        source,
        f"unsupported input type {type(src).__name__}: pass a path, bytes, a binary "
        "file object, a PIL image or a uint8 array",
    )


# ------------------------------------------------------------------ public API


def read_image(src, *, as_array=False, min_size=None, max_pixels=None):
    """Read one image as RGB, fully decoded, whatever it came from.

    Parameters
    ----------
    src : str, os.PathLike, bytes, bytearray, memoryview, file object, \
PIL.Image.Image or numpy.ndarray
        A path; encoded image bytes; a binary file object (read from its start,
        left open); a PIL image (not modified); or a uint8 array of shape (H, W),
        (H, W, 1), (H, W, 3) or (H, W, 4). Only JPEG (and MPO), PNG, TIFF, WEBP,
        BMP and GIF content is opened, recognised from the bytes, not the name.
    as_array : bool, default=False
        Return a uint8 array (H, W, 3) instead of a PIL image.
    min_size : int, optional
        For JPEG input only: decode at the largest reduction (1/2, 1/4, 1/8) that
        keeps the shorter side >= ``min_size`` (``Image.draft``). Other formats are
        decoded at full size; resizing belongs to :class:`Preprocessing`.
    max_pixels : int, optional
        Refuse images whose declared width x height exceeds this, checked from the
        header before anything is decoded (a drafted JPEG is checked at its full
        declared size). None uses ``artmedium.io.MAX_IMAGE_PIXELS``, and when that
        is None, ``PIL.Image.MAX_IMAGE_PIXELS`` (both read at call time). Applies
        to arrays and PIL images too.

    Returns
    -------
    PIL.Image.Image or numpy.ndarray
        A new mode "RGB" image, detached from any file; or a (H, W, 3) uint8
        array. EXIF orientation is applied; an embedded ICC colour profile is
        applied (the result is sRGB; a broken or mismatched profile is ignored);
        transparency is composited onto white; 16-bit and 32-bit greyscale is
        scaled to 0..255 by its storage range (I;16 divides by 257); animated and
        multi-page files give their first frame.

    Raises
    ------
    ImageReadError
        For every input that cannot be read: missing, empty, directory, not an
        image, unsupported format, truncated or corrupt data, too many pixels,
        bad array dtype or shape.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> from artmedium.io import read_image
    >>> buffer = io.BytesIO()
    >>> Image.new("LA", (4, 3), (0, 0)).save(buffer, format="PNG")
    >>> img = read_image(buffer.getvalue())
    >>> img.mode, img.size, img.getpixel((0, 0))
    ('RGB', (4, 3), (255, 255, 255))
    >>> read_image(np.zeros((3, 4), np.uint8), as_array=True).shape
    (3, 4, 3)
    """
    _validate_options(min_size, max_pixels)
    img = _read_rgb(src, min_size=min_size, limit=_effective_limit(max_pixels))
    return np.array(img) if as_array else img


def _read_or_error(src, options, transform=None):
    try:
        image = read_image(src, **options)
    except ImageReadError as exc:
        return exc
    return image if transform is None else transform(image)


def _check_jobs(n_jobs, prefetch):
    # -1 means one per core, as in joblib and scikit-learn.
    n_jobs = check_count(n_jobs, "n_jobs", minimum=-1)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    elif n_jobs == 0:
        raise ValueError("n_jobs == 0, must be >= 1 or -1 (all cores).")
    prefetch = check_count(prefetch, "prefetch", minimum=0, allow_none=True)
    if prefetch is None:
        prefetch = 0 if n_jobs == 1 else 2 * n_jobs
    return n_jobs, prefetch


def iter_images(
    srcs,
    *,
    n_jobs=1,
    prefetch=None,
    as_array=False,
    min_size=None,
    max_pixels=None,
    transform=None,
):
    """Yield ``(index, image_or_error)`` for each source, in input order.

    Decoding runs ahead of the consumer in a thread pool (Pillow releases the GIL
    while decoding), with a bounded look-ahead so that a long list of paths never
    sits decoded in memory. Errors are yielded, not raised, so one bad file never
    stops the others.

    Parameters
    ----------
    srcs : iterable
        Anything :func:`read_image` accepts, one per item. Any iterable works,
        including a generator; it is consumed lazily.
    n_jobs : int, default=1
        Decoding threads; -1 means one per CPU core. With 1 and no ``prefetch``,
        images are decoded in the calling thread, one at a time.
    prefetch : int, optional
        How many images may be decoding or waiting ahead of the one the consumer
        holds. None means 0 when ``n_jobs == 1`` and ``2 * n_jobs`` otherwise; a
        positive value with ``n_jobs=1`` decodes in one background thread.
    as_array, min_size, max_pixels
        Passed to :func:`read_image`.
    transform : callable, optional
        Applied to each image in the decoding thread (e.g.
        :meth:`Preprocessing.array`, which Pillow and numpy run without
        holding the GIL for long), so it overlaps with the consumer's work.

    Yields
    ------
    index : int
        Position of the source in ``srcs``.
    image_or_error : PIL.Image.Image, numpy.ndarray or ImageReadError
        The image as :func:`read_image` returns it (then ``transform``), or
        the error it raised.

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium.io import iter_images
    >>> srcs = (np.full((2, 2), v, np.uint8) for v in (0, 255))
    >>> for i, img in iter_images(srcs, n_jobs=2):
    ...     print(i, img.getpixel((0, 0)))
    0 (0, 0, 0)
    1 (255, 255, 255)
    """
    _validate_options(min_size, max_pixels)
    n_jobs, prefetch = _check_jobs(n_jobs, prefetch)
    options = {"as_array": as_array, "min_size": min_size, "max_pixels": max_pixels}
    return _iter_images(srcs, n_jobs, prefetch, options, transform)


def _iter_images(srcs, n_jobs, prefetch, options, transform=None):
    if prefetch == 0:
        for index, src in enumerate(srcs):
            yield index, _read_or_error(src, options, transform)
        return
    pending = deque()
    executor = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="artmedium-io")
    try:
        sources = enumerate(srcs)
        for index, src in sources:
            pending.append(
                (index, executor.submit(_read_or_error, src, options, transform))
            )
            # One slot is the image being consumed, the rest decode ahead.
            if len(pending) > prefetch:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
    finally:
        # Reached on exhaustion, on an exception, and when the consumer stops early
        # (generator close): drop the work nobody will collect.
        executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class ReadResult:
    """What :func:`read_images` read: images where it could, errors where not.

    Attributes
    ----------
    images : list
        One entry per source, in input order: the image, or None where reading
        failed.
    errors : dict of int to ImageReadError
        The error of every failed source, by index.

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium.io import read_images
    >>> result = read_images([np.zeros((2, 2), np.uint8), b"not an image"])
    >>> result.ok, sorted(result.errors)
    ([0], [1])
    >>> result.errors[1].source
    '<bytes>'
    """

    images: list
    errors: dict = field(default_factory=dict)

    @property
    def ok(self):
        """Indices of the sources that were read, in order."""
        return [i for i in range(len(self.images)) if i not in self.errors]

    @property
    def failed(self):
        """Indices of the sources that failed, in order."""
        return sorted(self.errors)

    def __len__(self):
        return len(self.images)

    def raise_first(self):
        """Raise the error of the first failed source; do nothing when all worked.

        Raises
        ------
        ImageReadError
            The error of the lowest failed index.
        """
        if self.errors:
            raise self.errors[min(self.errors)]


def read_images(srcs, *, n_jobs=1, as_array=False, min_size=None, max_pixels=None):
    """Read many images; one bad file never loses the others.

    Parameters
    ----------
    srcs : iterable
        Anything :func:`read_image` accepts, one per item.
    n_jobs : int, default=1
        Decoding threads (-1: one per CPU core). Pillow releases the GIL while
        decoding, so threads give real parallelism.
    as_array, min_size, max_pixels
        Passed to :func:`read_image`.

    Returns
    -------
    ReadResult
        ``images`` (None where failed), ``errors`` by index, ``ok`` indices and
        ``raise_first()``.

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium.io import read_images
    >>> result = read_images([np.zeros((2, 3, 3), np.uint8)] * 3, n_jobs=2)
    >>> [img.size for img in result.images]
    [(3, 2), (3, 2), (3, 2)]
    """
    result = ReadResult(images=[])
    for index, item in iter_images(
        srcs,
        n_jobs=n_jobs,
        as_array=as_array,
        min_size=min_size,
        max_pixels=max_pixels,
    ):
        if isinstance(item, ImageReadError):
            result.images.append(None)
            result.errors[index] = item
        else:
            result.images.append(item)
    return result
