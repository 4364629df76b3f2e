"""Tests for artmedium.io reading: every image is generated here, none committed."""

import io
import os
import pickle
import struct
import subprocess
import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import EpsImagePlugin, Image, ImageFile

import artmedium.io as amio
from artmedium.io import (
    ALLOWED_FORMATS,
    ImageReadError,
    ReadResult,
    iter_images,
    read_image,
    read_images,
)
from conftest import run_in_thread

WHITE = (255, 255, 255)


def encode(im, fmt, **kwargs):
    buffer = io.BytesIO()
    im.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def noise(width, height, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def pixels(img):
    return np.asarray(img)


# ------------------------------------------------------------------ sources


@pytest.fixture
def png_bytes():
    return encode(noise(12, 8), "PNG")


def test_path_str_pathlib_bytes_and_views_read_identically(tmp_path, png_bytes):
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes)
    expected = pixels(noise(12, 8))
    for src in (
        str(path),
        path,
        png_bytes,
        bytearray(png_bytes),
        memoryview(png_bytes),
    ):
        img = read_image(src)
        assert type(img) is Image.Image  # detached from any file
        assert img.mode == "RGB"
        np.testing.assert_array_equal(pixels(img), expected)


def test_file_object_is_read_from_start_and_left_open(png_bytes):
    fobj = io.BytesIO(png_bytes)
    fobj.seek(5)
    img = read_image(fobj)
    assert img.size == (12, 8)
    assert not fobj.closed


def test_non_seekable_file_object(png_bytes):
    class Pipe:
        def __init__(self, data):
            self._buffer = io.BytesIO(data)

        def read(self, size=-1):
            return self._buffer.read(size)

        def seek(self, *args):
            raise io.UnsupportedOperation("not seekable")

    img = read_image(Pipe(png_bytes))
    np.testing.assert_array_equal(pixels(img), pixels(noise(12, 8)))


def test_text_mode_file_object_is_refused(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("hello")
    with open(path) as text, pytest.raises(ImageReadError, match="binary mode"):
        read_image(text)


def test_path_input_leaves_no_open_file(tmp_path, png_bytes):
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes)
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        pytest.skip("needs /proc to count open files")
    before = len(os.listdir(fd_dir))
    imgs = [read_image(path) for _ in range(5)]
    assert len(os.listdir(fd_dir)) == before
    assert all(img.size == (12, 8) for img in imgs)


def test_pil_input_is_not_modified():
    src = Image.new("RGBA", (3, 2), (10, 20, 30, 0))
    img = read_image(src)
    assert src.mode == "RGBA" and src.getpixel((0, 0)) == (10, 20, 30, 0)
    assert img is not src and img.getpixel((0, 0)) == WHITE


def test_as_array_returns_writable_uint8_hwc(png_bytes):
    arr = read_image(png_bytes, as_array=True)
    assert arr.dtype == np.uint8 and arr.shape == (8, 12, 3)
    arr[0, 0] = 0  # must not raise: callers may normalise in place


def test_png_named_jpg_is_read_by_content(tmp_path, png_bytes):
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(png_bytes)
    assert read_image(path).size == (12, 8)


# ------------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    ("shape", "value", "expected"),
    [
        ((4, 5), 77, (77, 77, 77)),
        ((4, 5, 1), 77, (77, 77, 77)),
        ((4, 5, 3), 77, (77, 77, 77)),
    ],
)
def test_allowed_array_shapes(shape, value, expected):
    img = read_image(np.full(shape, value, np.uint8))
    assert img.size == (5, 4) and img.getpixel((4, 3)) == expected


def test_rgba_array_is_composited_on_white():
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[0, 0] = (200, 0, 0, 255)
    arr[0, 1] = (200, 0, 0, 0)
    out = read_image(arr, as_array=True)
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[0, 1]) == WHITE


def test_array_layout_is_hwc_not_chw():
    arr = np.zeros((2, 3, 3), np.uint8)
    arr[1, 2] = (1, 2, 3)
    assert read_image(arr).getpixel((2, 1)) == (1, 2, 3)
    np.testing.assert_array_equal(read_image(arr[:, ::-1], as_array=True), arr[:, ::-1])


