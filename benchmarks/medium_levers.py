"""Which levers make the medium generalise to new artists? (issue #14)

Frozen ImageNet backbones (EfficientNet-Lite0/1/2) turn every Tate image of the
poster's ten classes into pooled features once per *view* (the evaluation crop,
its mirror, an augmented copy, and the four re-encodings of the stability
target); linear heads on those features are then cheap enough to cross-validate
every lever on both protocols:

* ``random``: ``StratifiedKFold(5, shuffle=True, random_state=0)``;
* ``artist``: ``StratifiedGroupKFold(5, shuffle=True, random_state=0)`` grouped by
  the CSV's ``artist`` column (no artist on both sides of a fold).

Each row printed (and appended as JSON to ``--out``) is the mean ± sd over the five
folds of accuracy and balanced accuracy, and, for the rows that ask for it, the
share of images whose top class survives JPEG quality 50, WebP quality 75, half
size and a 2 degree rotation (each image predicted by the fold model that did not
train on it).

Features per view are cached under ``benchmarks/out/levers/`` (``.npz``, written
atomically); a second run only fits heads.

Usage::

    python benchmarks/medium_levers.py --quick          # Lite0, 2 folds, 600 images
    python benchmarks/medium_levers.py --backbones efficientnet_lite0 efficientnet_lite2
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _perturb import PERTURBATIONS, augment, perturb
from PIL import ImageOps
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from artmedium.datasets import load_tate
from artmedium.io import read_image
from artmedium.model_selection import balanced_sample_weight
from artmedium.nets import get_backbone

HERE = Path(__file__).resolve().parent
DEFAULT_TATE = HERE.parent.parent / "shared" / "data" / "tate"
OUT = HERE / "out" / "levers"


def view(image, name, rng):
    """The image as seen through view ``name`` (a PIL RGB image)."""
    if name == "center":
        return image
    if name == "flip":
        return ImageOps.mirror(image)
    if name in PERTURBATIONS:
        return perturb(image, name)
    if name == "aug":
        return augment(image, rng)
    raise ValueError(f"unknown view {name!r}")


def pooled(net, batch):
    """Orderless statistics per stage: mean and sd over positions of stages 5-7
    (mid-level texture) and the head's mean (the usual global-average feature)."""
    feats = {}
    h = batch
    for k, stage in enumerate(net.stages):
        h = stage(h)
        if k >= 5:
            f = h.float()
            feats[f"s{k}_mean"] = f.mean(dim=(2, 3))
            feats[f"s{k}_std"] = f.std(dim=(2, 3))
            # GeM (p=3) of the non-negative head activations.
            if k == len(net.stages) - 1:
                feats[f"s{k}_gem"] = (
                    f.clamp(min=1e-6).pow(3).mean(dim=(2, 3)).pow(1 / 3)
                )
    return {k: v.numpy() for k, v in feats.items()}


