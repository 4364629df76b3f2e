"""`artmedium predict`: inputs, formats, errors, output files, streaming, models."""

import csv
import errno
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import unicodedata

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import artmedium.pretrained
from artmedium import MediumClassifier, MediumTagger
from artmedium.cli import main
from artmedium.datasets import tags_to_medium
from artmedium.persistence import load_model, save_model
from conftest import make_toy_images
from test_persistence import TWO_MEDIA, fit_toy_classifier, toy_embedder


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """A folder of 6 good PNGs, a subfolder, a hidden image and a text file."""
    X, _ = make_toy_images(n_per_class=3, size=40, seed=1)
    root = tmp_path_factory.mktemp("scans")
    for i, img in enumerate(X):
        Image.fromarray(img).save(root / f"scan{i}.png")
    (root / "sub").mkdir()
    Image.fromarray(X[0]).save(root / "sub" / "deep.png")
    Image.fromarray(X[1]).save(root / ".hidden.png")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny classifier whose classes are two poster media (so it has tags)."""
    X, y = make_toy_images(n_per_class=8, size=40)
    clf = fit_toy_classifier(X, TWO_MEDIA[(y == "striped").astype(int)])
    return save_model(clf, tmp_path_factory.mktemp("models") / "clf")


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory):
    X, y = make_toy_images(n_per_class=8, size=40)
    media = np.array(
        ["Graphite on paper", "Graphite and watercolour on paper"], dtype=object
    )[(y == "striped").astype(int)]
    tagger = MediumTagger(embedder=toy_embedder(), random_state=0).fit(X, media)
    return save_model(tagger, tmp_path_factory.mktemp("models") / "tagger")


def good_files(scans):
    return sorted(str(p) for p in scans.glob("scan*.png"))


def invoke(*args):
    return CliRunner().invoke(main, ["predict", *map(str, args)])


def parse(output, fmt):
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(output)))
    if fmt == "jsonl":
        return [json.loads(line) for line in output.splitlines()]
    return json.load(io.StringIO(output))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_each_format_parses_back_to_the_models_predictions(scans, model_dir, fmt):
    result = invoke(scans, "--model", model_dir, "--format", fmt)
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout, fmt)
    files = good_files(scans)
    assert [r["path"] for r in rows] == files
    proba = load_model(model_dir).predict_proba(np.array(files, dtype=object))
    classes = list(TWO_MEDIA)
    for row, p in zip(rows, proba):
        assert row["error"] == ""
        assert row["medium"] == classes[int(np.argmax(p))]
        assert float(row["probability"]) == pytest.approx(p.max(), abs=1e-6)
        if fmt == "csv":
            assert row["top1"] == row["medium"]
            assert float(row["top2_probability"]) == pytest.approx(p.min(), abs=1e-6)
            assert "tag:graphite" in row and "tag:canvas" in row
        else:
            assert [a["medium"] for a in row["top_k"]] == [
                classes[j] for j in np.argsort(-p)
            ]
            assert set(row["tag_probabilities"]) == {"graphite", "oil paint", "canvas"}


def test_table_lists_every_file_with_its_medium(scans, model_dir):
    result = invoke(scans, "--model", model_dir)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["path", "medium", "probability"]
    for path in good_files(scans):
        line = next(line for line in lines if line.startswith(path))
        assert any(m in line for m in TWO_MEDIA)


MEDIUM_TAGS = {
    "Graphite on paper": ["graphite"],
    "Oil paint on canvas": ["oil paint", "canvas"],
}


def test_tags_are_class_probabilities_summed(scans, model_dir):
    result = invoke(scans, "--model", model_dir, "--format", "jsonl")
    for row in parse(result.stdout, "jsonl"):
        p = {a["medium"]: a["probability"] for a in row["top_k"]}
        tags = row["tag_probabilities"]
        assert tags["graphite"] == pytest.approx(p["Graphite on paper"])
        assert tags["oil paint"] == pytest.approx(p["Oil paint on canvas"])
        assert tags["canvas"] == pytest.approx(tags["oil paint"])
        # The tags shown are the medium's own, whatever the marginals say.
        assert row["tags"] == MEDIUM_TAGS[row["medium"]]


def test_top_k_and_no_tags(scans, model_dir):
    result = invoke(scans, "--model", model_dir, "-f", "--top-k", "1", "--no-tags",
                    "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout, "csv")
    assert "top1" in rows[0] and "top2" not in rows[0]
    assert not any(k.startswith("tag:") for k in rows[0])
    assert all(r["tags"] == "" for r in rows)
    result = invoke(scans, "--model", model_dir, "--top-k", "9", "--format", "json")
    assert all(len(r["top_k"]) == 2 for r in parse(result.stdout, "json"))


def test_a_corrupt_file_gets_an_error_row_and_exit_1(scans, model_dir, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in good_files(scans)[:3]:
        (folder / os.path.basename(path)).write_bytes(open(path, "rb").read())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    result = invoke(folder, "--model", model_dir, "--format", "jsonl")
    assert result.exit_code == 1
    rows = parse(result.stdout, "jsonl")
    assert len(rows) == 4
    bad = next(r for r in rows if r["path"].endswith("broken.jpg"))
    assert bad["error"] and bad["medium"] is None and bad["probability"] is None
    assert all(
        r["error"] == "" and r["medium"] in TWO_MEDIA for r in rows if r is not bad
    )
    assert "1 of 4 input(s) could not be read" in result.stderr


def test_on_error_fail_stops_and_writes_no_file(scans, model_dir, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    files = good_files(scans)
    out = tmp_path / "out.csv"
    args = [files[0], bad, files[1], "--model", model_dir, "--on-error", "fail"]
    result = invoke(*args, "--format", "csv", "--output", out)
    assert result.exit_code == 1
    assert f"cannot read {bad}" in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]
    # On stdout the files before the bad one are reported, as valid JSON.
    result = invoke(*args, "--format", "json")
    assert result.exit_code == 1
    assert [r["path"] for r in parse(result.stdout, "json")] == [files[0]]


def test_output_file_is_complete_and_never_silently_replaced(
    scans, model_dir, tmp_path
):
    out = tmp_path / "results.jsonl"
    result = invoke(scans, "--model", model_dir, "--format", "jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert len(parse(out.read_text(), "jsonl")) == 6
    out.write_text("precious")
    result = invoke(scans, "--model", model_dir, "-o", out)
    assert result.exit_code == 1
    assert "already exists; pass --force" in result.output
    assert out.read_text() == "precious"
    result = invoke(
        scans, "--model", model_dir, "--format", "json", "-o", out, "--force"
    )
    assert result.exit_code == 0
    assert len(parse(out.read_text(), "json")) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]


def test_unwritable_output_location_exits_1(scans, model_dir, tmp_path):
    # A folder made read-only does not stop root, but a "folder" that is a file
    # stops everyone.
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = invoke(scans, "--model", model_dir, "-o", not_a_folder / "out.csv")
    assert result.exit_code == 1
    assert "cannot write --output" in result.output
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            result = invoke(scans, "--model", model_dir, "-o", locked / "out.csv")
            assert result.exit_code == 1
            assert "cannot write --output" in result.output
        finally:
            locked.chmod(0o700)
    result = invoke(scans, "--model", model_dir, "-o", tmp_path)
    assert result.exit_code == 1
    assert "is a folder" in result.output


def test_quoted_globs_are_expanded(scans, model_dir):
    result = invoke(scans / "scan[0-2].png", "--model", model_dir, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    names = [os.path.basename(r["path"]) for r in parse(result.stdout, "jsonl")]
    assert names == ["scan0.png", "scan1.png", "scan2.png"]
    result = invoke(scans / "**" / "*.png", "--model", model_dir, "--format", "jsonl")
    names = {os.path.basename(r["path"]) for r in parse(result.stdout, "jsonl")}
    assert "deep.png" in names and len(names) == 7


@pytest.mark.parametrize(
    "named, message",
    [
        ("absent.png", "no such file or folder: {}"),
        ("absent", "no such file or folder: {}"),
        ("*.tif", "no file matches the pattern {}"),
        ("absent/**/*.png", "no file matches the pattern {}"),
    ],
)
def test_a_name_that_names_nothing_is_a_usage_error(scans, model_dir, named, message):
    """Issue #13: `predict ~/Pictures` on a missing folder printed a table row."""
    missing = scans / named
    result = invoke(scans / "scan0.png", missing, "--model", model_dir)
    assert result.exit_code == 2
    assert result.stdout == ""  # nothing predicted
    assert result.stderr.splitlines()[-1] == "Error: " + message.format(missing)
    assert "Usage: " in result.stderr


