"""load_tate on synthetic Tate-like trees (CSV and JSON layouts) and the real sample."""

import csv
import io
import json
import os
import random
import re
import sys

import numpy as np
import pytest
from PIL import Image

from artmedium.datasets import POSTER_CLASSES, POSTER_TAGS, load_tate, medium_to_tags
from conftest import run_in_thread

# Tate's artwork_data.csv header, in its order.
TATE_COLUMNS = [
    "id",
    "accession_number",
    "artist",
    "artistRole",
    "artistId",
    "title",
    "dateText",
    "medium",
    "creditLine",
    "year",
    "acquisitionYear",
    "dimensions",
    "width",
    "height",
    "depth",
    "units",
    "inscription",
    "thumbnailCopyright",
    "thumbnailUrl",
    "url",
]


def jpeg_bytes(seed, size=(24, 16)):
    """A small random RGB JPEG."""
    rng = np.random.RandomState(seed)
    pixels = rng.randint(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def thumbnail_url(acno, host="http://www.tate.org.uk"):
    return f"{host}/art/images/work/{acno[0]}/{acno[:3]}/{acno}_8.jpg"


def artwork(acno, medium, artist, *, url=True, image="url"):
    """One synthetic artwork: ``image`` is "url", "acno_8", "acno" or None."""
    return {
        "acno": acno,
        "medium": medium,
        "artist": artist,
        "url": thumbnail_url(acno) if url else "",
        "image": image,
    }


def sample_artworks():
    """A small collection covering every matching rule and several classes."""
    rows = []
    n = 0
    # (medium as in the metadata, artist, how many with an image)
    plan = [
        ("Graphite on paper", "Turner, Joseph Mallord William", 6),
        ("Oil paint on canvas", "Constable, John", 4),
        ("Screenprint on paper", "Hamilton, Richard", 3),
        ("Etching and aquatint on paper", "Goya, Francisco", 2),
        ("Line engraving on paper\n", "Blake, William", 1),
    ]
    for medium, artist, count in plan:
        for _ in range(count):
            n += 1
            rows.append(artwork(f"T{n:05d}", medium, artist))
    rows += [
        # Thumbnail URL points elsewhere, image saved by accession number.
        artwork(
            "N00001",
            "Graphite  on   paper",
            "Girtin, Thomas",
            url=False,
            image="acno_8",
        ),
        artwork(
            "N00002", "graphite on paper", "Girtin, Thomas", url=False, image="acno"
        ),
        # No image on disk: dropped and counted.
        artwork("N00003", "Graphite on paper", "Cox, David", image=None),
        artwork("N00004", "Oil paint on canvas", "Cox, David", image=None),
        artwork("N00005", "Lithograph on paper", "Cox, David", image=None),
        # An image, but no medium.
        artwork("N00006", "", "Unknown", image="url"),
    ]
    return rows


def write_images(home, rows):
    images = home / "images"
    images.mkdir(parents=True, exist_ok=True)
    for seed, row in enumerate(rows):
        names = {
            "url": f"{row['acno']}_8.jpg",
            "acno_8": f"{row['acno']}_8.jpg",
            "acno": f"{row['acno']}.jpg",
        }
        if row["image"] is not None:
            (images / names[row["image"]]).write_bytes(jpeg_bytes(seed))
    # A thumbnail no row refers to: ignored.
    (images / "Z99999_8.jpg").write_bytes(jpeg_bytes(999))
    return images


def csv_record(i, row):
    record = dict.fromkeys(TATE_COLUMNS, "")
    record.update(
        id=str(1000 + i),
        accession_number=row["acno"],
        artist=row["artist"],
        artistRole="artist",
        title=f"Work {i}",
        medium=row["medium"],
        year=str(1800 + i),
        thumbnailUrl=row["url"],
    )
    return record


def write_tate_csv(path, rows, columns=TATE_COLUMNS):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow(csv_record(i, row))


def write_tate_json(root, rows):
    for i, row in enumerate(rows):
        folder = root / row["acno"][0].lower() / row["acno"][1:4]
        folder.mkdir(parents=True, exist_ok=True)
        surname, _, forename = row["artist"].partition(", ")
        record = {
            "acno": row["acno"],
            "id": 1000 + i,
            "title": f"Work {i}",
            "medium": row["medium"] or None,
            "thumbnailUrl": row["url"] or None,
            "all_artists": f"{forename} {surname}".strip(),
            "contributors": [
                {"fc": "A Printer", "mda": "Printer, A", "role": "printer"},
                {"fc": f"{forename} {surname}", "mda": row["artist"], "role": "artist"},
            ],
            "subjects": {"id": 1, "name": "subject"},
        }
        with open(folder / f"{row['acno'].lower()}-{1000 + i}.json", "w") as f:
            json.dump(record, f)


def make_tate(home, rows=None, *, layout="csv"):
    rows = sample_artworks() if rows is None else rows
    home.mkdir(parents=True, exist_ok=True)
    write_images(home, rows)
    if layout in ("csv", "both"):
        write_tate_csv(home / "artwork_data.csv", rows)
    if layout in ("json", "both"):
        write_tate_json(home / "artworks", rows)
    return home


@pytest.fixture
def tate_home(tmp_path):
    return make_tate(tmp_path / "tate")


SAMPLE_CLASSES = ["Graphite on paper", "Oil paint on canvas", "Screenprint on paper"]


def test_load_returns_paths_targets_tags_and_artists(tate_home):
    tate = load_tate(data_home=tate_home, classes=SAMPLE_CLASSES)
    # 6 by URL + 2 Girtin fallbacks; 4 oils; 3 screenprints.
    assert tate.target_names == SAMPLE_CLASSES
    assert list(np.unique(tate.target, return_counts=True)[1]) == [8, 4, 3]
    assert tate.data.dtype == object and tate.data.ndim == 1
    assert all(isinstance(p, str) for p in tate.data)
    assert all((tate_home / "images").samefile(p.rsplit("/", 1)[0]) for p in tate.data)
    assert tate.tags.shape == (15, len(POSTER_TAGS))
    assert tate.tag_names == list(POSTER_TAGS)
    for medium, row in zip(tate.target, tate.tags):
        assert {tate.tag_names[j] for j in np.flatnonzero(row)} == set(
            medium_to_tags(medium).tags
        )
    assert tate.groups.dtype == object
    assert set(tate.groups) == {
        "Turner, Joseph Mallord William",
        "Girtin, Thomas",
        "Constable, John",
        "Hamilton, Richard",
    }
    assert tate.frame is None
    assert "Tate" in tate.DESCR and "GroupKFold" in tate.DESCR


def test_images_match_by_url_then_accession_number(tate_home):
    tate = load_tate(data_home=tate_home, classes=["Graphite on paper"])
    names = sorted(p.rsplit("/", 1)[-1] for p in tate.data)
    assert "N00001_8.jpg" in names and "N00002.jpg" in names
    assert "Z99999_8.jpg" not in names
    assert len(names) == 8


def test_rows_without_images_are_counted_in_bunch_and_descr(tate_home):
    tate = load_tate(data_home=tate_home, classes=SAMPLE_CLASSES)
    assert tate.n_missing_images == 3
    assert "without an image on disk (dropped): 3" in tate.DESCR


def test_medium_strings_match_after_whitespace_and_case_normalisation(tate_home):
    tate = load_tate(data_home=tate_home, classes=["  GRAPHITE on paper"])
    assert set(tate.target) == {"GRAPHITE on paper"}
    assert len(tate.target) == 8
    line = load_tate(data_home=tate_home, classes=["Line engraving on paper"])
    assert list(line.target) == ["Line engraving on paper"]


def test_classes_none_keeps_every_non_empty_medium(tate_home):
    tate = load_tate(data_home=tate_home, classes=None)
    assert tate.target_names == [
        "Graphite on paper",
        "Oil paint on canvas",
        "Screenprint on paper",
        "Etching and aquatint on paper",
        "Line engraving on paper",
    ]
    assert "" not in set(tate.target)
    assert len(tate.target) == 8 + 4 + 3 + 2 + 1


def test_n_classes_and_min_count_select_frequent_classes(tate_home):
    top2 = load_tate(data_home=tate_home, classes=None, n_classes=2)
    assert top2.target_names == ["Graphite on paper", "Oil paint on canvas"]
    assert set(top2.target) == set(top2.target_names)
    frequent = load_tate(data_home=tate_home, classes=None, min_count=3)
    assert frequent.target_names == SAMPLE_CLASSES
    # n_classes ranks within `classes`.
    one = load_tate(
        data_home=tate_home,
        classes=["Screenprint on paper", "Oil paint on canvas"],
        n_classes=1,
    )
    assert one.target_names == ["Oil paint on canvas"]


def test_poster_classes_with_a_class_lacking_images_name_it(tate_home):
    with pytest.raises(ValueError, match="Lithograph on paper") as info:
        load_tate(data_home=tate_home)
    assert "Graphite on paper'" not in str(info.value)


def test_poster_selection_on_a_complete_sample(tmp_path):
    rows = [
        artwork(f"P{i:05d}", medium, f"Artist {i % 3}")
        for i, medium in enumerate(POSTER_CLASSES * 2 + POSTER_CLASSES[:1])
    ]
    rows.append(artwork("P99999", "Etching and aquatint on paper", "Goya"))
    home = make_tate(tmp_path / "tate", rows)
    tate = load_tate(data_home=home)
    assert tate.target_names[0] == "Graphite on paper"
    assert sorted(tate.target_names) == sorted(POSTER_CLASSES)
    assert len(tate.target) == 21
    assert tate.tags[:, POSTER_TAGS.index("pen and ink")].sum() == 2


def test_return_x_y(tate_home):
    X, y = load_tate(data_home=tate_home, classes=SAMPLE_CLASSES, return_X_y=True)
    tate = load_tate(data_home=tate_home, classes=SAMPLE_CLASSES)
    np.testing.assert_array_equal(X, tate.data)
    np.testing.assert_array_equal(y, tate.target)


def test_as_frame_gives_metadata_path_and_target(tate_home):
    pd = pytest.importorskip("pandas")
    tate = load_tate(data_home=tate_home, classes=SAMPLE_CLASSES, as_frame=True)
    frame = tate.frame
    assert isinstance(frame, pd.DataFrame)
    for column in (
        "accession_number",
        "artist",
        "medium",
        "thumbnailUrl",
        "path",
        "target",
    ):
        assert column in frame.columns
    assert len(frame) == 15
    assert pd.api.types.is_numeric_dtype(frame["year"])
    assert isinstance(tate.data, pd.Series) and tate.data.equals(frame["path"])
    assert list(tate.target) == list(frame["target"])
    assert list(tate.tags.columns) == list(POSTER_TAGS)
    assert list(tate.groups) == list(frame["artist"])
    X, y = load_tate(
        data_home=tate_home, classes=SAMPLE_CLASSES, as_frame=True, return_X_y=True
    )
    assert X.equals(frame["path"])


def test_as_frame_without_pandas_says_how_to_install(tate_home, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        load_tate(data_home=tate_home, classes=SAMPLE_CLASSES, as_frame=True)


def test_json_layout_gives_the_same_dataset_as_the_csv(tmp_path):
    csv_home = make_tate(tmp_path / "csv", layout="csv")
    json_home = make_tate(tmp_path / "json", layout="json")
    a = load_tate(data_home=csv_home, classes=None)
    b = load_tate(data_home=json_home, classes=None)

    def rows(tate):
        names = [p.rsplit("/", 1)[-1] for p in tate.data]
        return sorted(zip(names, tate.target, tate.groups))

    # Same rows (the JSON tree is read in path order, the CSV in file order); the
    # artist comes from the contributor with role "artist", as "Surname, Forename".
    assert rows(a) == rows(b)
    assert a.target_names == b.target_names
    assert a.n_missing_images == b.n_missing_images
    pytest.importorskip("pandas")
    frame = load_tate(data_home=json_home, classes=None, as_frame=True).frame
    assert {"accession_number", "title", "id", "path", "target"} <= set(frame.columns)
    assert "contributors" not in frame.columns


def test_metadata_option_picks_a_layout_when_both_exist(tmp_path):
    home = make_tate(tmp_path / "tate", layout="both")
    (home / "artwork_data.csv").write_text("accession_number,medium\n")
    with pytest.raises(ValueError, match="artist"):
        load_tate(data_home=home, classes=None)
    assert len(load_tate(data_home=home, classes=None, metadata="json").target) == 18


def test_data_home_defaults_to_artmedium_data_env(tmp_path, monkeypatch):
    make_tate(tmp_path / "base" / "tate")
    monkeypatch.setenv("ARTMEDIUM_DATA", str(tmp_path / "base"))
    tate = load_tate(classes=SAMPLE_CLASSES)
    assert tate.data_home == str(tmp_path / "base" / "tate")


def test_data_home_defaults_under_sklearn_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("ARTMEDIUM_DATA", raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "skl"))
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(tmp_path / "skl" / "tate"))
    ):
        load_tate(download_if_missing=False)


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_tate(data_home=missing)


