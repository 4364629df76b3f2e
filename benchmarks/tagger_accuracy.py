"""MediumTagger on the real Tate sample: exact match over the poster's ten tags.

Same held-out splits as ``classifier_accuracy.py`` (a stratified 20 % split and a
split grouped by artist, never trained on). Images are embedded once with the
pretrained EfficientNet-Lite0 (cached on disk), then:

* ``independent``: ten logistic regressions (the poster's ten binary classifiers);
* ``joint``: one network with ten sigmoid outputs (BCE);

each decoded tag by tag (``decode="independent"``) and to the most probable tag
combination seen in training (``decode="valid"``). Printed per line as JSON, with
per-tag accuracy, exact match, Hamming loss and description-level accuracy.

Usage::

    python benchmarks/tagger_accuracy.py --split both
"""

import argparse
import os
import sys
import time
from pathlib import Path

from classifier_accuracy import DEFAULT_TATE, HERE, report, split_indices
from sklearn.linear_model import LogisticRegression

from artmedium import ImageEmbedder, MediumTagger
from artmedium.datasets import load_tate
from artmedium.metrics import tag_report


def run(split, bunch, *, memory, mode, C):
    X, y, groups = bunch.data, bunch.target, bunch.groups
    train, test = split_indices(split, y, groups)
    embedder = ImageEmbedder(memory=memory, n_jobs=2)
    estimator = LogisticRegression(C=C, max_iter=3000)
    tagger = MediumTagger(
        estimator=estimator,
        embedder=embedder,
        mode=mode,
        random_state=0,
        lr=1e-3,
        max_epochs=60,
    )
    start = time.perf_counter()
    tagger.fit(X[train], bunch.tags[train])
    fit_s = time.perf_counter() - start
    proba = tagger.predict_proba(X[test])
    results = []
    for decode in ("independent", "valid"):
        tagger.set_params(decode=decode)
        # Features come from the embedder's disk cache: predicting again is cheap.
        Y_pred = tagger.predict(X[test])
        media = tagger.predict_medium(X[test])
        scores = tag_report(
            bunch.tags[test],
            Y_pred,
            tagger.tag_names_,
            Y_proba=proba,
            medium_true=y[test],
            medium_pred=media,
        )
        results.append(
            {
                "split": split,
                "mode": mode,
                "decode": decode,
                "C": C,
                "n_train": int(len(train)),
                "n_test": int(len(test)),
                "exact_match": round(scores["exact_match"], 4),
                "hamming_loss": round(scores["hamming_loss"], 4),
                "medium_accuracy": round(scores["medium_accuracy"], 4),
                "per_tag_accuracy": {
                    t: round(r["accuracy"], 4) for t, r in scores["per_tag"].items()
                },
                "per_tag_average_precision": {
                    t: round(r["average_precision"], 4)
                    for t, r in scores["per_tag"].items()
                },
                "fit_seconds": round(fit_s, 1),
            }
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["random", "artist", "both"], default="both")
    parser.add_argument(
        "--mode", choices=["independent", "joint", "both"], default="both"
    )
    parser.add_argument("--C", type=float, default=0.5)
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--cache", default=str(HERE / "out" / "cache"))
    parser.add_argument("--out", default=str(HERE / "out" / "tagger_accuracy.jsonl"))
    args = parser.parse_args(argv)

    tate = Path(args.tate) if args.tate else DEFAULT_TATE
    bunch = load_tate(data_home=tate, classes="poster")
    splits = ["random", "artist"] if args.split == "both" else [args.split]
    modes = ["independent", "joint"] if args.mode == "both" else [args.mode]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    for split in splits:
        for mode in modes:
            for result in run(split, bunch, memory=args.cache, mode=mode, C=args.C):
                report(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
