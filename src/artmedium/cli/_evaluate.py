"""``artmedium evaluate``: score a saved model on labelled images, or
cross-validate a model's configuration (``--cv``)."""

import json
import os
from pathlib import Path

import click

from artmedium.cli._common import (
    BALANCE_CHOICES,
    cache_option,
    describe_weights,
    load_model_or_exit,
    needs_groups,
    require_matplotlib,
    shown,
    tate_classes_option,
)
from artmedium.cli._data import load_data_or_exit
from artmedium.recipes import RECIPES, recipe, recipe_balance

__all__ = ["BALANCE_CHOICES", "evaluate"]

CV_REPORT = "cv_report.json"


def _echo_scores(per, *, with_support):
    width = max((len(str(k)) for k in per), default=0)
    for label, scores in per.items():
        support = f"  (n={scores['support']})" if with_support else ""
        click.echo(f"  {label:<{width}}  {scores['accuracy']:.3f}{support}")


def _echo_calibration(cal):
    click.echo(f"expected calibration error: {cal['ece']:.4f}")
    click.echo(
        f"answers accepted at 95 % accuracy: {100 * cal['share_at_95_accuracy']:.1f} %"
        " (most confident first; the curve is in the report)"
    )
    if not cal["calibrated"]:
        return
    status = ", ".join(f"{k} {100 * v:.1f} %" for k, v in cal["status"].items())
    click.echo(
        f"90 % candidate sets: coverage {100 * cal['coverage']:.1f} %, "
        f"mean size {cal['mean_set_size']:.2f}"
    )
    ok = cal["accuracy_of_ok"]
    click.echo(
        f"status: {status}"
        + ("" if ok is None else f"; accuracy of ok {100 * ok:.1f} %")
    )


@click.command()
@click.argument("model")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write figures and report.json to this folder (needs matplotlib); "
    f"with --cv, {CV_REPORT} only.",
)
@tate_classes_option
@click.option(
    "--max-images",
    type=click.IntRange(min=1),
    default=None,
    help="Evaluate on a stratified sample of this many images.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the sample and of the --cv folds.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--cv",
    type=click.IntRange(min=2),
    default=None,
    help="Cross-validate MODEL's configuration with this many stratified folds, "
    "each refitting it, instead of scoring MODEL as fitted.",
)
@click.option(
    "--group-by",
    metavar="COLUMN",
    default=None,
    help="With --cv: keep each value of this column on one side of every fold "
    "(a Tate folder: artist; a CSV: a column besides path and label).",
)
@click.option(
    "--balance",
    type=click.Choice(["none", *BALANCE_CHOICES]),
    default=None,
    help="With --cv: weight each fold's training images so that classes and/or "
    "groups weigh the same (see balanced_sample_weight); none: unweighted. All "
    "but 'class' need groups: --group-by, or a Tate folder's artists "
    "[default: MODEL's: a recipe's, or the weighting a saved model records].",
)
@cache_option
def evaluate(
    model,
    data,
    out,
    classes,
    max_images,
    seed,
    as_json,
    cv,
    group_by,
    balance,
    cache,
):
    """Score a saved model on labelled images, or cross-validate its recipe.

    MODEL is a saved model folder, or 'default' for the embedded model. DATA is
    a Tate folder or a CSV file with a header row path,label. Prints accuracy,
    balanced accuracy, per-class accuracy, the expected calibration error and
    the share of answers that can be accepted at 95 % accuracy; for a
    calibrated model also the coverage and size of its 90 % candidate sets and
    the share of each status (a tagger: exact match, Hamming loss and per-tag
    accuracy). With --out, also writes the figures (confusion matrix,
    per-class accuracy, reliability diagram, top losses) and report.json
    there, with the risk-coverage curve.

    With --cv N, MODEL is not scored as fitted: its configuration is refitted
    on each of N stratified folds and scored on the rest, and the report gives
    mean ± sd over folds (population sd) of accuracy, balanced accuracy, the
    majority baseline and per-class recall. MODEL may then also be a recipe
    name (a folder of that name wins). --group-by keeps each artist (or any
    CSV column's value) on one side of every fold: the score of artists the
    model never saw. --cache keeps frozen-backbone features, so folds after
    the first are cheap.

    Each fold is weighted as MODEL was trained (a recipe's weighting, or the
    one a saved model records), unless --balance says otherwise. Weights by
    artist without --group-by take a Tate folder's artists for the weights
    only (the folds stay stratified, not grouped); a CSV then needs
    --group-by, and without it the folds are fitted unweighted, with a note.

    \b
    Examples:
      artmedium evaluate default ~/scikit_learn_data/tate --max-images 500
      artmedium evaluate my_model test.csv --out report/
      artmedium evaluate lite0-frozen ~/scikit_learn_data/tate --cv 5 --group-by artist
      artmedium evaluate my_model labels.csv --cv 5 --group-by artist --balance none
    """
    if cv is not None:
        _cross_validate(
            model,
            data,
            cv=cv,
            group_by=group_by,
            balance=balance,
            cache=cache,
            classes=classes,
            max_images=max_images,
            seed=seed,
            out=out,
            as_json=as_json,
        )
        return
    for name, value in (
        ("--group-by", group_by),
        ("--balance", balance),
        ("--cache", cache),
    ):
        if value is not None:
            raise click.UsageError(f"{name} is an option of --cv; add --cv N")
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
        _echo_calibration(report["calibration"])
    else:
        click.echo(f"exact match: {report['exact_match']:.4f}")
        click.echo(f"hamming loss: {report['hamming_loss']:.4f}")
        if report.get("medium_accuracy") is not None:
            click.echo(f"medium accuracy: {report['medium_accuracy']:.4f}")
        click.echo("per-tag accuracy:")
        _echo_scores(report.get("per_tag", {}), with_support=False)
    if out is not None:
        click.echo(f"wrote {', '.join(report.get('files', []))} to {out}")


