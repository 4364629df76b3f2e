"""Prediction speed and memory, measured as ratios in one run (issue #17).

On the same Tate thumbnails (``--n`` of them, 256 by default), with the
embedded default model (the ten-class classifier) at batch size 32, this
measures in one process, median of ``--repeat`` runs:

* ``ort_forward``: ONNX Runtime's raw forward of the model's network on
  pre-decoded, preprocessed batches (the machine's limit for this network);
* ``torch_forward``: torch's raw forward of the same network on the same
  batches (channels_last);
* ``naive_loop``: a per-image torchvision loop (PIL open, Resize, CenterCrop,
  ToTensor, Normalize, batch 1) into the torch network;
* ``predict_files`` with the ONNX backend and with the torch backend: the
  whole job (listing, decoding in threads, preprocessing, forward,
  calibration, conformal sets, novelty, result rows);
* ``predict_files`` (ONNX) on large scans: the same images upscaled to about
  2000 px on their longer side and saved as JPEG;

then, in fresh processes (median of ``--repeat``), ``artmedium predict
one.jpg`` with each backend, and ``python -X importtime`` of the ONNX run (its
costliest imports); the decode-thread / compute-thread combinations on the
machine's cores; and the peak resident memory of ``artmedium predict`` over
``--rss-images`` inputs (the thumbnails repeated), read at 1,000 images and at
the end.

Ratios printed: predict_files (ONNX) / ort_forward (target >= 0.8),
predict_files (ONNX) / naive_loop (>= 2), large / thumbnails (>= 0.7),
ONNX / torch end to end. Writes benchmarks/out/bench_predict.json.

    python benchmarks/bench_predict.py            # about 10 minutes on 2 cores
    python benchmarks/bench_predict.py --quick    # a smoke run
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import write_results
from PIL import Image

HERE = Path(__file__).resolve().parent
DEFAULT_TATE = HERE.parent.parent / "shared" / "data" / "tate"
CLI = [sys.executable, "-m", "artmedium.cli"]


def median_rate(fn, n_images, repeat):
    """Images per second of ``fn()``, median of ``repeat`` timed runs (one
    untimed run first warms caches and thread pools)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n_images / statistics.median(times)


def thumbnails(tate, n):
    files = sorted((Path(tate) / "images").rglob("*.jpg"))
    if len(files) < n:
        sys.exit(f"need {n} Tate thumbnails under {tate}/images")
    # Every k-th file: artists and media spread over the sample.
    step = len(files) // n
    return [str(f) for f in files[::step][:n]]


def make_scans(files, folder, longer=2000):
    out = []
    for i, f in enumerate(files):
        with Image.open(f) as im:
            im = im.convert("RGB")
            scale = longer / max(im.size)
            big = im.resize(
                (round(im.width * scale), round(im.height * scale)),
                Image.Resampling.BICUBIC,
            )
        path = Path(folder) / f"scan{i:04d}.jpg"
        big.save(path, quality=90)
        out.append(str(path))
    return out


def in_process(files, scans, args):
    import onnxruntime as ort
    import torch
    from torchvision import transforms as T

    from artmedium.inference import predict_files
    from artmedium.io import read_image
    from artmedium.persistence import load_model

    torch.set_num_threads(args.threads)
    torch_model = load_model("default")
    onnx_model = load_model("default", backend="onnx", threads=args.threads)
    pre = torch_model.preprocessing_
    n, bs = len(files), 32
    batch = pre.batch_array(
        [read_image(f, min_size=pre.min_decode_size) for f in files]
    )
    chunks = [batch[i : i + bs] for i in range(0, n, bs)]
    session = onnx_model.session
    results = {}

    def ort_forward():
        for c in chunks:
            session.run(["logits"], {"images": c})

    net = torch_model.to_torch()
    tensors = [
        torch.from_numpy(c).contiguous(memory_format=torch.channels_last)
        for c in chunks
    ]

    def torch_forward():
        with torch.inference_mode():
            for t in tensors:
                net(t)

    naive_t = T.Compose(
        [
            T.Resize(pre.min_decode_size),
            T.CenterCrop(pre.size),
            T.ToTensor(),
            T.Normalize(pre.mean, pre.std),
        ]
    )

    def naive_loop():
        with torch.inference_mode():
            for f in files:
                with Image.open(f) as im:
                    x = naive_t(im.convert("RGB"))[None]
                net(x)

    def job(model, inputs):
        def run():
            for _ in predict_files(model, inputs, batch_size=bs, workers=args.workers):
                pass

        return run

    results["ort_forward"] = median_rate(ort_forward, n, args.repeat)
    results["torch_forward"] = median_rate(torch_forward, n, args.repeat)
    results["naive_loop"] = median_rate(naive_loop, n, args.repeat)
    results["predict_files_onnx"] = median_rate(job(onnx_model, files), n, args.repeat)
    results["predict_files_torch"] = median_rate(
        job(torch_model, files), n, args.repeat
    )
    results["predict_files_onnx_large_scans"] = median_rate(
        job(onnx_model, scans), len(scans), args.repeat
    )
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}")
    return results