def test_missing_metadata_names_the_expected_files(tmp_path):
    home = tmp_path / "tate"
    (home / "images").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="artwork_data.csv") as info:
        load_tate(data_home=home)
    assert "artworks" in str(info.value)


def test_missing_images_folder_names_it(tmp_path):
    home = tmp_path / "tate"
    home.mkdir()
    write_tate_csv(home / "artwork_data.csv", sample_artworks())
    with pytest.raises(FileNotFoundError, match=re.escape(str(home / "images"))):
        load_tate(data_home=home)


def test_unknown_csv_layout_names_missing_columns(tmp_path):
    home = make_tate(tmp_path / "tate")
    columns = [c for c in TATE_COLUMNS if c not in ("medium", "thumbnailUrl")]
    write_tate_csv(home / "artwork_data.csv", sample_artworks(), columns)
    with pytest.raises(ValueError, match=r"\['medium', 'thumbnailUrl'\]") as info:
        load_tate(data_home=home)
    assert "artwork_data.csv" in str(info.value)


def test_empty_csv_is_refused(tmp_path):
    home = make_tate(tmp_path / "tate")
    (home / "artwork_data.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_tate(data_home=home)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (random.Random(0).randbytes(4096), "is not UTF-8 text"),
        # A Tate header, then invalid UTF-8 far beyond the first read block.
        (
            (",".join(TATE_COLUMNS) + "\n").encode()
            + b"1,A1,x,,,t,,Oil paint on canvas\n" * 2000
            + b"\xff\xfe\xfd\n",
            "is not UTF-8 text",
        ),
        # Valid UTF-8, but a field past the csv module's size limit.
        (
            (",".join(TATE_COLUMNS) + '\n"').encode() + b"x" * 200_000,
            r"is not a readable CSV file \(line 2: field larger",
        ),
    ],
    ids=["random bytes", "bad bytes late", "huge field"],
)
def test_unreadable_csv_is_a_value_error_naming_the_file(tmp_path, content, match):
    home = make_tate(tmp_path / "tate")
    path = home / "artwork_data.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + " " + match) as info:
        load_tate(data_home=home)
    assert type(info.value) is ValueError
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b'{"acno": "\xff\xfe", "medium": "Oil paint on canvas"}', "utf-8"),
        (b"[" * 100_000 + b"]" * 100_000, "recursion"),
        (b'{"acno": ["A1"], "medium": "Oil paint on canvas"}', r"\['acno'\] must be"),
        (b'{"acno": "A1", "medium": {"x": 1}}', r"\['medium'\] must be text"),
    ],
    ids=["invalid utf-8", "deep nesting", "acno a list", "medium an object"],
)
def test_unreadable_json_record_is_a_value_error_naming_the_file(
    tmp_path, content, match
):
    home = make_tate(tmp_path / "tate", layout="json")
    bad = home / "artworks" / "x" / "bad.json"
    bad.parent.mkdir()
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(bad)) + ".*" + match) as info:
        load_tate(data_home=home)
    assert type(info.value) is ValueError


