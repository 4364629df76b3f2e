"""Batch prediction on a local Dask cluster against one process (issue #18).

On the same Tate thumbnails (``--n`` of them, 256 by default), with the
embedded default model (the ten-class classifier, ONNX Runtime) at batch
size ``--batch-size``, this measures in one run, median of ``--repeat``
timed runs after one untimed warm-up each:

* ``one_process``: ``predict_files`` in this process with 2 compute threads
  and 2 decoding threads (what ``artmedium predict --threads 2`` does);
* ``cluster_rows`` and ``cluster_frame``: ``artmedium.dask.predict`` on a
  ``LocalCluster`` of 2 worker processes of 1 thread each (the same 2 cores),
  as a Bag of result dicts (what ``artmedium predict --scheduler`` computes)
  and as a DataFrame, partitions of ``--partition-size`` images;
* ``trivial_graph``: the same partitions through a function that returns
  one empty result per path: the scheduler's own cost per task and image;
* the task stream of one cluster run: the time the workers spent computing
  against the wall time, the rest being overhead (scheduling, transfers,
  the client gathering results, idle cores at the end).

Ratios printed: cluster / one process (the target: about 1, since both
use 2 cores), and the scheduler's overhead per image in milliseconds.
Writes benchmarks/out/bench_dask.json.

    python benchmarks/bench_dask.py            # about 2 minutes on 2 cores
    python benchmarks/bench_dask.py --quick    # a smoke run
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from _results import write_results
from bench_predict import DEFAULT_TATE, thumbnails

HERE = Path(__file__).resolve().parent


def timed(fn, repeat):
    """Median seconds of ``fn()`` over ``repeat`` runs, after one untimed run
    (which loads the models and warms the thread pools); and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _empty_results(paths):
    return [None] * len(paths)


def one_process(files, args):
    from artmedium.inference import predict_files
    from artmedium.persistence import load_model

    model = load_model(args.model, backend="onnx", threads=2)

    def run():
        return list(predict_files(model, files, batch_size=args.batch_size, workers=2))

    return timed(run, args.repeat)


def on_cluster(files, args):
    import dask
    import dask.bag as db
    import distributed

    import artmedium.dask

    options = {
        "batch_size": args.batch_size,
        "partition_size": args.partition_size,
        "workers": 2,
    }
    chunks = [
        files[i : i + args.partition_size]
        for i in range(0, len(files), args.partition_size)
    ]
    out = {"n_partitions": len(chunks)}
    with (
        artmedium.dask.local_cluster(2, env={"OMP_NUM_THREADS": "1"}) as cluster,
        distributed.Client(cluster) as client,
    ):

        def rows():
            bag = artmedium.dask.predict(args.model, files, as_frame=False, **options)
            return bag.compute()

        def frame():
            return artmedium.dask.predict(args.model, files, **options).compute()

        def trivial():
            task = dask.delayed(_empty_results, pure=False)
            return db.from_delayed([task(c) for c in chunks]).compute()

        out["rows_seconds"], result = timed(rows, args.repeat)
        out["frame_seconds"], _ = timed(frame, args.repeat)
        out["trivial_seconds"], _ = timed(trivial, args.repeat)
        with distributed.get_task_stream(client) as stream:
            start = time.perf_counter()
            rows()
            wall = time.perf_counter() - start
        computing = sum(
            s["stop"] - s["start"]
            for task in stream.data
            for s in task["startstops"]
            if s["action"] == "compute"
        )
        out["stream_wall_seconds"] = wall
        out["stream_compute_seconds"] = computing
    return out, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--model", default="default")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--partition-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(HERE / "out" / "bench_dask.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.batch_size, args.partition_size, args.repeat = 48, 8, 8, 1
    files = thumbnails(args.tate or str(DEFAULT_TATE), args.n)
    n = len(files)
    single_seconds, expected = one_process(files, args)
    cluster, rows = on_cluster(files, args)
    n_parts = cluster["n_partitions"]
    # 2 workers of 1 thread: 2 core-seconds per second of wall time.
    overhead = cluster["stream_wall_seconds"] - cluster["stream_compute_seconds"] / 2
    rates = {
        "one_process": n / single_seconds,
        "cluster_rows": n / cluster["rows_seconds"],
        "cluster_frame": n / cluster["frame_seconds"],
    }
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
        "command": "python benchmarks/bench_dask.py"
        + (" --quick" if args.quick else ""),
        "model": args.model,
        "n_images": n,
        "batch_size": args.batch_size,
        "partition_size": args.partition_size,
        "n_partitions": n_parts,
        "one_process": "predict_files, ONNX Runtime 2 threads, 2 decoding threads",
        "cluster": "LocalCluster 2 processes x 1 thread, ONNX Runtime 1 thread each",
        "rates": rates,
        "seconds": {
            "one_process": single_seconds,
            **{k: v for k, v in cluster.items() if k.endswith("seconds")},
        },
        "ratios": {
            "cluster_rows / one_process": rates["cluster_rows"] / rates["one_process"],
            "cluster_frame / one_process": rates["cluster_frame"]
            / rates["one_process"],
        },
        "overhead": {
            "trivial_graph_ms_per_image": 1e3 * cluster["trivial_seconds"] / n,
            "trivial_graph_ms_per_task": 1e3 * cluster["trivial_seconds"] / n_parts,
            "wall_minus_compute_ms_per_image": 1e3 * overhead / n,
            "workers_busy_share": cluster["stream_compute_seconds"]
            / (2 * cluster["stream_wall_seconds"]),
        },
        "same_media_as_one_process": [r["medium"] for r in rows]
        == [r["medium"] for r in expected],
    }
    print(f"{n} images, {n_parts} partitions of {args.partition_size}")
    for name, rate in rates.items():
        print(f"  {name:14s} {rate:7.1f} images/s")
    for name, ratio in results["ratios"].items():
        print(f"  {name:28s} {ratio:.2f}")
    for name, value in results["overhead"].items():
        print(f"  {name:34s} {value:.3f}")
    write_results(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
