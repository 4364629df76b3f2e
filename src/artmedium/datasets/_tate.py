"""The Tate collection as a scikit-learn dataset: metadata + thumbnails on disk.

The metadata is read by :mod:`artmedium.datasets._folder`. Thumbnails live flat
in ``images/`` and are matched to rows by the basename of ``thumbnailUrl``,
falling back to ``<acno>_8.jpg`` and ``<acno>.jpg``.
"""

import os
import warnings
from collections import Counter
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

from artmedium._validation import check_count
from artmedium.datasets._folder import (
    IMAGES_DIR,
    find_metadata,
    match_images,
    medium_key,
    normalize_medium,
    read_metadata,
    resolve_classes,
    tate_home,
)
from artmedium.vocabulary import (
    OPEN_MIN_COUNT,
    as_vocabulary,
    build_vocabulary,
    tag_matrix,
    unknown_terms,
)

__all__ = ["load_tate"]


def _descr(summary):
    text = (
        resources.files("artmedium.datasets")
        .joinpath("descr", "tate.rst")
        .read_text(encoding="utf-8")
    )
    return text.rstrip() + "\n\n" + summary + "\n"


def load_tate(
    *,
    data_home=None,
    classes="poster",
    n_classes=None,
    min_count=1,
    vocabulary=None,
    metadata="auto",
    return_X_y=False,
    as_frame=False,
    download_if_missing=False,
):
    """Load Tate collection thumbnails with their medium, tags and artist.

    Reads Tate's open metadata (``artwork_data.csv``, or the per-artwork JSON tree
    ``artworks/**/*.json``) and the thumbnails in ``images/`` of ``data_home``.
    A row's image is ``images/<basename of thumbnailUrl>`` (e.g.
    ``N01234_8.jpg``), else ``images/<acno>_8.jpg``, else ``images/<acno>.jpg``;
    rows without an image are dropped and counted (``n_missing_images``).

    Medium strings are compared after collapsing whitespace and ignoring case,
    otherwise exactly: "Graphite  and watercolour on paper\\n" is "Graphite and
    watercolour on paper", "Graphite on paper. Verso: graphite on paper" is a
    class of its own. Read the full description in ``DESCR``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The Tate folder. None means ``$ARTMEDIUM_DATA/tate`` when that
        environment variable is set, else ``<sklearn.datasets.get_data_home()>/tate``.
    classes : "poster", list of str or None, default="poster"
        The medium classes to keep: the poster's ten (:data:`POSTER_CLASSES`),
        an explicit list of medium strings (their spelling is used for the
        targets), or None for every non-empty medium.
    n_classes : int, default=None
        Keep only the ``n_classes`` most frequent of those classes, counted
        among rows that have an image (ties broken alphabetically).
        ``classes=None, n_classes=10`` gives the sample's ten most frequent
        mediums.
    min_count : int, default=1
        Drop classes with fewer images than this.
    vocabulary : None, "learned", Vocabulary or sequence of str, default=None
        Tags for ``tags``; None means the poster's ten (:data:`POSTER_TAGS`);
        ``"learned"`` builds the open vocabulary of the loaded descriptions
        (:func:`build_vocabulary` with ``n_tags=None``,
        ``min_count=OPEN_MIN_COUNT``, ``broader=True``). Terms of the loaded
        descriptions that the vocabulary lacks are counted in
        ``unknown_terms`` and named in one warning, never silently dropped.
    metadata : {"auto", "csv", "json"}, default="auto"
        Which published form to read; "auto" prefers the CSV (faster) and falls
        back to the JSON tree.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Return pandas objects: ``frame`` (metadata columns + ``path`` +
        ``target``), ``data`` and ``target``, ``groups`` as Series and ``tags``
        as a DataFrame. Needs pandas.
    download_if_missing : bool, default=False
        When the folder, its ``images/`` or the metadata is missing, download
        them with :func:`fetch_tate` (for ``classes``) first. Off by default
        because the thumbnails of even the poster classes take hours to fetch.

    Returns
    -------
    data : Bunch
        Dictionary-like object with attributes:

        data : ndarray of shape (n_samples,), dtype object
            Absolute image paths, sliceable by any scikit-learn splitter.
        target : ndarray of shape (n_samples,), dtype object
            Medium of each image.
        tags : ndarray of shape (n_samples, n_tags), dtype int
            0/1 media tags of each target (:func:`tag_matrix`).
        tag_names : list of str
            Tag of each column of ``tags``.
        vocabulary : Vocabulary
            The vocabulary of ``tags``.
        unknown_terms : collections.Counter
            Terms of the loaded descriptions without a tag in ``vocabulary``,
            with the number of images that use each (:func:`unknown_terms`).
        groups : ndarray of shape (n_samples,), dtype object
            Artist of each image, for :class:`~sklearn.model_selection.GroupKFold`.
        target_names : list of str
            The classes, most frequent first.
        frame : DataFrame or None
            With ``as_frame=True``: metadata columns, ``path`` and ``target``.
        n_missing_images : int
            Metadata rows (of any medium) without an image on disk.
        DESCR : str
            Description of the dataset and of this load.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        When the folder, ``images/`` or the metadata is missing (and not
        downloaded).
    ValueError
        When the metadata has an unknown layout (naming the missing columns), is
        not a regular file (a named pipe, a device: named, never waited on), no
        image matches any row, or a requested class has no image.

    Examples
    --------
    >>> import csv, os, tempfile
    >>> from PIL import Image
    >>> home = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(home, "images"))
    >>> rows = [("A1", "Blake, William", "Graphite on paper"),
    ...         ("A2", "Turner, J. M. W.", "Oil paint on canvas"),
    ...         ("A3", "Turner, J. M. W.", "Graphite on paper")]
    >>> with open(os.path.join(home, "artwork_data.csv"), "w", newline="") as f:
    ...     w = csv.writer(f)
    ...     _ = w.writerow(["accession_number", "artist", "medium", "thumbnailUrl"])
    ...     for acno, artist, medium in rows:
    ...         url = f"http://www.tate.org.uk/art/images/work/{acno}_8.jpg"
    ...         _ = w.writerow([acno, artist, medium, url])
    ...         image = os.path.join(home, "images", f"{acno}_8.jpg")
    ...         Image.new("RGB", (8, 8)).save(image)
    >>> classes = ["Oil paint on canvas", "Graphite on paper"]
    >>> tate = load_tate(data_home=home, classes=classes)
    >>> tate.target_names
    ['Graphite on paper', 'Oil paint on canvas']
    >>> tate.tags[1], tate.tag_names[2:4]
    (array([0, 0, 1, 1, 0, 0, 0, 0, 0, 0]), ['oil paint', 'canvas'])
    >>> list(tate.groups)
    ['Blake, William', 'Turner, J. M. W.', 'Turner, J. M. W.']
    >>> X, y = load_tate(data_home=home, classes=None, return_X_y=True)
    >>> os.path.basename(X[0]), y[0]
    ('A1_8.jpg', 'Graphite on paper')
    """
    check_count(n_classes, "n_classes", allow_none=True)
    check_count(min_count, "min_count", allow_none=False)
    wanted = resolve_classes(classes)
    learned = isinstance(vocabulary, str) and vocabulary == "learned"
    vocab = None if learned else as_vocabulary(vocabulary)
    if as_frame:
        pd = _import_pandas()

    home = tate_home(data_home)
    images_dir = home / IMAGES_DIR
    try:
        meta_path, layout = _find_all(home, images_dir, metadata)
    except FileNotFoundError:
        if not download_if_missing:
            raise
        # Looked up at call time so that tests can point it at a local server.
        from artmedium.datasets import _fetch

        _fetch.fetch_tate(data_home=home, classes=classes)
        meta_path, layout = _find_all(home, images_dir, metadata)

    meta = read_metadata(meta_path, layout)
    image_names, files = match_images(meta, images_dir)
    with_image = [i for i, name in enumerate(image_names) if name is not None]
    n_missing = len(meta) - len(with_image)
    if not with_image:
        raise ValueError(
            f"no image in {images_dir} matches any of the {len(meta)} rows of "
            f"{meta_path} (by thumbnailUrl basename, <acno>_8.jpg or <acno>.jpg; "
            f"the folder holds {len(files)} files)"
        )

    counts, spellings = Counter(), {}
    for i in with_image:
        spelling = normalize_medium(meta.medium[i])
        if spelling:
            key = spelling.casefold()
            counts[key] += 1
            spellings.setdefault(key, Counter())[spelling] += 1
    if wanted is None:
        names = {key: spellings[key].most_common(1)[0][0] for key in counts}
    else:
        names = {medium_key(name): name for name in wanted}
        absent = [name for key, name in names.items() if counts[key] == 0]
        if absent:
            raise ValueError(
                f"no image in {images_dir} for the requested class(es) {absent}; "
                f"check the spelling against the metadata's medium column ({meta_path})"
            )
    keys = sorted(
        (key for key in names if counts[key] >= min_count),
        key=lambda k: (-counts[k], names[k]),
    )
    if n_classes is not None:
        keys = keys[:n_classes]
    if not keys:
        raise ValueError(
            f"no class has at least min_count={min_count} images in {images_dir}"
        )
    selected = set(keys)
    rows = [i for i in with_image if medium_key(meta.medium[i]) in selected]

    images_root = os.fspath(images_dir)
    data = np.array(
        [os.path.join(images_root, image_names[i]) for i in rows], dtype=object
    )
    target = np.array([names[medium_key(meta.medium[i])] for i in rows], dtype=object)
    groups = np.array([meta.artist[i] for i in rows], dtype=object)
    if learned:
        vocab = build_vocabulary(
            target, n_tags=None, min_count=OPEN_MIN_COUNT, broader=True
        )
    tags = tag_matrix(target, vocab, unknown="ignore")
    missing = unknown_terms(target, vocab)
    if missing:
        shown = ", ".join(f"{t!r} ({n})" for t, n in missing.most_common(5))
        warnings.warn(
            f"{len(missing)} medium term(s) of the loaded images have no tag in "
            f"the vocabulary ({shown}{', ...' if len(missing) > 5 else ''} "
            "images); their rows of `tags` lack them. The full list is in "
            "`unknown_terms`; vocabulary='learned' learns an open vocabulary.",
            UserWarning,
            stacklevel=2,
        )
    target_names = [names[k] for k in keys]

    summary = _load_summary(
        meta_path, images_dir, len(meta), n_missing, len(rows), keys, counts, names
    )
    frame = None
    if as_frame:
        frame = _frame(pd, meta, rows, data, target)
        data, target = frame["path"], frame["target"]
        groups = pd.Series(groups, index=frame.index, name="artist")
        tags = pd.DataFrame(tags, index=frame.index, columns=list(vocab.tags))
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        tags=tags,
        tag_names=list(vocab.tags),
        vocabulary=vocab,
        unknown_terms=missing,
        groups=groups,
        frame=frame,
        target_names=target_names,
        n_missing_images=n_missing,
        data_home=os.fspath(home),
        DESCR=_descr(summary),
    )