def test_a_missing_name_is_shown_escaped(scans, model_dir):
    result = invoke(scans / "\x1b]0;owned\x07.png", "--model", model_dir)
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\\x1b]0;owned\\x07.png" in result.stderr


def test_exit_statuses_are_documented_in_help():
    text = " ".join(invoke("--help").stdout.split())
    assert "2 for a usage error, such as a file or folder named that does" in text
    assert "1 when any could not be (after writing every result)" in text


def test_folders_give_image_files_and_recursive_adds_subfolders(scans, model_dir):
    flat = parse(
        invoke(scans, "--model", model_dir, "--format", "jsonl").stdout, "jsonl"
    )
    deep = parse(
        invoke(scans, "-r", "--model", model_dir, "--format", "jsonl").stdout, "jsonl"
    )
    flat_names = [os.path.basename(r["path"]) for r in flat]
    deep_names = [os.path.basename(r["path"]) for r in deep]
    assert "deep.png" not in flat_names and "deep.png" in deep_names
    assert ".hidden.png" not in deep_names and "notes.txt" not in deep_names
    # A file named explicitly is tried whatever its name.
    result = invoke(scans / "notes.txt", "--model", model_dir, "--format", "jsonl")
    assert result.exit_code == 1
    assert parse(result.stdout, "jsonl")[0]["error"]


