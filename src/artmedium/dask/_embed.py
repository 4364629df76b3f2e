"""An :class:`~artmedium.ImageEmbedder` over many images, to Parquet, resumably.

The images are cut into partitions of ``partition_size`` paths, in input order;
partition ``i`` becomes ``part-{i:06d}.parquet`` in the output folder, written
under a hidden temporary name and renamed into place, so a part file is always
whole. A rerun first checks every part on the workers (its footer only, and a
``stat`` of its images) and then computes the parts that are missing or that it
cannot trust. The folder's ``_artmedium_embed.json`` names the embedder whose
features it holds; another embedder is refused.

Reading what we wrote runs no code: the parts carry no pandas metadata and no
Arrow schema (so no extension type is ever rebuilt from a file), and a part
whose footer holds any other key is not trusted but recomputed.
"""

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artmedium._files import atomic_write, open_regular, read_limited
from artmedium._validation import check_count

__all__ = ["EmbedResult", "embed"]

#: Written in the manifest and in every part; changes when the layout does.
FORMAT = "artmedium.dask.embed"
FORMAT_VERSION = 1
#: The folder's manifest: which embedder and partition size its parts are of.
MANIFEST = "_artmedium_embed.json"
#: The one key of a part's Parquet footer (key-value metadata).
PART_KEY = "artmedium.embed"
_PART_NAME = re.compile(r"part-([0-9]{6,})\.parquet")
#: Largest manifest or footer entry read (both are a few hundred bytes).
_MAX_JSON = 1 << 20

_INSTALL = 'pip install "artmedium[dask]"'


