"""balanced_sample_weight and cross_validate_report (artmedium.model_selection)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold

from artmedium.model_selection import (
    balanced_sample_weight,
    cross_validate_report,
    format_cv_report,
)

# ---------------------------------------------------------------- helpers


def grouped_data(seed=0):
    """Three unequal classes by artists of unequal output, some in two classes."""
    rng = np.random.RandomState(seed)
    y = np.array(["oil"] * 30 + ["ink"] * 12 + ["etching"] * 6, dtype=object)
    groups = np.array(
        [f"a{i}" for i in rng.randint(0, 4, 30)]
        + [f"a{i}" for i in rng.randint(3, 7, 12)]
        + [f"a{i}" for i in rng.randint(6, 9, 6)],
        dtype=object,
    )
    return y, groups


def totals(weights, keys):
    return {k: weights[keys == k].sum() for k in np.unique(keys)}


class Memoriser(ClassifierMixin, BaseEstimator):
    """Predicts the label it saw for exactly this input, else ``fallback``:
    right on what it trained on, a constant on anything else."""

    def __init__(self, fallback="unseen"):
        self.fallback = fallback

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.seen_ = {self._key(x): label for x, label in zip(X, y)}
        return self

    def predict(self, X):
        return np.array(
            [self.seen_.get(self._key(x), self.fallback) for x in X], dtype=object
        )

    @staticmethod
    def _key(x):
        return x if isinstance(x, str) else tuple(np.ravel(x))


class RecordsWeights(ClassifierMixin, BaseEstimator):
    """Records the rows and sample_weight each fit got (class-level: clones)."""

    calls = []

    def fit(self, X, y, sample_weight=None):
        rows = np.asarray(X)[:, 0].astype(int)
        RecordsWeights.calls.append((rows, sample_weight))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0], dtype=object)


class Tagger(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros((len(X), 2))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = False
        tags.target_tags.multi_output = True
        return tags


def blobs(n_per_class=20, seed=0):
    rng = np.random.RandomState(seed)
    y = np.repeat(np.array(["ink", "oil", "tempera"], dtype=object), n_per_class)
    centre = {"ink": (0.0, 0.0), "oil": (3.0, 0.0), "tempera": (0.0, 3.0)}
    X = np.array([centre[label] for label in y]) + rng.normal(size=(len(y), 2))
    return X, y


# ------------------------------------------------------ balanced_sample_weight


def test_balance_class_gives_each_class_the_same_total():
    y, groups = grouped_data()
    w = balanced_sample_weight(y, groups, balance="class")
    assert np.allclose(list(totals(w, y).values()), len(y) / 3)
    assert w.mean() == pytest.approx(1.0)
    # Without groups too, and as scikit-learn's "balanced" (up to the scale).
    from sklearn.utils.class_weight import compute_sample_weight

    assert np.allclose(w, balanced_sample_weight(y, balance="class"))
    sk = compute_sample_weight("balanced", y)
    assert np.allclose(w, sk * len(y) / sk.sum())


def test_balance_group_gives_each_group_the_same_total():
    y, groups = grouped_data()
    w = balanced_sample_weight(y, groups, balance="group")
    n_groups = len(np.unique(groups))
    assert np.allclose(list(totals(w, groups).values()), len(y) / n_groups)
    assert w.mean() == pytest.approx(1.0)


def test_balance_group_in_class_keeps_class_shares_and_evens_groups_within():
    y, groups = grouped_data()
    w = balanced_sample_weight(y, groups, balance="group_in_class")
    for label, total in totals(w, y).items():
        assert total == pytest.approx(np.sum(y == label))  # the class's share kept
        in_class = totals(w[y == label], groups[y == label])
        assert np.allclose(list(in_class.values()), total / len(in_class))
    assert w.mean() == pytest.approx(1.0)


def test_balance_class_and_group_evens_classes_then_groups_within():
    y, groups = grouped_data()
    w = balanced_sample_weight(y, groups)  # the default
    assert np.allclose(w, balanced_sample_weight(y, groups, balance="class_and_group"))
    class_totals = totals(w, y)
    assert np.allclose(list(class_totals.values()), len(y) / 3)
    for label, total in class_totals.items():
        in_class = totals(w[y == label], groups[y == label])
        assert np.allclose(list(in_class.values()), total / len(in_class))
    # Within one artist of one class, samples weigh the same.
    first = (y == "oil") & (groups == groups[0])
    assert np.allclose(w[first], w[first][0])
    assert w.mean() == pytest.approx(1.0)


@pytest.mark.parametrize("balance", ["group", "group_in_class", "class_and_group"])
def test_balance_by_group_needs_groups(balance):
    with pytest.raises(ValueError, match="needs groups"):
        balanced_sample_weight(["a", "b"], balance=balance)


def test_groups_of_another_length_is_an_error():
    with pytest.raises(ValueError, match="groups has 2 entries but y has 3"):
        balanced_sample_weight(["a", "b", "b"], ["x", "y"])


def test_unknown_balance_is_an_error():
    with pytest.raises(ValueError, match="balance"):
        balanced_sample_weight(["a", "b"], balance="artist")


# ------------------------------------------------------ cross_validate_report


def test_report_has_one_score_per_fold_and_mean_and_population_sd():
    X, y = blobs()
    report = cross_validate_report(LogisticRegression(), X, y, cv=4)
    json.dumps(report, allow_nan=False)  # plain JSON, no NaN
    assert report["n_splits"] == 4 and report["n_samples"] == 60
    assert report["cv"].startswith("StratifiedKFold(n_splits=4")
    assert "shuffle=True" in report["cv"] and "random_state=0" in report["cv"]
    assert report["grouped"] is False and report["n_groups"] is None
    assert report["classes"] == ["ink", "oil", "tempera"]
    assert [f["n_test"] for f in report["folds"]] == [15] * 4
    assert all(f["n_train"] == 45 for f in report["folds"])
    for key in ("accuracy", "balanced_accuracy", "majority", "fit_time"):
        folds = report[key]["folds"]
        assert len(folds) == 4
        assert report[key]["mean"] == pytest.approx(np.mean(folds))
        assert report[key]["sd"] == pytest.approx(np.std(folds))  # ddof=0
    assert report["accuracy"]["mean"] > 0.8  # the blobs are learnable
    # Stratified folds: each test fold holds 5 of each class, so the majority
    # baseline is one third, and balanced accuracy is mean per-class recall.
    assert report["majority"]["folds"] == pytest.approx([1 / 3] * 4)
    per_class = report["per_class_recall"]
    recall = np.array([per_class[c]["folds"] for c in ("ink", "oil", "tempera")])
    assert np.allclose(recall.mean(axis=0), report["balanced_accuracy"]["folds"])
    predictions = np.array(report["predictions"], dtype=object)
    assert len(predictions) == 60
    assert np.mean(predictions == y) == pytest.approx(report["accuracy"]["mean"])


def test_the_seed_chooses_the_folds():
    X, y = blobs()
    a = cross_validate_report(Memoriser(), X, y, cv=3, random_state=1)
    b = cross_validate_report(Memoriser(), X, y, cv=3, random_state=1)
    assert a["predictions"] == b["predictions"] and a["cv"] == b["cv"]
    assert "random_state=1" in a["cv"]


def test_predictions_are_out_of_fold():
    # Every input is unique: a model that memorises its training set predicts
    # its fallback for every sample it did not train on, so out-of-fold
    # predictions are all the fallback, and accuracy is that class's share.
    X, y = blobs()
    report = cross_validate_report(Memoriser(fallback="oil"), X, y, cv=5)
    assert set(report["predictions"]) == {"oil"}
    assert report["accuracy"]["mean"] == pytest.approx(1 / 3)
    assert report["per_class_recall"]["oil"]["mean"] == 1.0
    assert report["per_class_recall"]["ink"]["mean"] == 0.0


def test_grouped_folds_never_put_a_group_on_both_sides():
    # The artist determines the label: a memoriser keyed on the artist scores
    # perfectly when artists leak across folds, and only its fallback's share
    # when they do not.
    rng = np.random.RandomState(0)
    artist = np.repeat(np.arange(12), 6)
    label_of = np.array(["ink", "oil"] * 6, dtype=object)
    y = label_of[artist]
    X = artist.reshape(-1, 1).astype(float)
    order = rng.permutation(len(y))
    X, y, artist = X[order], y[order], artist[order]

    leaky = cross_validate_report(Memoriser(fallback="ink"), X, y, cv=3)
    assert leaky["accuracy"]["mean"] == 1.0

    report = cross_validate_report(Memoriser(fallback="ink"), X, y, groups=artist, cv=3)
    assert report["cv"].startswith("StratifiedGroupKFold(n_splits=3")
    assert report["grouped"] is True and report["n_groups"] == 12
    assert [f["n_shared_groups"] for f in report["folds"]] == [0, 0, 0]
    assert sum(f["n_test_groups"] for f in report["folds"]) == 12
    assert set(report["predictions"]) == {"ink"}
    assert report["accuracy"]["mean"] == pytest.approx(0.5, abs=0.1)


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored")
def test_a_splitter_that_ignores_groups_is_reported_and_warned_about():
    X, y = blobs()
    groups = np.arange(len(y)) % 6
    with pytest.warns(
        UserWarning, match=r"ignores groups: fold\(s\) 1, 2, 3 have"
    ) as record:
        report = cross_validate_report(
            LogisticRegression(), X, y, groups=groups, cv=StratifiedKFold(3)
        )
    ours = [r.filename for r in record if "ignores groups:" in str(r.message)]
    assert ours == [__file__]  # one warning, pointing at the caller
    assert all(f["n_shared_groups"] > 0 for f in report["folds"])
    assert "group(s) on both sides" in format_cv_report(report)
    # A group-aware splitter given as an object is used as it is.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = cross_validate_report(
            LogisticRegression(), X, y, groups=groups, cv=GroupKFold(3)
        )
    assert report["cv"].startswith("GroupKFold")
    assert all(f["n_shared_groups"] == 0 for f in report["folds"])


@pytest.mark.parametrize("balance", ["class", "group", "class_and_group"])
def test_balance_weights_are_computed_on_each_training_fold(balance):
    y, groups = grouped_data()
    X = np.arange(len(y)).reshape(-1, 1)
    RecordsWeights.calls = []
    cross_validate_report(RecordsWeights(), X, y, groups=groups, cv=3, balance=balance)
    assert len(RecordsWeights.calls) == 3
    differs_from_whole_data = False
    whole = balanced_sample_weight(y, groups, balance=balance)
    for rows, weights in RecordsWeights.calls:
        expected = balanced_sample_weight(y[rows], groups[rows], balance=balance)
        assert weights is not None and np.allclose(weights, expected)
        subset = whole[rows] * len(rows) / whole[rows].sum()
        differs_from_whole_data |= not np.allclose(weights, subset)
    # The test can tell the two apart: weights from the whole data differ
    # (but for "group": with whole groups on each side, they are the same).
    assert differs_from_whole_data == (balance != "group")


def test_group_folds_false_weighs_by_group_on_stratified_folds(recwarn):
    y, groups = grouped_data()
    X = np.arange(len(y)).reshape(-1, 1)
    RecordsWeights.calls = []
    report = cross_validate_report(
        RecordsWeights(), X, y, groups=groups, cv=3, balance="group", group_folds=False
    )
    # The folds an int cv makes without groups, artists on both sides ...
    assert report["cv"].startswith("StratifiedKFold(n_splits=3")
    assert report["grouped"] is False
    assert sum(f["n_shared_groups"] for f in report["folds"]) > 0
    assert not [w for w in recwarn if "groups" in str(w.message)]
    # ... and each training fold weighted by its own artists.
    for rows, weights in RecordsWeights.calls:
        expected = balanced_sample_weight(y[rows], groups[rows], balance="group")
        assert np.allclose(weights, expected)


def test_without_balance_fit_gets_no_sample_weight():
    y, groups = grouped_data()
    X = np.arange(len(y)).reshape(-1, 1)
    RecordsWeights.calls = []
    cross_validate_report(RecordsWeights(), X, y, cv=3)
    assert [w for _, w in RecordsWeights.calls] == [None] * 3


def test_a_class_absent_from_a_test_fold_is_none_there_and_left_out_of_its_mean():
    X, y = blobs(n_per_class=4)  # ink 0-3, oil 4-7, tempera 8-11
    n = len(y)
    test_folds = [np.r_[0, 1, 4, 5, 8, 9], np.r_[2, 3, 6, 7], np.r_[10, 11]]
    splits = [(np.setdiff1d(np.arange(n), t), t) for t in test_folds]
    report = cross_validate_report(Memoriser(fallback="ink"), X, y, cv=splits)
    json.dumps(report, allow_nan=False)
    ink = report["per_class_recall"]["ink"]
    assert ink["folds"] == [1.0, 1.0, None]
    assert ink["mean"] == 1.0 and ink["sd"] == 0.0
    assert report["per_class_recall"]["tempera"]["folds"] == [0.0, None, 0.0]
    assert report["cv"] == "3 given (train, test) splits"
    text = format_cv_report(report)
    assert "(in 2 of 3 folds)" in text


def test_test_folds_that_are_not_a_partition_have_no_predictions():
    X, y = blobs(n_per_class=4)
    splits = [(np.arange(6, 12), np.arange(6)), (np.arange(6), np.arange(3, 12))]
    report = cross_validate_report(Memoriser(), X, y, cv=splits)
    assert report["predictions"] is None and report["n_splits"] == 2


def test_inputs_may_be_a_list_of_paths_or_a_dataframe():
    X, y = blobs(n_per_class=6)
    paths = [f"img/{i}.jpg" for i in range(len(y))]
    report = cross_validate_report(Memoriser(fallback="oil"), paths, list(y), cv=3)
    assert set(report["predictions"]) == {"oil"}
    frame = pd.DataFrame(X, columns=["a", "b"], index=np.arange(100, 100 + len(y)))
    from_frame = cross_validate_report(LogisticRegression(), frame, pd.Series(y), cv=3)
    from_array = cross_validate_report(LogisticRegression(), X, y, cv=3)
    assert from_frame["predictions"] == from_array["predictions"]


def test_parallel_folds_give_the_same_report():
    from joblib import parallel_backend

    X, y = blobs()
    sequential = cross_validate_report(LogisticRegression(), X, y, cv=3)
    with parallel_backend("threading"):
        parallel = cross_validate_report(LogisticRegression(), X, y, cv=3, n_jobs=2)
    assert parallel["predictions"] == sequential["predictions"]
    assert parallel["accuracy"]["folds"] == sequential["accuracy"]["folds"]


def test_verbose_prints_a_line_per_fold_on_stderr(capsys):
    X, y = blobs()
    cross_validate_report(LogisticRegression(), X, y, cv=3, verbose=1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("[cross_validate_report] fold") == 3
    assert "fold 3/3" in captured.err


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"y": np.zeros((60, 3))}, "artmedium.explain.evaluation_report"),
        ({"estimator": Tagger()}, "Evaluate a tagger with"),
        ({"y": np.linspace(0, 1, 60)}, "continuous values"),
        ({"y": ["ink"] * 60}, "nothing to cross-validate"),
        ({"X": np.zeros((59, 2))}, "X has 59 samples but y has 60"),
        ({"groups": np.arange(10)}, "groups has 10 entries but X and y have 60"),
        ({"groups": np.arange(60) % 3, "cv": 4}, "at least 4 groups.*holds 3"),
        ({"cv": 25}, "at least 25 samples of each class.*'ink' has 20"),
        ({"balance": "group"}, "needs groups"),
        ({"balance": "artists"}, "balance"),
        ({"cv": 1}, "cv"),
    ],
    ids=[
        "tag matrix",
        "tagger",
        "continuous",
        "one class",
        "X length",
        "groups length",
        "few groups",
        "small class",
        "balance without groups",
        "unknown balance",
        "one fold",
    ],
)
def test_errors_name_the_problem(kwargs, message):
    X, y = blobs()
    args = {"estimator": LogisticRegression(), "X": X, "y": y, **kwargs}
    estimator, X, y = args.pop("estimator"), args.pop("X"), args.pop("y")
    with pytest.raises(ValueError, match=message):
        cross_validate_report(estimator, X, y, **args)


def test_a_class_too_small_for_the_folds_is_named():
    X, y = blobs()
    y = y.copy()
    y[:2] = "pastel"
    with pytest.raises(ValueError, match=r"'pastel' has 2: use fewer folds"):
        cross_validate_report(LogisticRegression(), X, y, cv=3)


def test_a_splitter_that_cannot_split_names_itself():
    X, y = blobs()
    with pytest.raises(ValueError, match="cannot split the data with GroupKFold"):
        cross_validate_report(LogisticRegression(), X, y, cv=GroupKFold(3))


def test_format_shows_every_score_with_its_folds_and_escapes_labels():
    X, y = blobs()
    y = np.where(y == "tempera", "tem\x1b[31mpera\nX", y).astype(object)
    y_groups = np.arange(len(y)) % 10
    report = cross_validate_report(
        LogisticRegression(), X, y, groups=y_groups, cv=3, balance="class"
    )
    text = format_cv_report(json.loads(json.dumps(report)))  # as read back
    lines = text.splitlines()
    acc = report["accuracy"]
    line = next(s for s in lines if s.startswith("accuracy "))
    assert f"{acc['mean']:.3f} ± {acc['sd']:.3f}" in line
    assert " ".join(f"{v:.3f}" for v in acc["folds"]) in line
    assert any(s.startswith("balanced accuracy ") for s in lines)
    assert any(s.startswith("majority baseline ") for s in lines)
    assert any(s.startswith("fit time ") for s in lines)
    assert "10 groups" in lines[0] and "no group on both sides" in text
    assert "balance='class'" in text
    assert "tem\\x1b[31mpera\\nX" in text and "\x1b" not in text
    assert len(lines) == len(text.split("\n"))  # no label broke a line


def test_grid_search_over_artist_folds_with_balanced_weights_tunes_the_classifier():
    """The documented way to tune: GridSearchCV on grouped folds, the weights
    passed to fit and sliced per fold by scikit-learn."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from artmedium import MediumClassifier

    rng = np.random.RandomState(0)
    y = np.repeat(["graphite", "oil"], 24)
    groups = np.array([f"artist{i % 6}" for i in range(24)] * 2, dtype=object)
    X = rng.normal(size=(48, 4)).astype(np.float32) + (y == "oil")[:, None] * 3.0
    weights = balanced_sample_weight(y, groups)
    search = GridSearchCV(
        MediumClassifier(max_epochs=5, random_state=0),
        {"lr": [1e-4, 0.1]},
        cv=StratifiedGroupKFold(3),
    )
    search.fit(X, y, groups=groups, sample_weight=weights)
    # A learning rate that barely moves the head in 5 epochs loses.
    assert search.best_params_ == {"lr": 0.1}
    assert search.best_score_ > 0.9
    assert search.cv_results_["mean_test_score"][0] < search.best_score_