@pytest.mark.parametrize(
    ("arr", "needle"),
    [
        (np.zeros((4, 4, 3), np.float32), "float32"),
        (np.zeros((4, 4), bool), "bool"),
        (np.zeros((4, 4), np.uint16), "uint16"),
        (np.zeros((4, 4, 3), np.int64), "int64"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (np.zeros(16, np.uint8), "shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
    ],
)
def test_bad_arrays_are_refused(arr, needle):
    with pytest.raises(ImageReadError, match=needle) as info:
        read_image(arr)
    assert info.value.source == "<array>"


def test_float_array_message_says_how_to_convert():
    with pytest.raises(ImageReadError, match="astype") as info:
        read_image(np.ones((3, 3), np.float64))
    assert "ambiguous" in info.value.reason


def test_unsupported_input_type():
    with pytest.raises(ImageReadError, match="unsupported input type int"):
        read_image(42)


# -------------------------------------------------------------------- modes


def test_cmyk_tiff_exact_and_cmyk_jpeg_close():
    im = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    im.putpixel((1, 0), (0, 255, 255, 0))
    assert pixels(read_image(encode(im, "TIFF"))).tolist() == [[[255] * 3, [255, 0, 0]]]
    big = im.resize((32, 16), Image.Resampling.NEAREST)
    out = pixels(read_image(encode(big, "JPEG", quality=95))).astype(int)
    assert np.abs(out[8, 4] - [255, 255, 255]).max() < 12
    assert np.abs(out[8, 28] - [255, 0, 0]).max() < 12


def test_l_mode():
    img = read_image(encode(Image.new("L", (2, 2), 100), "PNG"))
    assert img.getpixel((1, 1)) == (100, 100, 100)


def test_one_bit_mode():
    im = Image.new("1", (2, 1), 0)
    im.putpixel((1, 0), 1)
    img = read_image(encode(im, "PNG"))
    assert [img.getpixel((x, 0)) for x in range(2)] == [(0, 0, 0), WHITE]


def sixteen_bit(values, mode):
    """A 16-bit greyscale image from a row (or 2-D array) of values."""
    arr = np.atleast_2d(np.asarray(values, dtype=">u2" if mode == "I;16B" else "<u2"))
    return Image.frombytes(mode, (arr.shape[1], arr.shape[0]), arr.tobytes())


@pytest.mark.parametrize(("mode", "fmt"), [("I;16", "PNG"), ("I;16", "TIFF")])
def test_sixteen_bit_scaled_by_257(mode, fmt):
    im = sixteen_bit([0, 257, 32768, 65535], mode)
    data = encode(im, fmt)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    grey = pixels(read_image(data))[0, :, 0]
    assert grey.tolist() == [0, 1, 128, 255]


def test_sixteen_bit_big_endian_and_pil_input():
    im = sixteen_bit([0, 32768, 65535], "I;16B")
    assert pixels(read_image(im))[0, :, 0].tolist() == [0, 128, 255]
    data = encode(im, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I;16B"
    assert pixels(read_image(data))[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 100, 255], [0, 100, 255]),  # 8-bit data held in 32 bits
        ([0, 32768, 65535], [0, 128, 255]),  # 16-bit data (old Pillow PNGs)
        ([0, 2**30, 2**31 - 1], [0, 128, 255]),
        ([-(2**31), 0, 2**31 - 1], [0, 128, 255]),
    ],
)
def test_int32_mode_scaled_by_storage_range(values, expected):
    im = Image.fromarray(np.asarray([values], dtype=np.int32), "I")
    data = encode(im, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I"
    assert pixels(read_image(data))[0, :, 0].tolist() == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),
        ([0.0, 128.0, 255.0], [0, 128, 255]),
        ([0.0, 32768.0, 65535.0], [0, 128, 255]),
        ([-1.0, 0.0, 1.0], [0, 128, 255]),
        ([float("nan"), 0.0, 1.0], [0, 0, 255]),
    ],
)
def test_float_mode(values, expected):
    im = Image.fromarray(np.asarray([values], dtype=np.float32), "F")
    data = encode(im, "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "F"
    assert pixels(read_image(data))[0, :, 0].tolist() == expected


def test_palette_with_transparency_png_and_gif():
    im = Image.new("P", (2, 1), 0)
    im.putpalette([0, 255, 0] + [255, 0, 0] + [0, 0, 0] * 254)
    im.putpixel((1, 0), 1)
    for fmt in ("PNG", "GIF"):
        img = read_image(encode(im, fmt, transparency=0))
        assert img.getpixel((0, 0)) == WHITE, fmt  # green index is transparent
        assert img.getpixel((1, 0)) == (255, 0, 0), fmt


def test_palette_without_transparency():
    im = Image.new("P", (1, 1), 0)
    im.putpalette([12, 34, 56] + [0, 0, 0] * 255)
    assert read_image(encode(im, "PNG")).getpixel((0, 0)) == (12, 34, 56)


def test_rgb_png_with_transparent_colour_key():
    im = Image.new("RGB", (2, 1), (255, 0, 0))
    im.putpixel((1, 0), (0, 0, 255))
    img = read_image(encode(im, "PNG", transparency=(255, 0, 0)))
    assert [img.getpixel((x, 0)) for x in range(2)] == [WHITE, (0, 0, 255)]


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_rgba_composited_onto_white(fmt):
    im = Image.new("RGBA", (3, 1))
    im.putdata([(255, 0, 0, 0), (255, 0, 0, 255), (0, 0, 0, 128)])
    save = {"lossless": True, "exact": True} if fmt == "WEBP" else {}
    img = read_image(encode(im, fmt, **save))
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((1, 0)) == (255, 0, 0)
    assert all(abs(c - 127) <= 1 for c in img.getpixel((2, 0)))


def test_la_composited_onto_white():
    im = Image.new("LA", (3, 1))
    im.putdata([(0, 0), (0, 255), (0, 128)])
    img = read_image(encode(im, "PNG"))
    assert img.getpixel((0, 0)) == WHITE
    assert img.getpixel((1, 0)) == (0, 0, 0)
    assert all(abs(c - 127) <= 1 for c in img.getpixel((2, 0)))


def test_pa_composited_onto_white():
    im = Image.new("PA", (2, 1))
    im.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    im.putdata([(0, 0), (0, 255)])
    img = read_image(im)
    assert [img.getpixel((x, 0)) for x in range(2)] == [WHITE, (255, 0, 0)]


def test_premultiplied_rgba():
    im = Image.new("RGBA", (1, 1), (255, 0, 0, 0)).convert("RGBa")
    assert read_image(im).getpixel((0, 0)) == WHITE


# ------------------------------------------------------------- orientation


def asymmetric():
    """3 wide, 2 high, every pixel different."""
    return np.arange(18, dtype=np.uint8).reshape(2, 3, 3) * 13


ORIENTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),  # displayed after a clockwise quarter turn
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_exif_orientation_png_exact(orientation):
    arr = asymmetric()
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(arr), "PNG", exif=exif)
    np.testing.assert_array_equal(
        read_image(data, as_array=True), ORIENTED[orientation](arr)
    )


