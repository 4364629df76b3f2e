"""Time load_tate on the real Tate sample against its 10 s budget.

The sample has Tate's full metadata (69,202 CSV rows) and 6,522 thumbnails. This
measures, in one run, best of ``--repeats``:

(a) ``load_tate(classes=None)``: read every row, match every image, build the Bunch
    (paths, targets, tag matrix, artists) for all non-empty mediums;
(b) ``load_tate(classes="poster")`` and (c) the same with ``as_frame=True``;
(d) the two choices behind it: reading the CSV with the csv module against
    ``pandas.read_csv``, and listing ``images/`` once with ``os.scandir`` against
    ``os.path.exists`` on the candidate path of every row.

Prints seconds and, for (a)-(c), the ratio to the 10 s budget (< 1: within budget).

Usage::

    python benchmarks/bench_load_tate.py                       # ../shared/data/tate
    ARTMEDIUM_TATE_DIR=/path/to/tate python benchmarks/bench_load_tate.py --repeats 5
"""

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

from artmedium.datasets import load_tate

BUDGET_S = 10.0


def find_tate_dir():
    env = os.environ.get("ARTMEDIUM_TATE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data" / "tate")
    for path in candidates:
        if (path / "artwork_data.csv").is_file() and (path / "images").is_dir():
            return path
    return None


def best_of(repeats, func):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - start)
    return min(times), value


def read_with_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def read_with_pandas(path):
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tate = find_tate_dir()
    if tate is None:
        sys.exit(
            "Tate sample not found: set $ARTMEDIUM_TATE_DIR or use ../shared/data/tate"
        )
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, data: {tate}")

    rows = []
    for label, options in [
        ("load_tate(classes=None)", {"classes": None}),
        ("load_tate(classes='poster')", {}),
        ("load_tate(classes='poster', as_frame=True)", {"as_frame": True}),
    ]:
        seconds, bunch = best_of(
            args.repeats, lambda o=options: load_tate(data_home=tate, **o)
        )
        size = f"{len(bunch.target)} images, {len(bunch.target_names)} classes"
        rows.append((label, seconds, f"{seconds / BUDGET_S:.3f} of budget", size))

    metadata = tate / "artwork_data.csv"
    t_csv, parsed = best_of(args.repeats, lambda: read_with_csv(metadata))
    rows.append(("read CSV, csv module", t_csv, "", f"{len(parsed) - 1} rows"))
    try:
        t_pd, frame = best_of(args.repeats, lambda: read_with_pandas(metadata))
        ratio = f"pandas / csv = {t_pd / t_csv:.2f}"
        rows.append(("read CSV, pandas.read_csv", t_pd, ratio, f"{len(frame)} rows"))
    except ImportError:
        rows.append(("read CSV, pandas.read_csv", float("nan"), "pandas missing", ""))

    images = tate / "images"
    header = parsed[0]
    acno = header.index("accession_number")
    candidates = [os.path.join(images, f"{r[acno]}_8.jpg") for r in parsed[1:]]

    def scandir_once():
        with os.scandir(images) as entries:
            names = {e.name for e in entries if e.is_file()}
        return sum(os.path.basename(p) in names for p in candidates)

    def stat_each():
        return sum(os.path.exists(p) for p in candidates)

    t_scan, n_scan = best_of(args.repeats, scandir_once)
    t_stat, n_stat = best_of(args.repeats, stat_each)
    assert n_scan == n_stat
    rows.append(("match images, one os.scandir", t_scan, "", f"{n_scan} matched"))
    ratio = f"stat / scandir = {t_stat / t_scan:.1f}"
    rows.append(
        (f"match images, {len(candidates)} x os.path.exists", t_stat, ratio, "")
    )

    width = max(len(r[0]) for r in rows)
    print(f"best of {args.repeats}; budget for a load: {BUDGET_S:.0f} s")
    for label, seconds, ratio, size in rows:
        print(f"{label:<{width}}  {seconds:7.3f} s  {ratio:<24} {size}")


if __name__ == "__main__":
    main()
