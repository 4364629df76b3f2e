"""Media as tags for the whole Tate sample (issue #16): vocabulary, tagger, back-off.

Every image of the sample with a medium (6,403 of 6,522, in 819 descriptions) is
used, not only the poster's ten classes. For each protocol, each of 5 folds is
held out in turn:

* ``random``: ``StratifiedKFold(5)`` on the description (descriptions of fewer
  than 5 images pooled);
* ``artist``: ``StratifiedGroupKFold(5)`` grouped by artist (no test artist is
  seen in training; one fold holds Turner).

On each fold's training part the open vocabulary is learned from the
descriptions (``build_vocabulary(n_tags=None, min_count=OPEN_MIN_COUNT,
broader=True)``) and the embedded tagger's recipe is fitted (``--recipe``);
20 % of the training part calibrates it. On the test part it reports:

* ``exact_match``: the predicted tag set (broader tags included) equals the
  catalogue's, over all test images;
* ``description_accuracy``: the description composed from the predicted tags
  equals the catalogue's (case and whitespace aside), before backing off;
* with back-off (``assess``, confidence 0.9): the share of answers backed off,
  and of the answers the share ``exact`` (the catalogue's description) and
  ``correct_parent`` (backed off, every claimed tag true: "Intaglio print on
  paper" for an etching);
* the same on the images of the poster's ten classes, next to the ten-class
  classifier (``--classifier-recipe``, fitted on the fold's training images
  of the ten, 20 % of them held out to calibrate it like the tagger and the
  embedded classifier) on the same test images;
* per-tag average precision pooled over the folds' test images (each image is
  tested once per protocol), for tags with at least 20 test images.

The vocabulary's reach is measured too: the share of all images whose
description the vocabulary rebuilds exactly (learned on all, and learned on
each fold's training part applied to its test part).

    python benchmarks/tags_accuracy.py                  # 5 folds, both protocols
    python benchmarks/tags_accuracy.py --no-classifier  # skip the ten-class fits

Writes ``benchmarks/out/tags_accuracy.json``.
"""

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from _results import write_results
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from artmedium import MediumClassifier
from artmedium.datasets import load_tate
from artmedium.recipes import DEFAULT_RECIPE, recipe, tagger_recipe
from artmedium.vocabulary import (
    OPEN_MIN_COUNT,
    POSTER_CLASSES,
    build_vocabulary,
    tag_matrix,
)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def same(a, b):
    return " ".join(str(a).split()).casefold() == " ".join(str(b).split()).casefold()


def reach(vocab, mediums):
    """Share of ``mediums`` the vocabulary rebuilds exactly from their tags."""
    from artmedium.vocabulary import tags_to_medium

    Y = tag_matrix(mediums, vocab, unknown="ignore")
    cache = {}
    hits = 0
    for medium, row in zip(mediums, Y):
        key = tuple(np.flatnonzero(row))
        if key not in cache:
            cache[key] = tags_to_medium([vocab.tags[j] for j in key], vocab)
        hits += same(cache[key], medium)
    return hits / len(mediums)


def splits(protocol, y, groups, n_folds, seed=0):
    counts = Counter(y)
    strata = np.array([m if counts[m] >= n_folds else "(rare)" for m in y])
    rows = np.arange(len(y))
    if protocol == "random":
        folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        return list(folds.split(rows, strata))
    folds = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
    return list(folds.split(rows, strata, groups))