def _require():
    """dask, dask.dataframe and pyarrow.parquet, or an ImportError saying what
    to install."""
    try:
        import dask
        import dask.dataframe  # noqa: F401 - checked here, used by read()
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            f"artmedium.dask.embed needs dask and pyarrow ({exc.name or exc} is "
            f"missing): {_INSTALL}"
        ) from exc
    return dask, pq


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed` wrote, and what it had to compute.

    Attributes
    ----------
    path : str
        The output folder.
    parts : tuple of str
        The part files, in input order (``part-000000.parquet``, ...).
    computed : tuple of int
        Indices of the parts computed by this call.
    skipped : tuple of int
        Indices of the parts found complete and kept.
    n_images : int
        Rows over all parts (one per input path).
    n_errors : int
        Rows of images that could not be read (their ``error`` is not empty).
    """

    path: str
    parts: tuple
    computed: tuple
    skipped: tuple
    n_images: int
    n_errors: int

    def read(self):
        """The features as a lazy dask DataFrame, one partition per part file.

        Returns
        -------
        dask.dataframe.DataFrame
            Columns ``path``, ``error`` and the embedder's feature names
            (float32), rows in input order.

        Raises
        ------
        ValueError
            When computed: a part is no longer what ``embed`` wrote (a link,
            a FIFO, another footer, a page failing its checksum); the message
            names it.
        """
        import dask.dataframe as dd

        # Not dd.read_parquet: it follows a link planted in the folder, reads
        # whatever footer a swapped part has (pandas metadata, an Arrow schema)
        # and skips the pages' checksums, so a corrupt page can read as other
        # floats. Each part is read as _trusted_part reads it.
        meta = _read_part(self.parts[0], rows=False)
        return dd.from_map(
            _read_part, list(self.parts), meta=meta, enforce_metadata=False
        )


def embed(embedder, paths, path, *, partition_size=256, scheduler=None):
    """Write an :class:`~artmedium.ImageEmbedder`'s features of many images to Parquet.

    One row per image, in input order, over ``part-*.parquet`` files in
    ``path``, written by the dask scheduler in use (a ``distributed.Client``'s
    cluster when one is the default). Rerun with the same embedder, inputs and
    ``partition_size`` after an interruption, and only the missing parts are
    computed.

    Parameters
    ----------
    embedder : ImageEmbedder
        A fitted embedder is used as it is; an unfitted one is cloned and
        fitted (which only loads its backbone), leaving ``embedder`` untouched.
        It reaches each worker once (one object in the task graph, shared by
        every task of the worker); its ``memory`` cache, if any, must be a
        folder every worker sees, and its ``n_jobs`` decoding threads run in
        each task.
    paths : list, ndarray, pandas Series, dask Bag or dask Series of str
        Image file paths (``os.PathLike`` allowed in lists and arrays). The
        paths of a dask collection are gathered on the client to plan the
        parts, so the parts depend only on the paths' order and
        ``partition_size``, not on the collection's partitions. Relative paths
        are read relative to the client's working directory; the ``path``
        column keeps them as given.
    path : str or os.PathLike
        The output folder, on a file system every worker sees: created if
        missing; an existing one must be empty or hold the output of an
        earlier ``embed`` with the same embedder and ``partition_size``.
    partition_size : int, default=256
        Images per part file and per task. A multiple of the embedder's
        ``batch_size`` gives features bit for bit equal to ``transform``'s
        (other batch layouts differ by float rounding, about 1e-6).
    scheduler : str or None, default=None
        Passed to :func:`dask.compute`: None uses the default scheduler (a
        ``distributed.Client`` if one is active); ``"synchronous"`` runs in
        this thread.

    Returns
    -------
    EmbedResult
        The part files, which parts this call computed and which it kept, the
        counts of rows and of errors; :meth:`EmbedResult.read` opens the
        features as a dask DataFrame.

    Raises
    ------
    ImportError
        dask or pyarrow is missing (``pip install "artmedium[dask]"``).
    TypeError
        ``embedder`` is not an ImageEmbedder, or ``paths`` holds other things
        than paths.
    ValueError
        ``paths`` is empty or holds a path that is not valid UTF-8; ``path``
        holds another embedder's features, parts of another
        ``partition_size``, or files that are not ours.

    Notes
    -----
    Each row has ``path``, ``error`` (empty when the image was read, else why
    not) and the features, named as ``embedder.get_feature_names_out()``
    names them, float32. An unreadable image's features are NaN (never zeros,
    which would pass for features): ``transform`` raises on it instead; drop
    such rows with ``frame[frame.error == ""]``.

    A part is trusted when its footer names this embedder, has the expected
    columns, types and row count, and records the same paths with the same
    file sizes and modification times (``st_mtime_ns``) as the images have
    now; a changed image (new size or mtime) or a corrupt or foreign part
    gets its part recomputed. Content digests would also catch a changed
    image that kept its size and mtime, at the cost of reading every image on
    every rerun; delete a part (or the folder) to force its recomputation.
    After a complete run, part files past the last part (of an earlier,
    longer input) are removed, so ``dask.dataframe.read_parquet(path)`` reads
    exactly this dataset.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from artmedium import ImageEmbedder
    >>> from artmedium.dask import embed
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"img{i}.png") for i in range(3)]
    >>> for i, p in enumerate(paths):
    ...     Image.fromarray(np.full((40, 40, 3), 80 * i, np.uint8)).save(p)
    >>> paths.append(os.path.join(folder, "missing.png"))
    >>> emb = ImageEmbedder(backbone="simple_cnn", weights=None, image_size=32,
    ...                     random_state=0)
    >>> out = os.path.join(folder, "features")
    >>> result = embed(emb, paths, out, partition_size=2, scheduler="synchronous")
    >>> result.computed, result.n_images, result.n_errors
    ((0, 1), 4, 1)
    >>> frame = result.read().compute()
    >>> frame.columns[:3].tolist(), frame.shape
    (['path', 'error', 'imageembedder0'], (4, 258))
    >>> frame.error.iloc[3]
    '...missing.png: missing (no such file)'
    >>> embed(emb, paths, out, partition_size=2, scheduler="synchronous").computed
    ()
    """
    dask, _ = _require()
    from artmedium import ImageEmbedder

    if not isinstance(embedder, ImageEmbedder):
        raise TypeError(
            "embedder must be an artmedium.ImageEmbedder; got "
            f"{type(embedder).__name__}."
        )
    partition_size = check_count(partition_size, "partition_size")
    given = _path_list(paths, scheduler)
    embedder = _fitted(embedder, given)
    columns = [str(name) for name in embedder.get_feature_names_out()]
    key = _embedder_key(embedder, columns)
    folder = _claim_folder(path, key, partition_size, embedder, columns)

    resolved = [os.path.abspath(p) for p in given]
    bounds = [
        (start, min(start + partition_size, len(given)))
        for start in range(0, len(given), partition_size)
    ]
    files = [str(folder / f"part-{i:06d}.parquet") for i in range(len(bounds))]
    # Impure: a pure key equal to the previous call's could be answered from a
    # distributed scheduler that has not yet released that call's result.
    names = _names_digest(columns)  # not the names: a graph of 64 characters a task
    checks = [
        dask.delayed(_trusted_part, pure=False)(
            files[i], given[a:b], resolved[a:b], key, names
        )
        for i, (a, b) in enumerate(bounds)
    ]
    found = dask.compute(*checks, scheduler=scheduler)
    todo = [i for i, n_errors in enumerate(found) if n_errors is None]
    errors = {i: n for i, n in enumerate(found) if n is not None}
    if todo:
        # One node of the graph holds the embedder: each worker receives it
        # once (from the scheduler or a peer) and its tasks share it.
        model = dask.delayed(
            embedder, name=f"artmedium-embedder-{uuid.uuid4().hex}", traverse=False
        )
        writes = [
            dask.delayed(_write_part, pure=False)(
                model, files[i], given[a:b], resolved[a:b], key
            )
            for i, (a, b) in ((i, bounds[i]) for i in todo)
        ]
        errors.update(zip(todo, dask.compute(*writes, scheduler=scheduler)))
    _remove_stale_parts(folder, len(files))
    return EmbedResult(
        path=str(folder),
        parts=tuple(files),
        computed=tuple(todo),
        skipped=tuple(sorted(set(range(len(files))) - set(todo))),
        n_images=len(given),
        n_errors=int(sum(errors.values())),
    )


# ----------------------------------------------------------------- the inputs
def _path_list(paths, scheduler):
    """``paths`` as a list of str, in order (a dask collection is computed)."""
    import dask

    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            f"paths is a single path ({os.fsdecode(paths)!r}); wrap it in a list."
        )
    if dask.is_dask_collection(paths):
        import dask.bag as db
        import dask.dataframe as dd

        if isinstance(paths, dd.DataFrame):
            raise TypeError(
                "paths is a dask DataFrame; pass its column of paths, such as "
                "frame['path']."
            )
        if not isinstance(paths, (db.Bag, dd.Series)):
            raise TypeError(
                "paths must be a list, an array, a dask Bag or a dask Series of "
                f"paths; got {type(paths).__name__}."
            )
        paths = paths.compute(scheduler=scheduler)
    if hasattr(paths, "iloc") and hasattr(paths, "columns"):
        raise TypeError(
            "paths is a DataFrame; pass its column of paths, such as frame['path']."
        )
    if hasattr(paths, "to_numpy"):  # a pandas Series
        paths = paths.to_numpy(dtype=object)
    if isinstance(paths, np.ndarray) and paths.ndim != 1:
        raise ValueError(f"paths must be 1-D; got an array of shape {paths.shape}.")
    paths = list(paths)
    if not paths:
        raise ValueError("paths is empty: there is nothing to embed.")
    out = []
    for i, p in enumerate(paths):
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(
                f"paths[{i}] is a {type(p).__name__}, not a path: "
                "artmedium.dask.embed reads image files by path."
            )
        p = os.fsdecode(p)
        try:
            p.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"paths[{i}] ({p!r}) is not valid UTF-8, which a Parquet string "
                "column cannot hold; rename the file."
            ) from None
        out.append(p)
    return out


def _fitted(embedder, paths):
    """``embedder`` if fitted, else a fitted clone (``fit`` reads no image)."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(embedder)
    except NotFittedError:
        return clone(embedder).fit(np.array(paths[:1], dtype=object))
    return embedder


def _names_digest(columns):
    """SHA-256 of a part's column names, what a check compares."""
    return hashlib.sha256(json.dumps(["path", "error", *columns]).encode()).hexdigest()


def _embedder_key(embedder, columns):
    """SHA-256 of what the features depend on: the backbone's weights, name and
    preprocessing (its fingerprint, which covers the reader's and the
    preprocessing's versions), the pooling and the column names."""
    network = embedder.backbone_.network
    spec = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "fingerprint": embedder.backbone_.fingerprint,
        "pooling": network.pooling,
        "columns": columns,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


# ----------------------------------------------------------------- the folder
def _read_manifest(manifest):
    """The folder's manifest as a dict (None if there is none)."""
    try:
        fp = open_regular(manifest, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(
            f"{manifest} is not a manifest artmedium.dask.embed wrote ({exc}); "
            "write to another folder."
        ) from None
    with fp:
        data = read_limited(fp, _MAX_JSON, name=str(manifest))
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, deep nesting
        value = exc
    if not isinstance(value, dict):
        raise ValueError(
            f"{manifest} is not a manifest artmedium.dask.embed wrote (not a JSON "
            "object); write to another folder."
        )
    return value


def _create_exclusively(path, text):
    """Write ``text`` to ``path`` whole, unless ``path`` exists: then False.

    A hard link of a finished temporary file is atomic and fails on an
    existing name, so of two runs starting in one folder at once, one writes
    the manifest and the other reads it.
    """
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(text, "utf-8")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            atomic_write(path, lambda new: os.replace(tmp, new))
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _claim_folder(path, key, partition_size, embedder, columns):
    """Create the output folder, or check that it holds this embedder's parts."""
    folder = Path(os.fsdecode(path)).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"path {str(folder)!r} exists and is not a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    found = _read_manifest(manifest)
    if found is None:
        visible = sorted(p.name for p in folder.iterdir() if p.name[0] not in "._")
        if visible:
            raise ValueError(
                f"{str(folder)!r} is not empty and holds no {MANIFEST} (it has "
                f"{', '.join(visible[:3])}{', ...' if len(visible) > 3 else ''}): "
                "artmedium.dask.embed writes into a new or empty folder only."
            )
        network = embedder.backbone_.network
        content = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "embedder": key,
            "partition_size": partition_size,
            "backbone": network.name,
            "weights": embedder.weights_,
            "pooling": network.pooling,
            "preprocessing": embedder.preprocessing_.to_dict(),
            "n_features": len(columns),
            "columns": f"{columns[0]} ... {columns[-1]}",
        }
        text = json.dumps(content, indent=2, default=str) + "\n"
        if _create_exclusively(manifest, text):
            return folder
        found = _read_manifest(manifest)  # another run's, written meanwhile
    if found.get("format") != FORMAT or found.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{manifest} is not of {FORMAT} version {FORMAT_VERSION}; write to "
            "another folder."
        )
    if found.get("embedder") != key:
        raise ValueError(
            f"{str(folder)!r} holds the features of another embedder "
            # repr and cut: the manifest may be anyone's, with terminal escapes
            f"({found.get('backbone')!r:.80}, {found.get('weights')!r:.80}, "
            f"pooling {found.get('pooling')!r:.40}, key "
            f"{str(found.get('embedder'))[:12]!r}..., not {key[:12]}...): write "
            "to another folder, or delete this one."
        )
    if found.get("partition_size") != partition_size:
        raise ValueError(
            f"{str(folder)!r} holds parts of partition_size="
            f"{found.get('partition_size')!r:.40}; pass that to resume, or write to "
            "another folder."
        )
    return folder


def _remove_stale_parts(folder, n_parts):
    """Part files of an earlier, longer input: not part of this dataset."""
    for entry in folder.iterdir():
        match = _PART_NAME.fullmatch(entry.name)
        if match and int(match.group(1)) >= n_parts:
            entry.unlink(missing_ok=True)


# -------------------------------------------------------------- on the workers
def _stamp(path):
    """What says an image file changed: its size and modification time."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable {exc.errno}"
    return [st.st_size, st.st_mtime_ns]


def _rows_digest(given, resolved):
    """SHA-256 of a part's paths, as given and as read, and their stamps.

    Taken before the images are read, so an image changed while its part is
    computed gets the part recomputed next time.
    """
    rows = [[g, r, _stamp(r)] for g, r in zip(given, resolved)]
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def _trusted_part(file, given, resolved, key, names):
    """The number of error rows of a complete part of these images, or None.

    Only the footer is read: its one key-value entry (ours), the columns'
    names and physical types, the row count; nothing in it can name code.
    """
    import pyarrow.parquet as pq

    try:
        fp = open_regular(file, follow_symlinks=False)
    except OSError:  # missing, or something that is not a regular file
        return None
    try:
        with fp:
            meta = pq.read_metadata(fp)
    except Exception:  # a truncated or foreign file: pyarrow raises several types
        return None
    entries = meta.metadata or {}
    if set(entries) != {PART_KEY.encode()} or len(entries[PART_KEY.encode()]) > (
        _MAX_JSON
    ):
        return None
    try:
        info = json.loads(entries[PART_KEY.encode()].decode("utf-8"))
    except (ValueError, RecursionError):  # a planted footer: recomputed
        return None
    schema = meta.schema
    n = meta.num_columns
    if (
        not isinstance(info, dict)
        or info.get("version") != FORMAT_VERSION
        or info.get("embedder") != key
        or meta.num_rows != len(given)
        or n < 3
        or _names_digest([schema.column(j).path for j in range(2, n)]) != names
        or [schema.column(j).path for j in (0, 1)] != ["path", "error"]
        or any(schema.column(j).physical_type != "BYTE_ARRAY" for j in (0, 1))
        or any(schema.column(j).physical_type != "FLOAT" for j in range(2, n))
        or not isinstance(info.get("errors"), int)
    ):
        return None
    if info.get("rows") != _rows_digest(given, resolved):
        return None
    return info["errors"]


def _read_part(file, *, rows=True):
    """A part's rows as a pandas DataFrame (none if not ``rows``).

    Opened as :func:`_trusted_part` opens it (a regular file, never a link),
    refused unless its footer holds our one key, so no pandas metadata or
    Arrow schema shapes the frame, and read with the pages' checksums checked.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with open_regular(file, follow_symlinks=False) as fp:
            part = pq.ParquetFile(fp, page_checksum_verification=True)
            if set(part.metadata.metadata or {}) != {PART_KEY.encode()}:
                raise ValueError("its footer is not one artmedium.dask.embed wrote")
            table = part.read() if rows else part.schema_arrow.empty_table()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ValueError(
            f"{file} is not a whole part of artmedium.dask.embed ({exc}); rerun "
            "embed to recompute it."
        ) from None
    # The string dtype dask.dataframe.read_parquet gives.
    string = pd.StringDtype("pyarrow")
    return table.to_pandas(types_mapper=lambda t: string if t == pa.string() else None)


def _write_part(embedder, file, given, resolved, key):
    """Embed one partition's images and write its part atomically.

    Returns
    -------
    int
        The number of images that could not be read.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows_digest(given, resolved)
    columns = [str(name) for name in embedder.get_feature_names_out()]
    features, errors = embedder._transform_images(resolved)
    error_text = [str(errors[i]) if i in errors else "" for i in range(len(given))]
    arrays = [pa.array(given, pa.string()), pa.array(error_text, pa.string())]
    arrays += [pa.array(column) for column in np.ascontiguousarray(features.T)]
    table = pa.Table.from_arrays(arrays, names=["path", "error", *columns])
    info = {"version": FORMAT_VERSION, "embedder": key, "rows": rows}
    info["errors"] = len(errors)

    def write(tmp):
        # No Arrow schema and no pandas metadata in the file: readers rebuild
        # plain string and float32 columns from the Parquet types alone.
        with pq.ParquetWriter(
            tmp, table.schema, store_schema=False, write_page_checksum=True
        ) as writer:
            writer.write_table(table, row_group_size=len(table))
            writer.add_key_value_metadata({PART_KEY: json.dumps(info)})

    atomic_write(file, write)
    return len(errors)
