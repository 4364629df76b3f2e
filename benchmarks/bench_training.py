"""Training speed of MediumClassifier (#17): feature cache, fit overhead, profile.

Three measurements of issue #17, side by side in one run, on stratified subsets of
the Tate sample's ten poster classes (each class keeps at least 6 images):

1. ``grid``: ``GridSearchCV`` over 4 learning rates x 3 folds
   (``StratifiedKFold(3, shuffle=True, random_state=0)``, refit included) of
   ``MediumClassifier(**recipe("lite0-frozen"))``, run with ``memory`` a fresh
   cache folder (cold: the cache fills during the first fits), again with the
   same folder (warm), and with ``memory=None``. Target: the cached search at
   least 10x faster than the uncached one, with the same ``best_score_`` and
   ``best_params_`` (checked; a difference is printed in capitals).
2. ``fit vs loop``: ``MediumClassifier(**recipe("lite0-frozen")).fit`` on the
   image paths with a warm cache (and on the cached features as a 2-D array)
   against a hand-written PyTorch loop (``for epoch: for batch: zero_grad /
   forward / loss / backward / step``) training the same head (standardisation,
   dropout, linear) on the same pooled features (one of the two cached views
   picked at random per image and step, as the classifier does), with Adam at
   the recipe's lr and weight_decay, the same batch size and epochs, no
   validation split and no calibration. Median of ``--repeats``, the three timed
   alternately. Target: fit at most 1.10x the loop; above that, a cProfile of
   one fit says where the difference goes.
3. ``profile``: cProfile of ``MediumClassifier(**recipe("lite0-finetune"))``
   (the default model's recipe: the last 2 stages fine-tuned on cached
   activations) fitted on ``--profile-images`` images with a fresh cache: the
   top 15 functions by cumulative and by own time, and the share of the fit's
   wall time spent decoding and preprocessing images, in the frozen stages'
   forward (filling the cache) and in the training epochs. Image decoding runs
   in the calling thread (``n_jobs=None``) so that the profile sees it.

Prints a table per part and a summary, and writes all numbers to
``benchmarks/out/bench_training.json``. Before any timing every image file is read
once, so that no part pays for a cold disk.

Usage::

    python benchmarks/bench_training.py            # 600 images, 300 profiled (19 min)
    python benchmarks/bench_training.py --quick    # 120 images, 60 profiled
    python benchmarks/bench_training.py --quick --image-size 32   # smoke test
    python benchmarks/bench_training.py --only fit   # target 2 only (2 min)
"""

import argparse
import cProfile
import datetime
import io
import os
import platform
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import write_results
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from torch import nn

from artmedium import MediumClassifier
from artmedium.datasets import load_tate
from artmedium.nets import get_backbone
from artmedium.recipes import recipe

HERE = Path(__file__).resolve().parent
DEFAULT_TATE = HERE.parent.parent / "shared" / "data" / "tate"
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3)
FOLDS = 3
GRID_TARGET = 10.0
LOOP_TARGET = 1.10
PARTS = ("grid", "fit", "profile")
TOP = 15

# Where fit's time goes, as (label, file suffix, function name): the cumulative
# time of each under cProfile. None of them calls another of its own list.
FIT_PARTS = (
    ("build backbone (weights)", "estimators/_cached_backbone.py", "__init__"),
    ("weights fingerprint", "estimators/_cached_backbone.py", "fingerprint"),
    ("hash images (cache keys)", "io/_digest.py", "image_digest"),
    ("read cache entries", "estimators/_feature_cache.py", "get"),
    ("decode images", "io/_read.py", "_read_or_error"),
    ("preprocess (resize, crop)", "io/_preprocess.py", "batch"),
    ("frozen stages forward", "estimators/_cached_backbone.py", "_forward"),
    ("write cache entries", "estimators/_feature_cache.py", "put"),
    ("standardise features", "estimators/_modules.py", "fit"),
    ("training epochs", "skorch/net.py", "fit_loop"),
)
# Inside skorch's training epochs.
# A part may name several files and functions: skorch's DataLoader and notify,
# or artmedium's BatchLoader and LeanStepsMixin.notify that replace them.
LOOP_PARTS = (
    (
        "  batches (loader)",
        ("torch/utils/data/dataloader.py", "estimators/_modules.py"),
        ("__next__", "__iter__"),
    ),
    ("  train_step", "skorch/net.py", "train_step"),
    ("  callbacks (notify)", ("skorch/net.py", "estimators/_modules.py"), "notify"),
)


