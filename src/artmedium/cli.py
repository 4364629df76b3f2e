"""The ``artmedium`` command line: thin click commands over the library.

Errors exit with status 1 (:class:`click.ClickException`), usage errors with 2.
``predict`` also exits 1 when any input could not be read (after writing the
results of every file it could read).
"""

import contextlib
import csv
import io
import json
import os
import platform
import signal
import sys
import time
import uuid
from pathlib import Path

import click
import numpy as np

from artmedium._version import __version__

# Every heavy import (torch, torchvision, scikit-learn) happens inside the command
# that needs it, so `artmedium --help` and `--version` answer at once.

_INFERENCE_NAMES = ("IMAGE_EXTENSIONS", "BatchPredictor", "collect_inputs")


def __getattr__(name):
    # collect_inputs and IMAGE_EXTENSIONS lived here before artmedium.inference:
    # importing them from the CLI keeps working.
    if name in _INFERENCE_NAMES:
        import artmedium.inference

        return getattr(artmedium.inference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

_PLOT_EXTRA = 'pip install "artmedium[plot]"'

# Options shared verbatim by several commands (same names, help and defaults).
_quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
_recursive_option = click.option(
    "--recursive", "-r", is_flag=True, help="Search subfolders too."
)
_tate_classes_option = click.option(
    "--classes",
    type=click.Choice(["poster", "all"]),
    default="poster",
    show_default=True,
    help="For a Tate folder: the poster's ten mediums or every medium.",
)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="artmedium")
def main():
    """Recognise the medium of an artwork from its image.

    \b
    Examples:
      artmedium predict scans/
      artmedium predict "scans/**/*.jpg" --format csv --output media.csv
      artmedium train my_labels.csv --out my_model
      artmedium evaluate my_model test_labels.csv
      artmedium info
    """


def environment_info():
    """Versions and compute resources that matter when reporting a problem.

    Returns
    -------
    dict
        Ordered ``name -> value`` pairs, all strings.

    Examples
    --------
    >>> info = environment_info()
    >>> info["artmedium"] == __version__
    True
    >>> sorted(k for k in info if k in ("torch", "scikit-learn"))
    ['scikit-learn', 'torch']
    """
    from importlib.metadata import PackageNotFoundError, version

    import torch

    info = {"artmedium": __version__, "python": platform.python_version()}
    for dist in ("torch", "torchvision", "scikit-learn", "skorch", "Pillow", "numpy"):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = "not installed"
    info["torch threads"] = str(torch.get_num_threads())
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        info["gpu"] = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
    else:
        info["gpu"] = "none visible (running on CPU)"
    info["platform"] = platform.platform()
    return info


def default_model_line():
    """One line describing the embedded default model, or saying it is absent.

    Returns
    -------
    str

    Examples
    --------
    >>> isinstance(default_model_line(), str)
    True
    """
    from artmedium.pretrained import default_model_summary

    try:
        summary = default_model_summary()
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc})"
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


@main.command()
def info():
    """Print versions of artmedium and its stack, threads, GPU and default model.

    \b
    Example:
      artmedium info
    """
    items = environment_info()
    items["default model"] = default_model_line()
    width = max(map(len, items))
    for key, value in items.items():
        click.echo(f"{key:<{width}}  {value}")
    from artmedium.pretrained import default_model_summary

    summary = default_model_summary()
    if summary is not None:
        click.echo(f"{'':<{width}}  classes: {'; '.join(summary['classes'])}")