def test_json_contributors_with_odd_display_order_still_load(tmp_path):
    home = make_tate(tmp_path / "tate", layout="json")
    record = home / "artworks" / "t" / "000" / "t00001-1000.json"
    data = json.loads(record.read_text())
    data["contributors"] = [
        {"mda": "Printer, A", "role": "printer", "displayOrder": "1"},
        {"mda": "Other, An", "role": "artist", "displayOrder": None},  # as 0
        {"mda": "First, The", "role": "artist", "displayOrder": -1},
    ]
    record.write_text(json.dumps(data))
    tate = load_tate(data_home=home, classes=None)
    artist = dict(zip((p.rsplit("/", 1)[-1] for p in tate.data), tate.groups))
    assert artist["T00001_8.jpg"] == "First, The"


def test_unknown_json_layout_names_file_and_fields(tmp_path):
    home = make_tate(tmp_path / "tate", layout="json")
    bad = home / "artworks" / "x" / "bad.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"title": "no accession number"}))
    with pytest.raises(ValueError, match=r"bad\.json.*\['acno', 'medium'\]"):
        load_tate(data_home=home)


needs_fifo = pytest.mark.skipif(
    not hasattr(os, "mkfifo"), reason="named pipes (FIFOs) are POSIX only"
)


@needs_fifo
@pytest.mark.parametrize(
    ("layout", "where", "expected"),
    [
        ("json", "artworks/x/evil.json", "a JSON artwork record"),
        ("csv", "artwork_data.csv", "Tate's artwork_data.csv"),
    ],
)
def test_fifo_metadata_is_a_value_error_naming_it_not_a_hang(
    tmp_path, layout, where, expected
):
    home = make_tate(tmp_path / "tate", layout=layout)
    fifo = home / where
    fifo.parent.mkdir(exist_ok=True)
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    with pytest.raises(ValueError) as info:
        run_in_thread(lambda: load_tate(data_home=home, classes=None))
    assert type(info.value) is ValueError
    assert str(info.value) == (
        f"{fifo} is a named pipe (FIFO), not a regular file; expected {expected}"
    )


