"""``artmedium train``: fit a MediumClassifier on labelled images and save it."""

import time
from pathlib import Path

import click

from artmedium._version import __version__
from artmedium.cli._common import (
    BALANCE_CHOICES,
    cache_option,
    describe_weights,
    needs_groups,
    shown,
    tate_classes_option,
)
from artmedium.cli._data import load_data_or_exit
from artmedium.recipes import (
    BALANCE,
    DEFAULT_RECIPE,
    RECIPES,
    recipe,
    recipe_balance,
)

_FROM_RECIPE = "[default: the recipe's]"
_RECIPE_BALANCE = "; ".join(f"{name}: {how}" for name, how in sorted(BALANCE.items()))


def _parse_freeze(value):
    if value in ("backbone", "none"):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(
            "must be 'backbone', 'none' or the number of trainable last stages"
        ) from None


def _weighting(balance, recipe_name, group_by, data):
    """The balance option a fit uses, where it comes from, and the column of
    its groups (a Tate folder's artists unless told); a usage error when a CSV
    needs --group-by."""
    if balance is None:
        balance, source = recipe_balance(recipe_name), "recipe"
    else:
        balance, source = (None if balance == "none" else balance), "--balance"
    if needs_groups(balance) and group_by is None:
        if not data.is_dir():
            asked = (
                f"--balance {balance}"
                if source == "--balance"
                else f"recipe {recipe_name} weighs its images with balance={balance}, "
                "which"
            )
            raise click.UsageError(
                f"{asked} needs groups (the artists): pass "
                f"--group-by COLUMN to take them from a column of {shown(data)}, or "
                "--balance class (classes only) or --balance none (unweighted)"
            )
        group_by = "artist"  # a Tate folder's groups
    return balance, source, group_by


