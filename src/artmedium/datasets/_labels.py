"""Labelled images a user brings: a ``path,label`` CSV, or a Tate folder.

What ``artmedium train`` and ``artmedium evaluate`` read as DATA, as a library
call, so that a script and the command line load the same images.
"""

import csv
import numbers
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_scalar

from artmedium.datasets._tate import load_tate

__all__ = ["load_labelled_csv", "load_labelled_images"]


def load_labelled_csv(path, *, return_X_y=False):
    """Read a CSV of labelled images: a header row ``path,label``, then one row each.

    Column names are matched ignoring case and surrounding spaces; other
    columns are ignored, and so are blank rows. Relative image paths are
    relative to the CSV's folder, so a CSV and its images can move together.
    The images themselves are not opened here.

    Parameters
    ----------
    path : str or os.PathLike
        The CSV file (UTF-8, with or without a byte-order mark).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        Dictionary-like object with attributes:

        data : ndarray of shape (n_samples,), dtype object
            Absolute image paths.
        target : ndarray of shape (n_samples,), dtype object
            The label of each image.
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
        and the line where there is one).

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
    """
    base = Path(path).resolve().parent
    paths, labels = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in (reader.fieldnames or [])]
            if "path" not in fields or "label" not in fields:
                raise ValueError(
                    f"{path}: a CSV of labelled images needs a header row with the "
                    f"columns path,label; found {reader.fieldnames}"
                )
            reader.fieldnames = fields
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
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not paths:
        raise ValueError(f"{path} lists no images")
    X = np.array(paths, dtype=object)
    y = np.array(labels, dtype=object)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, filename=str(path))


def load_labelled_images(source, *, classes="poster", max_images=None, seed=0):
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

    Returns
    -------
    data : Bunch
        Dictionary-like object with attributes:

        data : ndarray of shape (n_samples,), dtype object
            Image paths.
        target : ndarray of shape (n_samples,), dtype object
            The label of each image.
        summary : dict
            JSON-able: ``source`` (as given), ``kind`` (``"tate"`` or ``"csv"``),
            ``n_images`` and ``class_counts`` (label -> images): what a saved
            model records about its training data.

    Raises
    ------
    OSError
        The source cannot be read (:class:`FileNotFoundError` when the Tate
        folder lacks its metadata).
    ValueError
        The contents are not in either layout (see the functions above).

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
        if classes == "all":
            classes = None
        X, y = load_tate(data_home=source_path, classes=classes, return_X_y=True)
        kind = "tate"
    else:
        X, y = load_labelled_csv(source_path, return_X_y=True)
        kind = "csv"
    if max_images is not None and max_images < len(y):
        from sklearn.model_selection import train_test_split

        try:
            X, _, y, _ = train_test_split(
                X, y, train_size=max_images, stratify=y, random_state=seed
            )
        except ValueError:  # too few images of some label for a stratified sample
            X, _, y, _ = train_test_split(
                X, y, train_size=max_images, random_state=seed
            )
    labels, counts = np.unique(y, return_counts=True)
    summary = {
        "source": str(source),
        "kind": kind,
        "n_images": int(len(y)),
        "class_counts": {str(c): int(n) for c, n in zip(labels, counts)},
    }
    return Bunch(data=X, target=y, summary=summary)
