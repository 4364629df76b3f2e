"""What applying an embedded ICC colour profile costs ``read_image``.

Images that carry a non-sRGB profile are converted to sRGB after decoding (and
after JPEG drafting, so a drafted read converts far fewer pixels). This script
reads the same generated JPEG with and without such a profile, fully decoded and
drafted for a 224-pixel model, and prints the ratios measured in one run.

The profile is LittleCMS's own sRGB with its description renamed, so that
read_image cannot recognise it as sRGB and must run the full transform: the
cost measured is that of any RGB matrix/TRC profile (Adobe RGB, Display P3, ...).

Usage::

    python benchmarks/bench_icc.py [--width 2000 --height 1500 --repeats 7]
"""

import argparse
import io
import sys
import time

import numpy as np
from PIL import Image, ImageCms

from artmedium.io import read_image


def renamed_srgb_profile():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    renamed = icc.replace("sRGB".encode("utf-16-be"), "xRGB".encode("utf-16-be"))
    renamed = renamed.replace(b"sRGB", b"xRGB")
    description = ImageCms.getProfileDescription(
        ImageCms.ImageCmsProfile(io.BytesIO(renamed))
    )
    assert "srgb" not in description.lower(), description
    return renamed


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
    plain = jpeg(args.width, args.height)
    tagged = jpeg(args.width, args.height, icc_profile=renamed_srgb_profile())
    a, b = np.asarray(read_image(plain)), np.asarray(read_image(tagged))
    print(f"{args.width}x{args.height} JPEG, best of {args.repeats}")
    change = np.abs(a.astype(int) - b.astype(int)).max()
    print(f"max pixel change from the sRGB -> sRGB transform: {change}")
    print(f"{'read':<28} {'no profile':>11} {'profile':>9} {'ratio':>6}")
    for name, kwargs in (
        ("full decode", {}),
        ("drafted, min_size=256", {"min_size": 256}),
    ):
        t0 = best_time(plain, args.repeats, **kwargs)
        t1 = best_time(tagged, args.repeats, **kwargs)
        print(f"{name:<28} {1000 * t0:9.1f} ms {1000 * t1:6.1f} ms {t1 / t0:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
