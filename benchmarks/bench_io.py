"""Decoding speed of artmedium.io: JPEG draft, thread pool, overlap with compute.

Writes ``--n`` synthetic photographs (2000 x 1500 JPEG by default) to a temporary
folder, then measures, in this one run:

(a) ``read_image(path, min_size=224)`` (JPEG draft, decodes at 1/4 scale) against a
    full decode, alone and followed by the eval ``Preprocessing`` transform;
(b) ``read_images(..., n_jobs=2)`` against ``n_jobs=1`` (decoding threads);
(c) a prediction-like loop, batches of ``--batch`` images through a ResNet-18
    forward pass (torch releases the GIL), fed by ``iter_images(n_jobs=2)`` so that
    decoding overlaps the forward pass, against decoding each batch first and
    then computing, sequentially.

Each configuration runs ``--repeats`` times, alternating, and the best time counts.
Prints a table of seconds and ratios (> 1: the first-named variant is faster).

Usage::

    python benchmarks/bench_io.py                 # 64 images, 2 torch threads
    python benchmarks/bench_io.py --n 32 --threads 4
"""

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import torch
import torchvision
from PIL import Image

from artmedium.io import Preprocessing, iter_images, read_image, read_images


def synthetic_photo(seed, width, height):
    """Smooth colour fields plus grain: compresses like a photo, unlike pure noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    base = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 6, (height, width, 3))
    arr = np.clip(np.asarray(base, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def write_jpegs(folder, n, width, height):
    # A handful of distinct images re-encoded at different qualities keeps the
    # setup short while every file still differs.
    bases = [synthetic_photo(seed, width, height) for seed in range(4)]
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"img_{i:03d}.jpg")
        bases[i % len(bases)].save(path, quality=85 + i % 10)
        paths.append(path)
    return paths


def best_of(repeats, *funcs):
    """Run the functions alternately ``repeats`` times; best seconds of each."""
    best = [float("inf")] * len(funcs)
    for _ in range(repeats):
        for k, func in enumerate(funcs):
            start = time.perf_counter()
            func()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def batched(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pre = Preprocessing()
    model = torchvision.models.resnet18(weights=None).eval()
    model = model.to(memory_format=torch.channels_last)
    transform = pre.transform()

    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        paths = write_jpegs(folder, args.n, args.width, args.height)
        setup = time.perf_counter() - t0
        mb = sum(os.path.getsize(p) for p in paths) / 1e6

        full, draft = best_of(
            args.repeats,
            lambda: [read_image(p) for p in paths],
            lambda: [read_image(p, min_size=pre.min_decode_size) for p in paths],
        )
        full_pre, draft_pre = best_of(
            args.repeats,
            lambda: [transform(read_image(p)) for p in paths],
            lambda: [
                transform(read_image(p, min_size=pre.min_decode_size)) for p in paths
            ],
        )
        one, two = best_of(
            args.repeats,
            lambda: read_images(paths, n_jobs=1).raise_first(),
            lambda: read_images(paths, n_jobs=2).raise_first(),
        )

        def forward(images):
            with torch.inference_mode():
                model(pre.batch(images))

        def sequential(min_size):
            for chunk in batched(paths, args.batch):
                forward([read_image(p, min_size=min_size) for p in chunk])

        def overlapped(min_size):
            stream = (img for _, img in iter_images(paths, n_jobs=2, min_size=min_size))
            for images in batched(stream, args.batch):
                forward(images)

        forward([read_image(paths[0], min_size=224)] * 2)  # warm-up
        (compute_only,) = best_of(
            args.repeats,
            lambda: [
                forward([np.zeros((224, 224, 3), np.uint8)] * len(chunk))
                for chunk in batched(paths, args.batch)
            ],
        )
        seq_full, ovl_full = best_of(
            args.repeats, lambda: sequential(None), lambda: overlapped(None)
        )
        seq_draft, ovl_draft = best_of(
            args.repeats,
            lambda: sequential(pre.min_decode_size),
            lambda: overlapped(pre.min_decode_size),
        )

    n = args.n
    print(
        f"artmedium.io benchmark: {n} JPEGs {args.width}x{args.height} "
        f"({mb:.1f} MB, written in {setup:.1f} s); Python {platform.python_version()}, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads "
        f"{args.threads}, batch {args.batch}, best of {args.repeats}"
    )
    rows = [
        ("(a) decode: full", full, None),
        ("(a) decode: draft min_size=224", draft, full / draft),
        ("(a) decode+transform: full", full_pre, None),
        ("(a) decode+transform: draft", draft_pre, full_pre / draft_pre),
        ("(b) read_images full, n_jobs=1", one, None),
        ("(b) read_images full, n_jobs=2", two, one / two),
        ("(c) compute only (ResNet-18 forward)", compute_only, None),
        ("(c) full decode, then compute", seq_full, None),
        ("(c) full decode, iter_images n_jobs=2", ovl_full, seq_full / ovl_full),
        ("(c) draft decode, then compute", seq_draft, None),
        ("(c) draft decode, iter_images n_jobs=2", ovl_draft, seq_draft / ovl_draft),
    ]
    print(f"{'configuration':<42} {'seconds':>8} {'ms/img':>8} {'speed-up':>9}")
    for name, seconds, ratio in rows:
        speed = f"{ratio:8.2f}x" if ratio is not None else ""
        print(f"{name:<42} {seconds:8.2f} {1000 * seconds / n:8.1f} {speed:>9}")
    print(
        "speed-up: time of the row above it divided by this row's time "
        "(> 1: this row is faster)."
    )
    print(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