def extract(backbone, view_name, paths, *, batch_size=32, quick=False):
    tag = "quick-" if quick else ""
    path = OUT / f"{tag}{backbone}-{view_name}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            if len(data["s8_mean"]) == len(paths):
                return dict(data)
    net = get_backbone(backbone, weights="imagenet").eval()
    net = net.to(memory_format=torch.channels_last)
    prep = net.preprocessing
    rng = np.random.default_rng(0)  # only the augmented view draws from it
    out = {}
    t0 = time.perf_counter()
    for start in range(0, len(paths), batch_size):
        images = [
            view(read_image(p), view_name, rng)
            for p in paths[start : start + batch_size]
        ]
        with torch.inference_mode():
            feats = pooled(net, prep.batch(images))
        for k, v in feats.items():
            out.setdefault(k, []).append(v)
    out = {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    print(
        f"  extracted {backbone}/{view_name}: {len(paths)} images in "
        f"{time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
    )
    return out


def features(store, backbones, parts, view_name):
    return np.hstack([store[b, view_name][p] for b in backbones for p in parts]).astype(
        np.float32
    )


def run_row(
    store,
    y,
    groups,
    name,
    *,
    backbones,
    parts,
    weighting,
    C,
    train_views,
    test_views,
    stability,
    n_splits,
    quick,
):
    X = {
        v: features(store, backbones, parts, v)
        for v in set(train_views)
        | set(test_views)
        | (set(PERTURBATIONS) if stability else set())
    }
    results = {}
    for split in ("random", "artist"):
        if split == "random":
            cv = StratifiedKFold(n_splits, shuffle=True, random_state=0)
            folds = cv.split(y, y)
        else:
            cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=0)
            folds = cv.split(y, y, groups)
        acc, bal = [], []
        top = np.empty(len(y), dtype=object)
        flips = {p: np.zeros(len(y), bool) for p in PERTURBATIONS}
        tested = np.zeros(len(y), bool)
        t0 = time.perf_counter()
        for train, test in folds:
            w = (
                None
                if weighting == "none"
                else balanced_sample_weight(y[train], groups[train], balance=weighting)
            )
            Xtr = np.vstack([X[v][train] for v in train_views])
            ytr = np.concatenate([y[train]] * len(train_views))
            wtr = None if w is None else np.concatenate([w] * len(train_views))
            model = make_pipeline(
                StandardScaler(), LogisticRegression(C=C, max_iter=300)
            )
            model.fit(Xtr, ytr, logisticregression__sample_weight=wtr)
            proba = np.mean(
                [model.predict_proba(X[v][test]) for v in test_views], axis=0
            )
            pred = model.classes_[proba.argmax(1)]
            acc.append(accuracy_score(y[test], pred))
            bal.append(balanced_accuracy_score(y[test], pred))
            top[test] = pred
            tested[test] = True
            if stability:
                for p in PERTURBATIONS:
                    # The perturbed image replaces the evaluation crop in the TTA.
                    views = [p if v == "center" else v for v in test_views]
                    pp = np.mean(
                        [model.predict_proba(X[v][test]) for v in views], axis=0
                    )
                    flips[p][test] = model.classes_[pp.argmax(1)] != pred
        res = {
            "accuracy": float(np.mean(acc)),
            "accuracy_sd": float(np.std(acc)),
            "balanced_accuracy": float(np.mean(bal)),
            "balanced_accuracy_sd": float(np.std(bal)),
            "fold_accuracy": [round(a, 4) for a in acc],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if stability:
            res["stable"] = {
                p: float(1 - flips[p][tested].mean()) for p in PERTURBATIONS
            }
        results[split] = res
    row = {
        "row": name,
        "backbones": backbones,
        "parts": parts,
        "weighting": weighting,
        "C": C,
        "train_views": train_views,
        "test_views": test_views,
        "n_images": len(y),
        "quick": quick,
        **results,
    }
    r, a = results["random"], results["artist"]
    line = (
        f"{name:<44} random {r['accuracy']:.3f}±{r['accuracy_sd']:.3f} "
        f"bal {r['balanced_accuracy']:.3f}±{r['balanced_accuracy_sd']:.3f} | "
        f"artist {a['accuracy']:.3f}±{a['accuracy_sd']:.3f} "
        f"bal {a['balanced_accuracy']:.3f}±{a['balanced_accuracy_sd']:.3f} "
        f"| {r['seconds'] + a['seconds']:.0f} s"
    )
    if stability:
        line += " | stable " + " ".join(
            f"{p} {a['stable'][p]:.3f}" for p in PERTURBATIONS
        )
    print(line, flush=True)
    return row


HEAD = ["s8_mean"]
TEXTURE = ["s8_mean", "s6_mean", "s6_std", "s7_mean", "s7_std"]


def rows(backbones):
    """(name, options) of every lever measured; the first backbone is the base."""
    base = backbones[0]
    short = {b: b.replace("efficientnet_", "") for b in backbones}
    yield (
        f"{short[base]} GAP, no weights",
        {"backbones": [base], "parts": HEAD, "weighting": "none"},
    )
    yield (
        f"{short[base]} GAP, class-balanced",
        {"backbones": [base], "parts": HEAD, "weighting": "class"},
    )
    yield (
        f"{short[base]} GAP, artist-balanced",
        {"backbones": [base], "parts": HEAD, "weighting": "group"},
    )
    yield (
        f"{short[base]} GAP, artist-in-class-balanced",
        {"backbones": [base], "parts": HEAD, "weighting": "group_in_class"},
    )
    yield (
        f"{short[base]} GAP, artist×class-balanced",
        {"backbones": [base], "parts": HEAD, "weighting": "class_and_group"},
    )
    yield (
        f"{short[base]} GAP+GeM",
        {
            "backbones": [base],
            "parts": ["s8_mean", "s8_gem"],
            "weighting": "class_and_group",
        },
    )
    yield (
        f"{short[base]} GAP + stage 5-7 mean/sd",
        {
            "backbones": [base],
            "parts": [
                "s8_mean",
                "s5_mean",
                "s5_std",
                "s6_mean",
                "s6_std",
                "s7_mean",
                "s7_std",
            ],
            "weighting": "class_and_group",
        },
    )
    for weighting in ("class_and_group", "none", "class", "group_in_class"):
        yield (
            f"{short[base]} GAP + stage 6-7 mean/sd, {weighting}",
            {"backbones": [base], "parts": TEXTURE, "weighting": weighting},
        )
    for b in backbones[1:]:
        yield (
            f"{short[b]} GAP, class-balanced",
            {"backbones": [b], "parts": HEAD, "weighting": "class"},
        )
        for weighting in ("class", "class_and_group"):
            yield (
                f"{short[b]} GAP + stage 6-7 mean/sd, {weighting}",
                {"backbones": [b], "parts": TEXTURE, "weighting": weighting},
            )
    if len(backbones) > 1:
        yield (
            "+".join(short[b] for b in backbones) + " GAP + stage 6-7, class",
            {"backbones": list(backbones), "parts": TEXTURE, "weighting": "class"},
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_TATE)
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0"])
    parser.add_argument("--C", type=float, nargs="+", default=[0.05])
    parser.add_argument(
        "--augmented",
        action="store_true",
        help="also train on an augmented copy of every image",
    )
    parser.add_argument(
        "--stability",
        action="store_true",
        help="extract the four re-encodings and report stability",
    )
    parser.add_argument("--only", nargs="*", default=None, help="row name prefixes")
    parser.add_argument("--quick", action="store_true", help="600 images, 2 folds")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "levers.jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    tate = load_tate(data_home=args.data, classes="poster")
    paths, y, groups = list(tate.data), np.asarray(tate.target), np.asarray(tate.groups)
    n_splits = 5
    if args.quick:
        keep = np.random.default_rng(0).permutation(len(y))[:600]
        paths, y, groups = [paths[i] for i in keep], y[keep], groups[keep]
        n_splits = 2
    views = ["center", "flip"] + (["aug"] if args.augmented else [])
    views += list(PERTURBATIONS) if args.stability else []
    store = {}
    for b in args.backbones:
        for v in views:
            store[b, v] = extract(b, v, paths, quick=args.quick)
    train_views = ["center", "flip"] + (["aug"] if args.augmented else [])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, opts in rows(args.backbones):
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        for C in args.C:
            row = run_row(
                store,
                y,
                groups,
                f"{name} C={C}" + (" +aug" if args.augmented else ""),
                C=C,
                train_views=train_views,
                test_views=["center", "flip"],
                stability=args.stability,
                n_splits=n_splits,
                quick=args.quick,
                **opts,
            )
            with open(args.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
