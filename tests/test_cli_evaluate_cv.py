"""`artmedium evaluate --cv`: cross-validating a model's configuration."""

import importlib.util
import json

import pytest
from click.testing import CliRunner
from PIL import Image

from artmedium import MediumClassifier
from artmedium.cli import main
from artmedium.persistence import load_model, save_model
from conftest import TINY, make_toy_images

N_PER_CLASS = 8


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Toy images and a labels.csv with an artist column (four artists per
    class, two works each) and a note column."""
    X, y = make_toy_images(n_per_class=N_PER_CLASS, size=40)
    root = tmp_path_factory.mktemp("labelled")
    (root / "img").mkdir()
    seen = {"striped": 0, "dotted": 0}
    lines = ["path,label, Artist ,note"]
    for i, (img, label) in enumerate(zip(X, y)):
        Image.fromarray(img).save(root / "img" / f"{i:02d}.png")
        artist = f"{label}-artist{seen[label] // 2}"
        seen[label] += 1
        lines.append(f"img/{i:02d}.png,{label},{artist},n{i}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A saved tiny MediumClassifier: one epoch of a small CNN on 32 px."""
    X, y = make_toy_images(n_per_class=4, size=40, seed=1)
    clf = MediumClassifier(**TINY, max_epochs=1).fit(X, y)
    return save_model(clf, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def weighted(model, tmp_path_factory):
    """``model`` saved as `artmedium train` saves a model trained with
    class_and_group weights."""
    folder = tmp_path_factory.mktemp("models") / "weighted"
    return save_model(
        load_model(model), folder, metadata={"sample_weight": "class_and_group"}
    )


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cv_prints_the_mean_and_sd_over_folds(model, labelled):
    result = invoke("evaluate", model, labelled / "labels.csv", "--cv", 2)
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert f"2-fold cross-validation of MediumClassifier on {2 * N_PER_CLASS} " in (
        "\n".join(out)
    )
    for name in ("accuracy", "balanced accuracy", "majority baseline", "fit time"):
        line = next(s for s in out if s.startswith(name + " "))
        assert "±" in line
    line = next(s for s in out if s.startswith("accuracy "))
    assert len(line.split("(folds ")[1].split()) == 2  # one score per fold
    assert any(s.strip().startswith("dotted ") for s in out)
    assert any(s.strip().startswith("striped ") for s in out)
    assert "cross-validating" in result.stderr and "fold 2/2" in result.stderr


def test_cv_grouped_by_a_csv_column_as_json_and_to_out(
    model, labelled, tmp_path, monkeypatch
):
    # --cv --out writes no figure: it does not need matplotlib.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "matplotlib" else real(name, *a, **k),
    )
    out = tmp_path / "report"
    result = invoke("evaluate", model, labelled / "labels.csv", "--cv", 2,
                    "--group-by", "artist", "--balance", "class_and_group",
                    "--json", "--out", out, "--seed", 3)  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_splits"] == 2 and report["n_samples"] == 2 * N_PER_CLASS
    assert report["grouped"] is True and report["n_groups"] == 8
    assert report["balance"] == "class_and_group"
    assert report["sample_weight"] == {
        "balance": "class_and_group",
        "from": "--balance",
        "group_by": "artist",
        "folds_grouped": True,
        "not_applied": None,
    }
    assert "StratifiedGroupKFold" in report["cv"] and "random_state=3" in report["cv"]
    assert [f["n_shared_groups"] for f in report["folds"]] == [0, 0]
    assert sum(f["n_test_groups"] for f in report["folds"]) == 8
    assert len(report["predictions"]) == 2 * N_PER_CLASS
    assert set(report["predictions"]) <= {"dotted", "striped"}
    assert report["data"]["group_by"] == "artist" and report["model"] == str(model)
    assert json.loads((out / "cv_report.json").read_text()) == report
    assert [p.name for p in out.iterdir()] == ["cv_report.json"]  # no temp file


def test_cv_cache_keeps_features(model, labelled, tmp_path):
    cache = tmp_path / "cache"
    result = invoke("evaluate", model, labelled / "labels.csv", "--cv", 2,
                    "--cache", cache)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert any(p.is_file() for p in cache.rglob("*"))