@pytest.mark.parametrize("orientation", sorted(ORIENTED))
def test_exif_orientation_jpeg(orientation):
    blocks = asymmetric()
    arr = blocks.repeat(16, axis=0).repeat(16, axis=1)  # 48 x 32, flat 16px blocks
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif)
    out = read_image(data, as_array=True).astype(int)
    expected = ORIENTED[orientation](blocks).astype(int)
    centres = out[8::16, 8::16]  # one pixel per block, far from block edges
    assert centres.shape == expected.shape
    assert np.abs(centres - expected).max() <= 6


def test_exif_orientation_sixteen_bit_tiff():
    values = np.arange(6, dtype=np.uint16).reshape(2, 3) * 10_000
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(sixteen_bit(values, "I;16"), "TIFF", exif=exif)
    out = read_image(data, as_array=True)[:, :, 0]
    np.testing.assert_array_equal(out, np.rint(np.rot90(values, -1) / 257))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_corrupt_exif_keeps_pixels():
    exif = b"Exif\x00\x00MM\x00\x2a" + b"\xff" * 20
    data = encode(noise(8, 6), "JPEG", exif=exif)
    assert read_image(data).size == (8, 6)


def test_exif_transpose_failure_keeps_stored_orientation(monkeypatch):
    from PIL import ImageOps

    def broken(image):
        raise SyntaxError("bad EXIF IFD")

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    arr = asymmetric()
    exif = Image.Exif()
    exif[0x0112] = 6
    out = read_image(encode(Image.fromarray(arr), "PNG", exif=exif), as_array=True)
    np.testing.assert_array_equal(out, arr)


# ----------------------------------------------------------- multi-frame


def frames(colours, size=(6, 4)):
    return [Image.new("RGB", size, c) for c in colours]


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "WEBP", "PNG"])
def test_multi_frame_gives_first_frame(fmt):
    first, *rest = frames(["red", "lime", "blue"])
    buffer = io.BytesIO()
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    first.save(buffer, format=fmt, save_all=True, append_images=rest, **kwargs)
    assert getattr(Image.open(io.BytesIO(buffer.getvalue())), "n_frames", 1) == 3
    img = read_image(buffer.getvalue())
    assert img.size == (6, 4) and img.getpixel((3, 2)) == (255, 0, 0)


# -------------------------------------------------------------- allowlist


def test_allowlist_is_exactly_the_spec():
    assert set(ALLOWED_FORMATS) == {"JPEG", "MPO", "PNG", "TIFF", "WEBP", "BMP", "GIF"}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF"])
def test_every_allowed_format_reads(fmt):
    img = read_image(encode(Image.new("RGB", (5, 3), (0, 0, 255)), fmt))
    assert img.size == (5, 3)
    assert img.getpixel((2, 1))[2] > 200


MINIMAL_EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 10 10
%%EndComments
newpath 0 0 moveto 10 10 lineto stroke
showpage
%%EOF
"""


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Any attempt to run Ghostscript, or any subprocess, fails the test."""
    calls = []

    def explode(*args, **kwargs):
        calls.append(args)
        raise AssertionError("Ghostscript or a subprocess was invoked")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", explode)
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", explode)
    monkeypatch.setattr(subprocess, "Popen", explode)
    monkeypatch.setattr(subprocess, "check_call", explode)
    monkeypatch.setattr(subprocess, "run", explode)
    return calls


def test_eps_refused_without_running_the_eps_plugin(
    tmp_path, monkeypatch, no_ghostscript
):
    opened = []
    monkeypatch.setattr(
        EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(self)
    )
    path = tmp_path / "drawing.eps"
    path.write_bytes(MINIMAL_EPS)
    for src in (path, MINIMAL_EPS, tmp_path / "disguised.jpg"):
        if not isinstance(src, bytes) and not src.exists():
            src.write_bytes(MINIMAL_EPS)
        with pytest.raises(ImageReadError, match="unsupported format EPS"):
            read_image(src)
    assert opened == [] and no_ghostscript == []


