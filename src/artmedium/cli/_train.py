"""``artmedium train``: fit a MediumClassifier on labelled images and save it."""

import time
from pathlib import Path

import click

from artmedium._version import __version__
from artmedium.cli._common import cache_option, tate_classes_option
from artmedium.cli._data import load_data_or_exit
from artmedium.recipes import DEFAULT_RECIPE, RECIPES, recipe

_FROM_RECIPE = "[default: the recipe's]"


def _parse_freeze(value):
    if value in ("backbone", "none"):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(
            "must be 'backbone', 'none' or the number of trainable last stages"
        ) from None


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
    image_size,
    seed,
    max_images,
    cache,
    workers,
    half,
    verbose,
):
    """Train a MediumClassifier on labelled images and save it to --out.

    DATA is a Tate folder (artwork_data.csv and images/, as fetch-tate makes)
    or a CSV file with a header row path,label (paths relative to the CSV).
    The default recipe is the embedded model's: EfficientNet-Lite0 from
    ImageNet weights, last two stages fine-tuned, Adam, 8 epochs; options
    override single settings.

    \b
    Examples:
      artmedium train ~/scikit_learn_data/tate --out tate_model
      artmedium train labels.csv --out my_model --epochs 4 --freeze backbone
      artmedium train labels.csv --out small --backbone simple_cnn --weights none \\
          --freeze none --image-size 64
    """
    from artmedium.estimators import MediumClassifier
    from artmedium.persistence import SIDECAR, save_model

    if out.exists() and not force:
        raise click.ClickException(
            f"--out {out} already exists; pass --force to replace it"
        )
    if out.exists() and not (out / SIDECAR).is_file():
        raise click.ClickException(
            f"--out {out} exists and is not a saved model; refusing to replace it"
        )
    dataset = load_data_or_exit(data, classes=classes, max_images=max_images, seed=seed)
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
        memory=None if cache is None else str(cache),
        n_jobs=workers,
        random_state=seed,
        verbose=int(verbose),
    )
    click.echo(
        f"training on {summary['n_images']} images of "
        f"{len(summary['class_counts'])} classes...",
        err=True,
    )
    start = time.perf_counter()
    try:
        clf.fit(dataset.data, dataset.target)
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"training failed: {exc}") from exc
    seconds = time.perf_counter() - start
    metadata = {
        "training_data": summary,
        "training_seconds": round(seconds, 1),
        "trained_with": f"artmedium {__version__} train",
    }
    try:
        save_model(clf, out, metadata=metadata, half=half, overwrite=force)
    except (OSError, TypeError, ValueError) as exc:
        raise click.ClickException(f"cannot save the model to {out}: {exc}") from exc
    click.echo(
        f"saved {out}: {len(clf.classes_)} classes, {summary['n_images']} images, "
        f"{seconds:.0f} s"
    )