def stratified_subset(y, n, *, minimum=6, seed=0):
    """Indices of about ``n`` images, classes in proportion, at least ``minimum``."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    keep = []
    for cls, count in zip(classes, counts):
        quota = min(count, max(minimum, round(count * n / len(y))))
        keep.append(rng.permutation(np.flatnonzero(y == cls))[:quota])
    return np.sort(np.concatenate(keep))


def median(values):
    return float(statistics.median(values))


def estimator(name, args, **params):
    """An estimator of recipe ``name``, seeded, trained on all it is given."""
    overrides = {} if args.image_size is None else {"image_size": args.image_size}
    return MediumClassifier(
        **recipe(name, **overrides),
        validation_fraction=None,
        calibration_size=None,
        random_state=0,
        **params,
    )


def profile_call(func):
    """(result, wall seconds, pstats.Stats) of ``func()`` run under cProfile."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    try:
        result = func()
    finally:
        profiler.disable()
    wall = time.perf_counter() - start
    return result, wall, pstats.Stats(profiler)


def cumulative(stats, suffix, name):
    """Cumulative seconds of the functions ``name`` defined in a file ``suffix``
    (either may be a tuple: any of them)."""
    suffixes = (suffix,) if isinstance(suffix, str) else tuple(suffix)
    names = (name,) if isinstance(name, str) else tuple(name)
    return sum(
        row[3]
        for (filename, _, func), row in stats.stats.items()
        if func in names and filename.replace(os.sep, "/").endswith(suffixes)
    )


def breakdown(stats, wall, parts):
    """[(label, seconds, share of wall)] of ``parts``, then what is left."""
    rows = [(label, cumulative(stats, *where)) for label, *where in parts]
    top = [s for label, s in rows if not label.startswith(" ")]
    rows.append(("other", wall - sum(top)))
    return [(label, s, s / wall) for label, s in rows]


def top_entries(stats, sort, n=TOP):
    """The ``n`` first functions by ``sort``, printed and as dicts."""
    buffer = io.StringIO()
    stats.stream = buffer
    stats.sort_stats(sort).print_stats(n)
    stats.stream = None
    print("\n".join(line for line in buffer.getvalue().splitlines() if line.strip()))
    entries = []
    for key in stats.fcn_list[:n]:
        cc, nc, tt, ct, _ = stats.stats[key]
        filename, line, func = key
        entries.append(
            {
                "function": f"{Path(filename).name}:{line}({func})",
                "ncalls": int(nc),
                "tottime": round(tt, 4),
                "cumtime": round(ct, 4),
            }
        )
    return entries


def print_breakdown(title, rows, wall):
    print(f"{title} (profiled wall {wall:.2f} s)")
    for label, seconds, share in rows:
        print(f"  {label:<30}{seconds:>9.2f} s{100 * share:>7.1f} %")


def as_records(rows):
    return [
        {"part": label.strip(), "seconds": round(s, 4), "share": round(share, 4)}
        for label, s, share in rows
    ]


# ---------------------------------------------------------------- 1. grid search
def grid_search(X, y, memory, args):
    search = GridSearchCV(
        estimator("lite0-frozen", args, memory=memory),
        {"lr": list(LEARNING_RATES)},
        cv=StratifiedKFold(FOLDS, shuffle=True, random_state=0),
        error_score="raise",
    )
    start = time.perf_counter()
    search.fit(X, y)
    wall = time.perf_counter() - start
    return {
        "wall_s": round(wall, 3),
        "refit_s": round(search.refit_time_, 3),
        "best_score": float(search.best_score_),
        "best_params": {k: float(v) for k, v in search.best_params_.items()},
        "mean_test_scores": [float(s) for s in search.cv_results_["mean_test_score"]],
    }