def test_eps_opened_by_the_caller_is_refused_before_load(no_ghostscript):
    eps = Image.open(io.BytesIO(MINIMAL_EPS))  # header only, no Ghostscript yet
    with pytest.raises(ImageReadError, match="unsupported format EPS"):
        read_image(eps)
    assert no_ghostscript == []


@pytest.mark.parametrize("fmt", ["PDF", "ICO", "PPM", "PCX", "SGI", "QOI", "DDS"])
def test_other_formats_refused_by_name(fmt):
    data = encode(Image.new("RGB", (16, 16), "red"), fmt)
    with pytest.raises(ImageReadError, match=f"unsupported format {fmt}") as info:
        read_image(data)
    assert info.value.source == "<bytes>"


def test_psd_magic_refused_by_name():
    with pytest.raises(ImageReadError, match="unsupported format PSD"):
        read_image(b"8BPS\x00\x01" + b"\x00" * 40)


def test_text_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("just some text, not a picture\n")
    with pytest.raises(ImageReadError, match="not an image") as info:
        read_image(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)


def test_allowed_magic_with_garbage_is_corrupt_not_unsupported():
    with pytest.raises(ImageReadError, match="corrupt PNG"):
        read_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)


# ------------------------------------------------------ missing, empty, ...


def test_missing_path(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageReadError, match="missing") as info:
        read_image(path)
    assert info.value.source == str(path)


def test_directory(tmp_path):
    with pytest.raises(ImageReadError, match="directory"):
        read_image(tmp_path)


def test_zero_byte_file_bytes_and_file_object(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    for src in (path, b"", io.BytesIO()):
        with pytest.raises(ImageReadError, match=r"empty \(0 bytes\)"):
            read_image(src)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])
@pytest.mark.parametrize("lenient_pillow", [False, True])
def test_truncated_file_fails_here(fmt, lenient_pillow, monkeypatch, tmp_path):
    # Someone elsewhere in the process may have made Pillow lenient; we still refuse.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", lenient_pillow)
    data = encode(noise(64, 48), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(path)
    assert info.value.source == str(path)
    assert read_image(data).size == (64, 48)  # the whole file is fine


def test_unexpected_pillow_exceptions_are_converted(monkeypatch, png_bytes):
    def boom(self):
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", boom)
    with pytest.raises(ImageReadError, match="MemoryError"):
        read_image(png_bytes)


def test_error_attributes_message_and_pickling():
    err = ImageReadError("a.jpg", "not an image")
    assert isinstance(err, ValueError)
    assert "a.jpg" in str(err) and "not an image" in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert (again.source, again.reason, str(again)) == (
        err.source,
        err.reason,
        str(err),
    )


# ------------------------------------------------------------ pixel limits


@pytest.fixture
def no_bomb_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    bombs = [
        w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)
    ]
    assert bombs == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF"])
def test_pillow_limit_enforced_for_every_format(fmt, monkeypatch, no_bomb_warnings):
    data = encode(Image.new("RGB", (40, 40)), fmt)  # 1600 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow would only warn
    with pytest.raises(ImageReadError, match="too many pixels") as info:
        read_image(data)
    assert "1600" in info.value.reason and "1000" in info.value.reason
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 700)  # Pillow itself would raise
    with pytest.raises(ImageReadError, match="too many pixels"):
        read_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF"])
def test_max_pixels_argument(fmt, no_bomb_warnings, monkeypatch):
    data = encode(Image.new("RGB", (40, 40)), fmt)
    with pytest.raises(ImageReadError, match="1600 pixels exceeds the limit of 1599"):
        read_image(data, max_pixels=1599)
    assert read_image(data, max_pixels=1600).size == (40, 40)
    # A caller may allow more than Pillow (up to Pillow's own hard 2x error).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert read_image(data, max_pixels=10_000).size == (40, 40)


def test_threads_leave_warning_filters_untouched(monkeypatch, no_bomb_warnings):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    big = encode(Image.new("RGB", (40, 40)), "PNG")  # over Pillow's limit
    small = encode(Image.new("RGB", (10, 10)), "PNG")
    before = list(warnings.filters)
    result = read_images([big, small] * 10, n_jobs=4, max_pixels=2000)
    assert warnings.filters == before
    assert result.failed == [] and result.images[0].size == (40, 40)
    result = read_images([big, small] * 10, n_jobs=4)
    assert result.failed == list(range(0, 20, 2))
    assert warnings.filters == before


def test_module_default_is_read_at_call_time(monkeypatch, png_bytes):
    monkeypatch.setattr(amio, "MAX_IMAGE_PIXELS", 50)  # png_bytes is 12 x 8 = 96
    with pytest.raises(ImageReadError, match="limit of 50"):
        read_image(png_bytes)
    monkeypatch.setattr(amio, "MAX_IMAGE_PIXELS", None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60)
    with pytest.raises(ImageReadError, match="limit of 60"):
        read_image(png_bytes)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    assert read_image(png_bytes).size == (12, 8)