def test_predictions_stream_in_batches(scans, model_dir, monkeypatch):
    sizes = []
    original = MediumClassifier.predict_proba

    def spy(self, X):
        sizes.append(len(X))
        return original(self, X)

    monkeypatch.setattr(MediumClassifier, "predict_proba", spy)
    result = invoke(scans, "--model", model_dir, "--batch-size", "4", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert sizes == [4, 2]


def test_no_progress_bar_when_stderr_is_not_a_terminal(scans, model_dir):
    result = invoke(scans, "--model", model_dir, "--batch-size", "1")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_embedded_model_is_the_default(scans, model_dir, monkeypatch, tmp_path):
    """--vocabulary poster: the embedded ten-class classifier, as before #16."""
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", model_dir)
    with_default = invoke(scans, "--vocabulary", "poster", "--format", "json")
    assert with_default.exit_code == 0, with_default.output
    explicit = invoke(scans, "--model", model_dir, "--format", "json")
    assert parse(with_default.stdout, "json") == parse(explicit.stdout, "json")
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", tmp_path / "none")
    result = invoke(scans, "--vocabulary", "poster")
    assert result.exit_code == 1
    assert "default model is not installed" in result.output
    assert "--vocabulary poster" not in result.output


def test_a_tagger_model_reports_its_tags(scans, tagger_dir):
    result = invoke(scans, "--model", tagger_dir, "--format", "json", "--top-k", "2")
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout, "json")
    tagger = load_model(tagger_dir)
    expected = tagger.predict_medium(np.array(good_files(scans), dtype=object))
    assert [r["medium"] for r in rows] == list(expected)
    names = list(tagger.tag_names_)
    for row in rows:
        assert row["medium"] == tags_to_medium(row["tags"], vocabulary=names)
        assert 0 < row["probability"] <= 1
        assert row["top_k"][0]["probability"] >= row["top_k"][1]["probability"]
        assert set(row["tag_probabilities"]) == set(names)


@pytest.mark.parametrize(
    "bad",
    [
        [],
        ["--format", "xml"],
        ["--top-k", "0"],
        ["--on-error", "ignore"],
        ["--nope"],
        ["--confidence", "1.5"],
        ["--confidence", "0"],
        ["--accept-accuracy", "0"],
        ["--accept-accuracy", "1.01"],
        ["--unknown-rate", "1"],
        ["--unknown-rate", "-0.1"],
        ["--vocabulary", "aat"],
        ["--vocabulary", "poster"],  # with --model
        ["--vocabulary", "tate"],
    ],
)
def test_usage_errors_exit_2(scans, model_dir, bad):
    paths = [] if bad == [] else [scans]
    result = invoke(*paths, "--model", model_dir, *bad)
    assert result.exit_code == 2


def test_model_problems_exit_1(scans, tmp_path):
    result = invoke(scans, "--model", tmp_path / "absent")
    assert result.exit_code == 1
    assert "no saved model" in result.output
    features = MediumClassifier(max_epochs=1, random_state=0).fit(
        np.eye(4), [0, 1, 0, 1]
    )
    path = save_model(features, tmp_path / "features")
    result = invoke(scans, "--model", path)
    assert result.exit_code == 1
    assert "2-D features" in result.output


def test_nothing_to_read_exits_1(model_dir, tmp_path):
    result = invoke(tmp_path, "--model", model_dir)
    assert result.exit_code == 1
    assert "no image files found" in result.output


# ------------------------------------------------------------------ hostile names

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_NAMES = [
    b"=HYPERLINK(1).png",
    b"+1.png",
    b"-2.png",
    b"@SUM(A1).png",
    b"\tTab.png",
    b"\x1b[31mred\x1b[0m.png",
    b"two\nlines.png",
    b"csi\xc2\x9b2J.png",
    b"\xff.png",
]