def _find_all(home, images_dir, metadata):
    if not home.is_dir():
        raise FileNotFoundError(
            f"Tate data folder {home} does not exist; fetch it with "
            "artmedium.datasets.fetch_tate or `artmedium fetch-tate`, or pass "
            "download_if_missing=True"
        )
    found = find_metadata(home, metadata)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"no thumbnail folder {images_dir}")
    return found


def _load_summary(
    meta_path, images_dir, n_rows, n_missing, n_samples, keys, counts, names
):
    width = max(len(names[k]) for k in keys)
    lines = [
        "This load",
        "---------",
        "",
        f"- metadata: {meta_path} ({n_rows} rows)",
        f"- images: {images_dir}",
        f"- rows without an image on disk (dropped): {n_missing}",
        f"- samples: {n_samples} in {len(keys)} classes",
        "",
    ]
    lines += [f"  {names[k]:<{width}}  {counts[k]}" for k in keys]
    return "\n".join(lines)


def _import_pandas():
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "load_tate(as_frame=True) needs pandas; install it with "
            "`pip install pandas` (or `pip install artmedium[pandas]`)"
        ) from exc
    return pd


def _frame(pd, meta, rows, data, target):
    frame = pd.DataFrame([meta.rows[i] for i in rows], columns=meta.columns)
    for column in frame.columns:
        values = frame[column].replace("", None)
        try:
            frame[column] = pd.to_numeric(values)
        except (ValueError, TypeError):
            frame[column] = values
    frame["path"] = data
    frame["target"] = target
    return frame