def test_limit_applies_to_arrays_and_pil_images(no_bomb_warnings):
    for src in (np.zeros((10, 10, 3), np.uint8), Image.new("RGB", (10, 10))):
        with pytest.raises(ImageReadError, match="100 pixels"):
            read_image(src, max_pixels=99)


def test_limit_is_on_the_declared_size_even_when_drafting():
    data = encode(noise(400, 300), "JPEG")
    # Drafting for min_size=50 would decode 100 x 75, but the file declares 120000.
    with pytest.raises(ImageReadError, match="120000 pixels"):
        read_image(data, min_size=50, max_pixels=50_000)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
def test_bad_options_raise_immediately(bad, png_bytes):
    with pytest.raises((TypeError, ValueError)) as info:
        read_image(png_bytes, max_pixels=bad)
    assert not isinstance(info.value, ImageReadError)
    with pytest.raises((TypeError, ValueError)):
        read_image(png_bytes, min_size=bad)


# ------------------------------------------------------------------ draft


@pytest.fixture(scope="module")
def large_jpeg():
    return encode(noise(2000, 1500), "JPEG", quality=80)


def test_draft_picks_largest_reduction_keeping_min_size(large_jpeg):
    for min_size, expected in (
        (224, (500, 375)),
        (100, (250, 188)),
        (700, (1000, 750)),
    ):
        img = read_image(large_jpeg, min_size=min_size)
        assert img.size == expected
        assert min(img.size) >= min_size > min(img.size) // 2


def test_draft_is_never_smaller_than_min_size(large_jpeg):
    assert read_image(large_jpeg, min_size=1000).size == (2000, 1500)
    assert read_image(large_jpeg).size == (2000, 1500)


def test_draft_with_portrait_exif_rotation():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(noise(800, 600), "JPEG", exif=exif)
    img = read_image(data, min_size=150)
    assert img.size == (150, 200)


def test_non_jpeg_is_not_drafted():
    data = encode(noise(400, 300), "PNG")
    assert read_image(data, min_size=50).size == (400, 300)


# ------------------------------------------------------------ many images


def good_and_bad():
    good = [
        encode(Image.new("RGB", (4 + i, 3), (10 * i, 0, 0)), "PNG") for i in range(5)
    ]
    return [good[0], good[1], b"garbage", good[2], b"", good[3], good[4]]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_read_images_keeps_going_after_bad_items(n_jobs):
    result = read_images(good_and_bad(), n_jobs=n_jobs)
    assert isinstance(result, ReadResult) and len(result) == 7
    assert result.ok == [0, 1, 3, 5, 6]
    assert result.failed == [2, 4]
    assert result.images[2] is None and result.images[4] is None
    assert [result.images[i].size[0] for i in result.ok] == [4, 5, 6, 7, 8]
    assert "not an image" in result.errors[2].reason
    assert "empty" in result.errors[4].reason
    with pytest.raises(ImageReadError, match="not an image"):
        result.raise_first()


def test_read_images_all_good_and_arrays():
    result = read_images([np.zeros((2, 2), np.uint8)] * 3, n_jobs=2, as_array=True)
    result.raise_first()  # nothing to raise
    assert result.errors == {} and all(a.shape == (2, 2, 3) for a in result.images)


def test_iter_images_preserves_order_with_threads():
    # Sizes vary so that later items often finish decoding first.
    sizes = [(300 - 25 * i, 200) for i in range(10)]
    srcs = [encode(noise(w, h, seed=i), "PNG") for i, (w, h) in enumerate(sizes)]
    out = list(iter_images(srcs, n_jobs=2))
    assert [i for i, _ in out] == list(range(10))
    assert [img.size for _, img in out] == sizes


def test_iter_images_on_a_generator_with_errors():
    def gen():
        yield np.zeros((2, 2), np.uint8)
        yield b"nope"
        yield np.full((2, 2), 255, np.uint8)

    out = list(iter_images(gen(), n_jobs=2))
    assert [i for i, _ in out] == [0, 1, 2]
    assert isinstance(out[1][1], ImageReadError)
    assert out[2][1].getpixel((0, 0)) == WHITE


def test_iter_images_look_ahead_is_bounded():
    pulled = []

    def gen():
        for i in range(1000):
            pulled.append(i)
            yield np.zeros((2, 2), np.uint8)

    it = iter_images(gen(), n_jobs=2, prefetch=3)
    first = next(it)
    assert first[0] == 0 and len(pulled) <= 5
    it.close()  # stopping early must not hang or decode the rest
    assert len(pulled) <= 5


def test_iter_images_sequential_is_lazy():
    pulled = []

    def gen():
        for i in range(10):
            pulled.append(i)
            yield np.zeros((2, 2), np.uint8)

    it = iter_images(gen())
    next(it)
    assert pulled == [0]


def test_iter_images_decodes_in_worker_threads():
    seen = set()

    class Spy(io.BytesIO):
        def read(self, *args):
            seen.add(threading.current_thread().name)
            return super().read(*args)

    data = encode(noise(8, 8), "PNG")
    list(iter_images([Spy(data) for _ in range(4)], n_jobs=2))
    assert seen and all(name.startswith("artmedium-io") for name in seen)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"n_jobs": 0}, ValueError),
        ({"n_jobs": -2}, ValueError),
        ({"n_jobs": 1.5}, TypeError),
        ({"prefetch": -1}, ValueError),
    ],
)
def test_iter_images_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        iter_images([b""], **kwargs)