@needs_fifo
def test_reading_csv_metadata_never_waits_on_a_fifo(tmp_path):
    from artmedium.datasets._folder import read_metadata

    fifo = tmp_path / "artwork_data.csv"
    os.mkfifo(fifo)
    with pytest.raises(ValueError) as info:
        run_in_thread(lambda: read_metadata(fifo, "csv"))
    assert type(info.value) is ValueError
    assert str(info.value).startswith(f"{fifo} is a named pipe (FIFO), ")


def test_folder_named_like_the_csv_is_named(tmp_path):
    home = make_tate(tmp_path / "tate", layout="json")
    (home / "artwork_data.csv").mkdir()
    with pytest.raises(ValueError) as info:
        load_tate(data_home=home)
    assert str(info.value) == (
        f"{home / 'artwork_data.csv'} is a directory, not a regular file; "
        "expected Tate's artwork_data.csv"
    )
    # The JSON tree is still there for the asking.
    assert len(load_tate(data_home=home, metadata="json", classes=None).data) > 0


def test_no_image_matching_any_row_names_the_folder(tmp_path):
    home = make_tate(tmp_path / "tate")
    for image in (home / "images").iterdir():
        image.rename(image.with_name("other_" + image.name))
    with pytest.raises(ValueError, match=re.escape(str(home / "images"))):
        load_tate(data_home=home, classes=None)


