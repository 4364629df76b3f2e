"""What applying an embedded ICC colour profile costs ``read_image``.

Images that carry an ICC profile are converted to sRGB after decoding (and after
JPEG drafting, so a drafted read converts far fewer pixels), unless the profile
already behaves as sRGB: that is decided once per distinct profile by a
4,096-colour probe and cached. This script reads the same generated JPEG without
a profile, with LittleCMS's own sRGB profile (probed, then skipped), and with the
same profile made linear-light (its tone curves set to gamma 1, name unchanged:
converted), fully decoded and drafted for a 224-pixel model, and prints the
ratios measured in one run.

Usage::

    python benchmarks/bench_icc.py [--width 2000 --height 1500 --repeats 7]
"""

import argparse
import functools
import io
import struct
import sys

import numpy as np
from bench_io import best_of, synthetic_photo
from PIL import ImageCms

from artmedium.io import read_image


def srgb_profile():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def linear_srgb_profile():
    """The sRGB profile with each parametric tone curve's gamma set to 1."""
    icc = bytearray(srgb_profile())
    start, n = 0, 0
    while (start := icc.find(b"para", start)) >= 0:
        # 'para', 4 reserved, uint16 function type, 2 reserved, then gamma.
        icc[start + 12 : start + 16] = struct.pack(">i", 1 << 16)
        start, n = start + 4, n + 1
    assert n >= 1, "no parametric tone curve found"  # r, g, b may share one
    return bytes(icc)


def jpeg(width, height, **kwargs):
    buffer = io.BytesIO()
    synthetic_photo(0, width, height).save(buffer, format="JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    images = {
        "no profile": jpeg(args.width, args.height),
        "sRGB profile": jpeg(args.width, args.height, icc_profile=srgb_profile()),
        "linear profile": jpeg(
            args.width, args.height, icc_profile=linear_srgb_profile()
        ),
    }
    pixels = {k: np.asarray(read_image(v), np.int16) for k, v in images.items()}
    for name in ("sRGB profile", "linear profile"):
        change = np.abs(pixels[name] - pixels["no profile"]).max()
        print(f"{name}: max pixel change {change}")
    print(f"{args.width}x{args.height} JPEG, best of {args.repeats}")
    print(f"{'read':<24} " + " ".join(f"{k:>15}" for k in images))
    for name, kwargs in (
        ("full decode", {}),
        ("drafted, min_size=256", {"min_size": 256}),
    ):
        # Alternating the three reads keeps drift on a shared machine out of the ratios.
        times = best_of(
            args.repeats,
            *(functools.partial(read_image, v, **kwargs) for v in images.values()),
        )
        base = times[0]
        cells = [f"{1000 * t:7.1f} ms {t / base:4.2f}x" for t in times]
        print(f"{name:<24} " + " ".join(f"{c:>15}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
