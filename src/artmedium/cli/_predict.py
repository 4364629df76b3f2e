"""``artmedium predict``: the medium of image files, streamed as rows."""

import collections
import contextlib
import os
import shutil
import signal
import sys
from pathlib import Path

import click

from artmedium._cpus import usable_cpus
from artmedium._writers import FORMATS
from artmedium.cli._common import (
    collect_or_exit,
    load_model_or_exit,
    quiet_option,
    recursive_option,
    shown,
)


def _where(output):
    """``--output <path>`` for messages, the path escaped as in table cells."""
    return f"--output {shown(str(output))}"


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


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _write_predictions(batches, n_inputs, writer, output, *, quiet, batch_size):
    """Stream the lists of rows of ``batches`` (a generator) through ``writer``.

    Returns the number of error rows and, with ``on_error="fail"``, the error
    that stopped the run (None otherwise).
    """
    from artmedium._progress import Progress
    from artmedium.io import ImageReadError

    bar = Progress(
        n_inputs,
        label="predicting",
        enabled=not quiet and n_inputs > batch_size,
    )
    n_failed = 0
    fail_error = None
    try:
        with _writing(output):
            writer.start()
        bar.update(0)
        with contextlib.closing(batches):
            try:
                for rows in batches:
                    if output is None:
                        # Rows and the bar may share a terminal: never on one line.
                        bar.clear()
                    with _writing(output):
                        writer.write(rows)
                        if output is None:
                            writer.stream.flush()  # rows show as they come
                    failed = sum(1 for row in rows if row["error"])
                    n_failed += failed
                    bar.update(len(rows), failed=failed)
            except ImageReadError as exc:  # --on-error fail, after the rows before it
                fail_error = f"cannot read {shown(exc.source)}: {shown(exc.reason)}"
            except (ValueError, RuntimeError) as exc:
                raise click.ClickException(
                    f"prediction failed: {shown(str(exc))}"
                ) from exc
        bar.clear()
        with _writing(output):
            writer.finish()
            writer.stream.flush()
    finally:
        bar.close()
    return n_failed, fail_error


DASK_EXTRA = 'pip install "artmedium[dask]"'


def _parse_scheduler(value, partition_size):
    """``--scheduler``: None, ``("local", n_workers)`` or ``("address", text)``;
    a usage error for a bad value, before any work starts."""
    if value is None:
        if partition_size is not None:
            raise click.UsageError("--partition-size applies with --scheduler")
        return None
    if value == "local" or value.startswith("local:"):
        count = value.partition(":")[2] if ":" in value else str(usable_cpus())
        if not count.isdigit() or int(count) < 1:
            raise click.UsageError(
                f"--scheduler {shown(value)}: local:N needs a number of workers "
                "N >= 1 (local alone: one per CPU)"
            )
        return ("local", int(count))
    if not value.strip():
        raise click.UsageError("--scheduler needs an address, or local[:N]")
    return ("address", value)