def write_png(folder, name, image):
    """Save ``image`` under a raw byte ``name``: any name the file system takes."""
    path = os.path.join(os.fsencode(folder), name)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with open(path, "wb") as fh:
        fh.write(buffer.getvalue())
    return os.fsdecode(path)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Images named like formulas, terminal escapes and bytes that are not UTF-8."""
    X, _ = make_toy_images(n_per_class=5, size=40, seed=2)
    root = tmp_path_factory.mktemp("hostile")
    for name, image in zip(HOSTILE_NAMES, X):
        write_png(root, name, image)
    return root


def is_unsafe_char(char):
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")


@pytest.mark.parametrize("fmt", ["csv", "table"])
def test_no_cell_starts_a_spreadsheet_formula(
    hostile, model_dir, monkeypatch, tmp_path, fmt
):
    # A glob in the current folder gives names as they are, first in the cell.
    for name in os.listdir(os.fsencode(hostile)):
        shutil.copyfile(
            os.path.join(os.fsencode(hostile), name),
            os.path.join(os.fsencode(tmp_path), name),
        )
    (tmp_path / "=bad.png").write_bytes(b"=cmd|' /C calc'!A0")
    monkeypatch.chdir(tmp_path)
    result = invoke("*.png", "--model", model_dir, "--format", fmt)
    assert result.exit_code == 1, result.output  # the unreadable =bad.png
    if fmt == "csv":
        table = list(csv.reader(io.StringIO(result.stdout)))
        cells = [cell for line in table for cell in line]
        paths = [line[0] for line in table[1:]]
    else:
        lines = result.stdout.splitlines()
        cells = lines
        paths = [line.split("  ")[0] for line in lines[1:]]
    assert len(paths) == len(HOSTILE_NAMES) + 1
    assert not any(cell.startswith(FORMULA_START) for cell in cells)
    for name in ("=HYPERLINK(1).png", "+1.png", "-2.png", "@SUM(A1).png"):
        assert "'" + name in paths
    assert "'=bad.png" in paths


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_control_characters_in_names_are_escaped(hostile, model_dir, fmt):
    result = invoke(hostile, "--model", model_dir, "--format", fmt)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert not any(is_unsafe_char(c) for c in text.replace("\n", ""))
    # One row, one line: nothing splits a row, whatever splits lines.
    assert text.splitlines() == text.split("\n")[:-1]
    assert len(text.splitlines()) == len(HOSTILE_NAMES) + 1
    for escaped in ("\\x1b[31mred\\x1b[0m.png", "two\\nlines.png", "csi\\u009b2J.png"):
        assert escaped in text


@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl", "json"])
@pytest.mark.parametrize("to_file", [True, False], ids=["output", "stdout"])
def test_names_that_are_not_utf8_are_written_losslessly(
    hostile, model_dir, tmp_path, fmt, to_file
):
    out = tmp_path / "out"
    args = [hostile, "--model", model_dir, "--format", fmt]
    result = invoke(*args, *(["-o", out] if to_file else []))
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode("utf-8") if to_file else result.stdout
    expected = {os.path.join(os.fsencode(hostile), name) for name in HOSTILE_NAMES}
    if fmt in ("jsonl", "json"):
        assert {os.fsencode(r["path"]) for r in parse(text, fmt)} == expected
    else:
        assert "\\xff.png" in text
    if fmt == "csv":
        from test_writers import unescape

        paths = {os.fsencode(unescape(r["path"])) for r in parse(text, fmt)}
        assert paths == expected


# ------------------------------------------------------------------ output files


@pytest.mark.parametrize("kind", ["fifo", "symlink to /dev/null", "symlink to a file"])
def test_force_replaces_nothing_but_a_regular_file(scans, model_dir, tmp_path, kind):
    from test_writers import make_special

    out = tmp_path / "out.csv"
    make_special(kind, out, tmp_path)
    before = os.lstat(out)
    result = invoke(scans, "--model", model_dir, "-o", out, "--force")
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"Error: --output {out} is a")
    assert "not a regular file" in line
    after = os.lstat(out)
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (
        before.st_ino,
        stat.S_IFMT(before.st_mode),
    )
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def fail_on_call(n, exc):
    """A predict_proba that raises ``exc`` on its ``n``-th call."""
    original = MediumClassifier.predict_proba
    calls = []

    def predict_proba(self, X):
        calls.append(1)
        if len(calls) == n:
            raise exc
        return original(self, X)

    return predict_proba


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize(
    "failure", ["Ctrl-C in batch 2", "a bug in batch 2", "--on-error fail"]
)
def test_a_failed_forced_run_leaves_the_existing_output_byte_for_byte(
    scans, model_dir, tmp_path, monkeypatch, fmt, failure
):
    out = tmp_path / "results"
    original = b"path,medium\nprecious.jpg,Oil paint on canvas\n\xe2\x82\xac\n"
    out.write_bytes(original)
    files = good_files(scans)
    args = ["--model", model_dir, "--format", fmt, "-o", out, "--force"]
    if failure == "--on-error fail":
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"nope")
        result = invoke(*files[:3], bad, *files[3:], *args, "--batch-size", "1",
                        "--on-error", "fail")  # fmt: skip
        assert result.exit_code == 1
        assert result.stderr.splitlines()[-1].startswith(f"Error: cannot read {bad}")
    else:
        # Errors the predictor turns into error rows (ValueError, RuntimeError)
        # complete the file; these end the run once the first batch is written.
        exc = KeyboardInterrupt() if failure.startswith("Ctrl-C") else TypeError("bug")
        monkeypatch.setattr(MediumClassifier, "predict_proba", fail_on_call(2, exc))
        result = invoke(*files, *args, "--batch-size", "2")
        if failure.startswith("Ctrl-C"):
            assert result.exit_code == 130
            assert result.stderr.splitlines() == [
                f"Error: stopped by SIGINT; --output {out} was not written"
            ]
        else:
            assert isinstance(result.exception, TypeError)
    assert out.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) in (
        ["results"],
        ["bad.png", "results"],
    )


@pytest.mark.parametrize(
    "failing",
    ["disk full at commit", "disk full mid-stream", "fsync", "replace"],
)
def test_a_failed_write_is_one_line_and_leaves_nothing(
    scans, model_dir, tmp_path, monkeypatch, failing
):
    from artmedium import _writers
    from test_writers import open_on_full_disk

    out = tmp_path / "results.jsonl"
    out.write_bytes(b"precious")

    def no_space(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "disk full at commit":
        monkeypatch.setattr(_writers, "open", open_on_full_disk(0), raising=False)
    elif failing == "disk full mid-stream":
        full = open_on_full_disk(1000, buffer_size=64)
        monkeypatch.setattr(_writers, "open", full, raising=False)
    else:
        monkeypatch.setattr(os, failing, no_space)
    result = invoke(scans, "--model", model_dir, "--format", "jsonl", "-o", out,
                    "--force", "--batch-size", "2")  # fmt: skip
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: cannot write --output {out}: No space left on device"
    ]
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]


def test_a_failed_write_to_stdout_is_one_line(scans, model_dir, monkeypatch):
    from artmedium._writers import CsvWriter

    original = CsvWriter.write
    calls = []

    def write(self, rows):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(self, rows)

    monkeypatch.setattr(CsvWriter, "write", write)
    result = invoke(scans, "--model", model_dir, "--format", "csv", "--batch-size", "2")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: cannot write to stdout: No space left on device"
    ]


# A stand-in for `artmedium predict` whose model takes 50 ms a batch, so that a
# signal or a closed pipe reliably lands mid-run.
SLOW_PREDICT = """
import sys, time
from artmedium import MediumClassifier
from artmedium.cli import main

