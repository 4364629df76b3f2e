"""`artmedium predict`: inputs, formats, errors, output files, streaming, models."""

import csv
import io
import json
import os

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


def test_tags_are_class_probabilities_summed(scans, model_dir):
    result = invoke(scans, "--model", model_dir, "--format", "jsonl")
    for row in parse(result.stdout, "jsonl"):
        p = {a["medium"]: a["probability"] for a in row["top_k"]}
        tags = row["tag_probabilities"]
        assert tags["graphite"] == pytest.approx(p["Graphite on paper"])
        assert tags["oil paint"] == pytest.approx(p["Oil paint on canvas"])
        assert tags["canvas"] == pytest.approx(tags["oil paint"])
        assert row["tags"] == [t for t, v in tags.items() if v >= 0.5]


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
    result = invoke(scans / "*.tif", "--model", model_dir, "--format", "jsonl")
    assert result.exit_code == 1
    [row] = parse(result.stdout, "jsonl")
    assert row["error"] == "no file matches this pattern"


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
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", model_dir)
    with_default = invoke(scans, "--format", "json")
    assert with_default.exit_code == 0, with_default.output
    explicit = invoke(scans, "--model", model_dir, "--format", "json")
    assert parse(with_default.stdout, "json") == parse(explicit.stdout, "json")
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", tmp_path / "none")
    result = invoke(scans)
    assert result.exit_code == 1
    assert "default model is not installed" in result.output


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
    [[], ["--format", "xml"], ["--top-k", "0"], ["--on-error", "ignore"], ["--nope"]],
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
