"""`artmedium train`, `evaluate` and `saliency`, and a model used in a new process."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.metrics import accuracy_score

from artmedium import MediumClassifier
from artmedium.cli import main
from artmedium.persistence import load_model, model_info
from conftest import make_toy_images

TINY_TRAIN = [
    "--backbone",
    "simple_cnn",
    "--weights",
    "none",
    "--freeze",
    "none",
    "--image-size",
    "32",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--lr",
    "0.003",
]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Toy images and a labels.csv with paths relative to it."""
    X, y = make_toy_images(n_per_class=10, size=40)
    root = tmp_path_factory.mktemp("labelled")
    (root / "img").mkdir()
    lines = ["path,label"]
    for i, (img, label) in enumerate(zip(X, y)):
        Image.fromarray(img).save(root / "img" / f"{i:02d}.png")
        lines.append(f"img/{i:02d}.png,{label}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(labelled, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "model"
    result = CliRunner().invoke(
        main, ["train", str(labelled / "labels.csv"), "--out", str(out), *TINY_TRAIN]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def with_artists(labelled):
    """labelled's images in a CSV with an artist column: in each class, one
    artist made 7 works and another 3."""
    rows = [line.split(",") for line in (labelled / "labels.csv").read_text().split()]
    seen = {}
    lines = ["path,label,artist"]
    for path, label in rows[1:]:
        seen[label] = seen.get(label, 0) + 1
        lines.append(f"{path},{label},{label}-{'a' if seen[label] <= 7 else 'b'}")
    csv = labelled / "artists.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


@pytest.fixture
def fit_calls(monkeypatch):
    """What each MediumClassifier.fit is given (it still fits)."""
    calls = []
    real_fit = MediumClassifier.fit

    def fit(self, X, y, sample_weight=None):
        calls.append({"y": list(y), "sample_weight": sample_weight})
        return real_fit(self, X, y, sample_weight=sample_weight)

    monkeypatch.setattr(MediumClassifier, "fit", fit)
    return calls


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def image_paths(labelled):
    return sorted(str(p) for p in (labelled / "img").glob("*.png"))


def test_train_saves_a_model_with_its_data_summary(trained, labelled):
    info = model_info(trained)
    assert info["estimator"] == "MediumClassifier"
    assert info["params"]["backbone"] == "simple_cnn"
    assert info["params"]["max_epochs"] == 2
    assert info["classes"] == ["dotted", "striped"]
    data = info["metadata"]["training_data"]
    assert data["kind"] == "csv" and data["n_images"] == 20
    assert data["class_counts"] == {"dotted": 10, "striped": 10}
    # The options reach the estimator: the same fit in Python gives the same model.
    rows = [line.split(",") for line in (labelled / "labels.csv").read_text().split()]
    X = np.array([str(labelled / path) for path, _ in rows[1:]], dtype=object)
    y = np.array([label for _, label in rows[1:]], dtype=object)
    same = MediumClassifier(
        backbone="simple_cnn", weights=None, freeze="none", image_size=32,
        max_epochs=2, batch_size=8, lr=0.003, optimizer="adam", weight_decay=1e-4,
        dropout=0.2, augment=True, n_jobs=2, random_state=0,
        calibration_size=0.2,
    ).fit(X, y)  # fmt: skip
    loaded = load_model(trained)
    np.testing.assert_allclose(
        loaded.predict_proba(X), same.predict_proba(X), atol=1e-6
    )
    # 20 % held out by default to calibrate the answers.
    assert len(loaded.calibration_.labels) == 4


def test_calibration_size_0_trains_on_everything(labelled, tmp_path):
    result = invoke(
        "train", labelled / "labels.csv", "--out", tmp_path / "m",
        "--backbone", "simple_cnn",
        "--weights", "none", "--freeze", "none", "--image-size", "32",
        "--epochs", "1", "--calibration-size", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "held out" not in result.output
    assert load_model(tmp_path / "m").calibration_ is None


def test_a_model_loaded_in_a_new_process_predicts_identically(trained, labelled):
    files = image_paths(labelled)[:6]
    proc = subprocess.run(
        [sys.executable, "-m", "artmedium.cli", "predict", *files, "--model",
         str(trained), "--format", "json", "--quiet"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    model = load_model(trained)
    proba = model.predict_proba(np.array(files, dtype=object))
    assert [r["path"] for r in rows] == files
    assert [r["medium"] for r in rows] == list(model.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(
        [r["probability"] for r in rows], proba.max(axis=1), atol=1e-6
    )
    in_process = json.loads(
        invoke("predict", *files, "--model", trained, "--format", "json").stdout
    )
    assert [r["medium"] for r in in_process] == [r["medium"] for r in rows]


def test_train_refuses_to_replace_unless_forced(trained, labelled, tmp_path):
    result = invoke("train", labelled / "labels.csv", "--out", trained, *TINY_TRAIN)
    assert result.exit_code == 1
    assert "already exists; pass --force" in result.output
    not_a_model = tmp_path / "photos"
    not_a_model.mkdir()
    result = invoke(
        "train", labelled / "labels.csv", "--out", not_a_model, "--force", *TINY_TRAIN
    )
    assert result.exit_code == 1
    assert "not a saved model" in result.output


def test_train_max_images_and_force(labelled, tmp_path):
    out = tmp_path / "m"
    args = ["train", labelled / "labels.csv", "--out", out, *TINY_TRAIN]
    assert invoke(*args, "--epochs", "1", "--max-images", "8").exit_code == 0
    data = model_info(out)["metadata"]["training_data"]
    assert data["n_images"] == 8 and data["class_counts"] == {"dotted": 4, "striped": 4}
    result = invoke(*args, "--epochs", "1", "--max-images", "10", "--force", "--half")
    assert result.exit_code == 0, result.output
    assert model_info(out)["metadata"]["training_data"]["n_images"] == 10
    assert model_info(out)["weights"]["dtype"] == "float16"


def test_train_data_problems_exit_1(labelled, tmp_path):
    out = tmp_path / "m"
    headless = tmp_path / "headless.csv"
    headless.write_text("img/00.png,dotted\n")
    result = invoke("train", headless, "--out", out, *TINY_TRAIN)
    assert result.exit_code == 1
    assert "header row with the columns path,label" in result.output
    missing = tmp_path / "missing.csv"
    missing.write_text(
        f"path,label\n{labelled}/img/00.png,a\n{labelled}/img/01.png,b\nnope.png,a\n"
    )
    result = invoke("train", missing, "--out", out, *TINY_TRAIN)
    assert result.exit_code == 1
    assert "training failed" in result.output and "nope.png" in result.output
    one_class = tmp_path / "one.csv"
    one_class.write_text(f"path,label\n{labelled}/img/00.png,a\n")
    result = invoke("train", one_class, "--out", out, *TINY_TRAIN)
    assert result.exit_code == 1
    assert "fewer than 2 classes" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "bad",
    [["--freeze", "some"], ["--optimizer", "lion"], ["--epochs", "0"], []],
)
def test_train_usage_errors_exit_2(labelled, tmp_path, bad):
    out = [] if bad == [] else ["--out", tmp_path / "m"]
    result = invoke("train", labelled / "labels.csv", *out, *TINY_TRAIN, *bad)
    assert result.exit_code == 2


def test_train_balance_weighs_the_images_and_the_model_records_it(
    with_artists, tmp_path, fit_calls
):
    out = tmp_path / "m"
    result = invoke("train", with_artists, "--out", out, *TINY_TRAIN, "--epochs", 1,
                    "--group-by", "artist", "--balance", "class_and_group")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sample weights: class_and_group over 4 artists (--balance)" in (
        result.output
    )
    (call,) = fit_calls
    # Each class weighs 10 of 20, shared by its two artists: 5 / 7 for each of
    # the 7 works by one, 5 / 3 for each of the 3 by the other.
    rows = [line.split(",") for line in with_artists.read_text().split()[1:]]
    expected = [5 / 7 if artist.endswith("-a") else 5 / 3 for _, _, artist in rows]
    assert call["y"] == [label for _, label, _ in rows]
    np.testing.assert_allclose(call["sample_weight"], expected)
    metadata = model_info(out)["metadata"]
    assert metadata["sample_weight"] == "class_and_group"
    assert metadata["training_data"]["group_by"] == "artist"
    assert metadata["training_data"]["n_groups"] == 4


def test_train_balance_defaults_to_the_recipe_s_and_none_turns_it_off(
    labelled, tmp_path, fit_calls, monkeypatch
):
    from artmedium.cli import _train

    # The default recipe, made to weigh its classes: what `--recipe` reads.
    monkeypatch.setattr(_train, "recipe_balance", {"lite0-finetune": "class"}.get)
    out = tmp_path / "m"
    args = ["train", labelled / "labels.csv", "--out", out, *TINY_TRAIN, "--epochs", 1]
    result = invoke(*args, "--max-images", 12)
    assert result.exit_code == 0, result.output
    assert "sample weights: class over 2 classes (the recipe's)" in result.output
    assert fit_calls[-1]["sample_weight"] is not None
    assert len(fit_calls[-1]["sample_weight"]) == 12
    assert model_info(out)["metadata"]["sample_weight"] == "class"

    result = invoke(*args, "--balance", "none", "--force")
    assert result.exit_code == 0, result.output
    assert "sample weights: none, unweighted (--balance)" in result.output
    assert fit_calls[-1]["sample_weight"] is None
    assert model_info(out)["metadata"]["sample_weight"] is None


def test_a_balance_by_artist_on_a_csv_needs_group_by(
    labelled, with_artists, tmp_path, monkeypatch
):
    from types import MappingProxyType

    import artmedium.recipes

    out = tmp_path / "m"
    # A recipe whose own weighting needs the artists: the message names it.
    monkeypatch.setattr(
        artmedium.recipes,
        "BALANCE",
        MappingProxyType({"lite0-texture": "class_and_group"}),
    )
    result = invoke("train", with_artists, "--out", out, "--recipe", "lite0-texture",
                    *TINY_TRAIN)  # fmt: skip
    assert result.exit_code == 2
    named = ["recipe lite0-texture", "balance=class_and_group", "needs groups"]
    ways_out = ["--group-by COLUMN", "--balance class", "--balance none"]
    for words in named + ways_out:
        assert words in result.stderr
    result = invoke("train", labelled / "labels.csv", "--out", out, *TINY_TRAIN,
                    "--balance", "group")  # fmt: skip
    assert result.exit_code == 2
    assert "--balance group needs groups" in result.stderr
    # A column the CSV lacks is named, with those it has.
    result = invoke("train", with_artists, "--out", out, *TINY_TRAIN,
                    "--balance", "group", "--group-by", "date")  # fmt: skip
    assert result.exit_code == 2
    assert "'date'" in result.stderr and "are: artist" in result.stderr
    assert not out.exists()


@pytest.mark.tate
def test_train_on_the_tate_layout(tate_dir, tmp_path, fit_calls):
    out = tmp_path / "tate_model"
    # Weights by artist need no --group-by: a Tate folder has its artists.
    result = invoke("train", tate_dir, "--out", out, *TINY_TRAIN, "--epochs", "1",
                    "--max-images", "30", "--balance", "group")  # fmt: skip
    assert result.exit_code == 0, result.output
    metadata = model_info(out)["metadata"]
    data = metadata["training_data"]
    assert data["kind"] == "tate" and data["n_images"] == 30
    assert metadata["sample_weight"] == "group" and data["group_by"] == "artist"
    assert f"sample weights: group over {data['n_groups']} artists" in result.output
    assert len(fit_calls[0]["sample_weight"]) == 30


def test_evaluate_prints_the_scores(trained, labelled):
    result = invoke("evaluate", trained, labelled / "labels.csv")
    assert result.exit_code == 0, result.output
    model = load_model(trained)
    files = np.array(
        [str(labelled / line.split(",")[0]) for line in
         (labelled / "labels.csv").read_text().split()[1:]],
        dtype=object,
    )  # fmt: skip
    labels = [
        line.split(",")[1] for line in (labelled / "labels.csv").read_text().split()[1:]
    ]
    expected = accuracy_score(labels, model.predict(files))
    line = next(s for s in result.output.splitlines() if s.startswith("accuracy:"))
    assert float(line.split()[1]) == pytest.approx(expected, abs=1e-4)
    assert "balanced accuracy:" in result.output
    assert "dotted" in result.output and "striped" in result.output
    as_json = json.loads(
        invoke("evaluate", trained, labelled / "labels.csv", "--json").stdout
    )
    assert as_json["accuracy"] == pytest.approx(expected)


def test_evaluate_out_writes_figures_and_report(trained, labelled, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    result = invoke("evaluate", trained, labelled / "labels.csv", "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert 0 <= report["accuracy"] <= 1
    assert any(p.suffix == ".png" for p in out.iterdir())


def test_saliency_writes_one_overlay_per_image(trained, labelled, tmp_path):
    pytest.importorskip("matplotlib")
    files = image_paths(labelled)[:2]
    out = tmp_path / "maps"
    result = invoke("saliency", trained, *files, "--out", out, "--method", "gradcam")
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == ["00_saliency.png", "01_saliency.png"]
    assert Image.open(out / written[0]).format == "PNG"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    result = invoke("saliency", trained, files[0], broken, "--out", out)
    assert result.exit_code == 1
    assert f"error: cannot read image {broken}: not an image" in result.stderr
    assert "1 image(s) could not be read" in result.stderr
    # A name that does not exist is a mistake in the command: nothing is done.
    before = sorted(p.stat().st_mtime_ns for p in out.iterdir())
    result = invoke("saliency", trained, files[0], tmp_path / "nope.png", "--out", out)
    assert result.exit_code == 2
    assert f"Error: no such file or folder: {tmp_path / 'nope.png'}" in result.stderr
    assert sorted(p.stat().st_mtime_ns for p in out.iterdir()) == before


def test_plot_commands_name_the_extra_when_matplotlib_is_missing(
    trained, labelled, tmp_path, monkeypatch
):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "matplotlib" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    files = image_paths(labelled)[:1]
    result = invoke("saliency", trained, *files, "--out", tmp_path / "maps")
    assert result.exit_code == 1
    assert 'pip install "artmedium[plot]"' in result.output
    result = invoke("evaluate", trained, labelled / "labels.csv", "--out", tmp_path)
    assert result.exit_code == 1
    assert 'pip install "artmedium[plot]"' in result.output
    assert not (tmp_path / "maps").exists()


def test_evaluate_and_saliency_usage_errors_exit_2(trained, labelled, tmp_path):
    assert invoke("evaluate", trained).exit_code == 2
    assert invoke("evaluate", trained, tmp_path / "absent.csv").exit_code == 2
    assert invoke("saliency", trained, "--out", tmp_path).exit_code == 2
    files = image_paths(labelled)[:1]
    result = invoke("saliency", trained, *files, "--out", tmp_path, "--method", "x")
    assert result.exit_code == 2


def test_evaluate_a_tagger_reports_exact_match_and_per_tag(labelled, tmp_path):
    from artmedium import MediumTagger
    from artmedium.persistence import save_model
    from test_persistence import toy_embedder

    rows = [line.split(",") for line in (labelled / "labels.csv").read_text().split()]
    media = {
        "striped": "Graphite on paper",
        "dotted": "Graphite and watercolour on paper",
    }
    X = np.array([str(labelled / path) for path, _ in rows[1:]], dtype=object)
    y = np.array([media[label] for _, label in rows[1:]], dtype=object)
    tagger = MediumTagger(embedder=toy_embedder(), random_state=0).fit(X, y)
    model = save_model(tagger, tmp_path / "tagger")
    data = tmp_path / "media.csv"
    data.write_text("path,label\n" + "".join(f"{p},{m}\n" for p, m in zip(X, y)))
    result = invoke("evaluate", model, data)
    assert result.exit_code == 0, result.output
    line = next(s for s in result.output.splitlines() if s.startswith("exact match:"))
    assert float(line.split()[2]) == pytest.approx(tagger.score(X, y), abs=1e-4)
    assert "graphite" in result.output and "watercolour" in result.output
