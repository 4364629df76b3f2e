"""Train the embedded tagger (issue #16): media as tags, for the whole Tate sample.

1. loads every image of the sample with a medium (``load_tate(classes=None)``)
   and learns the open vocabulary from their descriptions
   (``build_vocabulary(n_tags=None, min_count=OPEN_MIN_COUNT, broader=True)``);
2. fits :func:`artmedium.recipes.tagger_recipe` (a label-powerset
   ``MediumTagger`` over a fine-tuned EfficientNet-Lite0, 20 % of the images
   held out to calibrate it) on all of them, seeded;
3. saves it in float16 to ``src/artmedium/pretrained/tags`` with
   ``MODEL_CARD.md`` (figures from ``benchmarks/out/tags_accuracy.json``, the
   cross-validation of ``benchmarks/tags_accuracy.py``, when present) and the
   NOTICE of the EfficientNet-Lite0 weights.

    python benchmarks/train_default_tagger.py
    python benchmarks/train_default_tagger.py --card-only   # refresh the card
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from train_default_model import NOTICE, replace_folder

from artmedium import __version__
from artmedium.datasets import load_tate
from artmedium.persistence import WEIGHTS, load_model, model_info, save_model
from artmedium.recipes import DEFAULT_RECIPE, tagger_recipe
from artmedium.vocabulary import OPEN_MIN_COUNT, aat_term, build_vocabulary

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = REPO / "src" / "artmedium" / "pretrained" / "tags"
DEFAULT_TATE = REPO.parent / "shared" / "data" / "tate"
MODEL_NAME = "artmedium-tate-tags-lite0"


def _pm(summary, key, digits=3):
    if summary is None or summary.get(key) is None:
        return "n/a"
    return f"{summary[key]:.{digits}f} ± {summary[key + '_sd']:.{digits}f}"


def model_card(metadata):
    vocab = metadata["vocabulary"]
    cv = metadata.get("cross_validation") or []
    by = {r.get("protocol"): r for r in cv if "protocol" in r}
    reach = next((r["vocabulary"] for r in cv if "vocabulary" in r), None)
    lines = [
        f"# Model card: {metadata['name']}",
        "",
        "What `artmedium predict` uses by default (`--vocabulary tate`): the medium "
        "of an artwork as a set of tags, composed into a description in the "
        "catalogue's wording, backing off to a broader term when unsure. The "
        "ten-class classifier of the poster stays in `../default` "
        "(`--vocabulary poster`).",
        "",
        "## Model",
        "",
        f"- A label-powerset `MediumTagger`: one `MediumClassifier` (recipe "
        f"`{DEFAULT_RECIPE}`: EfficientNet-Lite0 from ImageNet, last stages "
        f"fine-tuned) over the {metadata['n_combinations']} tag combinations seen "
        "in training; a tag's probability is the total probability of the "
        "combinations that have it.",
        f"- Calibrated on {metadata['calibration_images']} held-out images "
        f"(temperature {metadata['temperature']:.2f}): conformal candidate sets, "
        "status `ok` / `uncertain` / `unknown` (see `artmedium predict --help`).",
        f"- Weights {metadata['weights_megabytes']:.1f} MB (float16); loads "
        "without pickle. Trained with artmedium "
        f"{metadata['artmedium_version']}, torch {metadata['torch_version']}, seed "
        "0, in "
        f"{metadata['training_seconds']:.0f} s on {metadata['machine']['cpu_count']} "
        "CPU cores.",
        "",
        "## Vocabulary",
        "",
        f"{len(vocab['tags'])} tags learned from the descriptions of the "
        f"{metadata['training_data']['n_images']} images (every term of at least "
        f"{OPEN_MIN_COUNT} images, and the broader terms of artmedium's "
        "hierarchy). AAT: the Getty Art & Architecture Thesaurus id, where one was "
        "checked against a public source (`artmedium/data/aat.csv` names it).",
        "",
        "| tag | broader term | images | AAT |",
        "|---|---|---:|---|",
    ]
    broader = dict(map(tuple, vocab["broader"]))
    counts = dict(map(tuple, vocab["counts"]))
    for tag in vocab["tags"]:
        term = aat_term(tag)
        lines.append(
            f"| {tag} | {broader.get(tag, '')} | {counts.get(tag, 0)} | "
            f"{'' if term is None else term.id} |"
        )
    lines += ["", "## Held-out evaluation", ""]
    if not by:
        lines += ["Not measured yet: run `python benchmarks/tags_accuracy.py`."]
    else:
        if reach is not None:
            lines += [
                f"The vocabulary rebuilds the catalogue's description of "
                f"{100 * reach['reach']:.1f} % of the {reach['n_images']} images "
                "exactly (case and spaces aside).",
                "",
            ]
        n = next(iter(by.values()))["n_folds"]
        lines += [
            f"Mean ± sd over {n} folds per protocol (`benchmarks/tags_accuracy.py`; "
            "*random*: stratified folds; *unseen artists*: folds grouped by "
            "artist), every image of the sample with a medium:",
            "",
            "| | random | unseen artists |",
            "|---|---|---|",
        ]
        rows = [
            ("exact match of the tag set, all media", "exact_match"),
            ("description = the catalogue's", "description_accuracy"),
            ("answers backed off to a broader term", "backed_off"),
            ("with back-off: exact description", "with_back_off_exact"),
            ("with back-off: correct broader term", "with_back_off_correct_parent"),
            ("status ok", "status_ok"),
            ("status ok: every claimed tag true", "status_ok_claims_true"),
            ("poster's ten: exact match", "poster_exact_match"),
            ("poster's ten: description accuracy", "poster_description_accuracy"),
            (
                "poster's ten: the ten-class classifier on the same images",
                "poster_classifier_accuracy",
            ),
        ]
        for label, key in rows:
            lines.append(
                f"| {label} | {_pm(by.get('random'), key)} | "
                f"{_pm(by.get('artist'), key)} |"
            )
    lines += [
        "",
        "## Limits",
        "",
        "- Tags the vocabulary lacks (rarer than "
        f"{OPEN_MIN_COUNT} images in the sample) are never predicted; "
        "combinations never seen in training are never predicted either.",
        "- Thumbnails of 256 px: fine printing processes (aquatint vs etching, "
        "engraving vs line engraving) are hard to see; the answer then backs off "
        "to the broader term.",
        "- Trained on Tate's collection, two thirds of it by J. M. W. Turner: new "
        "artists are recognised less well (the *unseen artists* column).",
        "",
        "## Reproduce",
        "",
        "```",
        "python benchmarks/tags_accuracy.py",
        "python benchmarks/train_default_tagger.py",
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model(tagger, metadata, out, half=True):
    out = Path(out)
    staging = out.parent / f".{out.name}.staging"
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    save_model(tagger, staging, half=half, metadata=metadata)
    metadata["weights_megabytes"] = (staging / WEIGHTS).stat().st_size / 1e6
    save_model(tagger, staging, half=half, metadata=metadata, overwrite=True, onnx=True)
    (staging / "MODEL_CARD.md").write_text(model_card(metadata), encoding="utf-8")
    (staging / NOTICE.name).write_bytes(NOTICE.read_bytes())
    replace_folder(staging, out)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"saved {out}: folder {total / 1e6:.2f} MB", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tate", default=os.environ.get("ARTMEDIUM_TATE_DIR"))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--cache", default=str(HERE / "out" / "cache"))
    parser.add_argument(
        "--cv", default=str(HERE / "out" / "tags_accuracy.json"),
        help="results of benchmarks/tags_accuracy.py for the card (if present)",
    )  # fmt: skip
    parser.add_argument("--card-only", action="store_true")
    args = parser.parse_args(argv)
    cv = json.loads(Path(args.cv).read_text()) if Path(args.cv).is_file() else None
    if args.card_only:
        tagger = load_model(args.out)
        metadata = model_info(args.out)["metadata"]
        metadata["cross_validation"] = cv
        write_model(tagger, metadata, args.out)
        return 0
    home = args.tate or str(DEFAULT_TATE)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "medium term\\(s\\) of the loaded")
        tate = load_tate(data_home=home, classes=None)
    X = np.asarray(tate.data, dtype=object)
    y = np.asarray(tate.target, dtype=object)
    vocab = build_vocabulary(y, n_tags=None, min_count=OPEN_MIN_COUNT, broader=True)
    print(f"{len(y)} images, {len(vocab)} tags", flush=True)
    tagger = tagger_recipe(vocab, memory=args.cache, n_jobs=2, random_state=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "term\\(s\\) of the descriptions")
        tagger.fit(X, y)
    seconds = time.perf_counter() - t0
    cal = tagger.estimator_.calibration_
    print(f"trained in {seconds:.0f} s", flush=True)
    metadata = {
        "name": MODEL_NAME,
        "vocabulary": vocab.to_dict(),
        "n_combinations": int(len(tagger.combinations_)),
        "training_data": {
            "source": "Tate collection sample, load_tate(classes=None)",
            "n_images": int(len(y)),
            "n_descriptions": int(len(set(y))),
            "n_artists": int(len(set(tate.groups))),
        },
        "calibration_images": int(len(cal.labels)),
        "temperature": round(cal.temperature, 4),
        "cross_validation": cv,
        "training_seconds": round(seconds, 1),
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
        "artmedium_version": __version__,
        "torch_version": torch.__version__,
        "weights_license": "Apache-2.0 (EfficientNet-Lite0); see the NOTICE file",
        "command": " ".join(
            ["python benchmarks/train_default_tagger.py", *sys.argv[1:]]
        ),
    }
    write_model(tagger, metadata, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
