"""Labelled images a user brings: a ``path,label`` CSV, or a Tate folder.

What ``artmedium train`` and ``artmedium evaluate`` read as DATA, as a library
call, so that a script and the command line load the same images.
"""

import csv
import io
import numbers
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_scalar

from artmedium._files import open_regular
from artmedium.datasets._tate import load_tate

__all__ = ["load_labelled_csv", "load_labelled_images"]


class _UnknownColumnError(ValueError, LookupError):
    """``group_by`` names no column there is: a ValueError that is also a
    LookupError, so that a caller can tell it from a malformed file."""


def load_labelled_csv(path, *, group_by=None, return_X_y=False):
    """Read a CSV of labelled images: a header row ``path,label``, then one row each.

    Column names are matched ignoring case and surrounding spaces; other
    columns are ignored (but for ``group_by``), and so are blank rows. Relative
    image paths are relative to the CSV's folder, so a CSV and its images can
    move together. The images themselves are not opened here.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (UTF-8, with or without a byte-order mark).
    group_by : str, optional
        Another column (e.g. ``artist``), matched like the others, returned as
        ``groups``: what :func:`artmedium.model_selection.cross_validate_report`
        keeps on one side of each fold. Its values are stripped of surrounding
        spaces; blank cells are one group (``""``).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch (without ``groups``).

    Returns
    -------
    data : Bunch
        Dictionary-like object with attributes:

        data : ndarray of shape (n_samples,), dtype object
            Absolute image paths.
        target : ndarray of shape (n_samples,), dtype object
            The label of each image.
        groups : ndarray of shape (n_samples,), dtype object
            With ``group_by`` only: each image's value in that column.
        filename : str
            The CSV read.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    OSError
        The file cannot be opened.
    ValueError
        It is not UTF-8 CSV, has no ``path`` and ``label`` columns, a row has
        one of them empty, or it lists no image (the message names the file,
        and the line where there is one). When ``group_by`` names no column
        other than ``path`` and ``label``, the error is also a
        :class:`LookupError` and lists the columns there are.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> labels = os.path.join(folder, "labels.csv")
    >>> with open(labels, "w") as fh:
    ...     _ = fh.write("path,label\\nimg/a.jpg,Graphite on paper\\n\\n"
    ...                  "img/b.jpg,Oil paint on canvas\\n")
    >>> X, y = load_labelled_csv(labels, return_X_y=True)
    >>> [os.path.relpath(p, folder) for p in X], list(y)
    (['img/a.jpg', 'img/b.jpg'], ['Graphite on paper', 'Oil paint on canvas'])
    >>> with open(labels, "w") as fh:
    ...     _ = fh.write("file,medium\\na.jpg,Etching on paper\\n")
    >>> load_labelled_csv(labels)
    Traceback (most recent call last):
    ...
    ValueError: ...labels.csv: a CSV of labelled images needs a header row with \
the columns path,label; found ['file', 'medium']

    Another column, such as the artist, as the groups of each image:

    >>> with open(labels, "w") as fh:
    ...     _ = fh.write("path,label,Artist\\na.jpg,Etching on paper,Goya\\n")
    >>> list(load_labelled_csv(labels, group_by="artist").groups)
    ['Goya']
    """
    base = Path(path).resolve().parent
    column = None if group_by is None else str(group_by).strip().lower()
    paths, labels, groups = [], [], []
    try:
        # A FIFO or a device as the CSV is refused at once, never waited on.
        raw = open_regular(path)
        with io.TextIOWrapper(raw, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            if "path" not in fields or "label" not in fields:
                raise ValueError(
                    f"{path}: a CSV of labelled images needs a header row with the "
                    f"columns path,label; found {reader.fieldnames}"
                )
            reader.fieldnames = fields
            if column is not None and (
                column in ("path", "label") or column not in fields
            ):
                others = [f for f in fields if f not in ("path", "label")]
                raise _UnknownColumnError(
                    f"{path}: no column {group_by!r} to group by; the columns "
                    f"besides path and label are: {', '.join(others) or 'none'}"
                )
            for row in reader:
                image = (row.get("path") or "").strip()
                label = (row.get("label") or "").strip()
                if not image and not label:
                    continue
                if not image or not label:
                    raise ValueError(
                        f"{path}, line {reader.line_num}: both path and label "
                        "are needed"
                    )
                paths.append(str(base / image))
                labels.append(label)
                if column is not None:
                    groups.append((row.get(column) or "").strip())
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not paths:
        raise ValueError(f"{path} lists no images")
    X = np.array(paths, dtype=object)
    y = np.array(labels, dtype=object)
    if return_X_y:
        return X, y
    if column is None:
        return Bunch(data=X, target=y, filename=str(path))
    groups = np.array(groups, dtype=object)
    return Bunch(data=X, target=y, groups=groups, filename=str(path))


def load_labelled_images(
    source, *, classes="poster", max_images=None, seed=0, group_by=None
):
    """Labelled images from a Tate folder or a ``path,label`` CSV, maybe sampled.

    Parameters
    ----------
    source : str or os.PathLike
        A folder in the Tate layout (read with :func:`load_tate`) or a CSV file
        (read with :func:`load_labelled_csv`).
    classes : "poster", list of str or None, default="poster"
        For a Tate folder, which mediums to keep (as in :func:`load_tate`;
        ``"all"`` is the same as None: every medium). Ignored for a CSV.
    max_images : int, optional
        Keep a sample of this many images, stratified by label where every
        label has enough images for it, else a plain random sample.
    seed : int, default=0
        Seed of the sample.
    group_by : str, optional
        Also return each image's group: for a Tate folder ``"artist"`` (the
        only one), for a CSV any column besides ``path`` and ``label`` (see
        :func:`load_labelled_csv`).

    Returns
    -------
    data : Bunch
        Dictionary-like object with attributes:

        data : ndarray of shape (n_samples,), dtype object
            Image paths.
        target : ndarray of shape (n_samples,), dtype object
            The label of each image.
        groups : ndarray of shape (n_samples,), dtype object
            With ``group_by`` only: the group of each image.
        summary : dict
            JSON-able: ``source`` (as given), ``kind`` (``"tate"`` or ``"csv"``),
            ``n_images`` and ``class_counts`` (label -> images): what a saved
            model records about its training data; with ``group_by``, also
            ``group_by`` and ``n_groups``.

    Raises
    ------
    OSError
        The source cannot be read (:class:`FileNotFoundError` when the Tate
        folder lacks its metadata).
    ValueError
        The contents are not in either layout (see the functions above), or
        ``group_by`` names no column there is (then also a
        :class:`LookupError`, with the message listing those there are).

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> labels = os.path.join(folder, "labels.csv")
    >>> with open(labels, "w") as fh:
    ...     _ = fh.write("path,label\\n" + "".join(
    ...         f"{i}.jpg,{'ab'[i % 2]}\\n" for i in range(10)))
    >>> data = load_labelled_images(labels, max_images=4)
    >>> len(data.data), data.summary["kind"], data.summary["class_counts"]
    (4, 'csv', {'a': 2, 'b': 2})
    """
    if max_images is not None:
        check_scalar(max_images, "max_images", numbers.Integral, min_val=1)
    source_path = Path(source)
    if source_path.is_dir():
        if group_by is not None and str(group_by).strip().lower() != "artist":
            raise _UnknownColumnError(
                f"{source}: no column {group_by!r} to group by; a Tate folder "
                "has: artist"
            )
        if classes == "all":
            classes = None
        tate = load_tate(data_home=source_path, classes=classes)
        X, y, groups = tate.data, tate.target, tate.groups
        kind = "tate"
    else:
        csv_data = load_labelled_csv(source_path, group_by=group_by)
        X, y, groups = csv_data.data, csv_data.target, csv_data.get("groups")
        kind = "csv"
    arrays = [X, y] if group_by is None else [X, y, groups]
    if max_images is not None and max_images < len(y):
        from sklearn.model_selection import train_test_split

        try:
            split = train_test_split(
                *arrays, train_size=max_images, stratify=y, random_state=seed
            )
        except ValueError:  # too few images of some label for a stratified sample
            split = train_test_split(*arrays, train_size=max_images, random_state=seed)
        arrays = split[::2]
    X, y = arrays[:2]
    labels, counts = np.unique(y, return_counts=True)
    summary = {
        "source": str(source),
        "kind": kind,
        "n_images": int(len(y)),
        "class_counts": {str(c): int(n) for c, n in zip(labels, counts)},
    }
    if group_by is None:
        return Bunch(data=X, target=y, summary=summary)
    groups = arrays[2]
    summary["group_by"] = str(group_by).strip().lower()
    summary["n_groups"] = len(set(groups.tolist()))
    return Bunch(data=X, target=y, groups=groups, summary=summary)