def test_requested_class_without_images_is_named(tate_home):
    with pytest.raises(ValueError, match="Pastel on paper"):
        load_tate(data_home=tate_home, classes=["Graphite on paper", "Pastel on paper"])


def test_min_count_above_every_class_is_an_error(tate_home):
    with pytest.raises(ValueError, match="min_count=100"):
        load_tate(data_home=tate_home, classes=None, min_count=100)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"classes": "Graphite on paper"}, "wrap a single medium"),
        ({"classes": []}, "empty list"),
        ({"classes": ["Graphite on paper", ""]}, "non-empty"),
        ({"n_classes": 0}, "n_classes"),
        ({"min_count": 0}, "min_count"),
        ({"metadata": "xml"}, "metadata"),
    ],
)
def test_invalid_options_are_refused(tate_home, options, match):
    with pytest.raises(ValueError, match=match):
        load_tate(data_home=tate_home, **options)


def test_custom_vocabulary_for_tags(tate_home):
    tate = load_tate(
        data_home=tate_home, classes=None, vocabulary=["etching", "aquatint"]
    )
    assert tate.tag_names == ["etching", "aquatint"]
    is_goya = tate.target == "Etching and aquatint on paper"
    assert (tate.tags[is_goya] == 1).all()
    assert (tate.tags[~is_goya] == 0).all()


