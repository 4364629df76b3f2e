"""Error analysis (confused pairs, top losses) and evaluation_report's files."""

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from artmedium import ImageEmbedder, MediumClassifier, MediumTagger
from artmedium._files import atomic_write
from artmedium.explain import evaluation_report, most_confused_pairs, top_losses


def from_confusion(cm, labels):
    """Label arrays whose confusion matrix is ``cm`` (rows true, columns pred)."""
    y_true, y_pred = [], []
    for i, row in enumerate(cm):
        for j, count in enumerate(row):
            y_true += [labels[i]] * count
            y_pred += [labels[j]] * count
    return np.array(y_true, dtype=object), np.array(y_pred, dtype=object)


LABELS = ["engraving", "graphite", "graphite+watercolour", "line engraving"]
CM = [
    [10, 0, 0, 7],  # engraving -> line engraving 7
    [0, 20, 3, 0],  # graphite -> g+w 3
    [0, 9, 5, 0],  # g+w -> graphite 9
    [4, 0, 0, 8],  # line engraving -> engraving 4
]


def test_most_confused_pairs_on_a_hand_made_confusion():
    y_true, y_pred = from_confusion(CM, LABELS)
    assert most_confused_pairs(y_true, y_pred, k=3) == [
        ("graphite+watercolour", "graphite", 9),
        ("engraving", "line engraving", 7),
        ("line engraving", "engraving", 4),
    ]
    assert len(most_confused_pairs(y_true, y_pred, k=10)) == 4  # only real mistakes
    assert most_confused_pairs(y_true, y_pred, symmetric=True) == [
        ("graphite", "graphite+watercolour", 12),
        ("engraving", "line engraving", 11),
    ]
    assert most_confused_pairs(y_true, y_true) == []
    with pytest.raises(ValueError, match="k == 0, must be >= 1"):
        most_confused_pairs(y_true, y_pred, k=0)


def test_most_confused_ties_follow_label_order():
    y_true, y_pred = from_confusion([[0, 2, 0], [0, 0, 2], [2, 0, 0]], ["a", "b", "c"])
    pairs = most_confused_pairs(y_true, y_pred, labels=["c", "b", "a"])
    assert pairs == [("c", "a", 2), ("b", "c", 2), ("a", "b", 2)]


class FixedProba(ClassifierMixin, BaseEstimator):
    """A 'fitted' classifier whose probabilities are given."""

    def __init__(self, proba=None):
        self.proba = proba

    def fit(self, X, y):
        self.classes_ = np.array(["ink", "oil", "watercolour"])
        return self

    def predict_proba(self, X):
        return np.asarray(self.proba)[np.asarray(X, dtype=int).ravel()]


def test_top_losses_order_and_values():
    proba = np.array(
        [
            [0.7, 0.2, 0.1],  # true oil: p=0.2
            [0.1, 0.8, 0.1],  # true oil: p=0.8
            [0.05, 0.9, 0.05],  # true ink: p=0.05, the worst
            [0.3, 0.3, 0.4],  # true watercolour: p=0.4
        ]
    )
    clf = FixedProba(proba).fit(None, None)
    X = np.arange(4).reshape(-1, 1)
    y = ["oil", "oil", "ink", "watercolour"]
    worst = top_losses(clf, X, y, k=3)
    assert [r["index"] for r in worst] == [2, 0, 3]
    assert worst[0] == {
        "index": 2,
        "true": "ink",
        "predicted": "oil",
        "proba_true": 0.05,
        "loss": pytest.approx(-np.log(0.05)),
    }
    assert worst[2]["predicted"] == "watercolour"
    losses = [r["loss"] for r in top_losses(clf, X, y, k=4)]
    assert losses == sorted(losses, reverse=True)
    with pytest.raises(ValueError, match="acrylic"):
        top_losses(clf, X, ["oil", "oil", "ink", "acrylic"])
    with pytest.raises(NotFittedError):
        top_losses(FixedProba(proba), X, y)


@pytest.fixture
def toy(toy_task):
    return toy_task


@pytest.fixture
def clf(toy_classifier):
    return toy_classifier


def test_classifier_report_writes_its_files(clf, toy, tmp_path):
    pytest.importorskip("matplotlib")
    X, y = toy
    out = tmp_path / "report"
    report = evaluation_report(clf, X, y, out_dir=out, k=4)
    names = {
        "confusion_matrix.png",
        "per_class_accuracy.png",
        "reliability.png",
        "top_losses.png",
    }
    assert set(report["files"]) == names | {"report.json"}
    assert sorted(p.name for p in out.iterdir()) == sorted(report["files"])  # no tmp
    for name in names:
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    assert json.loads((out / "report.json").read_text()) == report
    y_pred = clf.predict(X)
    assert report["kind"] == "classifier" and report["n_samples"] == len(y)
    assert report["accuracy"] == pytest.approx(accuracy_score(y, y_pred))
    assert report["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(y, y_pred)
    )
    cm = np.array(report["confusion_matrix"])
    assert cm.sum() == len(y) and np.trace(cm) == np.sum(y == y_pred)
    assert set(report["labels"]) == set(clf.classes_)
    assert set(report["per_class"]) == set(clf.classes_)
    assert len(report["top_losses"]) == 4
    losses = [r["loss"] for r in report["top_losses"]]
    assert losses == sorted(losses, reverse=True)


