"""Train, evaluate and save the model embedded in artmedium (``load_model("default")``).

Seeded and reproducible. From the Tate sample (the poster's ten classes) it

1. evaluates the recipe by 5-fold cross-validation on two protocols (skip with
   ``--skip-eval``): stratified folds, and folds grouped by artist (no test
   artist seen in training), recording accuracy, balanced accuracy and
   per-class recall as mean ± sd over the folds
   (:func:`artmedium.model_selection.cross_validate_report`), and how often the
   top class of 400 held-out images survives JPEG quality 50, WebP quality 75,
   half size and a 2 degree rotation;
2. trains the final model on all the images (weighted as the recipe says:
   ``artmedium.recipes.recipe_balance``);
3. saves it in float16 with those metrics in its sidecar, with ``MODEL_CARD.md``
   and the NOTICE of the EfficientNet-Lite0 weights, to
   ``src/artmedium/pretrained/default/`` (replaced as a whole, never half
   written).

Usage::

    python benchmarks/train_default_model.py                  # the real thing
    python benchmarks/train_default_model.py --max-images 60 --max-epochs 1 \\
        --out /tmp/smoke_model --cache /tmp/smoke_cache       # a smoke run
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import torch
from cv_accuracy import stability

from artmedium import MediumClassifier, __version__
from artmedium.datasets import POSTER_CLASSES, load_tate
from artmedium.model_selection import balanced_sample_weight, cross_validate_report
from artmedium.persistence import SIDECAR, WEIGHTS, save_model
from artmedium.recipes import DEFAULT_RECIPE, recipe, recipe_balance

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_TATE = REPO.parent / "shared" / "data" / "tate"
DEFAULT_OUT = REPO / "src" / "artmedium" / "pretrained" / "default"
NOTICE = REPO / "src" / "artmedium" / "nets" / "NOTICE-efficientnet-lite0.txt"
MODEL_NAME = "artmedium-tate10-lite0"


def per_class_sample(X, y, groups, n, seed):
    """About ``n / n_classes`` random images of each class (for quick smoke runs).

    A proportional sample would leave the rare classes with one image or none,
    too few for the stratified and grouped splits.
    """
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    per_class = max(2, n // len(classes))
    keep = np.sort(
        np.concatenate(
            [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in classes]
        )
    )
    return X[keep], y[keep], groups[keep]


def recipe_from(args):
    """MediumClassifier parameters: the named recipe (artmedium.recipes, the
    embedded model's by default), with the settings given as flags."""
    overrides = {
        "backbone": args.backbone,
        "weights": args.weights,
        "freeze": args.freeze,
        "augment": args.augment,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "dropout": args.dropout,
        "max_epochs": args.max_epochs,
        "batch_size": args.batch_size,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides.get("weights") == "none":
        overrides["weights"] = None
    freeze = overrides.get("freeze")
    if freeze is not None and freeze not in ("backbone", "none"):
        overrides["freeze"] = int(freeze)
    return recipe(args.recipe, **overrides, random_state=args.seed)


def make_classifier(recipe, args):
    return MediumClassifier(
        **recipe,
        calibration_size=args.calibration_size,
        memory=args.cache,
        n_jobs=args.n_jobs,
    )


def evaluate(split, recipe, args, X, y, groups, labels):
    """Mean ± sd over 5 folds: stratified (``random``) or grouped by artist."""
    grouped = split == "artist"
    rep = cross_validate_report(
        make_classifier(recipe, args),
        X,
        y,
        groups=groups,  # the folds' (artist split) or the weights' (random)
        cv=args.folds,
        balance=args.balance,
        group_folds=grouped,
        random_state=args.seed,
        verbose=1,
    )
    recall = rep["per_class_recall"]
    return {
        "split": split,
        "protocol": rep["cv"],
        "n_folds": rep["n_splits"],
        "accuracy": round(rep["accuracy"]["mean"], 4),
        "accuracy_sd": round(rep["accuracy"]["sd"], 4),
        "balanced_accuracy": round(rep["balanced_accuracy"]["mean"], 4),
        "balanced_accuracy_sd": round(rep["balanced_accuracy"]["sd"], 4),
        "majority_baseline": round(rep["majority"]["mean"], 4),
        "per_class_recall": {
            c: (None if recall[c]["mean"] is None else round(recall[c]["mean"], 4))
            for c in labels
        },
        "fit_seconds": round(float(np.mean(rep["fit_time"]["folds"])), 1),
    }


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _pm(m, key):
    sd = m.get(f"{key}_sd")
    return _pct(m[key]) + ("" if sd is None else f" ± {100 * sd:.1f}")


def _trained(recipe):
    freeze = recipe["freeze"]
    if freeze == "backbone":
        return "frozen, with a linear head trained on its pooled features"
    if freeze == "none":
        return "trained whole"
    return f"the last {freeze} stages and a linear head fine-tuned"


def honest_section(metadata):
    """The card's "Honest answers" section (calibration, sets, statuses)."""
    cal = metadata.get("calibration")
    if not cal:
        return []
    pct = f"{100 * cal['n_images'] / metadata['training_data']['n_images']:.0f} %"
    lines = [
        "## Honest answers",
        "",
        f"{cal['n_images']} images (a stratified {pct} of the "
        f"{metadata['training_data']['n_images']}) were held out of training to "
        "calibrate the answers: a temperature of "
        f"{cal['temperature']:.2f} for the probabilities, conformal prediction "
        "sets (`candidates`), the acceptance threshold of `--accept-accuracy` and "
        "the novelty score behind `unknown`. Each answer of `artmedium predict` "
        "gets a status:",
        "",
        "- `ok`: its candidate set at `--confidence` (0.9) holds this one medium "
        "(and, with `--accept-accuracy A`, its probability reaches the threshold "
        "at which the held-out answers were A accurate);",
        "- `uncertain`: several candidates, or none, or below that threshold: "
        "check it;",
        "- `unknown`: the image is unlike the calibration images of all ten media "
        "(a novelty score above all but `--unknown-rate`, 5 %, of theirs): not "
        "one of the media the model knows, or not an artwork.",
        "",
    ]
    runs = cal.get("held_out_evaluation") or []
    if runs:
        lines += [
            "Measured by `benchmarks/honest_answers.py` on test images never "
            "used in training or calibration: mean ± sd over 5 folds, each fold "
            "the test part once (stratified, or grouped by artist), the rest split "
            "75/25 into training and calibration as `calibration_size=0.25` "
            "does:",
            "",
            "| | random split | unseen artists |",
            "|---|---|---|",
        ]
        by = {r["protocol"]: r for r in runs}
        rows = [
            ("accuracy", "accuracy", _pct),
            ("ECE before calibration", "ece_before", lambda v: f"{v:.3f}"),
            ("ECE after calibration", "ece_after", lambda v: f"{v:.3f}"),
            ("coverage of the 90 % sets", "coverage_90", _pct),
            ("mean set size at 90 %", "mean_set_size_90", lambda v: f"{v:.2f}"),
            ("answers accepted at 95 % accuracy", "accepted_share_95", _pct),
            ("accuracy of those accepted", "accepted_accuracy_95", _pct),
            ("status ok (0.9 sets)", "status_ok", _pct),
            ("accuracy of status ok", "status_ok_accuracy", _pct),
            ("AUROC of unknown: not artworks", "auroc_nonartworks", _auc),
            ("AUROC of unknown: Tate media outside the ten", "auroc_other_media", _auc),
            ("marked unknown: test images", "status_unknown_test", _pct),
            ("marked unknown: not artworks", "status_unknown_nonartworks", _pct),
            ("marked unknown: other Tate media", "status_unknown_other_media", _pct),
        ]
        for label, key, fmt in rows:
            cells = []
            for protocol in ("random", "artist"):
                value = by.get(protocol, {}).get(key)
                sd = by.get(protocol, {}).get(f"{key}_sd")
                cell = "n/a" if value is None else fmt(value)
                if value is not None and sd is not None:
                    cell += f" ± {fmt(sd).replace(' %', '')}"
                cells.append(cell)
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
        lines += [
            "",
            "On unseen artists the images are no longer exchangeable with the "
            "calibration images, so the sets' coverage guarantee does not hold "
            "there; the sets grow and far fewer answers are `ok`, which is the "
            "honest response. Not artworks are solid colours, noise, rendered "
            "text, gradients, patterns and photographs (`benchmarks/"
            "_nonartworks.py`).",
            "",
        ]
    return lines


def _auc(value):
    return f"{value:.3f}"


def model_card(metadata):
    """MODEL_CARD.md text from the metadata saved in the sidecar."""
    data = metadata["training_data"]
    recipe = metadata["recipe"]
    metrics = metadata["metrics"]
    machine = metadata["machine"]
    random, artist = metrics.get("random"), metrics.get("artist")
    lines = [
        f"# Model card: {metadata['name']}",
        "",
        "The model `artmedium predict` uses when no `--model` is given "
        '(`artmedium.load_model("default")`). It recognises the medium of an '
        "artwork from its image among the ten most frequent medium classes of the "
        "Tate collection sample used by the poster.",
        "",
        "## Model",
        "",
        f"- `MediumClassifier`, backbone `{recipe['backbone']}` "
        f"(EfficientNet-Lite0, ImageNet weights, Apache-2.0: see "
        f"`NOTICE-efficientnet-lite0.txt`), {_trained(recipe)}; "
        f"pooling `{recipe.get('pooling', 'avg')}`"
        + (
            f"; trained with `balanced_sample_weight(..., balance="
            f'"{metadata["sample_weight"]}")` over the artists.'
            if metadata.get("sample_weight")
            else "."
        ),
        "- Weights stored as float16 safetensors "
        f"({metadata['weights_megabytes']:.1f} MB); loads without pickle.",
        f"- Trained with artmedium {metadata['artmedium_version']}, torch "
        f"{metadata['torch_version']}, seed {recipe['random_state']}.",
        "",
        "## Classes",
        "",
        *[f"- {c}" for c in metadata["classes"]],
        "",
        "Media tags (graphite, watercolour, oil paint, canvas, lithograph, "
        "screenprint, etching, engraving, line engraving, pen and ink) are derived "
        "from these class probabilities: P(tag) is the sum of the probabilities of "
        "the classes whose description has the tag.",
        "",
        "## Training data",
        "",
        f"- {data['n_images']} thumbnails (longest side 256 px) of the Tate "
        f"collection by {data['n_artists']} artists, with Tate's medium "
        'descriptions (`load_tate(classes="poster")`). Metadata: CC0 (Tate); '
        "images: Photo (c) Tate, used for training only and not distributed "
        "with artmedium.",
        "- Images per class:",
        *[f"  - {c}: {n}" for c, n in data["class_counts"].items()],
        "",
        "## Recipe",
        "",
        "```",
        json.dumps(recipe, indent=2),
        "```",
        "",
        f"Final training took {metadata['training_seconds']:.0f} s on "
        f"this machine ({machine['cpu_count']} CPU cores, {machine['torch_threads']} "
        f"torch threads, {machine['gpu']}, {machine['platform']}).",
        "",
        "## Evaluation",
        "",
    ]
    if not metrics:
        lines += ["Not evaluated (trained with `--skip-eval`).", ""]
    else:
        lines += [
            "Both protocols train the same recipe on part of the images and test "
            "on the rest, never trained on: "
            f"{(random or artist)['n_folds']}-fold cross-validation, mean ± sd "
            "(population) over the folds "
            "(`artmedium.model_selection.cross_validate_report`).",
            "",
            "| protocol | accuracy | balanced accuracy | majority class | fit |",
            "|---|---|---|---|---|",
        ]
        for name, label in (
            ("random", "stratified folds"),
            ("artist", "folds grouped by artist (unseen artists)"),
        ):
            m = metrics.get(name)
            if m:
                lines.append(
                    f"| {label} | {_pm(m, 'accuracy')} | "
                    f"{_pm(m, 'balanced_accuracy')} | "
                    f"{_pct(m['majority_baseline'])} | {m['fit_seconds']:.0f} s |"
                )
        lines += [
            "",
            "Recall per class (share of each class's test images recognised, mean "
            "over the folds holding the class):",
            "",
            "| class | stratified | unseen artists |",
            "|---|---|---|",
        ]
        for c in metadata["classes"]:
            r = (random or {}).get("per_class_recall", {}).get(c)
            a = (artist or {}).get("per_class_recall", {}).get(c)
            lines.append(f"| {c} | {_pct(r)} | {_pct(a)} |")
        lines += [
            "",
            "The grouped folds never put an artist on both sides; one of them holds "
            "J. M. W. Turner (59 % of the images, most of the graphite), and "
            '"Pen and ink" and "Line engraving" come from two and three artists, '
            "so on some folds those classes have almost nothing to learn from. It "
            "measures the model on artists it has never seen, as with a "
            "cataloguer's new acquisitions. Expect that figure, not the random "
            "split's, on new work.",
            "",
        ]
        stab = metrics.get("stability")
        if stab:
            lines += [
                "Stability under capture changes: the share of "
                f"{stab['n_images']} held-out images (trained on a stratified 80 %) "
                "whose top class is unchanged after",
                "",
                "| JPEG quality 50 | WebP quality 75 | half size | 2° rotation |",
                "|---|---|---|---|",
                f"| {_pct(stab['jpeg50'])} | {_pct(stab['webp75'])} | "
                f"{_pct(stab['half'])} | {_pct(stab['rot2'])} |",
                "",
            ]
    lines += honest_section(metadata)
    lines += [
        "## Intended use",
        "",
        "A first suggestion of the medium of digitised artworks on paper and "
        "canvas, to speed up cataloguing and to find records worth checking. A "
        "person confirms every label; the status, the candidates and the "
        "calibrated probability say how far to trust it.",
        "",
        "## Limits",
        "",
        "- Trained on Tate thumbnails only (small JPEGs, mostly British art, "
        "museum photography); scans from other sources, resolutions or lighting "
        "may do worse.",
        "- It only knows these ten classes. An image unlike all of them is "
        "marked `unknown` (not one of the media it knows), but a medium close to "
        "one of the ten (gouache, chalk, aquatint, other inks) often is not: "
        "its answer is then one of the ten, usually with status `uncertain`.",
        "- The graphite class is dominated by Turner's sketchbooks, so it partly "
        "learned Turner; graphite by other artists is recognised less well.",
        "- Closely related processes (engraving vs line engraving, etching vs "
        "engraving) are often confused.",
        "",
        "## Reproduce",
        "",
        "```",
        "python benchmarks/train_default_model.py",
        "```",
        "",
    ]
    return "\n".join(lines)


def replace_folder(staging, out):
    """Move ``staging`` to ``out``; an existing model there is replaced whole."""
    if out.exists():
        if not (out / SIDECAR).is_file():
            raise SystemExit(f"{out} exists and is not a saved model; not replacing it")
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old)
    else:
        os.rename(staging, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--cache", default=str(HERE / "out" / "cache"))
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--no-half", dest="half", action="store_false")
    # The recipe is artmedium.recipes' (one definition); flags override it.
    parser.add_argument("--recipe", default=DEFAULT_RECIPE)
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--freeze", default=None)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction)
    parser.add_argument("--optimizer", default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--balance",
        default="recipe",
        help="balanced_sample_weight option, 'none', or 'recipe' (the recipe's own)",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--stability", type=int, default=400, metavar="N", help="0 to skip"
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--calibration-size",
        type=float,
        default=0.2,
        help="share held out of training to calibrate the answers (0: none)",
    )
    parser.add_argument(
        "--honest-answers",
        default=str(HERE / "out" / "honest_answers.json"),
        help="results of benchmarks/honest_answers.py for the card (if present)",
    )
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="no training: refresh the saved model's card from --honest-answers",
    )
    args = parser.parse_args(argv)
    args.calibration_size = args.calibration_size or None
    if args.card_only:
        return refresh_card(args)

    tate = Path(args.tate) if args.tate else DEFAULT_TATE
    bunch = load_tate(data_home=tate, classes="poster")
    X, y, groups = bunch.data, bunch.target, bunch.groups
    if args.max_images is not None and args.max_images < len(y):
        X, y, groups = per_class_sample(X, y, groups, args.max_images, args.seed)
    labels = [c for c in POSTER_CLASSES if c in set(y)]
    params = recipe_from(args)
    print(f"{len(y)} images, {len(labels)} classes; recipe {params}", flush=True)

    if args.balance == "recipe":
        args.balance = recipe_balance(args.recipe)
    elif args.balance == "none":
        args.balance = None
    print(f"sample weights: {args.balance or 'none'}", flush=True)

    metrics = {}
    if not args.skip_eval:
        for split in ("random", "artist"):
            metrics[split] = evaluate(split, params, args, X, y, groups, labels)
            print(json.dumps(metrics[split]), flush=True)
        if args.stability:
            metrics["stability"] = stability(
                {**params, "memory": args.cache, "n_jobs": args.n_jobs},
                args.balance,
                X,
                y,
                groups,
                args.stability,
                seed=args.seed,
            )
            print(json.dumps({"stability": metrics["stability"]}), flush=True)

    clf = make_classifier(params, args)
    weight = None
    if args.balance is not None:
        weight = balanced_sample_weight(y, groups, balance=args.balance)
    start = time.perf_counter()
    clf.fit(X, y, sample_weight=weight)
    training_seconds = time.perf_counter() - start
    n_cal = 0 if clf.calibration_ is None else len(clf.calibration_.labels)
    print(
        f"final model trained on {len(y) - n_cal} images, calibrated on {n_cal}, "
        f"in {training_seconds:.0f} s"
    )
    honest = None
    if clf.calibration_ is not None and Path(args.honest_answers).is_file():
        honest = json.loads(Path(args.honest_answers).read_text())

    names, counts = np.unique(y, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    metadata = {
        "name": MODEL_NAME,
        "classes": [str(c) for c in clf.classes_],
        "training_data": {
            "source": "Tate collection sample, load_tate(classes='poster')",
            "n_images": int(len(y)),
            "n_artists": int(len(set(groups))),
            "class_counts": {str(names[i]): int(counts[i]) for i in order},
        },
        "recipe": params,
        "sample_weight": args.balance,
        "calibration": None
        if clf.calibration_ is None
        else {
            "n_images": n_cal,
            "temperature": round(clf.calibration_.temperature, 4),
            "held_out_evaluation": honest,
        },
        "metrics": metrics,
        "training_seconds": round(training_seconds, 1),
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpu": "GPU" if torch.cuda.is_available() else "no GPU",
            "platform": platform.platform(),
        },
        "artmedium_version": __version__,
        "torch_version": torch.__version__,
        "weights_license": "Apache-2.0 (EfficientNet-Lite0); see the NOTICE file",
        "command": " ".join(
            ["python benchmarks/train_default_model.py", *sys.argv[1:]]
        ),
    }

    write_model(clf, metadata, args)
    return 0


def refresh_card(args):
    """Rewrite the saved model's card and metadata with the current
    ``--honest-answers`` results, without training (``--card-only``)."""
    from artmedium.persistence import load_model, model_info

    out = Path(args.out)
    metadata = model_info(out)["metadata"]
    clf = load_model(out)
    if metadata.get("calibration") is not None and Path(args.honest_answers).is_file():
        results = json.loads(Path(args.honest_answers).read_text())
        metadata["calibration"]["held_out_evaluation"] = results
    write_model(clf, metadata, args)
    return 0


def write_model(clf, metadata, args):
    """Save ``clf`` with ``metadata`` and its card, replacing ``--out`` whole."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{uuid.uuid4().hex[:8]}"
    try:
        # The weights' size goes into the card, so measure it on a first save.
        save_model(clf, staging, half=args.half, metadata=metadata)
        size = (staging / WEIGHTS).stat().st_size
        metadata["weights_megabytes"] = size / 1e6
        save_model(
            clf, staging, half=args.half, metadata=metadata, overwrite=True, onnx=True
        )
        (staging / "MODEL_CARD.md").write_text(model_card(metadata), encoding="utf-8")
        shutil.copyfile(NOTICE, staging / NOTICE.name)
        replace_folder(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"saved {out}: weights {size / 1e6:.2f} MB, folder {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
