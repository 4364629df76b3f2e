"""load_labelled_csv and load_labelled_images: the DATA of train and evaluate."""

import os

import numpy as np
import pytest

from artmedium.datasets import load_labelled_csv, load_labelled_images


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_paths_are_relative_to_the_csv_and_blank_rows_are_skipped(tmp_path):
    (tmp_path / "sub").mkdir()
    labels = write(
        tmp_path / "sub" / "labels.csv",
        "\ufeff Path , LABEL ,note\nimg/a.jpg, Etching on paper ,x\n,\n"
        f"{tmp_path}/b.jpg,Graphite on paper,\n",
    )
    data = load_labelled_csv(labels)
    assert list(data.data) == [str(tmp_path / "sub" / "img" / "a.jpg"),
                               str(tmp_path / "b.jpg")]  # fmt: skip
    assert list(data.target) == ["Etching on paper", "Graphite on paper"]
    assert data.data.dtype == object and data.filename == str(labels)
    X, y = load_labelled_csv(labels, return_X_y=True)
    assert list(X) == list(data.data) and list(y) == list(data.target)


@pytest.mark.parametrize(
    "text, encoding, message",
    [
        ("file,medium\na.jpg,x\n", "utf-8", "header row with the columns path,label"),
        ("", "utf-8", "header row with the columns path,label"),
        ("path,label\n", "utf-8", "lists no images"),
        ("path,label\na.jpg,x\n\nb.jpg,\n", "utf-8", "line 4: both path and label"),
        ("path,label\ncafé.jpg,x\n", "latin-1", "cannot read"),
        ("path,label\n" + "a" * 200_000 + ".jpg,x\n", "utf-8", "field limit"),
    ],
    ids=["no header", "empty", "no rows", "no label", "not UTF-8", "huge field"],
)
def test_bad_csv_is_a_value_error_naming_the_file(tmp_path, text, encoding, message):
    labels = write(tmp_path / "labels.csv", text, encoding)
    with pytest.raises(ValueError, match=message) as info:
        load_labelled_csv(labels)
    assert str(labels) in str(info.value)


def test_a_missing_csv_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_labelled_csv(tmp_path / "absent.csv")


def many(tmp_path, counts):
    rows = [f"{label}{i}.jpg,{label}" for label, n in counts.items() for i in range(n)]
    return write(tmp_path / "labels.csv", "path,label\n" + "\n".join(rows) + "\n")


def test_a_sample_is_stratified_and_seeded(tmp_path):
    labels = many(tmp_path, {"a": 30, "b": 10})
    data = load_labelled_images(labels, max_images=8, seed=1)
    assert data.summary == {
        "source": str(labels),
        "kind": "csv",
        "n_images": 8,
        "class_counts": {"a": 6, "b": 2},
    }
    again = load_labelled_images(labels, max_images=8, seed=1)
    assert list(again.data) == list(data.data)
    other = load_labelled_images(labels, max_images=8, seed=2)
    assert list(other.data) != list(data.data)
    whole = load_labelled_images(labels, max_images=100)
    assert whole.summary["n_images"] == 40 and len(whole.target) == 40


def test_a_sample_too_small_to_stratify_is_plain_random(tmp_path):
    labels = many(tmp_path, {"a": 5, "b": 1, "c": 1})
    data = load_labelled_images(labels, max_images=2)
    assert len(data.data) == 2
    assert sum(data.summary["class_counts"].values()) == 2


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3"])
def test_max_images_must_be_a_positive_int(tmp_path, bad):
    labels = many(tmp_path, {"a": 3, "b": 3})
    with pytest.raises((ValueError, TypeError), match="max_images"):
        load_labelled_images(labels, max_images=bad)


def test_a_tate_folder_is_read_with_load_tate(tmp_path):
    from test_tate import make_tate  # the synthetic Tate folder of the tate tests

    home = tmp_path / "tate"
    make_tate(home)
    data = load_labelled_images(home, classes="all")
    assert data.summary["kind"] == "tate"
    assert data.summary["n_images"] == len(data.data) == len(data.target) > 0
    assert np.all([isinstance(p, str) for p in data.data])


def test_group_by_returns_another_column_as_groups(tmp_path):
    labels = write(
        tmp_path / "labels.csv",
        "path,label, Artist ,date\na.jpg,x, Goya ,1800\nb.jpg,y,,1801\n",
    )
    data = load_labelled_csv(labels, group_by="ARTIST")
    assert list(data.groups) == ["Goya", ""]  # stripped; blank cells are one group
    assert data.groups.dtype == object
    assert "groups" not in load_labelled_csv(labels)
    X, y = load_labelled_csv(labels, group_by="artist", return_X_y=True)
    assert len(X) == len(y) == 2


@pytest.mark.parametrize("column", ["painter", "path", "label"])
def test_group_by_a_column_there_is_not_names_those_there_are(tmp_path, column):
    labels = write(tmp_path / "labels.csv", "path,label,artist,date\na.jpg,x,G,1\n")
    with pytest.raises(ValueError, match=f"no column '{column}'.*: artist, date") as e:
        load_labelled_csv(labels, group_by=column)
    assert isinstance(e.value, LookupError)  # told apart from a malformed file
    assert str(labels) in str(e.value)
    with pytest.raises(LookupError):
        load_labelled_images(labels, group_by=column)


def test_a_sample_keeps_each_image_with_its_group(tmp_path):
    rows = [
        f"{label}{i}.jpg,{label},by-{label}{i}" for label in "ab" for i in range(10)
    ]
    labels = write(tmp_path / "labels.csv", "path,label,artist\n" + "\n".join(rows))
    data = load_labelled_images(labels, max_images=6, seed=1, group_by="artist")
    assert len(data.groups) == len(data.data) == 6
    assert [g.removeprefix("by-") for g in data.groups] == [
        p.rsplit("/", 1)[1].removesuffix(".jpg") for p in data.data
    ]
    assert data.summary["group_by"] == "artist" and data.summary["n_groups"] == 6
    assert "groups" not in load_labelled_images(labels, max_images=6)


def test_a_tate_folder_groups_by_artist_only(tmp_path):
    from artmedium.datasets import load_tate
    from test_tate import make_tate

    home = make_tate(tmp_path / "tate")
    data = load_labelled_images(home, classes="all", group_by="artist")
    tate = load_tate(data_home=home, classes=None)
    assert list(data.groups) == list(tate.groups) and len(data.groups) > 0
    assert data.summary["n_groups"] == len(set(tate.groups)) > 1
    with pytest.raises(LookupError, match="no column 'date'.*artist"):
        load_labelled_images(home, group_by="date")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_the_csv_is_refused_without_waiting(tmp_path):
    from artmedium._files import NotRegularFileError
    from conftest import run_in_thread

    fifo = tmp_path / "labels.csv"
    os.mkfifo(fifo)  # no writer: a plain open() would block forever

    def load():
        with pytest.raises(NotRegularFileError, match="labels.csv"):
            load_labelled_csv(fifo)
        return True

    assert run_in_thread(load)
