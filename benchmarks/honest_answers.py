"""Honest answers (issue #15): calibration, conformal sets, acceptance, novelty.

For each protocol, each of 5 folds of the poster's ten classes is held out in
turn as the test part:

* ``random``: ``StratifiedKFold(5)``;
* ``artist``: ``StratifiedGroupKFold(5)`` grouped by artist (no test artist is
  seen in training or calibration; one fold holds Turner, 65 % of the images).

The rest is split by ``MediumClassifier(calibration_size=0.25)`` itself into
training (60 % of all) and calibration (20 %) images. On the test part it
reports accuracy, the expected calibration error before and after temperature
scaling, conformal coverage and mean set size at 90 %, the share of answers
accepted at 95 % accuracy (the threshold chosen on the calibration images),
and the AUROC of the novelty score (and, for comparison, of one minus the top
probability) for images that are not artworks (``_nonartworks.py``) and for
the Tate images whose medium is outside the ten (a fixed random 800 of them),
each against the test images. Each figure is reported as the mean and sd
(population) over the folds.

    python benchmarks/honest_answers.py               # the default recipe
    python benchmarks/honest_answers.py --quick       # frozen Lite0, 1,200 images

Prints one JSON object per fold (stderr) and per protocol, and writes those to
``benchmarks/out/honest_answers.json``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from _nonartworks import nonartworks
from _results import write_results
from PIL import Image
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from artmedium import MediumClassifier
from artmedium.datasets import load_tate
from artmedium.metrics import (
    accepted_at_accuracy,
    expected_calibration_error,
    risk_coverage_curve,
)
from artmedium.recipes import DEFAULT_RECIPE, recipe

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def splits(protocol, y, groups, n_folds, seed=0):
    """(pool, test) rows of each fold: stratified, or grouped by artist."""
    rows = np.arange(len(y))
    if protocol == "random":
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        return list(folds.split(rows, y))
    folds = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    return list(folds.split(rows, y, groups))


def auroc(inside, outside):
    labels = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    return float(roc_auc_score(labels, np.r_[inside, outside]))


def run(protocol, data, args):
    """Every fold of ``protocol``, then mean and sd (population) of each figure."""
    X, y, groups, others, strange = data
    folds = []
    for k, (pool, test) in enumerate(splits(protocol, y, groups, args.folds)):
        result = run_fold(protocol, data, pool, test, args)
        result["fold"] = k
        print(json.dumps(result), file=sys.stderr, flush=True)
        folds.append(result)
    summary = {
        "protocol": protocol,
        "n_folds": len(folds),
        "recipe": folds[0]["recipe"],
    }
    for key, value in folds[0].items():
        if isinstance(value, float) or key.startswith("n_"):
            values = [f[key] for f in folds if f[key] is not None]
            summary[key] = float(np.mean(values)) if values else None
            summary[f"{key}_sd"] = float(np.std(values)) if values else None
        elif isinstance(value, dict) and key.startswith("auroc"):
            summary[key] = {
                kind: float(np.mean([f[key][kind] for f in folds])) for kind in value
            }
    summary["folds"] = folds
    return summary


def run_fold(protocol, data, pool, test, args):
    X, y, groups, others, strange = data
    params = recipe(args.recipe)
    if args.quick:
        params.update(max_epochs=min(params.get("max_epochs", 8), 3))
    clf = MediumClassifier(
        **params,
        calibration_size=0.25,
        memory=args.cache,
        n_jobs=2,
        random_state=0,
    )
    t0 = time.perf_counter()
    clf.fit(X[pool], y[pool])
    fit_s = time.perf_counter() - t0
    y_test = y[test]
    t0 = time.perf_counter()
    answers = clf.assess(X[test], confidence=0.9, accept_accuracy=0.95)
    raw = clf.decision_function(X[test])
    uncalibrated = np.exp(raw - raw.max(axis=1, keepdims=True))
    uncalibrated /= uncalibrated.sum(axis=1, keepdims=True)
    other = clf.assess(others, confidence=0.9)
    odd = clf.assess([im for _, im in strange], confidence=0.9)
    predict_s = time.perf_counter() - t0
    truth = np.searchsorted(clf.classes_, y_test)
    rows = np.arange(len(test))
    covered = answers.sets[rows, truth]
    ok = answers.status == "ok"
    coverage_95, _ = accepted_at_accuracy(
        y_test, answers.proba, 0.95, classes=clf.classes_
    )
    cal = clf.calibration_
    accepted = answers.proba.max(axis=1) >= answers.accept_threshold
    curve = risk_coverage_curve(y_test, answers.proba, classes=clf.classes_)
    kinds = sorted({name.split("/")[0] for name, _ in strange})
    by_kind = {
        kind: auroc(
            answers.novelty,
            odd.novelty[[n.split("/")[0] == kind for n, _ in strange]],
        )
        for kind in kinds
    }
    msp = 1 - answers.proba.max(axis=1)
    return {
        "protocol": protocol,
        "recipe": args.recipe + (" (quick)" if args.quick else ""),
        "n_train": int(len(pool) - len(cal.labels)),
        "n_calibration": int(len(cal.labels)),
        "n_test": int(len(test)),
        "n_other_media": int(len(others)),
        "n_nonartworks": len(strange),
        "accuracy": float((answers.labels == y_test).mean()),
        "temperature": cal.temperature,
        "ece_before": expected_calibration_error(
            y_test, uncalibrated, classes=clf.classes_
        ),
        "ece_after": expected_calibration_error(
            y_test, answers.proba, classes=clf.classes_
        ),
        "coverage_90": float(covered.mean()),
        "mean_set_size_90": float(answers.sets.sum(axis=1).mean()),
        "empty_sets_90": float((answers.sets.sum(axis=1) == 0).mean()),
        "accept_threshold_95": answers.accept_threshold,
        "accepted_share_95": float(accepted.mean()),
        "accepted_accuracy_95": float((answers.labels == y_test)[accepted].mean())
        if accepted.any()
        else None,
        "oracle_share_95": coverage_95,
        "status_ok": float(ok.mean()),
        "status_ok_accuracy": float((answers.labels == y_test)[ok].mean())
        if ok.any()
        else None,
        "status_unknown_test": float((answers.status == "unknown").mean()),
        "status_unknown_other_media": float((other.status == "unknown").mean()),
        "status_unknown_nonartworks": float((odd.status == "unknown").mean()),
        "auroc_nonartworks": auroc(answers.novelty, odd.novelty),
        "auroc_nonartworks_by_kind": by_kind,
        "auroc_other_media": auroc(answers.novelty, other.novelty),
        "auroc_nonartworks_msp": auroc(msp, 1 - odd.proba.max(axis=1)),
        "auroc_other_media_msp": auroc(msp, 1 - other.proba.max(axis=1)),
        "risk_coverage": {
            "coverage": curve[0][:: max(1, len(curve[0]) // 20)].round(3).tolist(),
            "accuracy": curve[1][:: max(1, len(curve[0]) // 20)].round(3).tolist(),
        },
        "fit_seconds": round(fit_s, 1),
        "predict_seconds": round(predict_s, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--recipe", default=DEFAULT_RECIPE)
    parser.add_argument("--protocols", nargs="+", default=["random", "artist"])
    parser.add_argument("--cache", default=str(OUT / "cache"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--n-other",
        type=int,
        default=800,
        help="Tate images of other media scored per fold (a fixed random subset)",
    )
    parser.add_argument("--out", default=str(OUT / "honest_answers.json"))
    args = parser.parse_args(argv)
    home = args.tate or str(HERE.parent.parent / "shared" / "data" / "tate")
    if args.quick:
        args.recipe = "lite0-frozen" if args.recipe == DEFAULT_RECIPE else args.recipe
    ten = load_tate(data_home=home, classes="poster")
    every = load_tate(data_home=home, classes=None)
    known = set(np.asarray(ten.data).tolist())
    others = np.array([p for p in every.data if p not in known], dtype=object)
    X = np.asarray(ten.data, dtype=object)
    y = np.asarray(ten.target, dtype=object)
    groups = np.asarray(ten.groups, dtype=object)
    if args.quick:
        rows, _ = train_test_split(
            np.arange(len(y)), train_size=1200, stratify=y, random_state=0
        )
        X, y, groups = X[rows], y[rows], groups[rows]
        args.n_other = min(args.n_other, 200)
    if args.n_other < len(others):
        pick = np.random.default_rng(0).choice(len(others), args.n_other, replace=False)
        others = others[np.sort(pick)]
    strange = [(n, Image.fromarray(a)) for n, a in nonartworks()]
    results = []
    for protocol in args.protocols:
        result = run(protocol, (X, y, groups, others, strange), args)
        print(json.dumps(result), flush=True)
        results.append(result)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
