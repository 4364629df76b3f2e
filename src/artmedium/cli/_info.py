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
    'tate10 (MediumClassifier, efficientnet_lite0), 2 classes, held-out accuracy 0.812'
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
            parts.append(f"{label} {summary[key]:.3f}")
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
    width = max(map(len, items))
    for key, value in items.items():
        click.echo(f"{key:<{width}}  {value}")
    if summary is not None:
        click.echo(f"{'':<{width}}  classes: {'; '.join(summary['classes'])}")
        click.echo(f"{'':<{width}}  {answers_line(summary)}")


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
