"""Batch prediction on a Dask cluster: :func:`predict`.

Each partition of the paths is one task that runs
:class:`~artmedium.inference.BatchPredictor` over its images, so a partition
gives exactly the results ``predict_files`` gives for those paths. A model
named by a string (a saved folder, ``"default"``, ``"tags"``) travels as that
string: each worker process loads it on first use and keeps it (a cache keyed
by the folder, its sidecar, the backend and the threads), so every later task
of the worker reuses it. A fitted estimator is one key of the graph that every
partition task depends on: it is serialised once, copied once to each worker
that needs it, and never pickled per task.
"""

import collections
import dataclasses
import hashlib
import json
import os
import sys
import threading
import uuid
from pathlib import Path

import numpy as np

from artmedium._validation import check_count
from artmedium._writers import flat_result, result_columns
from artmedium.inference import _CONFIDENCE, _UNKNOWN_RATE, BatchPredictor, ImageInput

_MISSING = (
    "artmedium.dask needs dask[dataframe] and distributed: "
    'pip install "artmedium[dask]"'
)

__all__ = ["predict"]

try:
    import dask
    import dask.bag as db
except ImportError as exc:
    raise ImportError(f"{_MISSING} ({exc})") from exc


def _dataframe():
    """``dask.dataframe`` (and pandas), imported only for a DataFrame: a
    second that ``as_frame=False`` (the CLI) does without, here and on every
    worker."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(f"{_MISSING} ({exc})") from exc
    return dd


def _loaded(name):
    """The module ``name`` if something imported it already, else None: a
    dask Series or a pandas object cannot exist unless its module is loaded."""
    return sys.modules.get(name)


_BACKENDS = ("auto", "onnx", "torch")

#: Partitions of a list hold this many batches by default: a multiple of
#: ``batch_size``, so that a partition is batched as in a one-process run.
_BATCHES_PER_PARTITION = 2

# --------------------------------------------------------- worker-side cache

# Models loaded in this process, most recently used last: key -> entry.
_MODELS = collections.OrderedDict()
_MAX_MODELS = 4
# Held while looking up or loading a model: two tasks of a multi-threaded
# worker that need the same model load it once.
_CACHE_LOCK = threading.Lock()
# One forward pass at a time per process: each uses all the compute threads
# given to the model (the worker's), so concurrent tasks of a multi-threaded
# worker decode their images in parallel but never oversubscribe the cores.
_FORWARD_LOCK = threading.Lock()
_LOADS = collections.Counter()


def _cache_info():
    """What this process loaded: ``{"loads": {"folder|backend|threads":
    times}, "models": n}`` (run it on the workers with ``client.run``)."""
    with _CACHE_LOCK:
        return {"loads": dict(_LOADS), "models": len(_MODELS)}


@dataclasses.dataclass(frozen=True)
class _Saved:
    """A saved model as it travels to the workers: its name (a folder, or
    ``"default"`` / ``"tags"``), the backend and the threads asked for."""

    name: str
    backend: str
    threads: int | None


class _Predictor(BatchPredictor):
    """A BatchPredictor whose forward passes take turns in this process."""

    def predict_images(self, paths, images):
        with _FORWARD_LOCK:
            return super().predict_images(paths, images)


def _worker_threads(threads):
    """``threads``, else the thread count of the Dask worker running this
    task, else None (not on a worker: the backend's own default)."""
    if threads is not None:
        return threads
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return getattr(worker, "state", worker).nthreads


def _folder(name):
    from artmedium.persistence import default_model_dir, default_tagger_dir

    if name == "default":
        return default_model_dir()
    if name == "tags":
        return default_tagger_dir()
    return Path(name)


def _load(name, info, backend, threads):
    """The model saved at ``name``, checked against ``info``, the sidecar its
    cache key was made from (a folder swapped meanwhile fails its hashes)."""
    from artmedium.persistence import _load_described

    _LOADS[f"{os.path.realpath(_folder(name))}|{backend}|{threads}"] += 1
    if backend == "torch" and threads is not None:
        _set_torch_threads(threads)
    return _load_described(name, info, backend=backend, threads=threads)


def _set_torch_threads(threads):
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _saved_predictor(spec, options):
    """The cached predictor of a saved model in this process, loading it on
    first use (and again when the folder's sidecar changes)."""
    from artmedium.persistence import model_info, resolve_backend

    info = model_info(spec.name)  # checked, and names a missing model
    backend = resolve_backend(info, spec.backend)
    threads = _worker_threads(spec.threads)
    digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()
    folder = os.path.realpath(_folder(spec.name))
    key = (folder, digest, backend, threads)
    with _CACHE_LOCK:
        entry = _MODELS.get(key)
        if entry is None:
            entry = {"model": _load(spec.name, info, backend, threads), "by": {}}
            _MODELS[key] = entry
            while len(_MODELS) > _MAX_MODELS:
                _MODELS.popitem(last=False)
        _MODELS.move_to_end(key)
        options_key = tuple(sorted(options.items()))
        predictor = entry["by"].get(options_key)
        if predictor is None:
            predictor = _Predictor(entry["model"], **options)
            entry["by"][options_key] = predictor
    return predictor


def _predictor(model, options):
    if isinstance(model, _Saved):
        return _saved_predictor(model, options)
    threads = _worker_threads(options.get("threads"))
    options = {k: v for k, v in options.items() if k != "threads"}
    if threads is not None:
        _set_torch_threads(threads)
    return _Predictor(model, **options)


# --------------------------------------------------------------- partitions


def _as_input(item):
    """A path of the partition, or an input that says why it is not one."""
    if isinstance(item, str):
        return item
    if isinstance(item, os.PathLike):
        return os.fsdecode(os.fspath(item))
    kind = type(item).__name__
    missing = (
        item is None or kind == "NAType" or (isinstance(item, float) and item != item)
    )
    shown = "" if missing else str(item)
    return ImageInput(shown, f"not a file path: {kind} {item!r:.50}")


def _partition_rows(paths, model, options, run):
    """The result dicts of one partition's paths, in order; an input that
    cannot be read or predicted gets an error row, never an exception."""
    predictor = _predictor(model, options)
    inputs = [_as_input(item) for item in paths]
    rows = []
    for batch in predictor.predict_batches(inputs, on_error="skip", **run):
        rows.extend(batch)
    return rows


def _frame(rows, layout, index):
    """The flat result rows as a pandas DataFrame with ``layout``'s dtypes."""
    import pandas as pd

    top_k, tag_names, with_status = layout
    columns = result_columns(top_k, tag_names, with_status=with_status)
    values = [flat_result(r, top_k, tag_names, with_status=with_status) for r in rows]
    data = {}
    for j, (name, kind) in enumerate(columns):
        column = [v[j] for v in values]
        if kind == "number":
            data[name] = pd.Series(
                np.array([np.nan if x is None else x for x in column], dtype=float),
                index=index,
            )
        else:
            # Python strings, never Arrow's: a file name that is not UTF-8
            # keeps its lone surrogates (os.fsdecode), which Arrow refuses.
            array = np.empty(len(column), dtype=object)
            array[:] = column
            data[name] = pd.Series(array, index=index, dtype=object)
    return pd.DataFrame(data, index=index, columns=[name for name, _ in columns])


def _partition_frame(paths, model, options, run, layout, start):
    """One partition's results as a DataFrame; its index counts from
    ``start``, or is the paths' own index for a pandas Series."""
    import pandas as pd

    rows = _partition_rows(paths, model, options, run)
    if isinstance(paths, pd.Series):
        index = paths.index
    else:
        index = pd.RangeIndex(start, start + len(rows))
    return _frame(rows, layout, index)


# ------------------------------------------------------------------ the API


def _check_model(model, backend, threads):
    """What travels to the workers for ``model``: a :class:`_Saved` for a
    saved model, else the fitted estimator itself."""
    if isinstance(model, str | os.PathLike):
        name = os.fspath(model)
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        if name not in ("default", "tags"):
            # The workers may run in another folder than this process.
            name = os.path.abspath(name)
        return _Saved(name, backend, threads)
    kind = type(model).__name__
    if kind in ("OnnxClassifier", "OnnxTagger"):
        raise TypeError(
            f"an {kind} holds an ONNX Runtime session, which cannot be sent to "
            f"Dask workers: pass its saved folder instead (model={str(model.path)!r})"
        )
    if not (hasattr(model, "get_params") and hasattr(model, "predict_proba")):
        raise TypeError(
            "model must be a saved model folder (str or os.PathLike), 'default', "
            f"'tags', or a fitted MediumClassifier or MediumTagger; got {kind}"
        )
    if backend not in ("auto", "torch"):
        raise ValueError(
            f"backend={backend!r} applies to a saved model folder; a fitted "
            f"{kind} runs in torch (save it with onnx=True and pass the folder "
            "to run it in ONNX Runtime)"
        )
    return model


def _check_paths(paths):
    """``paths`` as a list of str, a dask Bag or a dask Series."""
    dd, pd = _loaded("dask.dataframe"), _loaded("pandas")
    if isinstance(paths, db.Bag) or (dd is not None and isinstance(paths, dd.Series)):
        if not isinstance(paths, db.Bag):
            dtype = paths.dtype
            if not (
                pd.api.types.is_object_dtype(dtype)
                or pd.api.types.is_string_dtype(dtype)
            ):
                raise TypeError(
                    f"paths: a dask Series of file paths (str) is needed; this one "
                    f"has dtype {dtype}"
                )
        return paths
    if dd is not None and isinstance(paths, dd.DataFrame):
        raise TypeError(
            "paths: pass one column of the dask DataFrame (df['path']), not the "
            "whole DataFrame"
        )
    if isinstance(paths, str | bytes | os.PathLike):
        raise TypeError(
            f"paths must be a list of file paths, not one path: [{paths!r}]"
        )
    if pd is not None and isinstance(paths, pd.Series | pd.Index | pd.DataFrame):
        raise TypeError(
            f"paths: a pandas {type(paths).__name__} is not taken: pass "
            "paths.tolist(), or dask.dataframe.from_pandas(paths, npartitions=...) "
            "to keep its index"
        )
    if isinstance(paths, np.ndarray):
        if paths.ndim != 1:
            raise ValueError(f"paths must be a 1-D array, got shape {paths.shape}")
        paths = paths.tolist()
    elif not isinstance(paths, list | tuple):
        raise TypeError(
            "paths must be a list, tuple or 1-D array of file paths, a dask Bag or "
            f"a dask DataFrame column; got {type(paths).__name__}"
        )
    checked = []
    for i, item in enumerate(paths):
        if not isinstance(item, str | bytes | os.PathLike):
            raise TypeError(
                f"paths[{i}] must be a str or os.PathLike, got "
                f"{type(item).__name__} {item!r:.50}"
            )
        item = os.fspath(item)
        checked.append(os.fsdecode(item) if isinstance(item, bytes) else item)
    return checked


def _meta(layout, index=None):
    import pandas as pd

    return _frame([], layout, pd.RangeIndex(0) if index is None else index[:0])


def predict(
    model,
    paths,
    *,
    top_k=3,
    tags=True,
    confidence=_CONFIDENCE,
    accept_accuracy=None,
    unknown_rate=_UNKNOWN_RATE,
    batch_size=32,
    workers=2,
    partition_size=None,
    backend="auto",
    threads=None,
    max_pixels=None,
    as_frame=True,
):
    """Predict the medium of many image files on a Dask cluster, lazily.

    Each partition of ``paths`` is one task, run as
    :func:`~artmedium.inference.predict_files` runs on its paths: images are
    decoded in ``workers`` threads and predicted ``batch_size`` at a time.
    An unreadable or unpredictable image gives a row with its ``error``,
    never a failed partition. Nothing runs until the result is computed, on
    the Dask scheduler in use (a ``distributed.Client``, or any other).

    A model named by a string travels to the workers as that string: each
    worker process loads it on first use, once, and keeps it for its later
    tasks (and for later calls while the folder's ``model.json`` is
    unchanged). A fitted estimator is one key of the graph shared by all the
    partition tasks: sent once, and once to each worker, never per task.

    Parameters
    ----------
    model : str, os.PathLike, MediumClassifier or MediumTagger
        A folder saved by :func:`~artmedium.persistence.save_model`, readable
        at the same path on every worker (a relative path is made absolute
        here); ``"default"``, the embedded classifier; ``"tags"``, the
        embedded tagger; or a fitted estimator (run in torch). An
        :class:`~artmedium.onnx.OnnxClassifier` cannot travel: pass its
        folder.
    paths : list, tuple or 1-D array of str or os.PathLike, dask Bag or \
dask Series
        The image files. A list is cut into partitions of ``partition_size``;
        a Bag or a Series (a column of a dask DataFrame) keeps its own
        partitions. An item of a Bag or Series that is not a path (None, a
        number) gets an error row.
    top_k, tags, confidence, accept_accuracy, unknown_rate
        As for :func:`~artmedium.inference.predict_files` (checked here, at
        once, with the model loaded in this process).
    batch_size : int, default=32
        Inputs per forward pass.
    workers : int, default=2
        Image decoding threads of each task (threads of the task's process,
        not Dask workers).
    partition_size : int, optional
        A list only: paths per partition (task) [default: ``2 * batch_size``].
        A multiple of ``batch_size`` keeps every result bit-identical to
        ``predict_files`` over the whole list; otherwise an image may share
        its forward pass with other images, which changes the last bits of
        its probabilities (not their 6 printed decimals, in practice).
    backend : {"auto", "onnx", "torch"}, default="auto"
        What runs a saved model's network on the workers: ``"auto"``, ONNX
        Runtime when the folder has an ONNX network and onnxruntime is
        installed, else torch. A fitted estimator runs in torch.
    threads : int, optional
        Compute threads of the network in each worker process [default: the
        Dask worker's thread count, ``distributed.get_worker().state.nthreads``;
        not on a distributed worker: ``OMP_NUM_THREADS``, else the CPUs].
        A worker runs one forward pass at a time, so a worker of ``n``
        threads runs ``n`` tasks that decode in parallel while their forward
        passes take turns on its ``n`` compute threads: the cores are never
        oversubscribed. Torch's threads are per process
        (``torch.set_num_threads``).
    max_pixels : int, optional
        Refuse images with more pixels (default: Pillow's limit).
    as_frame : bool, default=True
        True: a dask DataFrame of flat columns. False: a dask Bag of the
        result dicts exactly as ``predict_files`` yields them (nested lists
        and dicts: what ``artmedium predict --format jsonl`` writes), one
        Bag partition per partition of ``paths``.

    Returns
    -------
    dask.dataframe.DataFrame or dask.bag.Bag
        The results in input order, lazily. The DataFrame's columns are those
        of ``artmedium predict --format csv``: ``path``, ``medium``,
        ``probability``; with a calibrated model ``status``, ``candidates``
        and ``novelty``; ``top1``, ``top1_probability`` ... ``top<k>``,
        ``top<k>_probability``; ``tags``, ``aat_ids``, one ``tag:<name>``
        column per tag (its probability) and ``error`` (``""`` when the image
        was read). Lists are written as the csv writes them, so that each
        column is a scalar (and Parquet-ready): ``candidates`` and ``tags``
        joined by ``;``, ``aat_ids`` as ``tag=id`` pairs joined by ``;``.
        Numbers are float64, NaN where the csv cell is empty (an error row);
        text is Python ``str`` (object dtype, None where empty), never Arrow
        strings, so a file name that is not UTF-8 survives as
        :func:`os.fsdecode` gives it. Nothing is escaped or rounded: with
        ordinary names, ``df.compute().to_csv(index=False,
        quoting=csv.QUOTE_ALL, float_format="%.6f", lineterminator="\\n")``
        writes what ``artmedium predict --format csv`` writes. The index:
        0 to n - 1 with known divisions for a list; the Series' own index
        for a Series; 0 to the partition's length - 1 in each partition of a
        Bag.

    Raises
    ------
    ImportError
        dask is not installed (``pip install "artmedium[dask]"``).
    TypeError
        ``model`` or ``paths`` is of a type not taken (the message says
        which, and the item of ``paths`` at fault).
    FileNotFoundError, ValueError
        The model cannot be loaded here, or an option is out of its range
        (as for :class:`~artmedium.inference.BatchPredictor`).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> import artmedium.dask
    >>> folder = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> paths = []
    >>> for i in range(3):
    ...     paths.append(os.path.join(folder, f"scan{i}.png"))
    ...     Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(
    ...         paths[-1])
    >>> paths.append(os.path.join(folder, "missing.png"))
    >>> df = artmedium.dask.predict("default", paths, top_k=2, partition_size=2,
    ...                             batch_size=2)
    >>> df.npartitions, df.divisions
    (2, (0, 2, 3))
    >>> list(df.columns[:7])
    ['path', 'medium', 'probability', 'status', 'candidates', 'novelty', 'top1']
    >>> result = df.compute(scheduler="synchronous")
    >>> [os.path.basename(p) for p in result["path"]]
    ['scan0.png', 'scan1.png', 'scan2.png', 'missing.png']
    >>> result["error"].tolist()[3], bool(result["probability"].iloc[:3].gt(0).all())
    ('missing (no such file)', True)
    """
    check_count(batch_size, "batch_size")
    check_count(workers, "workers")
    if partition_size is not None:
        check_count(partition_size, "partition_size")
    if threads is not None:
        check_count(threads, "threads")
    if max_pixels is not None:
        check_count(max_pixels, "max_pixels")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    ref = _check_model(model, backend, threads)
    paths = _check_paths(paths)
    if partition_size is not None and not isinstance(paths, list):
        raise ValueError(
            "partition_size applies to a list of paths; a dask Bag or Series keeps "
            "its partitions (repartition it first)"
        )
    options = {
        "top_k": top_k,
        "tags": tags,
        "confidence": confidence,
        "accept_accuracy": accept_accuracy,
        "unknown_rate": unknown_rate,
    }
    # Here first: bad options and an unloadable model fail now, not on the
    # cluster, and the predictor says which columns the results have.
    if isinstance(ref, _Saved):
        # The cached one a synchronous run in this process reuses.
        here = _saved_predictor(ref, options)
    else:
        here = BatchPredictor(ref, **options)
        options["threads"] = threads
        # One key of the graph, shared by every partition task.
        ref = dask.delayed(ref, name=f"artmedium-model-{uuid.uuid4().hex}")
    layout = (here.top_k, list(here.tag_names), bool(here.calibrated))
    run = {"batch_size": batch_size, "workers": workers, "max_pixels": max_pixels}
    # Dask would turn object columns into Arrow strings, which cannot hold a
    # file name that is not UTF-8.
    with dask.config.set({"dataframe.convert-string": False}):
        if isinstance(paths, list):
            return _from_list(
                paths, ref, options, run, layout, as_frame, partition_size
            )
        if not isinstance(paths, db.Bag) and as_frame:
            return paths.map_partitions(
                _partition_frame,
                ref,
                options,
                run,
                layout,
                0,
                meta=_meta(layout, paths._meta.index),
                enforce_metadata=False,
                align_dataframes=False,
            )
        bag = paths if isinstance(paths, db.Bag) else paths.to_bag()
        if not as_frame:
            return bag.map_partitions(_partition_rows, ref, options, run)
        frames = bag.map_partitions(_partition_frame, ref, options, run, layout, 0)
        return _dataframe().from_delayed(
            frames.to_delayed(), meta=_meta(layout), verify_meta=False
        )


def _from_list(paths, ref, options, run, layout, as_frame, partition_size):
    size = partition_size or _BATCHES_PER_PARTITION * run["batch_size"]
    starts = list(range(0, len(paths), size))
    if as_frame:
        dd = _dataframe()
        if not paths:
            return dd.from_pandas(_meta(layout), npartitions=1)
        task = dask.delayed(_partition_frame, pure=True)
        parts = [
            task(paths[s : s + size], ref, options, run, layout, s) for s in starts
        ]
        divisions = (*starts, len(paths) - 1)
        return dd.from_delayed(
            parts, meta=_meta(layout), divisions=divisions, verify_meta=False
        )
    if not paths:
        return db.from_sequence([], npartitions=1)
    task = dask.delayed(_partition_rows, pure=True)
    return db.from_delayed(
        [task(paths[s : s + size], ref, options, run) for s in starts]
    )