@main.command("fetch-tate")
@click.option(
    "--data-home",
    type=click.Path(file_okay=False),
    default=None,
    help="Tate folder [default: $ARTMEDIUM_DATA/tate or scikit-learn's data home].",
)
@click.option(
    "--classes",
    type=click.Choice(["poster", "all"]),
    default="poster",
    show_default=True,
    help="The poster's ten mediums, or every medium.",
)
@click.option(
    "--max-images",
    type=click.IntRange(min=1),
    default=None,
    help="Download at most this many thumbnails.",
)
@click.option(
    "--n-jobs",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Concurrent downloads.",
)
@click.option(
    "--url-prefix",
    default=None,
    help="Replace scheme and host of thumbnail URLs (a mirror).",
)
@click.option("--metadata-url", default=None, help="Where to get artwork_data.csv.")
@click.option(
    "--deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds allowed per thumbnail, retries included [default: 120].",
)
@_quiet_option
def fetch_tate_command(
    data_home, classes, max_images, n_jobs, url_prefix, metadata_url, deadline, quiet
):
    """Download Tate's metadata and thumbnails (resumable; exit 1 if any failed).

    Ctrl-C stops within about a second, prints what finished and exits 130; run the
    same command again to resume.

    \b
    Example:
      artmedium fetch-tate --max-images 500 --n-jobs 8
    """
    from artmedium.datasets import TATE_METADATA_URL
    from artmedium.datasets import fetch_tate as fetch
    from artmedium.datasets._fetch import FetchInterrupted

    try:
        result = fetch(
            data_home=data_home,
            classes=None if classes == "all" else classes,
            max_images=max_images,
            n_jobs=n_jobs,
            url_prefix=url_prefix,
            metadata_url=metadata_url or TATE_METADATA_URL,
            deadline=deadline,
            verbose=0 if quiet else 1,
        )
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt as exc:
        if isinstance(exc, FetchInterrupted):
            click.echo(exc.result.summary())
        click.echo("Interrupted; run the same command again to resume.", err=True)
        click.get_current_context().exit(130)
    click.echo(result.summary())
    if not result.ok:
        raise click.ClickException(f"{len(result.failed)} thumbnail(s) failed")


# ------------------------------------------------------------------ models


def _load(model, *, device="cpu"):
    from artmedium.persistence import load_model

    try:
        return load_model("default" if model is None else model, device=device)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    except (OSError, ValueError, TypeError) as exc:
        name = "the embedded default model" if model is None else model
        raise click.ClickException(f"cannot load {name}: {exc}") from exc


# ------------------------------------------------------------------ predict


def _where(output):
    """``--output <path>`` for messages, the path escaped as in table cells."""
    from artmedium._writers import escape_text

    return f"--output {escape_text(str(output))}"


def _open_output(path, *, force):
    """The :class:`AtomicOutput` of ``--output``, or a one-line error naming it."""
    from artmedium._writers import AtomicOutput, NotRegularFileError

    where = _where(path)
    try:
        return AtomicOutput(path, overwrite=force)
    except IsADirectoryError:
        raise click.ClickException(f"{where} is a folder, not a file") from None
    except NotRegularFileError as exc:
        raise click.ClickException(
            f"{where} is {exc.kind}, not a regular file: refusing to replace it"
        ) from None
    except FileExistsError:
        raise click.ClickException(
            f"{where} already exists; pass --force to replace it"
        ) from None
    except OSError as exc:
        raise click.ClickException(
            f"cannot write {where}: {exc.strerror or exc}"
        ) from exc