def run_fold(X, y, groups, train, test, args):
    with warnings.catch_warnings():
        # Terms outside the fold's vocabulary are expected (and measured).
        warnings.filterwarnings("ignore", "term\\(s\\) of the descriptions")
        vocab = build_vocabulary(
            y[train], n_tags=None, min_count=OPEN_MIN_COUNT, broader=True
        )
        tagger = tagger_recipe(vocab, memory=args.cache, n_jobs=2, random_state=0)
        if args.quick:
            tagger.estimator.set_params(max_epochs=1)
        t0 = time.perf_counter()
        tagger.fit(X[train], y[train])
        fit_s = time.perf_counter() - t0
        Y_true = tag_matrix(y[test], vocab, unknown="ignore")
    answers = tagger.assess(X[test], confidence=0.9)
    decoded_ok = (answers.decoded == Y_true).all(axis=1)
    described = np.array([same(d, m) for d, m in zip(answers.decoded_medium, y[test])])
    final_exact = np.array([same(d, m) for d, m in zip(answers.medium, y[test])])
    # Every claimed tag (after backing off) is one of the catalogue's tags.
    claims_true = ((answers.tags == 1) <= (Y_true == 1)).all(axis=1)
    parent = answers.backed_off & claims_true & answers.tags.any(axis=1)
    poster = np.isin(y[test], POSTER_CLASSES)
    ok = answers.status == "ok"
    result = {
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "n_tags": len(vocab),
        "reach_test": reach(vocab, list(y[test])),
        "exact_match": float(decoded_ok.mean()),
        "description_accuracy": float(described.mean()),
        "backed_off": float(answers.backed_off.mean()),
        "with_back_off_exact": float(final_exact.mean()),
        "with_back_off_correct_parent": float(parent.mean()),
        "with_back_off_wrong": float(1 - final_exact.mean() - parent.mean()),
        "status_ok": float(ok.mean()),
        "status_ok_claims_true": float(claims_true[ok].mean()) if ok.any() else None,
        "status_unknown": float((answers.status == "unknown").mean()),
        "poster_n_test": int(poster.sum()),
        "poster_exact_match": float(decoded_ok[poster].mean()),
        "poster_description_accuracy": float(described[poster].mean()),
        "fit_seconds": round(fit_s, 1),
    }
    if args.classifier:
        ten = train[np.isin(y[train], POSTER_CLASSES)]
        params = recipe(args.classifier_recipe)
        if args.quick:
            params["max_epochs"] = 1
        # Calibrated on 20 % held out, as the embedded classifier and the tagger.
        clf = MediumClassifier(
            **params, calibration_size=0.2, memory=args.cache, n_jobs=2, random_state=0
        )
        t0 = time.perf_counter()
        clf.fit(X[ten], y[ten])
        result["classifier_seconds"] = round(time.perf_counter() - t0, 1)
        pred = clf.predict(X[test][poster])
        result["poster_classifier_accuracy"] = float(
            np.mean([same(p, m) for p, m in zip(pred, y[test][poster])])
        )
    names = list(vocab.tags)
    return result, names, Y_true, answers.proba


def run(protocol, X, y, groups, args):
    folds, pooled = [], {}
    for k, (train, test) in enumerate(splits(protocol, y, groups, args.folds)):
        result, names, Y_true, proba = run_fold(X, y, groups, train, test, args)
        result["fold"] = k
        print(json.dumps(result), file=sys.stderr, flush=True)
        folds.append(result)
        for j, name in enumerate(names):
            truth, score = pooled.setdefault(name, ([], []))
            truth.extend(Y_true[:, j].tolist())
            score.extend(proba[:, j].tolist())
    summary = {"protocol": protocol, "n_folds": len(folds), "recipe": args.recipe}
    for key, value in folds[0].items():
        if key == "fold" or not isinstance(value, (int, float)):
            continue
        values = [f[key] for f in folds if f.get(key) is not None]
        summary[key] = float(np.mean(values))
        summary[f"{key}_sd"] = float(np.std(values))
    summary["average_precision"] = {
        name: {
            "n_test": int(np.sum(truth)),
            "ap": float(average_precision_score(truth, score)),
        }
        for name, (truth, score) in sorted(pooled.items())
        if np.sum(truth) >= 20 and len(truth) == len(y)
    }
    summary["folds"] = folds
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--recipe", default="tagger (artmedium.recipes.tagger_recipe)")
    parser.add_argument("--classifier-recipe", default=DEFAULT_RECIPE)
    parser.add_argument("--no-classifier", dest="classifier", action="store_false")
    parser.add_argument("--protocols", nargs="+", default=["random", "artist"])
    parser.add_argument("--cache", default=str(OUT / "cache"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default=str(OUT / "tags_accuracy.json"))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a check of the script: 600 images, 1 epoch",
    )
    args = parser.parse_args(argv)
    home = args.tate or str(HERE.parent.parent / "shared" / "data" / "tate")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "medium term\\(s\\) of the loaded")
        tate = load_tate(data_home=home, classes=None, vocabulary="learned")
    X = np.asarray(tate.data, dtype=object)
    y = np.asarray(tate.target, dtype=object)
    groups = np.asarray(tate.groups, dtype=object)
    if args.quick:
        pick = np.sort(np.random.default_rng(0).choice(len(y), 600, replace=False))
        X, y, groups = X[pick], y[pick], groups[pick]
        args.folds = min(args.folds, 2)
    results = [
        {
            "vocabulary": {
                "n_images": int(len(y)),
                "n_descriptions": len(set(y)),
                "n_tags": len(tate.vocabulary),
                "reach": reach(tate.vocabulary, list(y)),
            }
        }
    ]
    print(json.dumps(results[0]), flush=True)
    for protocol in args.protocols:
        result = run(protocol, X, y, groups, args)
        print(json.dumps({k: v for k, v in result.items() if k != "folds"}), flush=True)
        results.append(result)
    write_results(args.out, results)


if __name__ == "__main__":
    main()