original = MediumClassifier.predict_proba

def slow(self, X):
    time.sleep(0.05)
    return original(self, X)

MediumClassifier.predict_proba = slow
main(prog_name="artmedium")
"""


@pytest.fixture(scope="module")
def many_scans(tmp_path_factory):
    """150 small PNGs: a run of a few seconds at one image a batch."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("many")
    for i in range(150):
        image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / f"{i:03d}.png")
    return root


def start_slow_predict(many_scans, model_dir, *args, **popen):
    command = [sys.executable, "-c", SLOW_PREDICT, "predict", str(many_scans),
               "--model", str(model_dir), "--batch-size", "1", "--workers", "1",
               *map(str, args)]  # fmt: skip
    return subprocess.Popen(command, stderr=subprocess.PIPE, **popen)


def test_sigterm_leaves_no_part_file_and_the_old_output(
    many_scans, model_dir, tmp_path
):
    out = tmp_path / "results.csv"
    out.write_bytes(b"precious")
    proc = start_slow_predict(
        many_scans, model_dir, "--format", "csv", "-o", out, "--force"
    )
    try:
        deadline = time.monotonic() + 30
        while not any(".part" in p.name for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.02)
        time.sleep(0.5)  # well into the run
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr.decode().splitlines() == [
        f"Error: stopped by SIGTERM; --output {out} was not written"
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]
    assert out.read_bytes() == b"precious"


def test_a_closed_pipe_ends_the_run_quietly(many_scans, model_dir):
    proc = start_slow_predict(
        many_scans, model_dir, "--format", "jsonl", stdout=subprocess.PIPE
    )
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert json.loads(first)["path"].endswith("000.png")
    assert stderr.decode() == ""
    assert proc.returncode == 128 + signal.SIGPIPE


def test_signal_handlers_are_restored_after_a_run(scans, model_dir, tmp_path):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    assert invoke(scans, "--model", model_dir, "-o", tmp_path / "a").exit_code == 0
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    result = invoke(
        bad, "--model", model_dir, "--on-error", "fail", "-o", tmp_path / "b"
    )
    assert result.exit_code == 1
    assert {s: signal.getsignal(s) for s in before} == before


# ------------------------------------------------------------------ on a terminal


class Terminal:
    """stdout and stderr of one terminal: what a person sees, ``\\r`` included."""

    encoding = "utf-8"

    def __init__(self):
        self.raw = ""
        self.lines = [""]
        self.column = 0
        self.rows_started_mid_line = []

    def isatty(self):
        return True

    def flush(self):
        pass

    def write(self, text):
        self.raw += text
        for char in text:
            if char == "\r":
                self.column = 0
            elif char == "\n":
                self.lines.append("")
                self.column = 0
            else:
                line = self.lines[-1].ljust(self.column)
                self.lines[-1] = line[: self.column] + char + line[self.column + 1 :]
                self.column += 1
        return len(text)

    def screen(self):
        return [line.rstrip() for line in self.lines if line.strip()]


