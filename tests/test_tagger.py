"""MediumTagger: per-tag classifiers, thresholds, valid decoding, sklearn workflows."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.multioutput import MultiOutputClassifier

from artmedium import ImageEmbedder, MediumClassifier, MediumTagger
from artmedium.datasets import POSTER_CLASSES, POSTER_TAGS, tag_matrix
from artmedium.metrics import tag_report
from conftest import make_toy_images

TAGS2 = ["graphite", "watercolour"]


def exclusive_tags(n=200, seed=0):
    """Two tags, never both present: tag0 iff x0 > x1 and x0 > 0, tag1 likewise."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 3))
    tag0 = (X[:, 0] > 0) & (X[:, 0] > X[:, 1])
    tag1 = (X[:, 1] > 0) & (X[:, 1] >= X[:, 0])
    return X, np.c_[tag0, tag1].astype(int)


def passthrough(**params):
    return MediumTagger(embedder="passthrough", tag_names=TAGS2, **params)


def test_learns_toy_multilabel_task():
    X, Y = exclusive_tags()
    X_test, Y_test = exclusive_tags(seed=1)
    tagger = passthrough().fit(X, Y)
    assert tagger.score(X_test, Y_test) > 0.85  # exact match
    report = tag_report(Y_test, tagger.predict(X_test), TAGS2)
    assert all(r["accuracy"] > 0.85 for r in report["per_tag"].values())


def test_shapes_column_order_and_raw_list():
    X, Y = exclusive_tags()
    tagger = passthrough(decode="independent").fit(X, Y)
    proba = tagger.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert tagger.predict(X).shape == (len(X), 2)
    assert list(tagger.tag_names_) == TAGS2
    assert [c.tolist() for c in tagger.classes_] == [[0, 1], [0, 1]]
    # Column j follows tag j: the same as sklearn's MultiOutputClassifier list form.
    reference = MultiOutputClassifier(LogisticRegression(max_iter=2000)).fit(X, Y)
    for j, ref in enumerate(reference.predict_proba(X)):
        np.testing.assert_allclose(proba[:, j], ref[:, 1], rtol=1e-6)
    raw = tagger.predict_proba_list(X)
    assert len(raw) == 2 and raw[0].shape == (len(X), 2)
    np.testing.assert_allclose(raw[1][:, 1], proba[:, 1])


def test_thresholds_scalar_and_per_tag():
    X, Y = exclusive_tags()
    tagger = passthrough(decode="independent").fit(X, Y)
    proba = tagger.predict_proba(X)
    low = tagger.set_params(threshold=0.1).predict(X)
    high = tagger.set_params(threshold=0.9).predict(X)
    assert low.sum() > high.sum()
    np.testing.assert_array_equal(high, (proba >= 0.9).astype(int))
    per_tag = tagger.set_params(threshold=[0.1, 0.9]).predict(X)
    np.testing.assert_array_equal(per_tag[:, 0], low[:, 0])
    np.testing.assert_array_equal(per_tag[:, 1], high[:, 1])
    with pytest.raises(ValueError, match="threshold"):
        tagger.set_params(threshold=1.5).predict(X)


def test_valid_decoding_never_predicts_unseen_combinations():
    X, Y = exclusive_tags()
    tagger = passthrough(threshold=0.2, decode="independent").fit(X, Y)
    both = np.array([[2.0, 2.0, 0.0], [1.5, 1.4, 0.0]])
    # With a low threshold the independent decoding switches both tags on ...
    assert (tagger.predict(both).sum(axis=1) == 2).any()
    tagger.set_params(decode="valid")
    decoded = tagger.predict(both)
    # ... the valid decoding picks a combination seen in training.
    seen = {tuple(r) for r in Y}
    assert all(tuple(r) in seen for r in decoded)
    assert (decoded.sum(axis=1) <= 1).all()


def test_valid_decoding_matches_independent_when_it_is_valid():
    X, Y = exclusive_tags()
    tagger = passthrough().fit(X, Y)
    ind = tagger.set_params(decode="independent").predict(X)
    val = tagger.set_params(decode="valid").predict(X)
    valid_rows = ind.sum(axis=1) <= 1
    np.testing.assert_array_equal(ind[valid_rows], val[valid_rows])


