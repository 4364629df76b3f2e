"""``artmedium evaluate``: score a saved model on labelled images."""

import json
from pathlib import Path

import click

from artmedium.cli._common import (
    load_model_or_exit,
    require_matplotlib,
    tate_classes_option,
)
from artmedium.cli._data import load_data_or_exit


def _echo_scores(per, *, with_support):
    width = max((len(str(k)) for k in per), default=0)
    for label, scores in per.items():
        support = f"  (n={scores['support']})" if with_support else ""
        click.echo(f"  {label:<{width}}  {scores['accuracy']:.3f}{support}")


@click.command()
@click.argument("model")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write figures and report.json to this folder (needs matplotlib).",
)
@tate_classes_option
@click.option(
    "--max-images",
    type=click.IntRange(min=1),
    default=None,
    help="Evaluate on a stratified sample of this many images.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def evaluate(model, data, out, classes, max_images, seed, as_json):
    """Score a saved model on labelled images.

    MODEL is a saved model folder, or 'default' for the embedded model. DATA is
    a Tate folder or a CSV file with a header row path,label. Prints accuracy,
    balanced accuracy and per-class accuracy (a tagger: exact match, Hamming
    loss and per-tag accuracy); with --out, also writes the figures and
    report.json there.

    \b
    Examples:
      artmedium evaluate default ~/scikit_learn_data/tate --max-images 500
      artmedium evaluate my_model test.csv --out report/
    """
    if out is not None:
        require_matplotlib("evaluate --out")
    try:
        from artmedium.explain import evaluation_report
    except ImportError as exc:
        raise click.ClickException(
            f"the evaluation report is unavailable: {exc}"
        ) from exc

    est = load_model_or_exit(None if model == "default" else model)
    dataset = load_data_or_exit(data, classes=classes, max_images=max_images, seed=seed)
    try:
        report = evaluation_report(est, dataset.data, dataset.target, out_dir=out)
    except ImportError as exc:
        raise click.ClickException(f"{exc}") from exc
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"evaluation failed: {exc}") from exc
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"model: {model}")
    click.echo(f"data: {data} ({dataset.summary['n_images']} images)")
    if "accuracy" in report:
        click.echo(f"accuracy: {report['accuracy']:.4f}")
        click.echo(f"balanced accuracy: {report['balanced_accuracy']:.4f}")
        click.echo("per-class accuracy:")
        _echo_scores(report.get("per_class", {}), with_support=True)
    else:
        click.echo(f"exact match: {report['exact_match']:.4f}")
        click.echo(f"hamming loss: {report['hamming_loss']:.4f}")
        if report.get("medium_accuracy") is not None:
            click.echo(f"medium accuracy: {report['medium_accuracy']:.4f}")
        click.echo("per-tag accuracy:")
        _echo_scores(report.get("per_tag", {}), with_support=False)
    if out is not None:
        click.echo(f"wrote {', '.join(report.get('files', []))} to {out}")
