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
import io
import struct
import sys
import time

import numpy as np
from PIL import Image, ImageCms

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
    rng = np.random.default_rng(0)
    # Smooth colour fields plus a little noise: closer to a scan than pure noise.
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width, y / height, (x + y) / (width + height)], -1) * 200
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def best_time(data, repeats, **kwargs):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        read_image(data, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


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
        times = {k: best_time(v, args.repeats, **kwargs) for k, v in images.items()}
        base = times["no profile"]
        cells = [f"{1000 * t:7.1f} ms {t / base:4.2f}x" for t in times.values()]
        print(f"{name:<24} " + " ".join(f"{c:>15}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
