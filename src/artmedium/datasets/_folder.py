"""The Tate folder on disk: where its metadata and images are, and reading them.

Shared by :func:`~artmedium.datasets.load_tate` and
:func:`~artmedium.datasets.fetch_tate` (which both know the folder layout), so
neither imports the other to find it. Tate publishes its collection metadata in
two forms, ``artwork_data.csv`` and a tree of per-artwork JSON files
(``artworks/**/*.json``); both are read here and turned into the same rows.
"""

import csv
import io
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from artmedium._files import NotRegularFileError, file_kind, open_regular
from artmedium.vocabulary import POSTER_CLASSES

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
