"""The Tate collection as a scikit-learn dataset: metadata + thumbnails on disk.

Tate publishes its collection metadata in two forms, ``artwork_data.csv`` and a
tree of per-artwork JSON files (``artworks/**/*.json``); both are read here and
turned into the same rows. Thumbnails live flat in ``images/`` and are matched to
rows by the basename of ``thumbnailUrl``, falling back to ``<acno>_8.jpg`` and
``<acno>.jpg``.
"""

import csv
import io
import json
import os
import stat
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from artmedium._files import NotRegularFileError, file_kind, open_regular
from artmedium._validation import check_count
from artmedium.vocabulary import POSTER_CLASSES, as_vocabulary, tag_matrix

__all__ = ["load_tate"]

METADATA_CSV = "artwork_data.csv"
METADATA_JSON_DIR = "artworks"
IMAGES_DIR = "images"
#: Columns of Tate's ``artwork_data.csv`` that the loader needs.
REQUIRED_CSV_COLUMNS = ("accession_number", "artist", "medium", "thumbnailUrl")
#: Fields every Tate JSON artwork record must have.
REQUIRED_JSON_FIELDS = ("acno", "medium")
# Leading columns of a frame built from the JSON layout, named as in the CSV.
_JSON_FIRST_COLUMNS = (
    "id",
    "accession_number",
    "artist",
    "title",
    "medium",
    "thumbnailUrl",
)


def tate_home(data_home=None):
    """Resolve the Tate data folder.

    ``data_home`` wins; otherwise ``$ARTMEDIUM_DATA/tate`` when the environment
    variable is set; otherwise ``<sklearn.datasets.get_data_home()>/tate``.
    """
    if data_home is not None:
        return Path(data_home).expanduser().absolute()
    env = os.environ.get("ARTMEDIUM_DATA")
    if env:
        return (Path(env).expanduser() / "tate").absolute()
    from sklearn.datasets import get_data_home

    return (Path(get_data_home()) / "tate").absolute()


def normalize_medium(medium):
    """Collapse runs of whitespace and strip: the spelling used for targets."""
    return " ".join(str(medium).split()) if medium is not None else ""


def medium_key(medium):
    """Matching key of a medium string: whitespace-normalised and case-folded."""
    return normalize_medium(medium).casefold()


@dataclass
class TateMetadata:
    """Tate metadata rows, whatever the published layout, in CSV column names."""

    path: Path
    layout: str
    columns: list
    rows: list
    accession: list
    artist: list
    medium: list
    thumbnail_url: list

    def __len__(self):
        return len(self.rows)


def find_metadata(home, metadata="auto"):
    """Return ``(path, layout)`` of the metadata in ``home``; raise when absent."""
    if metadata not in ("auto", "csv", "json"):
        raise ValueError(f"metadata must be 'auto', 'csv' or 'json', got {metadata!r}")
    csv_path, json_dir = home / METADATA_CSV, home / METADATA_JSON_DIR
    if metadata in ("auto", "csv"):
        try:
            mode = csv_path.stat().st_mode
        except OSError:
            pass  # absent (or a broken link): look further
        else:
            if stat.S_ISREG(mode):
                return csv_path, "csv"
            # A FIFO would hang the reader, a folder fail later; and fetch_tate
            # must not replace whatever it is with a download.
            raise ValueError(
                f"{csv_path} is {file_kind(mode)}, not a regular file; expected "
                "Tate's artwork_data.csv"
            )
    if metadata in ("auto", "json") and json_dir.is_dir():
        return json_dir, "json"
    wanted = {"auto": f"{csv_path} or {json_dir}/", "csv": str(csv_path)}
    raise FileNotFoundError(
        f"no Tate metadata in {home}: expected {wanted.get(metadata, f'{json_dir}/')} "
        "(Tate's artwork_data.csv or its artworks/ JSON tree); "
        "fetch it with artmedium.datasets.fetch_tate or `artmedium fetch-tate`"
    )


def read_metadata(path, layout):
    """Read Tate metadata in the ``"csv"`` or ``"json"`` layout."""
    if layout == "csv":
        return _read_csv(Path(path))
    return _read_json_tree(Path(path))