# ----------------------------------------------------------- hostile bytes

MAGIC = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xdb",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
]

HYPOTHESIS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def only_image_read_errors(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow may warn about the junk it sees
        try:
            img = read_image(data)
        except ImageReadError as exc:
            assert exc.source == "<bytes>"
            return
    assert img.mode == "RGB"


@HYPOTHESIS
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_image_read_error(data):
    only_image_read_errors(data)


@HYPOTHESIS
@given(st.sampled_from(MAGIC), st.binary(max_size=512))
def test_magic_prefixed_bytes_only_raise_image_read_error(magic, tail):
    only_image_read_errors(magic + tail)


@HYPOTHESIS
@given(
    st.sampled_from(["PNG", "GIF", "BMP", "TIFF", "JPEG", "WEBP"]),
    st.integers(0, 10_000),
    st.binary(min_size=1, max_size=8),
)
def test_corrupted_real_files_only_raise_image_read_error(fmt, position, junk):
    data = bytearray(_REAL_FILES[fmt])
    position %= len(data)
    data[position : position + len(junk)] = junk
    only_image_read_errors(bytes(data))


_REAL_FILES = {
    fmt: encode(noise(24, 16, seed=3), fmt)
    for fmt in ("PNG", "GIF", "BMP", "TIFF", "JPEG", "WEBP")
}


# ------------------------------------------------------------------ digests


def test_image_digest_keys_content_not_container(tmp_path, png_bytes):
    from artmedium.io import image_digest

    a, b = tmp_path / "a.png", tmp_path / "copy.jpg"
    a.write_bytes(png_bytes)
    b.write_bytes(png_bytes)
    key = image_digest(a)
    assert len(key) == 64 and int(key, 16) >= 0
    fobj = io.BytesIO(png_bytes)
    fobj.seek(3)
    same = [image_digest(b), image_digest(str(a)), image_digest(png_bytes)]
    same += [image_digest(memoryview(png_bytes)), image_digest(fobj)]
    assert set(same) == {key}
    assert image_digest(png_bytes + b"\0") != key


def test_image_digest_pixels_for_arrays_and_pil_images():
    from artmedium.io import image_digest

    arr = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert image_digest(arr) == image_digest(arr.copy())
    assert image_digest(arr) != image_digest(arr.reshape(2, 3, 2))  # shape matters
    assert image_digest(arr) != image_digest(arr.astype(np.uint16))
    assert image_digest(arr[:, ::-1]) == image_digest(
        np.ascontiguousarray(arr[:, ::-1])
    )
    pil = Image.fromarray(arr)
    assert image_digest(pil) == image_digest(pil.copy())
    assert image_digest(pil) != image_digest(pil.convert("RGBA"))


def test_image_digest_errors(tmp_path, no_ghostscript):
    from artmedium.io import image_digest

    with pytest.raises(ImageReadError, match="missing"):
        image_digest(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="directory"):
        image_digest(tmp_path)
    with pytest.raises(ImageReadError, match="unsupported input type"):
        image_digest(3.5)
    with pytest.raises(ImageReadError, match="unsupported format EPS"):
        image_digest(Image.open(io.BytesIO(MINIMAL_EPS)))
    assert no_ghostscript == []


# ------------------------------------------------------------ ICC colour profiles


def _s15(x):
    return struct.pack(">i", round(x * 65536))


def icc_rgb_profile(red, green, blue, *, gamma=2.2, description="test RGB"):
    """A minimal ICC v2 RGB matrix/TRC display profile (colorants in D50 XYZ)."""

    def xyz(values):
        return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)

    text = description.encode("ascii") + b"\0"
    # textDescriptionType: ASCII part, then empty Unicode and ScriptCode parts.
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 78
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    d50 = (0.9642, 1.0, 0.8249)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(d50)),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        data += b"\0" * (-(offset + len(data)) % 4)  # tags start on 4-byte bounds
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", offset + len(data))  # profile size
        + b"\0" * 4  # preferred CMM
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntrRGB XYZ "  # display class, RGB data, XYZ connection space
        + b"\0" * 12  # date
        + b"acsp"
        + b"\0" * 28  # platform .. rendering intent
        + b"".join(_s15(v) for v in d50)  # illuminant
        + b"\0" * 48  # creator, id, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


# sRGB's primaries adapted to D50; swapping red and green makes a profile under
# which a stored pure red means the colour sRGB calls pure green.
_RED = (0.4361, 0.2225, 0.0139)
_GREEN = (0.3851, 0.7169, 0.0971)
_BLUE = (0.1431, 0.0606, 0.7141)
SWAPPED = icc_rgb_profile(_GREEN, _RED, _BLUE, description="red and green swapped")