def run_grid(X, y, args):
    with tempfile.TemporaryDirectory(prefix="artmedium-bench-grid-") as cache:
        cold = grid_search(X, y, cache, args)
        n_entries = sum(1 for p in Path(cache).rglob("*.npy"))
        warm = grid_search(X, y, cache, args)
    none = grid_search(X, y, None, args)
    same = (
        cold["best_score"] == warm["best_score"] == none["best_score"]
        and cold["best_params"] == warm["best_params"] == none["best_params"]
    )
    max_diff = max(
        abs(a - b)
        for run in (cold, warm)
        for a, b in zip(run["mean_test_scores"], none["mean_test_scores"])
    )
    result = {
        "n_images": int(len(y)),
        "learning_rates": list(LEARNING_RATES),
        "folds": FOLDS,
        "cold_cache": cold,
        "warm_cache": warm,
        "no_cache": none,
        "cache_entries": n_entries,
        "speedup_cold": round(none["wall_s"] / cold["wall_s"], 2),
        "speedup_warm": round(none["wall_s"] / warm["wall_s"], 2),
        "same_best": bool(same),
        "max_mean_test_score_diff": max_diff,
    }
    print(
        f"\n1. GridSearchCV, lite0-frozen, {len(LEARNING_RATES)} lr x {FOLDS} folds "
        f"+ refit, {len(y)} images"
    )
    header = (
        f"{'memory':<22}{'wall s':>9}{'refit s':>9}{'best score':>12}{'best lr':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, run in (
        ("cache, cold", cold),
        ("cache, warm", warm),
        ("None", none),
    ):
        print(
            f"{name:<22}{run['wall_s']:>9.1f}{run['refit_s']:>9.1f}"
            f"{run['best_score']:>12.4f}{run['best_params']['lr']:>9.0e}"
        )
    print(
        f"speed-up of the cache: {result['speedup_cold']:.1f}x cold, "
        f"{result['speedup_warm']:.1f}x warm ({n_entries} cache entries)"
    )
    if same:
        print("best_score_ and best_params_: equal in all three searches")
    else:
        print(
            "BEST SCORES OR PARAMS DIFFER between the searches (largest difference "
            f"of a mean test score: {max_diff:.2e})"
        )
    return result


# ------------------------------------------------------------- 2. fit vs loop
def plain_loop(X, y, n_classes, params, seed=0):
    """Train a standardise -> dropout -> linear head on ``X`` the plain way.

    ``X`` is ``(n, d)`` features or ``(n, views, d)``; with views, each step
    picks one view per image at random. Returns the last epoch's mean loss.
    """
    torch.manual_seed(seed)
    feats = X[:, 0] if X.ndim == 3 else X
    mean = feats.mean(dim=0)
    scale = feats.std(dim=0, unbiased=False)
    scale = torch.where(scale > 1e-8, scale, torch.ones_like(scale))
    model = nn.Sequential(
        nn.Dropout(params["dropout"]), nn.Linear(feats.shape[1], n_classes)
    )
    optimizer = torch.optim.Adam(
        model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"]
    )
    criterion = nn.CrossEntropyLoss()
    model.train()
    n, batch_size = len(X), params["batch_size"]
    for _ in range(params["max_epochs"]):
        order = torch.randperm(n)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            xb = X[rows]
            if xb.ndim == 3:
                pick = torch.randint(xb.shape[1], (len(xb),))
                xb = xb[torch.arange(len(xb)), pick]
            optimizer.zero_grad()
            loss = criterion(model((xb - mean) / scale), y[rows])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
    return total / n