def same_path(shown, path):
    """Whether a table cell shows ``path``, maybe shortened from the left."""
    return shown == path or (shown[0] == "\u2026" and path.endswith(shown[1:]))


def predict_on_terminal(monkeypatch, columns, *args):
    """Run predict with stdout and stderr on one (fake) terminal."""
    terminal = Terminal()
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    try:
        main.main(["predict", *map(str, args)], prog_name="artmedium",
                  standalone_mode=False)  # fmt: skip
        code = 0
    except SystemExit as exc:
        code = exc.code
    return terminal, code


def test_the_progress_bar_never_shares_a_line_with_rows(scans, model_dir, monkeypatch):
    """Issue #13: rows started with `predicting [###--] 10%` in a terminal."""
    terminal, code = predict_on_terminal(
        monkeypatch, 100, scans, "--model", model_dir, "--batch-size", "2"
    )
    assert code == 0
    assert "predicting [" in terminal.raw  # the bar was drawn ...
    screen = terminal.screen()
    assert not any("predicting" in line for line in screen)  # ... and cleared
    assert screen[0].split()[:3] == ["path", "medium", "probability"]
    assert len(screen) == 1 + len(good_files(scans))
    for line, path in zip(screen[1:], good_files(scans)):
        assert same_path(line.split()[0], path)


def test_quiet_shows_no_bar_on_a_terminal(scans, model_dir, monkeypatch):
    terminal, code = predict_on_terminal(
        monkeypatch, 100, scans, "--model", model_dir, "--batch-size", "2", "-q"
    )
    assert code == 0 and "predicting" not in terminal.raw


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_the_table_fits_the_terminal(scans, model_dir, monkeypatch, columns):
    terminal, code = predict_on_terminal(
        monkeypatch, columns, scans, "--model", model_dir, "--top-k", "2"
    )
    assert code == 0
    screen = terminal.screen()
    assert all(len(line) < columns for line in screen), screen
    if columns != 80:  # at 80 it depends on the length of the paths
        assert ("alternatives" in screen[0]) == (columns == 200)
    for line, path in zip(screen[1:], good_files(scans)):
        assert same_path(line.split()[0], path)
        assert any(m in line for m in TWO_MEDIA)


# ------------------------------------------------------------------ calibrated


@pytest.fixture(scope="module")
def calibrated_dir(tmp_path_factory):
    """A tiny classifier of two poster media with a calibration (issue #15)."""
    from test_inference import fit_calibrated_classifier

    folder = tmp_path_factory.mktemp("models") / "calibrated"
    return save_model(fit_calibrated_classifier(), folder)


@pytest.fixture(scope="module")
def scans_and_broken(scans, tmp_path_factory):
    """The good scans and an unreadable file, in one folder."""
    root = tmp_path_factory.mktemp("with_broken")
    for path in good_files(scans):
        shutil.copy(path, root)
    (root / "broken.png").write_bytes(b"not an image at all")
    return root


@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl", "json"])
def test_a_calibrated_model_shows_status_and_candidates(
    scans_and_broken, calibrated_dir, fmt
):
    result = invoke(scans_and_broken, "--model", calibrated_dir, "--format", fmt)
    assert result.exit_code == 1  # the broken file, after every row
    broken = str(scans_and_broken / "broken.png")
    files = sorted(str(p) for p in scans_and_broken.glob("scan*.png"))
    model = load_model(calibrated_dir)
    answers = model.assess(np.array(files, dtype=object))
    classes = list(model.classes_)
    expected = {
        path: (
            answers.status[i],
            [classes[j] for j in np.argsort(-answers.proba[i]) if answers.sets[i, j]],
        )
        for i, path in enumerate(files)
    }
    if fmt == "table":
        header, *lines = result.stdout.splitlines()
        assert header.split()[:5] == [
            "path", "medium", "probability", "status", "candidates"
        ]  # fmt: skip
        status_at = header.index("status")
        candidates_at = header.index("candidates")
        for line in lines:
            path = line.split()[0]
            if path == broken:
                assert "error: " in line and "ok" not in line.split()
                continue
            status, candidates = expected[path]
            assert line[status_at:].split()[0] == status
            shown = line[candidates_at:].split("  ")[0].strip()
            assert shown == " | ".join(candidates)
        return
    rows = {r["path"]: r for r in parse(result.stdout, fmt)}
    assert set(rows) == {*files, broken}
    bad = rows.pop(broken)
    if fmt == "csv":
        assert list(bad)[3:6] == ["status", "candidates", "novelty"]
        assert (bad["status"], bad["candidates"], bad["novelty"]) == ("", "", "")
        for path, row in rows.items():
            status, candidates = expected[path]
            assert row["status"] == status
            assert row["candidates"] == ";".join(candidates)
            i = files.index(path)
            assert float(row["novelty"]) == pytest.approx(answers.novelty[i], abs=2e-6)
    else:
        assert (bad["status"], bad["candidates"], bad["novelty"]) == (None, [], None)
        for path, row in rows.items():
            assert (row["status"], row["candidates"]) == expected[path]
            i = files.index(path)
            assert row["novelty"] == pytest.approx(answers.novelty[i], rel=1e-4)