def _read_csv(path):
    # The csv module beats pandas.read_csv here (see benchmarks/bench_load_tate.py)
    # and keeps pandas optional.
    try:
        # Never blocks: a FIFO or a device is refused, not waited on.
        raw = open_regular(path)
    except NotRegularFileError as exc:
        raise ValueError(f"{exc}; expected Tate's artwork_data.csv") from None
    with io.TextIOWrapper(raw, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if not header:
                raise ValueError(f"{path} is empty; expected Tate's artwork_data.csv")
            header = [name.strip() for name in header]
            missing = [c for c in REQUIRED_CSV_COLUMNS if c not in header]
            if missing:
                raise ValueError(
                    f"{path} is not in Tate's artwork_data.csv layout: missing "
                    f"column(s) {missing} (found {header!r:.300})"
                )
            n = len(header)
            rows = [r if len(r) == n else (r + [""] * n)[:n] for r in reader]
        except UnicodeDecodeError as exc:
            # A binary or mis-encoded file: say which, not just the codec error.
            raise ValueError(
                f"{path} is not UTF-8 text ({exc.reason}); "
                "expected Tate's artwork_data.csv"
            ) from None
        except csv.Error as exc:
            raise ValueError(
                f"{path} is not a readable CSV file (line {reader.line_num}: {exc}); "
                "expected Tate's artwork_data.csv"
            ) from None
    acno, artist, medium, url = (header.index(c) for c in REQUIRED_CSV_COLUMNS)
    return TateMetadata(
        path=path,
        layout="csv",
        columns=header,
        rows=rows,
        accession=[r[acno] for r in rows],
        artist=[r[artist] for r in rows],
        medium=[r[medium] for r in rows],
        thumbnail_url=[r[url] for r in rows],
    )


def _json_artist(record):
    contributors = record.get("contributors") or []
    if isinstance(contributors, list) and contributors:
        artists = [c for c in contributors if isinstance(c, dict)]

        def order(c):
            rank = c.get("displayOrder", 0)
            # A string or null displayOrder must not break the sort.
            number = isinstance(rank, (int, float)) and not isinstance(rank, bool)
            return (c.get("role") != "artist", rank if number else 0)

        artists.sort(key=order)
        if artists:
            # "mda" is the "Surname, Forename" form that the CSV's artist column uses.
            name = artists[0].get("mda") or artists[0].get("fc")
            if name:
                return str(name)
    return str(record.get("all_artists") or "")


def _read_json_tree(root):
    files = sorted(
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if name.endswith(".json")
    )
    if not files:
        raise FileNotFoundError(f"no *.json artwork records under {root}")
    records = []
    for file in files:
        try:
            # Never blocks: a FIFO named *.json is refused, not waited on.
            with io.TextIOWrapper(open_regular(file), encoding="utf-8") as f:
                record = json.load(f)
        except NotRegularFileError as exc:
            raise ValueError(f"{exc}; expected a JSON artwork record") from None
        except (OSError, ValueError, RecursionError) as exc:
            # ValueError covers invalid UTF-8; RecursionError, absurd nesting.
            raise ValueError(
                f"{file} is not a readable JSON artwork record: {exc}"
            ) from exc
        missing = [
            k
            for k in REQUIRED_JSON_FIELDS
            if not isinstance(record, dict) or k not in record
        ]
        if missing:
            raise ValueError(
                f"{file} is not in Tate's JSON artwork layout: "
                f"missing field(s) {missing}"
            )
        not_scalar = [
            k
            for k in (*REQUIRED_JSON_FIELDS, "thumbnailUrl")
            if isinstance(record.get(k), (dict, list))
        ]
        if not_scalar:
            raise ValueError(
                f"{file} is not in Tate's JSON artwork layout: field(s) "
                f"{not_scalar} must be text, not objects or lists"
            )
        row = {
            ("accession_number" if k == "acno" else k): v
            for k, v in record.items()
            if not isinstance(v, (dict, list))
        }
        row["artist"] = _json_artist(record)
        records.append(row)
    columns = list(_JSON_FIRST_COLUMNS)
    seen = set(columns)
    for row in records:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)

    def text(value):
        return "" if value is None else str(value)

    return TateMetadata(
        path=root,
        layout="json",
        columns=columns,
        rows=[[row.get(c) for c in columns] for row in records],
        accession=[text(r["accession_number"]) for r in records],
        artist=[r["artist"] for r in records],
        medium=[text(r["medium"]) for r in records],
        thumbnail_url=[text(r.get("thumbnailUrl")) for r in records],
    )


def url_basename(url):
    """File name at the end of a URL, without query or fragment."""
    return url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]


def match_images(meta, images_dir):
    """File name in ``images_dir`` of each metadata row, or None when absent.

    The folder is listed once (``os.scandir``) instead of stat-ing a path per row.
    """
    with os.scandir(images_dir) as entries:
        files = {e.name for e in entries if e.is_file()}
    names = []
    for url, acno in zip(meta.thumbnail_url, meta.accession):
        name = url_basename(url) if url else ""
        if name not in files:
            name = f"{acno}_8.jpg"
            if name not in files:
                name = f"{acno}.jpg"
                if name not in files:
                    name = None
        names.append(name)
    return names, files


def resolve_classes(classes):
    """Turn ``classes`` into ``None`` (all) or a list of unique medium strings."""
    if classes is None:
        return None
    if isinstance(classes, str):
        if classes == "poster":
            return list(POSTER_CLASSES)
        raise ValueError(
            "classes must be 'poster', None or a list of medium strings, "
            f"got {classes!r} "
            f"(wrap a single medium in a list: classes=[{classes!r}])"
        )
    wanted, keys = [], set()
    for name in classes:
        if not isinstance(name, str) or not normalize_medium(name):
            raise ValueError(f"classes must be non-empty medium strings, got {name!r}")
        if medium_key(name) not in keys:
            keys.add(medium_key(name))
            wanted.append(normalize_medium(name))
    if not wanted:
        raise ValueError("classes is an empty list; pass None for all mediums")
    return wanted


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
    vocabulary : None, Vocabulary or sequence of str, default=None
        Tags for ``tags``; None means the poster's ten (:data:`POSTER_TAGS`).
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
    vocab = as_vocabulary(vocabulary)
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
    tags = tag_matrix(target, vocab)
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