def _srgb_icc():
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _red_and_blue(mode="RGB"):
    im = Image.new(mode, (8, 4), (255, 0, 0) + ((255,) if mode == "RGBA" else ()))
    im.paste((0, 0, 255) + ((255,) if mode == "RGBA" else ()), (4, 0, 8, 4))
    return im


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
def test_icc_profile_is_applied_to_sRGB(fmt):
    data = encode(_red_and_blue(), fmt, icc_profile=SWAPPED)
    arr = read_image(data, as_array=True).astype(int)
    tol = 12 if fmt == "JPEG" else 1
    assert np.abs(arr[:, :3] - [0, 255, 0]).max() <= tol  # red stored, green meant
    assert np.abs(arr[:, 5:] - [0, 0, 255]).max() <= tol  # blue is the same colour


def test_icc_profile_on_transparent_png_keeps_white_paper():
    im = _red_and_blue("RGBA")
    im.putpixel((0, 0), (255, 0, 0, 0))
    arr = read_image(encode(im, "PNG", icc_profile=SWAPPED), as_array=True)
    assert tuple(arr[0, 0]) == (255, 255, 255)
    assert np.abs(arr[1, 1].astype(int) - [0, 255, 0]).max() <= 1


def test_icc_profile_of_a_pil_image_is_applied_too():
    im = _red_and_blue()
    im.info["icc_profile"] = SWAPPED
    assert tuple(read_image(im, as_array=True)[0, 0]) == (0, 255, 0)
    assert im.getpixel((0, 0)) == (255, 0, 0)  # the caller's image is untouched


@pytest.mark.parametrize(
    "icc",
    [b"not an icc profile", b"\0" * 200, SWAPPED[:150], "srgb"],
    ids=["garbage", "zeros", "truncated", "srgb"],
)
def test_srgb_or_unusable_profile_leaves_pixels_as_stored(icc):
    icc = _srgb_icc() if icc == "srgb" else icc
    im = noise(16, 12)
    plain = read_image(encode(im, "PNG"), as_array=True)
    tagged = read_image(encode(im, "PNG", icc_profile=icc), as_array=True)
    np.testing.assert_array_equal(tagged, plain)


def test_profile_for_another_colour_space_is_ignored():
    # An RGB profile on CMYK pixels cannot build a transform: plain conversion.
    cmyk = Image.new("CMYK", (6, 6), (0, 255, 255, 0))
    plain = read_image(encode(cmyk, "TIFF"), as_array=True)
    tagged = read_image(encode(cmyk, "TIFF", icc_profile=SWAPPED), as_array=True)
    np.testing.assert_array_equal(tagged, plain)


def test_reader_version_is_part_of_the_feature_cache_key(monkeypatch):
    # Cached features of an image must be recomputed when its pixels would change.
    from artmedium.estimators import _cached_backbone as _encoding

    encoder = _encoding.CachedBackbone(
        "simple_cnn", None, image_size=16, random_state=0
    )
    before = encoder.fingerprint
    monkeypatch.setattr(_encoding, "READER_VERSION", amio._read.READER_VERSION + 1)
    encoder._fingerprint = None
    assert encoder.fingerprint != before


def test_mutated_profiles_never_lose_the_image():
    # A hostile profile may make LittleCMS fail in any way: the pixels still read.
    rng = np.random.default_rng(0)
    im = noise(8, 8)
    for _ in range(200):
        icc = bytearray(SWAPPED)
        spots = rng.integers(0, len(icc), rng.integers(1, 20))
        icc_values = rng.integers(0, 256, len(spots))
        for spot, value in zip(spots, icc_values):
            icc[spot] = value
        if rng.random() < 0.3:
            icc = icc[: rng.integers(1, len(icc))]
        out = read_image(encode(im, "PNG", icc_profile=bytes(icc)))
        assert out.mode == "RGB" and out.size == (8, 8)


def test_icc_profile_with_a_transparent_colour_key_keeps_white_paper():
    im = _red_and_blue()
    im.putpixel((0, 0), (10, 20, 30))
    data = encode(im, "PNG", transparency=(10, 20, 30), icc_profile=SWAPPED)
    arr = read_image(data, as_array=True)
    assert tuple(arr[0, 0]) == (255, 255, 255)  # transparent: paper
    assert np.abs(arr[1, 1].astype(int) - [0, 255, 0]).max() <= 1  # red -> green


def test_icc_profile_of_a_palette_image_is_applied():
    rgb = read_image(encode(_red_and_blue(), "PNG", icc_profile=SWAPPED), as_array=True)
    palette = _red_and_blue().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    arr = read_image(encode(palette, "PNG", icc_profile=SWAPPED), as_array=True)
    np.testing.assert_array_equal(arr, rgb)
    assert tuple(arr[0, 0]) == (0, 255, 0)


def test_a_profile_named_srgb_is_judged_by_what_it_does():
    # Linear-light profiles are often named "sRGB ..." (e.g. sRGB-elle-V2-g10):
    # the name must not skip the conversion.
    linear = icc_rgb_profile(_RED, _GREEN, _BLUE, gamma=1.0, description="sRGB g10")
    grey = Image.new("RGB", (4, 4), (64, 64, 64))
    arr = read_image(encode(grey, "PNG", icc_profile=linear), as_array=True)
    assert 130 <= arr[0, 0, 0] <= 145  # linear 64/255 is sRGB ~137