def _estimator_to_cross_validate(model, *, cache, seed):
    """An unfitted estimator with MODEL's configuration: the embedded model's,
    a saved model folder's, or a recipe's (seeded with ``seed``); with the
    sample weighting MODEL was trained with and where that was read
    (``"model"`` or ``"recipe"``)."""
    from sklearn.base import clone
    from sklearn.utils import get_tags

    if model == "default" or os.path.isdir(model):
        estimator = clone(load_model_or_exit(None if model == "default" else model))
        balance, source = _saved_balance(model), "model"
    elif model in RECIPES:
        from artmedium.estimators import MediumClassifier

        estimator = MediumClassifier(**recipe(model), random_state=seed)
        balance, source = recipe_balance(model), "recipe"
    else:
        raise click.BadParameter(
            f"{shown(model)} is neither a saved model folder nor a recipe; with "
            "--cv, MODEL is a folder, 'default' or one of the recipes: "
            + ", ".join(sorted(RECIPES)),
            param_hint="MODEL",
        )
    if not get_tags(estimator).target_tags.single_output:
        raise click.ClickException(
            f"--cv cross-validates classifiers, and {shown(model)} is a "
            f"{type(estimator).__name__}: evaluate it without --cv"
        )
    if cache is not None:
        estimator.set_params(memory=str(cache))
    return estimator, balance, source


def _saved_balance(model):
    """The ``sample_weight`` a saved model's metadata records (``artmedium
    train`` writes it), or None; checked where it is used."""
    from artmedium.persistence import model_info

    try:
        info = model_info(model)
    except (OSError, ValueError) as exc:  # loaded a moment ago: unlikely
        raise click.ClickException(f"cannot read {shown(model)}: {exc}") from exc
    return (info.get("metadata") or {}).get("sample_weight")


