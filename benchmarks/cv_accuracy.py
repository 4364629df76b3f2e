"""Cross-validated accuracy of a MediumClassifier recipe on the Tate sample (#14).

The protocol of issue #14, with the library's own estimator and
:func:`artmedium.model_selection.cross_validate_report`:

* ``random``: ``StratifiedKFold(5, shuffle=True, random_state=0)``;
* ``artist``: ``StratifiedGroupKFold(5, shuffle=True, random_state=0)`` grouped by
  the CSV's ``artist`` column (no artist on both sides of a fold).

Each prints (and appends as JSON to ``--out``) the mean ± sd over folds of
accuracy and balanced accuracy, per-class recall and fit time. ``--stability N``
also fits the recipe once on a stratified 80 % and reports, for ``N`` of the
held-out 20 %, how often the top class survives JPEG quality 50, WebP quality
75, half size and a 2 degree rotation.

Usage::

    python benchmarks/cv_accuracy.py --recipe lite0-finetune
    python benchmarks/cv_accuracy.py --recipe lite0-texture --stability 400
    python benchmarks/cv_accuracy.py --recipe lite0-frozen --set pooling=texture \\
        --balance class_and_group
    python benchmarks/cv_accuracy.py --quick      # 600 images, 2 folds, 1 epoch
"""

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from _perturb import PERTURBATIONS, perturb
from sklearn.model_selection import train_test_split

from artmedium import MediumClassifier
from artmedium.datasets import load_tate
from artmedium.io import read_image
from artmedium.model_selection import (
    balanced_sample_weight,
    cross_validate_report,
    format_cv_report,
)
from artmedium.recipes import RECIPES, recipe

HERE = Path(__file__).resolve().parent
DEFAULT_TATE = HERE.parent.parent / "shared" / "data" / "tate"


def parse_set(items):
    params = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def stability(clf_params, balance, X, y, groups, n, seed=0):
    """Fit on a stratified 80 %, perturb ``n`` held-out images, count top-class
    changes per perturbation."""
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=0.2, stratify=y, random_state=seed)
    test = np.random.default_rng(seed).permutation(test)[:n]
    clf = MediumClassifier(**clf_params)
    weight = None
    if balance is not None:
        weight = balanced_sample_weight(y[train], groups[train], balance=balance)
    clf.fit(X[train], y[train], sample_weight=weight)
    images = [read_image(p) for p in X[test]]
    base = clf.predict(images)
    out = {"n_images": int(len(test)), "accuracy": float(np.mean(base == y[test]))}
    for name in PERTURBATIONS:
        pred = clf.predict([perturb(im, name) for im in images])
        out[name] = float(np.mean(pred == base))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="lite0-finetune")
    parser.add_argument("--set", nargs="*", metavar="PARAM=VALUE", help="overrides")
    parser.add_argument("--balance", default=None, help="balanced_sample_weight option")
    parser.add_argument("--split", choices=["random", "artist", "both"], default="both")
    parser.add_argument("--stability", type=int, default=0, metavar="N")
    parser.add_argument("--quick", action="store_true", help="600 images, 2 folds")
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--cache", default=str(HERE / "out" / "cache"))
    parser.add_argument("--out", default=str(HERE / "out" / "cv_accuracy.jsonl"))
    args = parser.parse_args(argv)

    tate = Path(args.tate) if args.tate else DEFAULT_TATE
    bunch = load_tate(data_home=tate, classes="poster")
    X, y, groups = bunch.data, np.asarray(bunch.target), np.asarray(bunch.groups)
    folds = 5
    overrides = parse_set(args.set)
    if args.quick:
        keep = np.random.default_rng(0).permutation(len(y))[:600]
        X, y, groups = X[keep], y[keep], groups[keep]
        folds = 2
        overrides.setdefault("max_epochs", 1)
    params = recipe(args.recipe, **overrides)
    params.update(memory=args.cache, n_jobs=2, random_state=0)
    clf = MediumClassifier(**params)
    splits = ["random", "artist"] if args.split == "both" else [args.split]
    record = {
        "recipe": args.recipe,
        "overrides": overrides,
        "balance": args.balance,
        "n_images": int(len(y)),
        "quick": args.quick,
    }
    for split in splits:
        start = time.perf_counter()
        # Artist weights on random folds need the artists, but not grouped folds.
        rep = cross_validate_report(
            clf,
            X,
            y,
            groups=groups,
            cv=folds,
            balance=args.balance,
            group_folds=split == "artist",
            verbose=1,
        )
        wall = time.perf_counter() - start
        print(f"== {args.recipe} {overrides} balance={args.balance} split={split}")
        print(format_cv_report(rep), flush=True)
        rep.pop("predictions", None)
        record[split] = {**rep, "wall_seconds": round(wall, 1)}
    if args.stability:
        record["stability"] = stability(
            params, args.balance, X, y, groups, args.stability
        )
        print("stability:", json.dumps(record["stability"]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