def test_accept_accuracy_1_leaves_no_more_answers_ok(scans, calibrated_dir):
    def statuses(*options):
        result = invoke(scans, "--model", calibrated_dir, "--format", "jsonl", *options)
        assert result.exit_code == 0, result.output
        return [r["status"] for r in parse(result.stdout, "jsonl")]

    default = statuses()
    strict = statuses("--accept-accuracy", "1.0")
    assert len(strict) == len(default) == len(good_files(scans))
    assert strict.count("ok") <= default.count("ok")
    # Only answers that were ok can stop being ok; unknown stays unknown.
    for before, after in zip(default, strict):
        assert after == before or (before, after) == ("ok", "uncertain")


def test_confidence_and_unknown_rate_reach_the_model(
    scans, calibrated_dir, monkeypatch
):
    from artmedium import MediumClassifier

    seen = []
    real = MediumClassifier.assess

    def spy(self, X, **options):
        seen.append(options)
        return real(self, X, **options)

    monkeypatch.setattr(MediumClassifier, "assess", spy)
    result = invoke(scans, "--model", calibrated_dir, "--confidence", "0.8",
                    "--unknown-rate", "0.2", "--accept-accuracy", "0.95")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen and all(
        o == {"confidence": 0.8, "accept_accuracy": 0.95, "unknown_rate": 0.2}
        for o in seen
    )


@pytest.mark.parametrize("fmt", ["table", "csv", "jsonl"])
def test_an_uncalibrated_model_prints_no_status(scans, model_dir, fmt):
    result = invoke(scans, "--model", model_dir, "--format", fmt)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert "status" not in first and "candidates" not in first
    assert "novelty" not in first


@pytest.mark.parametrize(
    "option", [["--accept-accuracy", "0.9"], ["--confidence", "0.8"],
               ["--unknown-rate", "0.1"]],
)  # fmt: skip
def test_calibration_options_with_an_uncalibrated_model_exit_1(
    scans, model_dir, option
):
    result = invoke(scans, "--model", model_dir, *option)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    name = option[0].lstrip("-").replace("-", "_")
    assert f"{name} needs a calibrated model" in result.output
    assert "not calibrated" in result.output
    assert "calibration_size" in result.output


def test_the_help_explains_status_and_candidates():
    result = CliRunner().invoke(main, ["predict", "--help"], terminal_width=80)
    text = " ".join(result.output.split())
    assert "ok" in text and "uncertain" in text
    assert "not one of the media I know" in text
    assert "hold the true one with probability --confidence" in text
    assert "coverage can be lower" in text
    assert "prints no status" in text
    assert "artmedium predict scans/ --vocabulary poster --accept-accuracy 0.95" in text


# ------------------------------------------------------ the embedded tagger (#16)


@pytest.fixture(scope="module")
def calibrated_tagger_dir(tmp_path_factory):
    """A tiny calibrated tagger over a hierarchical vocabulary: a stand-in for
    the embedded one."""
    from test_inference import fit_calibrated_tagger

    folder = tmp_path_factory.mktemp("models") / "tags"
    return save_model(fit_calibrated_tagger(), folder)


@pytest.fixture
def embedded(monkeypatch, model_dir, calibrated_tagger_dir):
    """The stand-ins in place of the embedded classifier and tagger."""
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", model_dir)
    monkeypatch.setattr(
        artmedium.pretrained, "DEFAULT_TAGGER_DIR", calibrated_tagger_dir
    )


def test_the_embedded_tagger_is_the_default(scans, calibrated_tagger_dir, embedded):
    by_default = invoke(scans, "--format", "json")
    assert by_default.exit_code == 0, by_default.output
    explicit = invoke(scans, "--model", calibrated_tagger_dir, "--format", "json")
    rows = parse(by_default.stdout, "json")
    assert rows == parse(explicit.stdout, "json")
    assert rows == parse(invoke(scans, "--vocabulary", "tate", "--format",
                                "json").stdout, "json")  # fmt: skip
    assert all(r["status"] in ("ok", "uncertain", "unknown") for r in rows)
    assert "Intaglio print on paper" in {r["medium"] for r in rows}


def test_vocabulary_poster_gives_the_classifiers_rows(scans, model_dir, embedded):
    for fmt in ("table", "csv", "json"):
        poster = invoke(scans, "--vocabulary", "poster", "--format", fmt)
        assert poster.exit_code == 0, poster.output
        assert poster.stdout == invoke(scans, "--model", model_dir, "--format",
                                       fmt).stdout  # fmt: skip
    rows = parse(poster.stdout, "json")
    assert {r["medium"] for r in rows} <= set(TWO_MEDIA)
    assert "status" not in rows[0]