def timed(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def run_fit_vs_loop(X, y, args):
    params = estimator("lite0-frozen", args).get_params()
    with tempfile.TemporaryDirectory(prefix="artmedium-bench-fit-") as cache:
        # Untimed: fills the cache, warms torch, and gives the cached features.
        clf = estimator("lite0-frozen", args, memory=cache).fit(X, y)
        views, _ = clf.backbone_.activations(list(X), views=2)
        flat = np.ascontiguousarray(views[:, 0].numpy())
        y_enc = torch.as_tensor(np.searchsorted(clf.classes_, y))
        n_classes = len(clf.classes_)
        keys = ("fit_images", "loop_views", "fit_features", "loop_flat")
        times = {key: [] for key in keys}
        losses = {key: [] for key in keys}
        for _ in range(args.repeats):
            fresh = estimator("lite0-frozen", args, memory=cache)
            est, s = timed(lambda: fresh.fit(X, y))
            times["fit_images"].append(s)
            losses["fit_images"].append(est.net_.history[-1, "train_loss"])
            loss, s = timed(lambda: plain_loop(views, y_enc, n_classes, params))
            times["loop_views"].append(s)
            losses["loop_views"].append(loss)
            fresh = estimator("lite0-frozen", args)
            est, s = timed(lambda: fresh.fit(flat, y))
            times["fit_features"].append(s)
            losses["fit_features"].append(est.net_.history[-1, "train_loss"])
            loss, s = timed(
                lambda: plain_loop(torch.from_numpy(flat), y_enc, n_classes, params)
            )
            times["loop_flat"].append(s)
            losses["loop_flat"].append(loss)
        med = {key: median(values) for key, values in times.items()}
        ratio_images = med["fit_images"] / med["loop_views"]
        ratio_features = med["fit_features"] / med["loop_flat"]
        result = {
            "n_images": int(len(y)),
            "epochs": params["max_epochs"],
            "batch_size": params["batch_size"],
            "lr": params["lr"],
            "weight_decay": params["weight_decay"],
            "repeats": args.repeats,
            "times_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
            "median_s": {k: round(v, 4) for k, v in med.items()},
            "last_epoch_loss": {k: round(median(v), 4) for k, v in losses.items()},
            "ratio_images": round(ratio_images, 3),
            "ratio_features": round(ratio_features, 3),
        }
        print(
            f"\n2. fit vs a plain PyTorch loop, lite0-frozen head, {len(y)} images, "
            f"{params['max_epochs']} epochs of batches of {params['batch_size']}, "
            f"median of {args.repeats}"
        )
        header = (
            f"{'input':<34}{'fit s':>9}{'loop s':>9}{'fit/loop':>10}"
            f"{'fit loss':>10}{'loop loss':>10}"
        )
        print(header)
        print("-" * len(header))
        for name, fit_key, loop_key, ratio in (
            ("images, warm cache (2 views)", *keys[:2], ratio_images),
            ("cached features as 2-D array", *keys[2:], ratio_features),
        ):
            print(
                f"{name:<34}{med[fit_key]:>9.3f}{med[loop_key]:>9.3f}{ratio:>10.2f}"
                f"{result['last_epoch_loss'][fit_key]:>10.3f}"
                f"{result['last_epoch_loss'][loop_key]:>10.3f}"
            )
        if max(ratio_images, ratio_features) > LOOP_TARGET:
            result["profile"] = profile_fit(X, y, cache, med, args)
    return result


def profile_fit(X, y, cache, med, args):
    """Where a fit on images with a warm cache spends the time the loop does not."""
    print(
        f"\nfit/loop above {LOOP_TARGET}: cProfile of one fit on the images "
        "(warm cache)"
    )
    _, wall, stats = profile_call(
        lambda: estimator("lite0-frozen", args, memory=cache).fit(X, y)
    )
    rows = breakdown(stats, wall, FIT_PARTS + LOOP_PARTS)
    print_breakdown("fit, warm cache", rows, wall)
    print(
        f"  (unprofiled medians: fit {med['fit_images']:.3f} s, plain loop "
        f"{med['loop_views']:.3f} s; fit on 2-D features {med['fit_features']:.3f} s)"
    )
    print(f"top {TOP} by cumulative time:")
    top = top_entries(stats, "cumulative")
    return {"wall_s": round(wall, 3), "parts": as_records(rows), "top_cumulative": top}


# ------------------------------------------------------------ 3. profile training
def run_profile(X, y, args):
    with tempfile.TemporaryDirectory(prefix="artmedium-bench-profile-") as cache:
        clf = estimator("lite0-finetune", args, memory=cache)
        _, wall, stats = profile_call(lambda: clf.fit(X, y))
    rows = breakdown(stats, wall, FIT_PARTS + LOOP_PARTS)
    shares = {label.strip(): share for label, _, share in rows}
    groups = {
        "decode and preprocess": shares["decode images"]
        + shares["preprocess (resize, crop)"],
        "frozen stages forward (cache filling)": shares["frozen stages forward"],
        "training epochs": shares["training epochs"],
        "build backbone (load weights)": shares["build backbone (weights)"],
    }
    groups["everything else"] = 1.0 - sum(groups.values())
    print(
        f"\n3. cProfile of MediumClassifier(**recipe('lite0-finetune')).fit, "
        f"{len(y)} images, {clf.max_epochs} epochs, cold cache"
    )
    print_breakdown("fit, cold cache", rows, wall)
    print("shares of the fit's wall time:")
    for label, share in groups.items():
        print(f"  {label:<40}{100 * share:>6.1f} %")
    print(f"top {TOP} by cumulative time:")
    top_cum = top_entries(stats, "cumulative")
    print(f"top {TOP} by own (total) time:")
    top_tot = top_entries(stats, "tottime")
    return {
        "n_images": int(len(y)),
        "epochs": clf.max_epochs,
        "wall_s": round(wall, 3),
        "parts": as_records(rows),
        "shares": {k: round(v, 4) for k, v in groups.items()},
        "top_cumulative": top_cum,
        "top_tottime": top_tot,
    }


def summary(grid, fit, prof):
    """The table of targets met, for the parts that ran (None: did not run)."""

    def met(ok):
        return "yes" if ok else "NO"

    rows = []
    if grid is not None:
        rows += [
            (
                "1 grid, cold cache vs none",
                f"{grid['cold_cache']['wall_s']:.1f} s vs "
                f"{grid['no_cache']['wall_s']:.1f} s = {grid['speedup_cold']:.1f}x",
                f">= {GRID_TARGET:.0f}x",
                met(grid["speedup_cold"] >= GRID_TARGET),
            ),
            (
                "1 grid, warm cache vs none",
                f"{grid['warm_cache']['wall_s']:.1f} s vs "
                f"{grid['no_cache']['wall_s']:.1f} s = {grid['speedup_warm']:.1f}x",
                f">= {GRID_TARGET:.0f}x",
                met(grid["speedup_warm"] >= GRID_TARGET),
            ),
            (
                "1 grid, same best score/params",
                f"{grid['no_cache']['best_score']:.4f} at lr "
                f"{grid['no_cache']['best_params']['lr']:.0e}",
                "equal",
                met(grid["same_best"]),
            ),
        ]
    if fit is not None:
        rows += [
            (
                "2 fit (images, warm) vs loop",
                f"{fit['median_s']['fit_images']:.3f} s vs "
                f"{fit['median_s']['loop_views']:.3f} s = {fit['ratio_images']:.2f}x",
                f"<= {LOOP_TARGET:.2f}x",
                met(fit["ratio_images"] <= LOOP_TARGET),
            ),
            (
                "2 fit (2-D features) vs loop",
                f"{fit['median_s']['fit_features']:.3f} s vs "
                f"{fit['median_s']['loop_flat']:.3f} s = {fit['ratio_features']:.2f}x",
                f"<= {LOOP_TARGET:.2f}x",
                met(fit["ratio_features"] <= LOOP_TARGET),
            ),
        ]
    if prof is not None:
        rows += [
            (
                "3 finetune fit, profiled",
                "decode {:.0%}, frozen {:.0%}, epochs {:.0%}, build {:.0%}, "
                "rest {:.0%}".format(*prof["shares"].values()),
                "report",
                "-",
            ),
        ]
    print("\nSummary (#17)")
    header = f"{'target':<33}{'measured':<56}{'goal':>9}{'met':>5}"
    print(header)
    print("-" * len(header))
    for target, measured, goal, ok in rows:
        print(f"{target:<33}{measured:<56}{goal:>9}{ok:>5}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600, help="grid and fit subset")
    parser.add_argument("--profile-images", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3, help="of fit vs loop")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--image-size", type=int, default=None, help="override the recipes' 224"
    )
    parser.add_argument("--quick", action="store_true", help="120 and 60 images")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run this part only (repeatable): grid (target 1), fit (target 2: "
        "fit vs a plain loop), profile (3); default: all three",
    )
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument(
        "--out",
        default=None,
        help="results file; default benchmarks/out/bench_training.json, or "
        "bench_training-<parts>.json with --only",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.profile_images = 120, 60
    parts = [p for p in PARTS if p in (args.only or PARTS)]
    if args.out is None:
        name = (
            "bench_training"
            if args.only is None
            else "-".join(["bench_training", *parts])
        )
        args.out = str(HERE / "out" / f"{name}.json")

    torch.set_num_threads(args.threads)
    tate = Path(args.tate) if args.tate else DEFAULT_TATE
    X, y = load_tate(data_home=tate, classes="poster", return_X_y=True)
    X, y = np.asarray(X), np.asarray(y)
    grid_rows = stratified_subset(y, args.images)
    prof_rows = stratified_subset(y, args.profile_images)
    if "profile" not in parts:
        prof_rows = prof_rows[:0]
    if "grid" not in parts and "fit" not in parts:
        grid_rows = grid_rows[:0]
    for path in set(X[grid_rows]) | set(X[prof_rows]):
        Path(path).read_bytes()  # no part pays for a cold disk
    # Imports and the first weights load, paid before any timing.
    frozen = recipe("lite0-frozen")
    get_backbone(frozen["backbone"], weights=frozen["weights"])
    load = os.getloadavg()[0]
    print(
        f"{datetime.date.today()}, torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, image size {args.image_size or 'recipe'}"
        f", load average {load:.2f}"
    )

    Xg, yg, Xp, yp = X[grid_rows], y[grid_rows], X[prof_rows], y[prof_rows]
    grid = run_grid(Xg, yg, args) if "grid" in parts else None
    fit = run_fit_vs_loop(Xg, yg, args) if "fit" in parts else None
    prof = run_profile(Xp, yp, args) if "profile" in parts else None
    summary(grid, fit, prof)
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    write_results(
        args.out,
        {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "load_average_before": round(load, 2),
            "image_size": args.image_size,
            "quick": args.quick,
            "parts": parts,
            "grid": grid,
            "fit_vs_loop": fit,
            "profile": prof,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