def _cross_validate(
    model,
    data,
    *,
    cv,
    group_by,
    balance,
    cache,
    classes,
    max_images,
    seed,
    out,
    as_json,
):
    from artmedium._writers import AtomicOutput
    from artmedium.model_selection import cross_validate_report, format_cv_report

    tate = data.is_dir()
    if balance != "none" and needs_groups(balance) and group_by is None and not tate:
        raise click.UsageError(f"--balance {balance} needs --group-by")
    estimator, default, source = _estimator_to_cross_validate(
        model, cache=cache, seed=seed
    )
    if balance is None:
        if default is not None and default not in BALANCE_CHOICES:
            raise click.ClickException(
                f"{shown(model)} records sample_weight={shown(repr(default)[:60])}, "
                "which is not a balance option; pass --balance"
            )
        balance = default
    else:
        balance, source = (None if balance == "none" else balance), "--balance"
    # Weights by artist without --group-by: a Tate folder's artists weigh the
    # images and the folds stay as asked, stratified, not grouped; a CSV's
    # images are then fitted unweighted (an explicit --balance was refused above).
    weights_only = needs_groups(balance) and group_by is None and tate
    not_applied = None
    if needs_groups(balance) and group_by is None and not tate:
        not_applied, balance = balance, None
        click.echo(
            f"note: the {source}'s weighting, balance={not_applied}, needs groups "
            "(the artists) and --group-by is not given: the folds are fitted "
            "unweighted. Pass --group-by COLUMN to weigh them as MODEL was "
            "trained, or --balance class or --balance none.",
            err=True,
        )
    if out is not None:  # a folder that cannot be made fails before the folds
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"cannot create {shown(out)}: {exc}") from exc
    dataset = load_data_or_exit(
        data,
        classes=classes,
        max_images=max_images,
        seed=seed,
        group_by="artist" if weights_only else group_by,
    )
    summary = dataset.summary
    weights = describe_weights(
        balance,
        source=source,
        n_classes=len(summary["class_counts"]),
        group_by=summary.get("group_by"),
        n_groups=summary.get("n_groups"),
    )
    if weights_only:
        weights += "; the folds are not grouped: add --group-by artist to group them"
    if not_applied is not None:
        weights = (
            f"sample weights: none, unweighted (the {source}'s {not_applied} needs "
            "--group-by)"
        )
    click.echo(
        f"cross-validating {shown(model)} on {summary['n_images']} images of "
        f"{len(summary['class_counts'])} classes, {cv} folds...",
        err=True,
    )
    try:
        report = cross_validate_report(
            estimator,
            dataset.data,
            dataset.target,
            groups=dataset.get("groups"),
            cv=cv,
            balance=balance,
            # The artists then only weigh the images: the folds stay stratified.
            group_folds=not weights_only,
            random_state=seed,
            verbose=1,
        )
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"cross-validation failed: {exc}") from exc
    report = {
        "model": str(model),
        "data": summary,
        **report,
        # Where "balance" came from, and what it weighs.
        "sample_weight": {
            "balance": balance,
            "from": source,
            "group_by": summary.get("group_by") if needs_groups(balance) else None,
            "folds_grouped": group_by is not None,
            "not_applied": not_applied,
        },
    }
    text = json.dumps(report, indent=2, allow_nan=False)
    if out is not None:
        try:
            with AtomicOutput(out / CV_REPORT, overwrite=True) as target:
                target.stream.write(text + "\n")
                target.commit()
        except OSError as exc:
            raise click.ClickException(
                f"cannot write {out / CV_REPORT}: {exc}"
            ) from exc
    if as_json:
        click.echo(text)
    else:
        click.echo(f"model: {shown(model)}")
        click.echo(f"data: {shown(data)} ({summary['n_images']} images)")
        click.echo(weights)
        click.echo(format_cv_report(report))
    if out is not None:
        click.echo(f"wrote {CV_REPORT} to {shown(out)}", err=as_json)