def test_vocabulary_with_a_model_is_a_usage_error(scans, model_dir, embedded):
    result = invoke(scans, "--model", model_dir, "--vocabulary", "tate")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "--vocabulary chooses between the embedded models" in text
    assert "Traceback" not in result.output


def test_a_missing_tagger_names_vocabulary_poster(
    scans, model_dir, monkeypatch, tmp_path
):
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", model_dir)
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_TAGGER_DIR", tmp_path / "no")
    result = invoke(scans)
    assert result.exit_code == 1
    assert "embedded tagger is not installed" in result.output
    assert "--vocabulary poster" in result.output
    assert "Traceback" not in result.output
    # The classifier still answers when asked for.
    assert invoke(scans, "--vocabulary", "poster").exit_code == 0


def test_load_model_tags_is_the_embedded_tagger(calibrated_tagger_dir, monkeypatch,
                                                tmp_path):  # fmt: skip
    from artmedium.persistence import is_default_tagger_installed

    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_TAGGER_DIR", tmp_path / "no")
    assert not is_default_tagger_installed()
    with pytest.raises(FileNotFoundError, match="embedded tagger is not installed"):
        load_model("tags")
    monkeypatch.setattr(
        artmedium.pretrained, "DEFAULT_TAGGER_DIR", calibrated_tagger_dir
    )
    assert is_default_tagger_installed()
    tagger = load_model("tags")
    assert isinstance(tagger, MediumTagger)
    assert tagger.tag_temperatures_ is not None
    assert list(tagger.tag_names_) == list(load_model(calibrated_tagger_dir).tag_names_)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_calibrated_taggers_rows_agree_with_assess(
    scans_and_broken, calibrated_tagger_dir, embedded, fmt
):
    from artmedium.vocabulary import aat_term

    result = invoke(scans_and_broken, "--format", fmt, "--batch-size", "2")
    assert result.exit_code == 1  # the broken file, after every row
    broken = str(scans_and_broken / "broken.png")
    files = sorted(str(p) for p in scans_and_broken.glob("scan*.png"))
    tagger = load_model(calibrated_tagger_dir)
    answers = tagger.assess(np.array(files, dtype=object))
    names = list(tagger.tag_names_)
    rows = {r["path"]: r for r in parse(result.stdout, fmt)}
    assert set(rows) == {*files, broken}
    bad = rows.pop(broken)
    assert bad["error"]
    backed_off = 0
    for path, row in rows.items():
        i = files.index(path)
        candidates = [answers.medium[i]]
        if answers.backed_off[i]:
            candidates.append(answers.decoded_medium[i])
            backed_off += 1
        tags = [t for t, on in zip(names, answers.tags[i]) if on]
        ids = {t: aat_term(t).id for t in tags if aat_term(t) is not None}
        assert row["medium"] == answers.medium[i]
        assert row["status"] == answers.status[i]
        assert float(row["probability"]) == pytest.approx(
            answers.confidence[i], abs=2e-6
        )
        assert float(row["novelty"]) == pytest.approx(answers.novelty[i], abs=2e-6)
        if fmt == "csv":
            assert row["candidates"] == ";".join(candidates)
            assert row["tags"] == ";".join(tags)
            assert row["aat_ids"] == ";".join(f"{t}={n}" for t, n in ids.items())
        else:
            assert (row["candidates"], row["tags"], row["aat_ids"]) == (
                candidates, tags, ids
            )  # fmt: skip
    assert backed_off, "the stand-in backs off on striped scans"
    if fmt == "csv":
        assert (bad["status"], bad["candidates"], bad["aat_ids"]) == ("", "", "")
    else:
        assert (bad["status"], bad["candidates"], bad["aat_ids"]) == (None, [], {})


def test_a_calibrated_taggers_table_shows_the_answers_tags(scans, embedded):
    result = invoke(scans)
    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split()[:5] == ["path", "medium", "probability", "status",
                                  "candidates"]  # fmt: skip
    tags_at = header.index("tags")
    backed = [line for line in lines if "  Intaglio print on paper  " in line]
    assert backed
    for line in backed:
        assert line[tags_at:].split("  ")[0].strip() == "intaglio print"


def test_accept_accuracy_with_the_embedded_tagger_exits_1(scans, embedded):
    result = invoke(scans, "--accept-accuracy", "0.95")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "accept_accuracy applies to a MediumClassifier only" in text
    assert "--vocabulary poster" in text
    assert invoke(scans, "--vocabulary", "poster").exit_code == 0


def test_the_help_explains_the_vocabularies_and_backing_off():
    result = CliRunner().invoke(main, ["predict", "--help"], terminal_width=80)
    text = " ".join(result.output.split())
    assert "--vocabulary [tate|poster]" in text
    assert "Intaglio print on paper" in text
    assert "every claim of the answer" in text
    assert "the more specific description it backed off from" in text
    assert "aat_ids" in text and "never guessed" in text
    assert "artmedium predict scans/ --vocabulary poster" in text
