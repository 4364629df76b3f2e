"""``artmedium saliency``: a saliency overlay PNG per image."""

import sys
from pathlib import Path

import click

from artmedium.cli._common import (
    collect_or_exit,
    load_model_or_exit,
    recursive_option,
    require_matplotlib,
    shown,
)


@click.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the PNG overlays (created if needed; files are replaced).",
)
@click.option(
    "--method",
    type=click.Choice(["gradient", "smoothgrad", "gradcam", "integrated_gradients"]),
    default="gradient",
    show_default=True,
    help="Saliency method.",
)
@click.option(
    "--target",
    default="predicted",
    show_default=True,
    help="Explain the predicted class, or this class label / tag name.",
)
@recursive_option
def saliency(model, images, out, method, target, recursive):
    """Write a saliency overlay (PNG) per image: where the model looks.

    MODEL is a saved model folder, or 'default' for the embedded model.
    IMAGES are files, folders or glob patterns, as for predict. Each PNG,
    named <image name>_saliency.png, shows the image as the network sees it
    and the map over it. Exit status 1 if any image could not be read, 2 if a
    file or folder named does not exist or a pattern matches nothing.

    \b
    Examples:
      artmedium saliency default scan.jpg --out maps/
      artmedium saliency my_model "scans/*.jpg" --out maps/ --method smoothgrad
    """
    require_matplotlib("saliency")
    try:
        from artmedium.explain import SaliencyMap, save_saliency_overlays
    except ImportError as exc:
        raise click.ClickException(f"saliency maps are unavailable: {exc}") from exc

    inputs = collect_or_exit(images, recursive=recursive)
    if not inputs:
        raise click.ClickException(
            "no image files found in " + ", ".join(map(shown, images))
        )
    est = load_model_or_exit(None if model == "default" else model)
    try:
        explainer = SaliencyMap(est, method=method, target=target, random_state=0).fit()
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"cannot explain this model: {exc}") from exc
    failed = 0
    saved = save_saliency_overlays(explainer, [item.path for item in inputs], out)
    try:
        for result in saved:
            if result.error is not None:
                click.echo(f"error: {shown(result.error)}", err=True)
                failed += 1
            else:
                click.echo(shown(str(result.path)))
    except OSError as exc:
        raise click.ClickException(f"cannot write to --out {out}: {exc}") from exc
    if failed:
        click.echo(f"error: {failed} image(s) could not be read", err=True)
        sys.exit(1)