def test_data_slices_in_cross_validation_grouped_by_artist(tate_home):
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

    tate = load_tate(data_home=tate_home, classes=SAMPLE_CLASSES)
    cv = GroupKFold(n_splits=2)
    for train, test in cv.split(tate.data, tate.target, tate.groups):
        assert not set(tate.groups[train]) & set(tate.groups[test])
    scores = cross_val_score(
        DummyClassifier(), tate.data, tate.target, groups=tate.groups, cv=cv
    )
    assert scores.shape == (2,)
    search = GridSearchCV(DummyClassifier(), {"strategy": ["prior", "uniform"]}, cv=cv)
    search.fit(tate.data, tate.target, groups=tate.groups)
    assert search.best_params_["strategy"] in ("prior", "uniform")


# ---------------------------------------------------------------- the real sample


@pytest.fixture(scope="module")
def real_poster(tate_dir):
    return load_tate(data_home=tate_dir)


def readme_class_counts(tate_dir):
    """The class balance listed in the sample's README ("Name 1,234 · ...")."""
    text = (tate_dir / "README.md").read_text(encoding="utf-8")
    block = text.split("(3,978 images):", 1)[1].split(". These are", 1)[0]
    counts = {}
    for item in block.split("·"):
        name, number = " ".join(item.split()).rsplit(" ", 1)
        counts[name] = int(number.replace(",", ""))
    return counts


@pytest.mark.tate
def test_real_sample_poster_counts_match_the_readme(tate_dir, real_poster):
    expected = readme_class_counts(tate_dir)
    assert sorted(expected) == sorted(POSTER_CLASSES)
    # The README counts exact strings; whitespace normalisation also finds T04580,
    # whose medium is "Line engraving on paper\n".
    expected["Line engraving on paper"] += 1
    names, counts = np.unique(real_poster.target, return_counts=True)
    assert dict(zip(names, counts.tolist())) == expected
    assert any(p.endswith("/T04580_8.jpg") for p in real_poster.data)
    ordered = sorted(expected, key=lambda k: (-expected[k], k))
    assert real_poster.target_names == ordered


@pytest.mark.tate
def test_real_sample_rows_and_groups(tate_dir, real_poster):
    with open(tate_dir / "artwork_data.csv", newline="", encoding="utf-8") as f:
        n_rows = sum(1 for _ in csv.DictReader(f))
    n_images = sum(1 for p in (tate_dir / "images").iterdir() if p.suffix == ".jpg")
    assert real_poster.n_missing_images == n_rows - n_images
    turner = real_poster.groups == "Turner, Joseph Mallord William"
    # The README's confound: most graphite drawings are Turner's.
    graphite = real_poster.target == "Graphite on paper"
    assert turner[graphite].mean() > 0.5
    assert real_poster.tags.shape == (len(real_poster.target), 10)
    assert real_poster.tags.sum(axis=1).min() >= 1


@pytest.mark.tate
def test_real_sample_top_ten_differs_from_the_poster_set(tate_dir):
    top = load_tate(data_home=tate_dir, classes=None, n_classes=10)
    assert len(top.target_names) == 10
    assert "Ink on paper" in top.target_names
    assert set(top.target_names) != set(POSTER_CLASSES)