def test_report_without_out_dir_writes_nothing(clf, toy, tmp_path, monkeypatch):
    X, y = toy
    monkeypatch.chdir(tmp_path)
    report = evaluation_report(clf, X[:10], y[:10])
    assert "files" not in report and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="labels the estimator does not know"):
        evaluation_report(clf, X[:2], ["striped", "woodcut"])


def test_report_of_any_classifier_on_features(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = np.where(X[:, 0] > 0, "oil", "ink")
    report = evaluation_report(LogisticRegression().fit(X, y), X, y, out_dir=tmp_path)
    assert "top_losses.png" not in report["files"]  # no images to show
    assert (tmp_path / "per_class_accuracy.png").is_file()


def test_report_gives_calibration_error_and_a_risk_coverage_curve():
    from artmedium.metrics import expected_calibration_error

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] + rng.normal(0, 0.5, 200) > 0, "oil", "ink")
    lr = LogisticRegression().fit(X, y)
    cal = evaluation_report(lr, X, y)["calibration"]
    assert cal["ece"] == pytest.approx(
        expected_calibration_error(y, lr.predict_proba(X), classes=lr.classes_)
    )
    assert cal["calibrated"] is False and "status" not in cal
    coverage, accuracy = (
        cal["risk_coverage"]["coverage"],
        cal["risk_coverage"]["accuracy"],
    )
    assert coverage == sorted(coverage) and coverage[-1] == 1.0
    assert accuracy[-1] == pytest.approx(accuracy_score(y, lr.predict(X)), abs=1e-4)
    assert accuracy[0] >= accuracy[-1]


def test_report_of_a_calibrated_classifier_gives_its_sets_and_statuses():
    from artmedium import MediumClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    y = np.where(X[:, 0] + rng.normal(0, 0.5, 300) > 0, "oil", "ink")
    clf = MediumClassifier(
        lr=0.1, max_epochs=10, calibration_size=0.4, random_state=0
    ).fit(X, y)
    cal = evaluation_report(clf, X, y)["calibration"]
    answers = clf.assess(X, confidence=0.9, accept_accuracy=0.95)
    assert cal["calibrated"] is True
    assert cal["status"]["ok"] == pytest.approx(np.mean(answers.status == "ok"))
    assert sum(cal["status"].values()) == pytest.approx(1.0)
    assert 0.8 <= cal["coverage"] <= 1.0 and cal["mean_set_size"] >= 0
    assert cal["accepted_at_95"]["threshold"] == answers.accept_threshold


def test_tagger_report(toy, tmp_path):
    pytest.importorskip("matplotlib")
    X, labels = toy
    media = np.where(
        labels == "striped", "Graphite on paper", "Graphite and watercolour on paper"
    )
    tagger = MediumTagger(
        embedder=ImageEmbedder(
            backbone="simple_cnn", weights=None, image_size=32, random_state=0
        ),
        tag_names=["graphite", "watercolour"],
    ).fit(X, media)
    report = evaluation_report(tagger, X, media, out_dir=tmp_path)
    assert report["kind"] == "tagger"
    assert set(report["files"]) == {
        "per_tag_accuracy.png",
        "confusion_matrix.png",
        "report.json",
    }
    assert report["exact_match"] == pytest.approx(tagger.score(X, media))
    assert set(report["per_tag"]) == {"graphite", "watercolour"}
    assert json.loads((tmp_path / "report.json").read_text()) == report
    Y = np.c_[np.ones(len(X)), labels == "dotted"].astype(int)
    from_matrix = evaluation_report(tagger, X, Y)
    assert from_matrix["exact_match"] == report["exact_match"]
    assert from_matrix["medium_accuracy"] == report["medium_accuracy"]


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")

    def broken(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_report_needs_a_fitted_probabilistic_estimator(toy):
    X, y = toy
    with pytest.raises(NotFittedError):
        evaluation_report(MediumClassifier(), X, y)

    class NoProba(BaseEstimator):
        def fit(self, X, y):
            self.fitted_ = True
            return self

    with pytest.raises(TypeError, match="predict_proba"):
        evaluation_report(NoProba().fit(X, y), X, y)


def test_per_class_accuracy_is_recall_per_class():
    from sklearn.metrics import recall_score

    from artmedium.metrics import per_class_accuracy

    y_true = ["oil", "oil", "ink", "ink", "ink", "chalk"]
    y_pred = ["oil", "ink", "ink", "oil", "ink", "ink"]
    labels = ["chalk", "ink", "oil", "woodcut"]  # woodcut: never in y_true
    report = per_class_accuracy(y_true, y_pred, labels=labels)
    assert list(report["per_class"]) == labels
    expected = recall_score(y_true, y_pred, labels=labels[:3], average=None)
    got = [report["per_class"][label]["accuracy"] for label in labels[:3]]
    np.testing.assert_allclose(got, expected)
    assert [report["per_class"][label]["support"] for label in labels] == [1, 3, 2, 0]
    assert np.isnan(report["per_class"]["woodcut"]["accuracy"])