def test_fit_from_strings_equals_fit_from_tag_matrix():
    rng = np.random.RandomState(0)
    classes = np.array(POSTER_CLASSES, dtype=object)
    y = classes[rng.randint(len(classes), size=120)]
    X = rng.normal(size=(120, 5)) + tag_matrix(y)[:, :5]
    a = MediumTagger(embedder="passthrough").fit(X, y)
    b = MediumTagger(embedder="passthrough").fit(X, tag_matrix(y))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X))
    assert list(a.tag_names_) == list(POSTER_TAGS)
    media = a.predict_medium(X)
    assert media.shape == (120,) and all(isinstance(m, str) for m in media)
    assert a.score(X, y) == b.score(X, tag_matrix(y))


def test_predict_medium_round_trips_poster_classes():
    y = np.array(POSTER_CLASSES * 6, dtype=object)
    X = tag_matrix(y).astype(float) * 4  # perfectly separable features
    tagger = MediumTagger(embedder="passthrough").fit(X, y)
    np.testing.assert_array_equal(tagger.predict_medium(X), y)


def test_clone_and_grid_search_over_inner_estimator():
    X, Y = exclusive_tags()
    search = GridSearchCV(
        passthrough(),
        {"estimator": [LogisticRegression(C=c) for c in (0.01, 1.0)]},
        cv=3,
    )
    search.fit(X, Y)
    assert search.best_score_ > 0.8
    tagger = passthrough(estimator=LogisticRegression())
    search = GridSearchCV(tagger, {"estimator__C": [0.01, 1.0]}, cv=3).fit(X, Y)
    assert search.best_params_["estimator__C"] in (0.01, 1.0)
    assert clone(tagger).get_params()["estimator__C"] == 1.0


def test_joint_mode_learns():
    X, Y = exclusive_tags()
    X_test, Y_test = exclusive_tags(seed=1)
    joint = passthrough(mode="joint", lr=0.05, max_epochs=60, random_state=0).fit(X, Y)
    assert joint.score(X_test, Y_test) > 0.8
    again = passthrough(mode="joint", lr=0.05, max_epochs=60, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(joint.predict_proba(X), again.predict_proba(X))


def test_images_embedded_once_for_all_tags():
    X, labels = make_toy_images(n_per_class=12, seed=1)
    Y = np.c_[labels == "striped", labels == "dotted"].astype(int)
    embedder = ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )
    calls = []
    original = ImageEmbedder.transform

    def counting(self, X):
        calls.append(len(X))
        return original(self, X)

    ImageEmbedder.transform = counting
    try:
        tagger = MediumTagger(embedder=embedder, tag_names=TAGS2).fit(X, Y)
        tagger.predict(X)
    finally:
        ImageEmbedder.transform = original
    assert calls == [len(X), len(X)]  # once in fit, once in predict, not per tag
    X_test, labels_test = make_toy_images(n_per_class=8, seed=2)
    Y_test = np.c_[labels_test == "striped", labels_test == "dotted"].astype(int)
    assert tagger.score(X_test, Y_test) > 0.8


def test_poster_setup_one_network_per_tag():
    X, labels = make_toy_images(n_per_class=12, seed=1)
    Y = np.c_[labels == "striped", labels == "dotted"].astype(int)
    net = MediumClassifier(
        backbone="simple_cnn",
        weights=None,
        image_size=32,
        freeze="none",
        lr=0.05,
        max_epochs=8,
        batch_size=8,
        random_state=0,
    )
    tagger = MediumTagger(estimator=net, embedder="passthrough", tag_names=TAGS2)
    tagger.fit(X, Y)
    assert len(tagger.estimator_.estimators_) == 2
    assert all(isinstance(e, MediumClassifier) for e in tagger.estimator_.estimators_)
    X_test, labels_test = make_toy_images(n_per_class=8, seed=2)
    Y_test = np.c_[labels_test == "striped", labels_test == "dotted"].astype(int)
    assert tagger.score(X_test, Y_test) > 0.75


def test_constant_tag_is_predicted_constant():
    X, Y = exclusive_tags()
    Y3 = np.c_[Y, np.zeros(len(Y), int)]
    tagger = MediumTagger(embedder="passthrough", tag_names=[*TAGS2, "canvas"]).fit(
        X, Y3
    )
    assert (tagger.predict_proba(X)[:, 2] == 0).all()
    assert tagger.constant_tags_ == {2: 0}


