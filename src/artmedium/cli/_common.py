"""What several commands share: options, loading a model, checking paths."""

import glob
import importlib.util
import os
from pathlib import Path

import click

PLOT_EXTRA = 'pip install "artmedium[plot]"'

# artmedium.model_selection's balance options, written out so that `--help`
# does not import scikit-learn (a test checks the two lists agree).
BALANCE_CHOICES = ("class_and_group", "class", "group", "group_in_class")

# Options shared verbatim by several commands (same names, help and defaults).
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
recursive_option = click.option(
    "--recursive", "-r", is_flag=True, help="Search subfolders too."
)
cache_option = click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Cache frozen-stage activations here (faster reruns and folds).",
)
tate_classes_option = click.option(
    "--classes",
    type=click.Choice(["poster", "all"]),
    default="poster",
    show_default=True,
    help="For a Tate folder: the poster's ten mediums or every medium.",
)


def needs_groups(balance):
    """Whether a ``balance`` option of balanced_sample_weight needs groups."""
    return balance not in (None, "class")


def describe_weights(balance, *, source, n_classes, group_by=None, n_groups=None):
    """The line naming the sample weights of a fit, e.g. ``sample weights:
    class_and_group over 576 artists (the recipe's)``; ``source`` is
    ``"recipe"``, ``"model"`` or ``"--balance"``."""
    if balance is None:
        text = "none, unweighted"
    elif balance == "class":
        text = f"class over {n_classes} classes"
    else:
        what = "artists" if group_by == "artist" else f"values of {shown(group_by)}"
        text = f"{balance} over {n_groups} {what}"
    if source != "--balance":
        source = f"the {source}'s"
    return f"sample weights: {text} ({source})"


def shown(text):
    """A name from the command line as it may be printed: escaped, one line."""
    from artmedium._writers import escape_text

    return escape_text(os.fsdecode(text))


# What load_model calls the embedded models, for messages.
_EMBEDDED = {"default": "the embedded default model", "tags": "the embedded tagger"}


def load_model_or_exit(
    model, *, device="cpu", embedded="default", missing=None, backend="torch",
    threads=None,
):  # fmt: skip
    """The saved model ``model``, or a one-line error.

    ``model`` None loads the embedded model ``embedded`` (``"default"``: the
    ten-class classifier; ``"tags"``: the tagger); ``missing`` is a sentence
    added to the message when that one is not installed. ``backend``
    ``"auto"`` runs the folder's ONNX network when it has one and ONNX
    Runtime is installed (no torch is imported then), else torch; ``threads``
    sets the compute threads of either.
    """
    from artmedium.persistence import load_model, model_info, resolve_backend

    name = embedded if model is None else model
    try:
        if backend == "auto":
            backend = resolve_backend(model_info(name))
        if backend == "onnx":
            return load_model(name, backend="onnx", threads=threads)
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        return load_model(name, device=device)
    except FileNotFoundError as exc:
        message = str(exc)
        if model is None and missing:
            message = f"{message} {missing}"
        raise click.ClickException(message) from exc
    except (OSError, ValueError, TypeError, ImportError) as exc:
        shown_name = _EMBEDDED[embedded] if model is None else model
        raise click.ClickException(f"cannot load {shown_name}: {exc}") from exc


def collect_or_exit(specs, *, recursive):
    """The inputs named by files, folders and patterns; a usage error for a
    name that does not exist or a pattern that matches nothing.

    What was typed names nothing: that is a mistake in the command, found
    before any work starts (exit 2), unlike a file that exists but cannot be
    read (an error row, exit 1).
    """
    from artmedium.inference import collect_inputs

    for spec in specs:
        if not os.path.lexists(spec) and not glob.has_magic(spec):
            raise click.UsageError(f"no such file or folder: {shown(spec)}")
    inputs = collect_inputs(specs, recursive=recursive)
    for item in inputs:
        if item.error is not None:
            raise click.UsageError(f"no file matches the pattern {shown(item.path)}")
    return inputs


def require_matplotlib(what):
    if importlib.util.find_spec("matplotlib") is None:
        raise click.ClickException(f"{what} needs matplotlib: {PLOT_EXTRA}")