class _Stopped(BaseException):
    """A termination signal turned into an exception, so that cleanup runs.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception``
    on the way swallows it.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_signals():
    """Raise :class:`_Stopped` on SIGTERM or SIGHUP while the block runs.

    Like Ctrl-C's KeyboardInterrupt, it lets ``finally`` clauses remove a
    half-written file. A signal the parent ignores (``nohup``) stays ignored,
    and outside the main thread nothing changes; the previous handlers come
    back when the block ends.
    """

    def stop(signum, frame):
        raise _Stopped(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None or signal.getsignal(signum) != signal.SIG_DFL:
            continue
        try:
            previous[signum] = signal.signal(signum, stop)
        except ValueError:  # not the main thread
            break
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _writing(output):
    """Turn a failed write into a one-line error naming the output.

    A pipe closed by its reader (``artmedium predict ... | head -1``) ends the
    run quietly with status 141, as a tool killed by SIGPIPE reports, after
    pointing stdout at the null device as Python's documentation recommends,
    so that the flush at exit cannot fail again.
    """
    try:
        yield
    except (OSError, UnicodeEncodeError) as exc:
        if output is None and isinstance(exc, BrokenPipeError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):  # no real descriptor (a test's stdout)
                pass
            sys.exit(141)  # 128 + SIGPIPE
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        where = "to stdout" if output is None else _where(output)
        raise click.ClickException(f"cannot write {where}: {reason}") from exc


def _write_predictions(predictor, inputs, writer, output, *, quiet, **options):
    """Stream the predictions of ``inputs`` through ``writer``.

    Returns the number of error rows and, with ``on_error="fail"``, the error
    that stopped the run (None otherwise).
    """
    from artmedium._writers import escape_text
    from artmedium.io import ImageReadError

    show_progress = (
        not quiet and sys.stderr.isatty() and len(inputs) > options["batch_size"]
    )
    bar = (
        click.progressbar(length=len(inputs), label="predicting", file=sys.stderr)
        if show_progress
        else None
    )
    n_failed = 0
    fail_error = None
    try:
        with _writing(output):
            writer.start()
        batches = predictor.predict_batches(inputs, **options)
        with contextlib.closing(batches):
            try:
                for rows in batches:
                    with _writing(output):
                        writer.write(rows)
                    n_failed += sum(1 for row in rows if row["error"])
                    if bar is not None:
                        bar.update(len(rows))
            except ImageReadError as exc:  # --on-error fail, after the rows before it
                fail_error = (
                    f"cannot read {escape_text(str(exc.source))}: "
                    f"{escape_text(str(exc.reason))}"
                )
            except (ValueError, RuntimeError) as exc:
                raise click.ClickException(
                    f"prediction failed: {escape_text(str(exc))}"
                ) from exc
        with _writing(output):
            writer.finish()
            writer.stream.flush()
    finally:
        if bar is not None:
            bar.render_finish()
    return n_failed, fail_error


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--model",
    "-m",
    default=None,
    metavar="DIR",
    help="A model folder saved by 'artmedium train' or save_model "
    "[default: the embedded model].",
)
@_recursive_option
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="How many most probable media to list per image.",
)
@click.option(
    "--tags/--no-tags",
    default=True,
    show_default=True,
    help="Report the media tags and their probabilities.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "jsonl", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file (complete or not at all) instead of stdout.",
)
@click.option(
    "--force",
    "-f",
    is_flag=True,
    help="Replace an existing --output (a regular file; never a link or device).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Images per forward pass (and per chunk of output).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=min(4, os.cpu_count() or 1),
    show_default=True,
    help="Image decoding threads.",
)
@click.option(
    "--on-error",
    type=click.Choice(["skip", "fail"]),
    default="skip",
    show_default=True,
    help="skip: an unreadable file gets an error row and the rest go on; "
    "fail: stop at the first one.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Refuse images with more pixels [default: Pillow's limit, about 89 M].",
)
@_quiet_option
def predict(
    paths,
    model,
    recursive,
    top_k,
    tags,
    fmt,
    output,
    force,
    batch_size,
    workers,
    on_error,
    max_pixels,
    quiet,
):
    """Predict the medium, its probability and the media tags of images.

    PATHS are image files, folders (their .jpg, .jpeg, .png, .tif, .tiff,
    .webp, .bmp and .gif files; subfolders with --recursive) and glob patterns,
    quoted or not ("scans/**/*.tif"). A file named explicitly is always tried.
    Results stream out in input order, one row per image: path, medium,
    probability, the --top-k most probable media, the tags and an error column
    (empty when the image was read).

    File names are written safely. In table and csv text cells (paths, media,
    tags, errors), control characters and the backslash become escapes
    (\\n, \\t, \\r, \\\\, \\xNN for other ASCII controls and for a
    byte that is not UTF-8, \\uNNNN for other control, line-separator and
    bidirectional characters), so one row is one line and nothing reaches the
    terminal as an escape sequence; a cell starting with =, +, -, @, a tab, a
    carriage return or ' gets a ' in front, so that spreadsheets read it as
    text, not as a formula (drop one leading ' to get the cell back). jsonl
    and json are valid UTF-8 and keep every name exactly: a byte that is not
    UTF-8 is written as a \\udcNN escape, which Python's os.fsencode turns
    back into that byte.

    --output is written under a hidden temporary name and renamed into place
    only when complete: a run that fails or is stopped (Ctrl-C, SIGTERM,
    SIGHUP) leaves no partial file and any existing file as it was.

    Exit status: 0 when every file was read; 1 when any could not be (after
    writing every result) or on an error; 2 for a usage error; 141 when the
    reader of stdout went away (| head -1); 128 + the signal's number when
    Ctrl-C (130), SIGTERM (143) or SIGHUP (129) stops the run while it writes.

    \b
    Examples:
      artmedium predict scans/
      artmedium predict -r scans/ --format csv --output media.csv
      artmedium predict "scans/*.jpg" --format jsonl --top-k 5
      artmedium predict scan.tif --model my_model --no-tags
    """
    from artmedium._writers import escape_text, make_writer
    from artmedium.inference import IMAGE_EXTENSIONS, BatchPredictor, collect_inputs

    inputs = collect_inputs(paths, recursive=recursive)
    if not inputs:
        raise click.ClickException(
            "no image files found in "
            + escape_text(", ".join(paths))
            + " (folders are searched "
            f"for {', '.join(IMAGE_EXTENSIONS)} files"
            + ("" if recursive else "; add --recursive for subfolders")
            + ")"
        )
    est = _load(model)
    try:
        predictor = BatchPredictor(est, top_k=top_k, tags=tags)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    sink = None
    try:
        with _stop_on_signals():
            sink = _open_output(output, force=force) if output is not None else None
            try:
                writer = make_writer(
                    fmt,
                    sys.stdout if sink is None else sink.stream,
                    top_k=predictor.top_k,
                    tag_names=predictor.tag_names,
                )
                n_failed, fail_error = _write_predictions(
                    predictor,
                    inputs,
                    writer,
                    output,
                    quiet=quiet,
                    batch_size=batch_size,
                    workers=workers,
                    on_error=on_error,
                    max_pixels=max_pixels,
                )
                if fail_error is not None:
                    # --on-error fail: an output file is all or nothing.
                    raise click.ClickException(fail_error)
                if sink is not None:
                    with _writing(output):
                        sink.commit()
            finally:
                if sink is not None:
                    sink.abort()  # nothing to do once committed
    except (_Stopped, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
        unwritten = "" if output is None else f"; {_where(output)} was not written"
        click.echo(
            f"Error: stopped by {signal.Signals(signum).name}{unwritten}", err=True
        )
        sys.exit(128 + signum)
    if n_failed:
        click.echo(
            f"error: {n_failed} of {len(inputs)} input(s) could not be read "
            "(see the error column)",
            err=True,
        )
        sys.exit(1)


# ------------------------------------------------------------------ data


def _read_label_csv(path):
    """A CSV of ``path,label`` rows: (paths, labels); paths relative to the CSV."""
    base = Path(path).resolve().parent
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            if "path" not in fields or "label" not in fields:
                raise click.ClickException(
                    f"{path}: a CSV of labelled images needs a header row with the "
                    f"columns path,label; found {reader.fieldnames}"
                )
            reader.fieldnames = fields
            paths, labels = [], []
            for line, row in enumerate(reader, start=2):
                image = (row.get("path") or "").strip()
                label = (row.get("label") or "").strip()
                if not image and not label:
                    continue
                if not image or not label:
                    raise click.ClickException(
                        f"{path}, line {line}: both path and label are needed"
                    )
                paths.append(str(base / image))
                labels.append(label)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    if not paths:
        raise click.ClickException(f"{path} lists no images")
    return np.array(paths, dtype=object), np.array(labels, dtype=object)


def _load_data(data, *, classes, max_images, seed):
    """DATA (a Tate folder or a CSV file) -> (X, y, description)."""
    data = Path(data)
    if data.is_dir():
        from artmedium.datasets import load_tate

        try:
            bunch = load_tate(
                data_home=data, classes=None if classes == "all" else classes
            )
        except (OSError, ValueError) as exc:
            raise click.ClickException(
                f"cannot load Tate data from {data}: {exc}"
            ) from exc
        X, y, kind = bunch.data, bunch.target, "tate"
    else:
        X, y = _read_label_csv(data)
        kind = "csv"
    if max_images is not None and max_images < len(y):
        from sklearn.model_selection import train_test_split

        try:
            X, _, y, _ = train_test_split(
                X, y, train_size=max_images, stratify=y, random_state=seed
            )
        except ValueError:  # too few images for a stratified sample
            X, _, y, _ = train_test_split(
                X, y, train_size=max_images, random_state=seed
            )
    labels, counts = np.unique(y, return_counts=True)
    description = {
        "source": str(data),
        "kind": kind,
        "n_images": int(len(y)),
        "class_counts": {str(c): int(n) for c, n in zip(labels, counts)},
    }
    return X, y, description


# ------------------------------------------------------------------ train


def _parse_freeze(value):
    if value in ("backbone", "none"):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(
            "must be 'backbone', 'none' or the number of trainable last stages"
        ) from None


@main.command()
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to save the trained model to.",
)
@click.option("--force", "-f", is_flag=True, help="Replace a model saved at --out.")
@_tate_classes_option
@click.option(
    "--backbone", default="efficientnet_lite0", show_default=True, help="CNN backbone."
)
@click.option(
    "--weights",
    default="imagenet",
    show_default=True,
    help="Initial backbone weights: imagenet, none, or a weights file.",
)
@click.option(
    "--freeze",
    default="2",
    show_default=True,
    help="What trains: 'backbone' (head only), 'none' (everything) or the number "
    "of last backbone stages trained with the head.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=8, show_default=True)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=3e-4, show_default=True
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--optimizer",
    type=click.Choice(["adam", "adamw", "sgd"]),
    default="adam",
    show_default=True,
)
@click.option(
    "--weight-decay", type=click.FloatRange(min=0), default=1e-4, show_default=True
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
)
@click.option("--augment/--no-augment", default=True, show_default=True)
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
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Cache frozen-stage activations here (faster reruns).",
)
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
    The defaults are the recipe of the embedded model: EfficientNet-Lite0 from
    ImageNet weights, last two stages fine-tuned, Adam, 8 epochs.

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
    freeze = _parse_freeze(freeze)
    X, y, description = _load_data(
        data, classes=classes, max_images=max_images, seed=seed
    )
    if len(description["class_counts"]) < 2:
        raise click.ClickException(
            f"{data} holds fewer than 2 classes: nothing to learn"
        )
    clf = MediumClassifier(
        backbone=backbone,
        weights=None if weights.lower() == "none" else weights,
        freeze=freeze,
        augment=augment,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        weight_decay=weight_decay,
        dropout=dropout,
        class_weight=None if class_weight == "none" else class_weight,
        image_size=image_size,
        memory=None if cache is None else str(cache),
        n_jobs=workers,
        random_state=seed,
        verbose=int(verbose),
    )
    click.echo(
        f"training on {description['n_images']} images of "
        f"{len(description['class_counts'])} classes...",
        err=True,
    )
    start = time.perf_counter()
    try:
        clf.fit(X, y)
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"training failed: {exc}") from exc
    seconds = time.perf_counter() - start
    metadata = {
        "training_data": description,
        "training_seconds": round(seconds, 1),
        "trained_with": f"artmedium {__version__} train",
    }
    try:
        save_model(clf, out, metadata=metadata, half=half, overwrite=force)
    except (OSError, TypeError, ValueError) as exc:
        raise click.ClickException(f"cannot save the model to {out}: {exc}") from exc
    click.echo(
        f"saved {out}: {len(clf.classes_)} classes, {description['n_images']} images, "
        f"{seconds:.0f} s"
    )


# ------------------------------------------------------------------ evaluate


def _require_matplotlib(what):
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise click.ClickException(f"{what} needs matplotlib: {_PLOT_EXTRA}")


@main.command()
@click.argument("model")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write figures and report.json to this folder (needs matplotlib).",
)
@_tate_classes_option
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
        _require_matplotlib("evaluate --out")
    try:
        from artmedium.explain import evaluation_report
    except ImportError as exc:
        raise click.ClickException(
            f"the evaluation report is unavailable: {exc}"
        ) from exc

    est = _load(None if model == "default" else model)
    X, y, description = _load_data(
        data, classes=classes, max_images=max_images, seed=seed
    )
    try:
        report = evaluation_report(est, X, y, out_dir=out)
    except ImportError as exc:
        raise click.ClickException(f"{exc}") from exc
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"evaluation failed: {exc}") from exc
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"model: {model}")
    click.echo(f"data: {data} ({description['n_images']} images)")
    if "accuracy" in report:
        click.echo(f"accuracy: {report['accuracy']:.4f}")
        click.echo(f"balanced accuracy: {report['balanced_accuracy']:.4f}")
        per = report.get("per_class", {})
        click.echo("per-class accuracy:")
        width = max((len(str(k)) for k in per), default=0)
        for label, scores in per.items():
            click.echo(
                f"  {label:<{width}}  {scores['accuracy']:.3f}  (n={scores['support']})"
            )
    else:
        click.echo(f"exact match: {report['exact_match']:.4f}")
        click.echo(f"hamming loss: {report['hamming_loss']:.4f}")
        if report.get("medium_accuracy") is not None:
            click.echo(f"medium accuracy: {report['medium_accuracy']:.4f}")
        per = report.get("per_tag", {})
        click.echo("per-tag accuracy:")
        width = max((len(str(k)) for k in per), default=0)
        for tag, scores in per.items():
            click.echo(f"  {tag:<{width}}  {scores['accuracy']:.3f}")
    if out is not None:
        click.echo(f"wrote {', '.join(report.get('files', []))} to {out}")


# ------------------------------------------------------------------ saliency


def _save_figure(fig, path):
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@main.command()
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
@_recursive_option
def saliency(model, images, out, method, target, recursive):
    """Write a saliency overlay (PNG) per image: where the model looks.

    MODEL is a saved model folder, or 'default' for the embedded model.
    IMAGES are files, folders or glob patterns, as for predict. Each PNG,
    named <image name>_saliency.png, shows the image as the network sees it
    and the map over it. Exit status 1 if any image could not be read.

    \b
    Examples:
      artmedium saliency default scan.jpg --out maps/
      artmedium saliency my_model "scans/*.jpg" --out maps/ --method smoothgrad
    """
    from artmedium.inference import collect_inputs
    from artmedium.io import read_image

    _require_matplotlib("saliency")
    try:
        from artmedium.explain import SaliencyMap, plot_saliency
    except ImportError as exc:
        raise click.ClickException(f"saliency maps are unavailable: {exc}") from exc

    inputs = collect_inputs(images, recursive=recursive)
    if not inputs:
        raise click.ClickException("no image files found in " + ", ".join(images))
    est = _load(None if model == "default" else model)
    try:
        explainer = SaliencyMap(est, method=method, target=target, random_state=0).fit()
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"cannot explain this model: {exc}") from exc
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create --out {out}: {exc}") from exc
    failed, used = 0, set()
    for item in inputs:
        if item.error is not None:
            click.echo(f"error: {item.path}: {item.error}", err=True)
            failed += 1
            continue
        try:
            image = read_image(item.path)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        maps, explained = explainer.explain([image])
        shown = explainer.input_images([image])
        stem = Path(item.path).stem
        name, n = f"{stem}_saliency.png", 1
        while name in used:
            n += 1
            name = f"{stem}-{n}_saliency.png"
        used.add(name)
        fig = plot_saliency(
            shown, maps, titles=[f"{Path(item.path).name}: {explained[0]}"], ncols=1
        )
        try:
            _save_figure(fig, out / name)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out / name}: {exc}") from exc
        click.echo(str(out / name))
    if failed:
        click.echo(f"error: {failed} image(s) could not be read", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
