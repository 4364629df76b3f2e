"""``artmedium info``: versions, compute resources and the default model."""

import platform

import click

from artmedium._show_versions import versions


def environment_info():
    """Versions and compute resources that matter when reporting a problem.

    Returns
    -------
    dict
        Ordered ``name -> value`` pairs, all strings.

    Examples
    --------
    >>> from artmedium import __version__
    >>> info = environment_info()
    >>> info["artmedium"] == __version__
    True
    >>> sorted(k for k in info if k in ("torch", "scikit-learn"))
    ['scikit-learn', 'torch']
    """
    import torch

    info = versions(missing="not installed")
    info["torch threads"] = str(torch.get_num_threads())
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        info["gpu"] = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
    else:
        info["gpu"] = "none visible (running on CPU)"
    info["platform"] = platform.platform()
    return info


def default_model_line(summary):
    """One line describing the embedded default model from its summary.

    Parameters
    ----------
    summary : dict or None
        :func:`artmedium.persistence.default_model_summary`; None when no model
        is installed.

    Returns
    -------
    str

    Examples
    --------
    >>> default_model_line(None)
    'not installed'
    >>> default_model_line({"name": "tate10", "estimator": "MediumClassifier",
    ...     "backbone": "efficientnet_lite0", "classes": ["a", "b"],
    ...     "accuracy": 0.81234, "balanced_accuracy": None, "artist_accuracy": None})
    'tate10 (MediumClassifier, efficientnet_lite0), 2 classes, held-out accuracy 81.2 %'
    """
    if summary is None:
        return "not installed"
    parts = [
        f"{summary['name']} ({summary['estimator']}, {summary['backbone']})",
        f"{len(summary['classes'])} classes",
    ]
    for key, label in (
        ("accuracy", "held-out accuracy"),
        ("balanced_accuracy", "balanced accuracy"),
        ("artist_accuracy", "unseen-artist accuracy"),
    ):
        if summary[key] is not None:
            # as the model card writes it (benchmarks/train_default_model.py)
            parts.append(f"{label} {100 * summary[key]:.1f} %")
    return ", ".join(parts)


@click.command()
def info():
    """Print versions of artmedium and its stack, threads, GPU and default model.

    \b
    Example:
      artmedium info
    """
    from artmedium.persistence import default_model_summary

    items = environment_info()
    try:
        summary = default_model_summary()
    except (OSError, ValueError) as exc:  # a damaged install: say so, go on
        summary, items["default model"] = None, f"unreadable ({exc})"
    else:
        items["default model"] = default_model_line(summary)
    try:
        tagger = tagger_summary()
    except (OSError, ValueError) as exc:
        tagger, items["default tagger"] = None, f"unreadable ({exc})"
    else:
        items["default tagger"] = tagger_line(tagger)
    width = max(map(len, items))
    for key, value in items.items():
        click.echo(f"{key:<{width}}  {value}")
        if key == "default model" and summary is not None:
            click.echo(f"{'':<{width}}  classes: {'; '.join(summary['classes'])}")
            click.echo(f"{'':<{width}}  {answers_line(summary)}")
            click.echo(f"{'':<{width}}  {backend_line('default')}")
            click.echo(f"{'':<{width}}  used by: artmedium predict --vocabulary poster")
        if key == "default tagger" and tagger is not None:
            click.echo(f"{'':<{width}}  tags: {'; '.join(tagger['tag_names'])}")
            click.echo(
                f"{'':<{width}}  answers: backs off to a broader tag when unsure; "
                "status ok, uncertain or unknown"
            )
            click.echo(f"{'':<{width}}  {backend_line('tags')}")
            click.echo(f"{'':<{width}}  used by: artmedium predict (the default)")


def backend_line(name):
    """What runs an embedded model's network in ``artmedium predict``."""
    from artmedium.onnx import onnxruntime_available
    from artmedium.persistence import model_info

    if model_info(name).get("onnx") is None:
        return "runs in: torch (no ONNX network)"
    if not onnxruntime_available():
        return "runs in: torch (onnxruntime is not installed)"
    return "runs in: ONNX Runtime (model.onnx; --backend torch for torch)"


def tagger_summary():
    """Name, tags and held-out exact match of the embedded tagger, or None.

    Read from its sidecar without loading its weights.

    Returns
    -------
    dict or None
        ``name``, ``tag_names``, ``n_combinations``, ``exact_match`` and
        ``artist_exact_match`` (mean over the folds of its cross-validation,
        None where not recorded); None when no tagger is installed.
    """
    from artmedium.persistence import (
        default_tagger_dir,
        is_default_tagger_installed,
        model_info,
    )

    if not is_default_tagger_installed():
        return None
    info = model_info(default_tagger_dir())
    meta = info.get("metadata") or {}
    by = {
        r.get("protocol"): r
        for r in meta.get("cross_validation") or []
        if isinstance(r, dict)
    }
    return {
        "name": meta.get("name", "tags"),
        "tag_names": info.get("tag_names") or [],
        "n_combinations": meta.get("n_combinations"),
        "exact_match": (by.get("random") or {}).get("exact_match"),
        "artist_exact_match": (by.get("artist") or {}).get("exact_match"),
    }


def tagger_line(summary):
    """One line describing the embedded tagger from :func:`tagger_summary`.

    Examples
    --------
    >>> tagger_line(None)
    'not installed'
    >>> tagger_line({"name": "t", "tag_names": ["a", "b"], "n_combinations": 3,
    ...              "exact_match": 0.6, "artist_exact_match": None})
    't, 2 tags in 3 combinations, exact match .600 (random folds)'
    """
    if summary is None:
        return "not installed"
    parts = [f"{summary['name']}, {len(summary['tag_names'])} tags"]
    if summary.get("n_combinations"):
        parts[0] += f" in {summary['n_combinations']} combinations"
    for key, label in (("exact_match", "exact match {} (random folds)"),
                       ("artist_exact_match", "{} (new artists)")):  # fmt: skip
        if summary.get(key) is not None:
            parts.append(label.format(f"{summary[key]:.3f}".removeprefix("0")))
    return ", ".join(parts)


def answers_line(summary):
    """What the default model's answers say about trust, in one line.

    Examples
    --------
    >>> answers_line({"calibration_images": None})
    'answers: not calibrated (no status; any image gets one of the classes)'
    >>> print(answers_line({"calibration_images": 796}))  # doctest: +ELLIPSIS
    answers: calibrated on 796 held-out images; status ok, uncertain or unknown ...
    """
    n = summary.get("calibration_images")
    if not n:
        return "answers: not calibrated (no status; any image gets one of the classes)"
    return (
        f"answers: calibrated on {n} held-out images; status ok, uncertain or "
        "unknown (unknown: not one of these media, or not an artwork)"
    )