def cold_runs(image, args):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    out = {}
    for backend in ("onnx", "torch"):
        cmd = [*CLI, "predict", str(image), "--backend", backend, "--format", "csv"]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - start)
        out[backend] = statistics.median(times)
    # Where an ONNX run's start-up goes: its costliest imports (cumulative).
    for backend in ("onnx", "torch"):
        cmd = [sys.executable, "-X", "importtime", "-m", "artmedium.cli", "predict",
               str(image), "--backend", backend, "--format", "csv"]  # fmt: skip
        err = subprocess.run(cmd, capture_output=True, text=True, env=env).stderr
        top = []
        for line in err.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
            if m and len(m.group(2)) <= 2:  # top-level imports only
                top.append((int(m.group(1)) / 1e6, m.group(3)))
        out[f"imports_{backend}"] = sorted(top, reverse=True)[:8]
    return out


def threads_grid(files, args):
    """predict_files (ONNX) for decode-worker / compute-thread combinations."""
    from artmedium.inference import predict_files
    from artmedium.persistence import load_model

    cores = len(os.sched_getaffinity(0))
    out = {}
    for workers, threads in [(1, 1), (1, cores), (2, cores), (4, cores),
                             (2, 2 * cores), (4, 4 * cores)]:  # fmt: skip
        model = load_model("default", backend="onnx", threads=threads)

        def run(model=model, workers=workers):
            for _ in predict_files(model, files, batch_size=32, workers=workers):
                pass

        out[f"workers={workers} threads={threads}"] = median_rate(
            run, len(files), max(1, args.repeat - 1)
        )
    return out


# The peak is the process's VmHWM, not getrusage's ru_maxrss: Linux carries
# the parent's high-water mark into a child across fork and exec (this
# script's parent holds torch: 1.3 GB), so ru_maxrss reported 1.85 GB here.
RSS_SCRIPT = """
import sys, time
from artmedium.inference import predict_files
from artmedium.persistence import load_model
files = [l.strip() for l in open(sys.argv[1])]
model = load_model("default", backend="onnx")
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
marks = {}
start = time.perf_counter()
for i, row in enumerate(predict_files(model, files, batch_size=32, workers=2), 1):
    if i in (1000, len(files)):
        marks[i] = status("VmRSS")
rate = len(files) / (time.perf_counter() - start)
print(marks[1000], marks[len(files)], status("VmHWM"), rate)
"""


def rss_run(all_files, args):
    files = (all_files * (args.rss_images // len(all_files) + 1))[: args.rss_images]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(files))
    try:
        out = subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT, fh.name],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
    finally:
        os.unlink(fh.name)
    at_1k, at_end, peak, rate = map(float, out)
    return {
        "images": len(files),
        "rss_mb_at_1000": at_1k,
        "rss_mb_at_end": at_end,
        "peak_rss_mb": peak,
        "images_per_second": rate,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--scans", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rss-images", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(HERE / "out" / "bench_predict.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.scans, args.repeat, args.rss_images = 64, 8, 1, 1200
    tate = args.tate or str(DEFAULT_TATE)
    files = thumbnails(tate, args.n)
    all_files = [str(f) for f in sorted((Path(tate) / "images").rglob("*.jpg"))]
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
        "command": "python benchmarks/bench_predict.py"
        + (" --quick" if args.quick else ""),
        "n_images": len(files),
        "batch_size": 32,
        "threads": args.threads,
        "workers": args.workers,
    }
    with tempfile.TemporaryDirectory() as tmp:
        scans = make_scans(files[: args.scans], tmp)
        rates = in_process(files, scans, args)
        results["rates"] = rates
        results["ratios"] = {
            "predict_onnx / ort_forward": rates["predict_files_onnx"]
            / rates["ort_forward"],
            "predict_onnx / naive_loop": rates["predict_files_onnx"]
            / rates["naive_loop"],
            "large scans / thumbnails": rates["predict_files_onnx_large_scans"]
            / rates["predict_files_onnx"],
            "predict_onnx / predict_torch": rates["predict_files_onnx"]
            / rates["predict_files_torch"],
            "ort_forward / torch_forward": rates["ort_forward"]
            / rates["torch_forward"],
            "predict_torch / naive_loop": rates["predict_files_torch"]
            / rates["naive_loop"],
        }
        one = Path(tmp) / "one.jpg"
        Image.open(files[0]).convert("RGB").save(one)
        results["cold_one_image_seconds"] = cold_runs(one, args)
    results["threads_grid"] = threads_grid(files, args)
    results["memory"] = rss_run(all_files, args)
    print(json.dumps(results, indent=1))
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