def test_bad_y():
    X, Y = exclusive_tags()
    with pytest.raises(ValueError, match="tag columns"):
        passthrough().fit(X, np.c_[Y, Y])
    with pytest.raises(ValueError, match="only 0 and 1"):
        passthrough().fit(X, Y * 2)
    with pytest.raises(ValueError, match="inconsistent"):
        passthrough().fit(X[:-1], Y)
    with pytest.raises(ValueError, match="mode"):
        passthrough(mode="chained").fit(X, Y)
    media = ["Graphite on paper"] * (len(X) - 1) + [None]
    with pytest.raises(ValueError, match=rf"y\[{len(X) - 1}\] is None"):
        passthrough().fit(X, media)


@pytest.mark.parametrize("mode", ["independent", "joint"])
def test_to_torch_reproduces_predict_proba(mode):
    import torch

    X, labels = make_toy_images(n_per_class=10, seed=1)
    Y = np.c_[labels == "striped", labels == "dotted", np.zeros(len(X))].astype(int)
    embedder = ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )
    tagger = MediumTagger(
        embedder=embedder,
        tag_names=[*TAGS2, "canvas"],
        mode=mode,
        max_epochs=5,
        random_state=0,
    ).fit(X, Y)
    model = tagger.to_torch()
    batch = tagger.preprocessing_.batch(list(X))
    with torch.no_grad():
        proba = torch.sigmoid(model(batch)).numpy()
    expected = tagger.predict_proba(X)
    learned = [0, 1] if mode == "independent" else [0, 1, 2]
    np.testing.assert_allclose(proba[:, learned], expected[:, learned], atol=1e-5)
    if mode == "independent":
        assert (proba[:, 2] < 1e-6).all()


def test_min_support_drops_rare_combinations_from_decoding():
    X, Y = exclusive_tags()
    # Three rows where both tags are present: a combination seen 3 times.
    Y = Y.copy()
    Y[:3] = 1
    seen = {tuple(r) for r in passthrough().fit(X, Y).combinations_.tolist()}
    assert (1, 1) in seen
    strict = passthrough(min_support=4).fit(X, Y)
    assert (1, 1) not in {tuple(r) for r in strict.combinations_.tolist()}
    assert (strict.combination_counts_ >= 4).all()
    # Decoding never predicts a combination below the support, even where both
    # tags are likely.
    assert not (strict.decode_proba([[0.99, 0.99]]) == [[1, 1]]).all()
    with pytest.raises(ValueError, match="min_support=1000"):
        passthrough(min_support=1000).fit(X, Y)


@pytest.mark.parametrize("mode", ["independent", "joint"])
def test_sample_weight_is_repetition(mode):
    X, Y = exclusive_tags(n=60)
    weights = np.random.RandomState(0).randint(0, 3, len(Y))
    repeated = np.repeat(np.arange(len(Y)), weights)
    params = {"mode": mode, "max_epochs": 20, "batch_size": 1000, "random_state": 0}
    weighted = passthrough(**params).fit(X, Y, sample_weight=weights)
    copies = passthrough(**params).fit(X[repeated], Y[repeated])
    np.testing.assert_allclose(
        weighted.predict_proba(X), copies.predict_proba(X), atol=1e-4
    )
    np.testing.assert_array_equal(weighted.combinations_, copies.combinations_)
    plain = passthrough(**params).fit(X, Y)
    assert not np.allclose(weighted.predict_proba(X), plain.predict_proba(X))


def test_tag_names_from_any_array_like():
    """np.shape on an object exposing only __array__ used to fail."""

    class OnlyArray:  # as sklearn's _NotAnArray: no numpy functions, only __array__
        def __init__(self, data):
            self.data = np.asarray(data)

        def __array__(self, dtype=None, copy=None):
            return self.data

        def __array_function__(self, func, types, args, kwargs):
            raise TypeError(f"no {func.__name__} on this array-like")

    X, Y = exclusive_tags(n=40)
    tagger = MediumTagger(embedder="passthrough", decode="independent")
    assert tagger._tag_names_for(OnlyArray(Y)) == ["tag0", "tag1"]
    assert tagger._tag_names_for(OnlyArray(Y[:, 0])) == ["tag0"]