def test_group_by_an_unknown_column_is_a_usage_error_naming_the_columns(
    model, labelled
):
    result = invoke("evaluate", model, labelled / "labels.csv", "--cv", 2,
                    "--group-by", "date")  # fmt: skip
    assert result.exit_code == 2
    assert "'date'" in result.stderr
    assert "artist, note" in result.stderr
    # The columns of the labels themselves do not group.
    result = invoke("evaluate", model, labelled / "labels.csv", "--cv", 2,
                    "--group-by", "label")  # fmt: skip
    assert result.exit_code == 2 and "'label'" in result.stderr


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--group-by", "artist"], "--group-by is an option of --cv"),
        (["--balance", "class"], "--balance is an option of --cv"),
        (["--cache", "somewhere"], "--cache is an option of --cv"),
        (["--cv", "2", "--balance", "group"], "--balance group needs --group-by"),
        (["--cv", "1"], "--cv"),
        (["--cv", "2", "--balance", "artist"], "--balance"),
    ],
)
def test_cv_usage_errors_exit_2(model, labelled, extra, message):
    result = invoke("evaluate", model, labelled / "labels.csv", *extra)
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_unknown_model_name_lists_the_recipes(labelled, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("evaluate", "lite9", labelled / "labels.csv", "--cv", 2)
    assert result.exit_code == 2
    assert "lite9" in result.stderr
    assert "lite0-frozen" in result.stderr and "lite0-finetune" in result.stderr


def test_model_may_be_a_recipe_and_a_folder_of_that_name_wins(
    model, labelled, tmp_path, monkeypatch
):
    import shutil

    from artmedium.cli import _evaluate

    tiny = {**TINY, "max_epochs": 1}
    tiny.pop("random_state")
    used = []

    def recipe(name):
        used.append(name)
        return dict(tiny)

    monkeypatch.setattr(_evaluate, "RECIPES", {"tiny-recipe": tiny})
    monkeypatch.setattr(_evaluate, "recipe", recipe)
    # The recipe weighs its classes: the folds are fitted as it says.
    monkeypatch.setattr(_evaluate, "recipe_balance", {"tiny-recipe": "class"}.get)
    monkeypatch.chdir(tmp_path)
    data = labelled / "labels.csv"
    result = invoke("evaluate", "tiny-recipe", data, "--cv", 2, "--json")
    assert result.exit_code == 0, result.output
    assert used == ["tiny-recipe"]
    report = json.loads(result.stdout)
    assert report["estimator"] == "MediumClassifier"
    assert report["balance"] == "class" and report["sample_weight"]["from"] == "recipe"

    shutil.copytree(model, tmp_path / "tiny-recipe")
    result = invoke("evaluate", "tiny-recipe", data, "--cv", 2, "--json")
    assert result.exit_code == 0, result.output
    assert used == ["tiny-recipe"]  # the folder was used, not the recipe
    assert json.loads(result.stdout)["balance"] is None  # it records no weighting


def test_cv_weighs_the_folds_as_the_saved_model_was_trained(
    weighted, labelled, tmp_path
):
    out = tmp_path / "report"
    result = invoke("evaluate", weighted, labelled / "labels.csv", "--cv", 2,
                    "--group-by", "artist", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sample weights: class_and_group over 8 artists (the model's)" in (
        result.stdout
    )
    assert "fitted with balance='class_and_group' sample weights" in result.stdout
    report = json.loads((out / "cv_report.json").read_text())
    assert report["balance"] == "class_and_group"
    assert report["sample_weight"]["from"] == "model"
    assert report["grouped"] is True  # --group-by still groups the folds

    result = invoke("evaluate", weighted, labelled / "labels.csv", "--cv", 2,
                    "--group-by", "artist", "--balance", "none", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["balance"] is None and report["sample_weight"]["from"] == "--balance"


def test_cv_on_a_csv_without_group_by_fits_unweighted_with_a_note(weighted, labelled):
    result = invoke("evaluate", weighted, labelled / "labels.csv", "--cv", 2)
    assert result.exit_code == 0, result.output
    assert "note: the model's weighting, balance=class_and_group, needs groups" in (
        result.stderr
    )
    assert "--group-by COLUMN" in result.stderr
    assert (
        "sample weights: none, unweighted (the model's class_and_group needs "
        "--group-by)"
    ) in result.stdout
    assert "fitted with balance" not in result.stdout
    # An explicit --balance none asks for no weights: no note.
    result = invoke("evaluate", weighted, labelled / "labels.csv", "--cv", 2,
                    "--balance", "none", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr
    assert json.loads(result.stdout)["sample_weight"]["not_applied"] is None


def test_a_saved_weighting_that_is_no_balance_option_is_an_error(
    model, labelled, tmp_path
):
    odd = save_model(
        load_model(model), tmp_path / "odd", metadata={"sample_weight": "artist"}
    )
    result = invoke("evaluate", odd, labelled / "labels.csv", "--cv", 2)
    assert result.exit_code == 1
    assert "sample_weight='artist'" in result.stderr and "--balance" in result.stderr
    result = invoke("evaluate", odd, labelled / "labels.csv", "--cv", 2,
                    "--balance", "class", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["balance"] == "class"


def test_a_tagger_is_evaluated_without_cv(labelled, tmp_path):
    from artmedium import MediumTagger
    from test_persistence import toy_embedder

    X, _ = make_toy_images(n_per_class=3, size=40)
    y = ["Graphite on paper", "Oil paint on canvas"] * 3
    tagger = MediumTagger(embedder=toy_embedder(), random_state=0).fit(X, y)
    saved = save_model(tagger, tmp_path / "tagger")
    result = invoke("evaluate", saved, labelled / "labels.csv", "--cv", 2)
    assert result.exit_code == 1
    assert "is a MediumTagger: evaluate it without --cv" in result.stderr


def test_an_out_that_cannot_be_a_folder_fails_before_the_folds(
    model, labelled, tmp_path
):
    (tmp_path / "file").write_text("")
    result = invoke("evaluate", model, labelled / "labels.csv", "--cv", 2,
                    "--out", tmp_path / "file" / "sub")  # fmt: skip
    assert result.exit_code == 1
    assert "cannot create" in result.stderr and "fold 1/2" not in result.stderr


def test_too_many_folds_for_the_data_is_an_error_naming_it(model, labelled):
    result = invoke("evaluate", model, labelled / "labels.csv", "--cv", 9)
    assert result.exit_code == 1
    assert "cross-validation failed" in result.stderr
    assert "'dotted' has 8" in result.stderr


def test_balance_choices_are_those_of_balanced_sample_weight():
    from artmedium.cli._common import BALANCE_CHOICES
    from artmedium.cli._evaluate import evaluate
    from artmedium.cli._train import train
    from artmedium.model_selection import _BALANCE

    assert sorted(BALANCE_CHOICES) == sorted(_BALANCE)
    for command in (evaluate, train):
        (option,) = [p for p in command.params if p.name == "balance"]
        assert sorted(option.type.choices) == sorted(["none", *_BALANCE])


@pytest.mark.tate
def test_cv_grouped_by_artist_on_the_tate_sample(model, tate_dir):
    result = invoke("evaluate", model, tate_dir, "--cv", 2, "--group-by", "artist",
                    "--max-images", 200, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_samples"] == 200 and report["data"]["kind"] == "tate"
    assert report["grouped"] is True and report["n_groups"] > 2
    assert [f["n_shared_groups"] for f in report["folds"]] == [0, 0]
    assert len(report["classes"]) == 10
    result = invoke("evaluate", model, tate_dir, "--cv", 2, "--group-by", "date")
    assert result.exit_code == 2
    assert "'date'" in result.stderr and "artist" in result.stderr


@pytest.mark.tate
def test_cv_weighs_by_the_tate_artists_without_grouping_the_folds(
    weighted, tate_dir, recwarn
):
    result = invoke("evaluate", weighted, tate_dir, "--cv", 2, "--max-images", 200,
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["balance"] == "class_and_group"
    assert report["sample_weight"]["group_by"] == "artist"
    assert report["sample_weight"]["folds_grouped"] is False
    # The folds an int --cv makes without groups: stratified, artists shared.
    assert report["cv"].startswith("StratifiedKFold(n_splits=2")
    assert sum(f["n_shared_groups"] for f in report["folds"]) > 0
    assert not [w for w in recwarn if "ignores groups" in str(w.message)]
    result = invoke("evaluate", weighted, tate_dir, "--cv", 2, "--max-images", 200)
    assert result.exit_code == 0, result.output
    assert "artists (the model's); the folds are not grouped" in result.stdout
    assert "WARNING" not in result.stdout