@contextlib.contextmanager
def _dask_client(cluster):
    """A ``distributed.Client`` of ``cluster``, closed (with a local cluster)
    when the block ends."""
    try:
        import logging

        import distributed

        import artmedium.dask
    except ImportError as exc:
        raise click.ClickException(
            f"--scheduler needs dask and distributed: {DASK_EXTRA} ({exc})"
        ) from None
    kind, where = cluster
    if kind == "local":
        with (
            artmedium.dask.local_cluster(where, silence_logs=logging.ERROR) as local,
            distributed.Client(local, set_as_default=False) as client,
        ):
            yield client
        return
    try:
        client = distributed.Client(where, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise click.ClickException(
            f"cannot reach the Dask scheduler at {shown(where)}: {shown(str(exc))}"
        ) from None
    with client:
        yield client


def _cluster_batches(cluster, model, paths, *, on_error, **options):
    """The rows of ``paths`` from a Dask cluster, a partition at a time, in
    order: a few partitions per worker thread are in flight at once, so
    memory stays bounded whatever the number of images."""
    import itertools

    from artmedium.io import ImageReadError

    with _dask_client(cluster) as client:
        import artmedium.dask

        bag = artmedium.dask.predict(model, paths, as_frame=False, **options)
        parts = iter(bag.to_delayed())
        window = 2 * max(1, sum(client.nthreads().values()))
        pending = collections.deque(
            client.compute(part) for part in itertools.islice(parts, window)
        )
        try:
            while pending:
                try:
                    rows = pending.popleft().result()
                except Exception as exc:
                    # A task cannot fail on an image (each gets a row): the
                    # model did not load on a worker, a task killed its
                    # workers, the scheduler went away.
                    raise RuntimeError(
                        f"the Dask cluster failed: {type(exc).__name__}: {exc}"
                    ) from exc
                part = next(parts, None)
                if part is not None:
                    pending.append(client.compute(part))
                if on_error == "fail":
                    # As without --scheduler: stop at the first file that
                    # cannot be read (not at one the model fails on).
                    for i, row in enumerate(rows):
                        error = row["error"]
                        if error and not error.startswith("cannot predict: "):
                            yield rows[:i]
                            raise ImageReadError(row["path"], error)
                yield rows
        finally:
            client.cancel(list(pending))


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--model",
    "-m",
    default=None,
    metavar="DIR",
    help="A model folder saved by 'artmedium train' or save_model "
    "[default: the embedded model --vocabulary names].",
)
@click.option(
    "--vocabulary",
    type=click.Choice(["tate", "poster"]),
    default=None,
    help="Which embedded model answers when no --model is named: tate, a "
    "calibrated tagger of Tate's media tags that describes any combination of "
    "them and backs off to broader terms when unsure; poster, the classifier "
    "of the poster's ten media [default: tate].",
)
@recursive_option
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
    help="Report the media tags, their AAT ids and their probabilities.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.9,
    show_default=True,
    help="Calibrated models: a classifier's confidence level of the candidate "
    "sets; a tagger's probability that every claim of an ok answer reaches.",
)
@click.option(
    "--accept-accuracy",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Calibrated classifiers: with a value, status ok also requires at "
    "least the probability at which the calibration answers were this accurate "
    "[default: none: accept answers whose candidate set holds one medium].",
)
@click.option(
    "--unknown-rate",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.05,
    show_default=True,
    help="Share of calibration images of the known media that would be marked unknown.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
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
@click.option(
    "--backend",
    type=click.Choice(["auto", "onnx", "torch"]),
    default="auto",
    show_default=True,
    help="What runs the network: onnx, ONNX Runtime (a model saved with its "
    "ONNX network, as the embedded ones are; about 3 times as fast on a CPU, "
    "and starts without torch); torch; auto: onnx when the model has an ONNX "
    "network and onnxruntime is installed, else torch. Both give the same "
    "answers.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Compute threads of the network [default: OMP_NUM_THREADS, else the "
    "CPUs this process may use].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS|local[:N]",
    help='Run on a Dask cluster (pip install "artmedium[dask]"): the address '
    "of its scheduler (tcp://host:8786), or local for a cluster of N worker "
    "processes of one thread each on this machine [default N: the CPUs]. The "
    "same output, in the same order, streamed as the partitions finish.",
)
@click.option(
    "--partition-size",
    type=click.IntRange(min=1),
    default=None,
    help="With --scheduler: images per task [default: twice --batch-size; a "
    "multiple of it keeps every number identical to a run without --scheduler].",
)
@quiet_option
def predict(
    paths,
    model,
    vocabulary,
    recursive,
    top_k,
    tags,
    confidence,
    accept_accuracy,
    unknown_rate,
    fmt,
    output,
    force,
    batch_size,
    workers,
    on_error,
    max_pixels,
    backend,
    threads,
    scheduler,
    partition_size,
    quiet,
):
    """Predict the medium, its probability and the media tags of images.

    PATHS are image files, folders (their .jpg, .jpeg, .png, .tif, .tiff,
    .webp, .bmp and .gif files; subfolders with --recursive) and glob patterns,
    quoted or not ("scans/**/*.tif"). A file named explicitly is always tried.
    Results stream out in input order, one row per image: path, medium,
    probability, with a calibrated model its status and candidates, the
    --top-k most probable media, the tags, their Getty AAT ids and the
    probability of each tag (csv, jsonl, json) and an error (empty when the
    image was read).

    Without --model, an embedded model answers. --vocabulary tate (the
    default): a calibrated tagger of Tate's media tags, whose medium is the
    description composed from the tags it predicts, in Tate's wording
    ("Graphite and watercolour on paper"), so it also describes media outside
    the poster's ten (gouache, aquatint, photographs, bronze, oil on board,
    ...): the tag combinations it saw in training, or a broader term when
    unsure. --vocabulary poster: the classifier of the poster's
    ten media. --vocabulary chooses between the embedded models only: with
    --model it is a usage error.

    The tags are those of the medium shown ("Graphite and watercolour on
    paper": graphite, watercolour), so they always agree with it. A tag's
    probability is the chance that the tag is present whatever the medium
    (for a model of media: the total probability of the media with that tag),
    so a tag of the medium shown can be under 0.5, and a tag it lacks over.
    aat_ids (csv, jsonl, json) gives each tag's Getty Art & Architecture
    Thesaurus id (etching=300053241) where one was verified against a public
    source; a tag without one is left out, never guessed.

    A calibrated model (a MediumClassifier or MediumTagger fitted with
    calibration_size, or calibrated with its calibrate method, then saved;
    the embedded models are) gives calibrated probabilities and says how far
    to trust each answer. Its rows have a status: for a classifier, ok (an
    answer to accept: its candidates are that one medium, and with
    --accept-accuracy its probability is high enough), uncertain (no single
    medium stands out: several candidates or none, or a probability under
    the --accept-accuracy threshold) or unknown (not one of the media I
    know: the image is unlike all the calibration images; --unknown-rate sets
    how often that is said of images of known media). A classifier's
    candidates (table, csv, jsonl, json) are the media that hold the true one
    with probability --confidence, for images like the calibration images; on
    new artists coverage can be lower. Most probable first; none when no
    medium fits. csv, jsonl and json also give each image's novelty (higher:
    stranger).

    A calibrated tagger backs off when unsure: a tag under --confidence gives
    way to its nearest broader term that reaches it ("Etching on paper"
    becomes "Intaglio print on paper"), and the tags shown are the answer's.
    Its status is ok when every claim of the answer (each tag present, each
    other tag absent) has probability at least --confidence, uncertain when
    one is less sure, unknown as for a classifier. Its probability is that of
    its least sure claim. The embedded tagger's candidates are the media
    descriptions that hold the true one with probability --confidence (as a
    classifier's); another tagger's are the answer, then, when it backed
    off, the more specific description it backed off from. --accept-accuracy
    is for classifiers only. A model without calibration prints no status,
    and refuses --accept-accuracy, --confidence and --unknown-rate.

    The network runs in ONNX Runtime when the model has an ONNX network (the
    embedded ones do; 'artmedium train' saves one) and onnxruntime is
    installed: the run then imports neither torch nor scikit-learn, so one
    image takes about a second, and a folder goes about three times as fast
    on a CPU. --backend torch runs the same model in torch; both give the
    same answers (probabilities within about 1e-4). --threads sets the
    compute threads; --workers the image decoding threads.

    --scheduler runs the prediction on a Dask cluster (pip install
    "artmedium[dask]"): the address of a running scheduler, or local[:N] to
    start N worker processes of one thread each on this machine for the run
    (on 127.0.0.1 only, no dashboard). Only the model's name travels: each
    worker loads the model once and keeps it, so a --model folder must be
    readable at the same path on every worker. The files are cut into tasks
    of --partition-size; rows come back in input order as the tasks finish,
    a few tasks per worker thread at a time, and the output and exit status
    are those of a run without --scheduler. A worker lost midway has its
    tasks run again. --threads is then the compute threads of each worker
    process [default: its Dask threads], --workers the decoding threads of
    each task.

    The table is for reading: on a terminal it fits the window, shortening
    long paths from the left and leaving out the tags, candidates and
    alternatives when they do not fit (never the status); elsewhere (a pipe,
    a file) cells are whole. For other programs, use --format csv, jsonl or
    json.

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
    writing every result) or on an error, such as an embedded model that this
    copy of artmedium lacks; 2 for a usage error, such as a file or folder
    named that does not exist or a pattern that matches nothing (nothing is
    predicted then); 141 when the reader of stdout went away (| head -1); 128
    + the signal's number when Ctrl-C (130), SIGTERM (143) or SIGHUP (129)
    stops the run while it writes.

    \b
    Examples:
      artmedium predict scans/
      artmedium predict scans/ --vocabulary poster
      artmedium predict -r scans/ --format csv --output media.csv
      artmedium predict "scans/*.jpg" --format jsonl --top-k 5
      artmedium predict scans/ --confidence 0.8 --format csv -o media.csv
      artmedium predict scan.tif --model my_model --no-tags
      artmedium predict scans/ --vocabulary poster --accept-accuracy 0.95
      artmedium predict scans/ --backend torch --threads 2
      artmedium predict -r scans/ --format csv -o media.csv --scheduler local:4
      artmedium predict -r /shared/scans/ --scheduler tcp://10.0.0.5:8786
    """
    from artmedium._writers import make_writer
    from artmedium.inference import IMAGE_EXTENSIONS, BatchPredictor

    if vocabulary is not None and model is not None:
        raise click.UsageError(
            "--vocabulary chooses between the embedded models (tate: the tagger, "
            "poster: the ten-class classifier); a --model answers in its own "
            "vocabulary: pass one or the other"
        )
    vocabulary = vocabulary or "tate"
    cluster = _parse_scheduler(scheduler, partition_size)
    inputs = collect_or_exit(paths, recursive=recursive)
    if not inputs:
        raise click.ClickException(
            "no image files found in "
            + ", ".join(map(shown, paths))
            + " (folders are searched "
            f"for {', '.join(IMAGE_EXTENSIONS)} files"
            + ("" if recursive else "; add --recursive for subfolders")
            + ")"
        )
    tate = vocabulary == "tate"
    est = load_model_or_exit(
        model,
        backend=backend,
        threads=threads,
        embedded="tags" if tate else "default",
        missing="Or pass --vocabulary poster for the embedded classifier of the "
        "poster's ten media."
        if tate
        else None,
    )
    try:
        predictor = BatchPredictor(
            est,
            top_k=top_k,
            tags=tags,
            confidence=confidence,
            accept_accuracy=accept_accuracy,
            unknown_rate=unknown_rate,
        )
    except ValueError as exc:
        message = str(exc)
        if model is None and tate and accept_accuracy is not None:
            message += " (--vocabulary poster: the embedded classifier)"
        raise click.ClickException(message) from exc
    # A table on a terminal fits its width; anywhere else its cells are whole.
    on_terminal = output is None and _is_terminal(sys.stdout)
    width = shutil.get_terminal_size().columns if on_terminal else None
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
                    paths=[item.path for item in inputs],
                    media=predictor.implied_tags,
                    width=width,
                    with_status=predictor.calibrated,
                )
                run = {"batch_size": batch_size, "workers": workers}
                run["max_pixels"] = max_pixels
                if cluster is None:
                    batches = predictor.predict_batches(
                        inputs, on_error=on_error, **run
                    )
                else:
                    batches = _cluster_batches(
                        cluster,
                        # Only the name travels: each worker loads it once.
                        model or ("tags" if tate else "default"),
                        [item.path for item in inputs],
                        on_error=on_error,
                        top_k=top_k,
                        tags=tags,
                        confidence=confidence,
                        accept_accuracy=accept_accuracy,
                        unknown_rate=unknown_rate,
                        partition_size=partition_size,
                        backend=backend,
                        threads=threads,
                        **run,
                    )
                n_failed, fail_error = _write_predictions(
                    batches,
                    len(inputs),
                    writer,
                    output,
                    quiet=quiet,
                    batch_size=batch_size,
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
            "(their rows say why)",
            err=True,
        )
        sys.exit(1)