@click.command()
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to save the trained model to.",
)
@click.option("--force", "-f", is_flag=True, help="Replace a model saved at --out.")
@tate_classes_option
@click.option(
    "--recipe",
    "recipe_name",
    type=click.Choice(sorted(RECIPES)),
    default=DEFAULT_RECIPE,
    show_default=True,
    help="Named training recipe (artmedium.recipes); the options below override "
    "its settings. The default is the embedded model's recipe.",
)
@click.option("--backbone", default=None, help="CNN backbone [default: the recipe's].")
@click.option(
    "--weights",
    default=None,
    help="Initial backbone weights: auto, imagenet, none, or a weights file "
    "[default: the recipe's].",
)
@click.option(
    "--freeze",
    default=None,
    help="What trains: 'backbone' (head only), 'none' (everything) or the number "
    "of last backbone stages trained with the head [default: the recipe's].",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help=_FROM_RECIPE)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=None, help=_FROM_RECIPE
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help=_FROM_RECIPE
)
@click.option(
    "--optimizer",
    type=click.Choice(["adam", "adamw", "sgd"]),
    default=None,
    help=_FROM_RECIPE,
)
@click.option(
    "--weight-decay", type=click.FloatRange(min=0), default=None, help=_FROM_RECIPE
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help=_FROM_RECIPE,
)
@click.option("--augment/--no-augment", default=None, help=_FROM_RECIPE)
@click.option(
    "--class-weight",
    type=click.Choice(["none", "balanced"]),
    default="none",
    show_default=True,
    help="balanced: weight the loss by inverse class frequency.",
)
@click.option(
    "--balance",
    type=click.Choice(["none", *BALANCE_CHOICES]),
    default=None,
    help="Sample weights that give classes and/or groups (artists) the same "
    "total weight (see balanced_sample_weight); none: unweighted. All but "
    "'class' need groups: a Tate folder's artists, or a CSV's --group-by column "
    "[default: the recipe's (artmedium.recipes.BALANCE"
    + (f": {_RECIPE_BALANCE}; the others: none" if _RECIPE_BALANCE else ": none")
    + ")].",
)
@click.option(
    "--group-by",
    metavar="COLUMN",
    default=None,
    help="The groups of --balance: for a CSV, a column besides path and label "
    "(e.g. artist); a Tate folder uses its artists without it.",
)
@click.option(
    "--image-size",
    type=click.IntRange(min=8),
    default=None,
    help="Network input size [default: the backbone's, 224].",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--max-images",
    type=click.IntRange(min=2),
    default=None,
    help="Train on a stratified sample of this many images.",
)
@cache_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Image decoding threads.",
)
@click.option(
    "--calibration-size",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of the images held out of training (stratified) to calibrate the "
    "answers: the model's probabilities are then calibrated and predict gives "
    "each image a status and candidates. 0: train on all, no calibration.",
)
@click.option("--half", is_flag=True, help="Store the weights as float16 (half size).")
@click.option("--verbose", "-v", is_flag=True, help="Print a line per epoch.")
def train(
    data,
    out,
    force,
    classes,
    recipe_name,
    backbone,
    weights,
    freeze,
    epochs,
    lr,
    batch_size,
    optimizer,
    weight_decay,
    dropout,
    augment,
    class_weight,
    balance,
    group_by,
    image_size,
    seed,
    max_images,
    cache,
    workers,
    calibration_size,
    half,
    verbose,
):
    """Train a MediumClassifier on labelled images and save it to --out.

    DATA is a Tate folder (artwork_data.csv and images/, as fetch-tate makes)
    or a CSV file with a header row path,label (paths relative to the CSV).
    The default recipe is the embedded model's: EfficientNet-Lite0 from
    ImageNet weights, last two stages fine-tuned, Adam, 8 epochs; options
    override single settings.

    By default 20 % of the images (stratified) are held out of training to
    calibrate the answers (--calibration-size): the saved model's
    probabilities are calibrated and 'artmedium predict' gives each image a
    status (ok, uncertain, unknown) and its candidate media.

    The images are weighted as the recipe weighs them
    (artmedium.recipes.BALANCE; no recipe weighs artists yet), or as --balance
    says. Weights by artist need the artists: a Tate folder has
    them; for a CSV, name its column with --group-by. The saved model records
    the weighting in its metadata (sample_weight), where evaluate --cv finds it.

    \b
    Examples:
      artmedium train ~/scikit_learn_data/tate --out tate_model
      artmedium train ~/scikit_learn_data/tate --out texture --recipe lite0-texture
      artmedium train labels.csv --out w --balance group_in_class --group-by artist
      artmedium train labels.csv --out my_model --epochs 4 --freeze backbone
      artmedium train labels.csv --out small --backbone simple_cnn --weights none \\
          --freeze none --image-size 64
    """
    from artmedium.estimators import MediumClassifier
    from artmedium.persistence import SIDECAR, save_model

    balance, weights_from, group_by = _weighting(balance, recipe_name, group_by, data)
    if out.exists() and not force:
        raise click.ClickException(
            f"--out {out} already exists; pass --force to replace it"
        )
    if out.exists() and not (out / SIDECAR).is_file():
        raise click.ClickException(
            f"--out {out} exists and is not a saved model; refusing to replace it"
        )
    dataset = load_data_or_exit(
        data, classes=classes, max_images=max_images, seed=seed, group_by=group_by
    )
    summary = dataset.summary
    if len(summary["class_counts"]) < 2:
        raise click.ClickException(
            f"{data} holds fewer than 2 classes: nothing to learn"
        )
    chosen = {
        "backbone": backbone,
        "weights": weights,
        "freeze": None if freeze is None else _parse_freeze(freeze),
        "augment": augment,
        "lr": lr,
        "max_epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "weight_decay": weight_decay,
        "dropout": dropout,
    }
    params = recipe(recipe_name, **{k: v for k, v in chosen.items() if v is not None})
    if isinstance(params["weights"], str) and params["weights"].lower() == "none":
        params["weights"] = None
    clf = MediumClassifier(
        **params,
        class_weight=None if class_weight == "none" else class_weight,
        image_size=image_size,
        calibration_size=calibration_size or None,
        memory=None if cache is None else str(cache),
        n_jobs=workers,
        random_state=seed,
        verbose=int(verbose),
    )
    sample_weight = None
    if balance is not None:
        from artmedium.model_selection import balanced_sample_weight

        sample_weight = balanced_sample_weight(
            dataset.target, dataset.get("groups"), balance=balance
        )
    click.echo(
        describe_weights(
            balance,
            source=weights_from,
            n_classes=len(summary["class_counts"]),
            group_by=summary.get("group_by"),
            n_groups=summary.get("n_groups"),
        ),
        err=True,
    )
    click.echo(
        f"training on {summary['n_images']} images of "
        f"{len(summary['class_counts'])} classes...",
        err=True,
    )
    start = time.perf_counter()
    try:
        clf.fit(dataset.data, dataset.target, sample_weight=sample_weight)
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"training failed: {exc}") from exc
    seconds = time.perf_counter() - start
    metadata = {
        "training_data": summary,
        "training_seconds": round(seconds, 1),
        # How the images were weighed: a balanced_sample_weight option or None.
        "sample_weight": balance,
        "trained_with": f"artmedium {__version__} train",
    }
    try:
        save_model(clf, out, metadata=metadata, half=half, overwrite=force, onnx=True)
    except (OSError, TypeError, ValueError) as exc:
        raise click.ClickException(f"cannot save the model to {out}: {exc}") from exc
    held_out = (
        ""
        if clf.calibration_ is None
        else (f" ({len(clf.calibration_.labels)} held out to calibrate its answers)")
    )
    click.echo(
        f"saved {out}: {len(clf.classes_)} classes, {summary['n_images']} images"
        f"{held_out}, {seconds:.0f} s"
    )