def test_image_digest_of_pil_images_covers_what_read_image_uses():
    red = _red_and_blue()
    tagged = red.copy()
    tagged.info["icc_profile"] = SWAPPED
    rotated = red.copy()
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated.info["exif"] = exif.tobytes()
    keyed = red.copy()
    keyed.info["transparency"] = (255, 0, 0)
    p1 = red.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    p2 = p1.copy()
    p2.putpalette([0, 0, 0] * 256)
    digests = {amio.image_digest(im) for im in (red, tagged, rotated, keyed, p1, p2)}
    assert len(digests) == 6
    assert amio.image_digest(red.copy()) == amio.image_digest(red)


# ---------------------------------------------- hostile files (issue #12)


@pytest.mark.parametrize("kind", ["fifo", "device", "device_link"])
def test_fifos_and_devices_are_refused_without_hanging(tmp_path, kind):
    """Item 3: read_image refused them, but image_digest (memory=) hung."""
    from artmedium.io import image_digest

    path = tmp_path / "scan.jpg"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    else:
        os.symlink("/dev/zero", path)
    for fn in (read_image, image_digest):
        with pytest.raises(ImageReadError, match="not a regular file") as info:
            run_in_thread(lambda fn=fn: fn(path))
        assert info.value.source == os.fspath(path)


def test_endless_file_objects_are_cut_at_the_size_limit(monkeypatch):
    from artmedium.io import _read, image_digest

    monkeypatch.setattr(_read, "MAX_ENCODED_BYTES", 1 << 20)
    with open("/dev/zero", "rb") as endless:
        with pytest.raises(ImageReadError, match="larger than the 1048576 bytes"):
            run_in_thread(lambda: image_digest(endless))

    class Pipe:  # not seekable, never ends
        def read(self, size=-1):
            return b"\0" * (65536 if size is None or size < 0 else min(size, 65536))

    with pytest.raises(ImageReadError, match="larger than the 1048576 bytes"):
        run_in_thread(lambda: read_image(Pipe()))


@pytest.mark.parametrize("progressive", [False, True])
@pytest.mark.parametrize("where", [0.3, 0.9])
def test_a_truncated_jpeg_padded_with_zeros_is_truncated(tmp_path, progressive, where):
    """Item 15: zero padding hid the truncation from libjpeg (and fetch_tate)."""
    data = encode(noise(96, 64), "JPEG", quality=90, progressive=progressive)
    cut = int(len(data) * where)
    padded = data[:cut] + b"\0" * (len(data) - cut)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(padded)
    (tmp_path / "padded.jpg").write_bytes(padded)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(tmp_path / "padded.jpg")
    # Complete files, with restart markers, or followed by other data, still read.
    assert read_image(data).size == (96, 64)
    restarts = encode(noise(96, 64), "JPEG", restart_marker_blocks=1)
    assert read_image(restarts).size == (96, 64)
    assert read_image(data + b"\0" * 100 + b"\xff\xda trailing data").size == (96, 64)


def test_every_real_tate_jpeg_has_its_end_marker(tate_dir):
    from artmedium.io._read import _jpeg_has_end

    checked = 0
    for path in sorted((tate_dir / "images").iterdir()):
        with open(path, "rb") as fh:
            if fh.read(2) == b"\xff\xd8":
                assert _jpeg_has_end(fh), path
                checked += 1
    assert checked > 1000


def test_the_end_marker_check_handles_floods_and_maps_files(tmp_path):
    """A flood of restart markers is data, not a missing end; a sparse 1 GiB
    tail after the image is mapped, never read into memory (the reviewer's
    20 MB flood took ~10 s in the first, pure-Python scan; it is a regular
    expression now)."""
    from artmedium.io._read import _jpeg_has_end

    data = encode(noise(64, 48), "JPEG")
    flood = data[:-2] + b"\xff\xd0" * 2_000_000 + b"\xff\xd9"
    assert _jpeg_has_end(io.BytesIO(flood))
    assert not _jpeg_has_end(io.BytesIO(flood[:-2]))
    sparse = tmp_path / "tail.jpg"
    sparse.write_bytes(data)
    with open(sparse, "r+b") as fh:
        fh.truncate(1 << 30)  # a 1 GiB tail of zeros that takes no disk
    assert read_image(sparse).size == (64, 48)
    # Stray bytes between segments are skipped, as libjpeg does.
    assert _jpeg_has_end(io.BytesIO(data[:2] + b"junk" + data[2:]))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_iter_images_applies_transform_in_order_and_keeps_errors(n_jobs):
    srcs = [np.full((4, 5 + i, 3), i, np.uint8) for i in range(5)]
    srcs.insert(2, b"not an image")
    out = list(iter_images(srcs, n_jobs=n_jobs, transform=lambda im: im.size))
    assert [i for i, _ in out] == list(range(6))
    assert isinstance(out[2][1], ImageReadError)
    assert [v for i, v in out if i != 2] == [(5, 4), (6, 4), (7, 4), (8, 4), (9, 4)]
