"""Honest answers: temperature, conformal sets, acceptance, novelty, persistence."""

import hashlib
import json

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from artmedium import MediumClassifier
from artmedium.estimators._calibration import (
    Calibration,
    fit_temperature,
    knn_distance,
)
from artmedium.persistence import load_model, save_model
from conftest import make_toy_images

FAST = {"lr": 0.1, "max_epochs": 10, "batch_size": 64, "random_state": 0}


def blobs(n_per_class, *, spread=1.5, seed=0, n_classes=3):
    """Overlapping Gaussian classes in 4-D: a task with honest mistakes."""
    rng = np.random.RandomState(seed)
    centres = np.eye(n_classes, 4) * 3.0
    X = np.vstack([rng.normal(c, spread, (n_per_class, 4)) for c in centres])
    names = np.array(["etching", "engraving", "lithograph"][:n_classes])
    y = np.repeat(names, n_per_class)
    return X, y


def test_fit_temperature_recovers_the_temperature_that_made_the_labels():
    rng = np.random.RandomState(0)
    logits = rng.normal(0, 3, (6000, 4))
    labels = np.array([rng.choice(4, p=p) for p in softmax(logits / 2.5, axis=1)])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)


def test_fit_temperature_ignores_classes_no_held_out_image_has():
    rng = np.random.RandomState(0)
    logits = rng.normal(0, 3, (3000, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(logits / 2.0, axis=1)])
    keep = labels != 2
    # Fitted on the rows of classes 0 and 1 only: still a temperature.
    assert fit_temperature(logits[keep], labels[keep]) == pytest.approx(2.0, rel=0.2)


def test_calibration_size_holds_out_a_stratified_share():
    X, y = blobs(60)
    clf = MediumClassifier(calibration_size=0.25, **FAST).fit(X, y)
    cal = clf.calibration_
    assert len(cal.labels) == 45
    assert np.bincount(cal.labels).tolist() == [15, 15, 15]
    # Trained on the other 135: a classifier without calibration trains on all.
    assert clone(clf).set_params(calibration_size=None).fit(X, y).calibration_ is None


def test_calibrated_probabilities_are_temperature_scaled_logits():
    X, y = blobs(60)
    clf = MediumClassifier(calibration_size=0.3, **FAST).fit(X, y)
    logits = clf.decision_function(X)
    expected = softmax(logits / clf.calibration_.temperature, axis=1)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    assert (clf.predict(X) == clf.classes_[logits.argmax(axis=1)]).all()


def test_temperature_scaling_lowers_an_overconfident_models_log_loss():
    from sklearn.metrics import log_loss

    X, y = blobs(150, spread=2.0)
    X_test, y_test = blobs(150, spread=2.0, seed=1)
    # Many epochs at a high rate without weight decay: overconfident logits.
    clf = MediumClassifier(
        lr=0.5, max_epochs=60, weight_decay=0, dropout=0, random_state=0
    ).fit(X, y)
    before = log_loss(y_test, clf.predict_proba(X_test), labels=clf.classes_)
    X_cal, y_cal = blobs(150, spread=2.0, seed=2)
    clf.calibrate(X_cal, y_cal)
    after = log_loss(y_test, clf.predict_proba(X_test), labels=clf.classes_)
    assert after < before


@pytest.mark.parametrize("confidence", [0.8, 0.9])
def test_conformal_sets_cover_the_true_class_at_the_confidence(confidence):
    X, y = blobs(200, spread=2.0)
    clf = MediumClassifier(calibration_size=0.5, **FAST).fit(X, y)
    X_test, y_test = blobs(1000, spread=2.0, seed=3)
    sets = clf.predict_set(X_test, confidence=confidence)
    truth = np.searchsorted(clf.classes_, y_test)
    coverage = sets[np.arange(len(y_test)), truth].mean()
    assert coverage == pytest.approx(confidence, abs=0.04)
    assert sets.shape == (len(y_test), 3) and sets.dtype == bool


def test_higher_confidence_gives_larger_sets():
    X, y = blobs(200, spread=2.0)
    clf = MediumClassifier(calibration_size=0.5, **FAST).fit(X, y)
    X_test, _ = blobs(300, spread=2.0, seed=3)
    small = clf.predict_set(X_test, confidence=0.7)
    large = clf.predict_set(X_test, confidence=0.95)
    assert (large >= small).all() and large.sum() > small.sum()


def test_assess_marks_far_away_inputs_unknown_and_ambiguous_ones_uncertain():
    X, y = blobs(200, spread=1.0)
    clf = MediumClassifier(calibration_size=0.3, **FAST).fit(X, y)
    clear = np.array([[6.0, 0, 0, 0]])  # deep inside "etching"
    between = np.array([[1.5, 1.5, 0, 0]])  # halfway between two classes
    far = np.array([[0, 0, -60.0, 60.0]])  # nothing like any training blob
    out = clf.assess(np.vstack([clear, between, far]), confidence=0.9)
    assert out.status.tolist() == ["ok", "uncertain", "unknown"]
    assert out.sets[1].sum() != 1  # empty (nothing fits) or several
    assert out.labels[0] == "etching"
    assert out.novelty[2] > out.novelty_threshold > out.novelty[0]


def test_a_higher_accept_accuracy_accepts_fewer_answers_more_accurately():
    X, y = blobs(300, spread=2.0)
    clf = MediumClassifier(calibration_size=0.4, **FAST).fit(X, y)
    X_test, y_test = blobs(500, spread=2.0, seed=4)
    low = clf.assess(X_test, accept_accuracy=0.8, unknown_rate=0)
    high = clf.assess(X_test, accept_accuracy=0.97, unknown_rate=0)
    assert high.accept_threshold > low.accept_threshold
    ok_low, ok_high = low.status == "ok", high.status == "ok"
    assert ok_high.sum() < ok_low.sum()
    accuracy = (high.labels == y_test)[ok_high].mean()
    assert accuracy > (low.labels == y_test)[ok_low].mean()
    assert accuracy >= 0.93


def test_unknown_rate_is_the_false_alarm_rate_on_the_calibration_images():
    X, y = blobs(300, spread=1.0)
    clf = MediumClassifier(calibration_size=0.5, **FAST).fit(X, y)
    X_test, _ = blobs(1000, spread=1.0, seed=5)
    for rate in (0.05, 0.2):
        marked = (clf.assess(X_test, unknown_rate=rate).status == "unknown").mean()
        assert marked == pytest.approx(rate, abs=0.04)


def test_acceptance_threshold_is_the_largest_share_reaching_the_accuracy():
    # Held-out answers sorted by confidence: right, right, wrong, right, wrong.
    logits = np.log(
        np.array([[0.95, 0.05], [0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    )
    cal = Calibration(logits, [0, 0, 1, 0, 1], np.eye(5, 3), temperature=1.0)
    assert cal.acceptance_threshold(0.75) == pytest.approx(0.7)  # 3 of 4
    assert cal.acceptance_threshold(0.9) == pytest.approx(0.9)  # 2 of 2
    assert cal.acceptance_threshold(1.0) == pytest.approx(0.9)
    assert cal.acceptance_threshold(0.5) == pytest.approx(0.6)  # everything


def test_knn_distance_leaves_each_reference_row_out_of_its_own_neighbours():
    reference = np.array([[1.0, 0], [1.0, 0.01], [0, 1.0]])
    assert knn_distance(reference, reference, 1, leave_one_out=True)[0] > 0
    assert knn_distance(reference, reference, 1)[0] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("method", ["predict_set", "novelty_score", "assess"])
def test_an_uncalibrated_classifier_says_how_to_calibrate(method):
    X, y = blobs(20)
    clf = MediumClassifier(**FAST).fit(X, y)
    with pytest.raises(NotFittedError, match="calibration_size"):
        getattr(clf, method)(X)


def test_calibrate_names_what_is_wrong_with_its_labels():
    X, y = blobs(20)
    clf = MediumClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="does not know: \\['gouache'\\]"):
        clf.calibrate(X[:2], ["etching", "gouache"])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.calibrate(X[:5], y[:4])


def test_a_class_of_one_image_stays_in_training():
    X, y = blobs(10)
    y = y.astype(object)
    y[0] = "pen and ink"
    clf = MediumClassifier(calibration_size=0.2, **FAST).fit(X, y)
    pen = list(clf.classes_).index("pen and ink")
    assert pen not in clf.calibration_.labels
    assert len(clf.calibration_.labels) == 6  # 20 % of the 29 others, stratified
    assert clf.predict_set(X[:3]).shape == (3, 4)


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1])
def test_calibration_size_out_of_range_is_refused(value):
    X, y = blobs(10)
    with pytest.raises(ValueError, match="calibration_size"):
        MediumClassifier(calibration_size=value, **FAST).fit(X, y)


@pytest.mark.parametrize("freeze", ["backbone", 1, "none"])
def test_features_and_logits_agree_with_the_network_on_images(freeze):
    X, y = make_toy_images(n_per_class=10, size=32)
    clf = MediumClassifier(
        backbone="simple_cnn",
        weights=None,
        image_size=32,
        freeze=freeze,
        max_epochs=2,
        calibration_size=0.3,
        random_state=0,
    ).fit(X, y)
    features, logits = clf._features_and_logits(X)
    np.testing.assert_allclose(
        logits,
        clf.decision_function(X)[:, None] * [-0.5, 0.5]
        + logits.mean(axis=1, keepdims=True),
        atol=1e-4,
    )
    network = clf.backbone_.network
    # Texture statistics where the trained stages give them, starting with
    # the pooled features the head sees.
    expected = network.pooled_dim("avg" if freeze in ("backbone", 1) else "texture")
    assert features.shape == (len(X), expected)
    pooled = network.forward(clf.preprocessing_.batch(list(X)))
    np.testing.assert_allclose(
        # float16 cached activations when stages are frozen
        features[:, : network.feature_dim],
        pooled.detach().numpy(),
        atol=2e-3,
    )


def _answers(clf, X):
    out = clf.assess(X, confidence=0.8, accept_accuracy=0.9)
    return out.status.tolist(), out.sets.tolist(), out.novelty, clf.predict_proba(X)


@pytest.mark.parametrize("kind", ["features", "images"])
def test_a_loaded_model_gives_identical_sets_and_statuses(tmp_path, kind):
    if kind == "features":
        X, y = blobs(60, spread=2.0)
        clf = MediumClassifier(calibration_size=0.3, **FAST).fit(X, y)
    else:
        X, y = make_toy_images(n_per_class=12, size=32)
        clf = MediumClassifier(
            backbone="simple_cnn",
            weights=None,
            image_size=32,
            max_epochs=2,
            calibration_size=0.3,
            random_state=0,
        ).fit(X, y)
    save_model(clf, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.calibration_.temperature == clf.calibration_.temperature
    before, after = _answers(clf, X), _answers(loaded, X)
    assert before[:2] == after[:2]
    np.testing.assert_allclose(before[2], after[2], atol=2e-3)
    np.testing.assert_allclose(before[3], after[3], rtol=1e-5, atol=1e-6)


def test_an_uncalibrated_model_loads_uncalibrated(tmp_path):
    X, y = blobs(20)
    save_model(MediumClassifier(**FAST).fit(X, y), tmp_path / "m")
    assert load_model(tmp_path / "m").calibration_ is None


@pytest.fixture
def calibrated_folder(tmp_path):
    X, y = blobs(40)
    save_model(MediumClassifier(calibration_size=0.3, **FAST).fit(X, y), tmp_path / "m")
    return tmp_path / "m"


def _edit(folder, **changes):
    path = folder / "model.json"
    sidecar = json.loads(path.read_text())
    sidecar["state"]["calibration"].update(changes)
    path.write_text(json.dumps(sidecar))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"temperature": 1e9}, "temperature = 1000000000.0 is outside"),
        ({"temperature": 10**400}, "temperature must be a number"),
        ({"temperature": 0.0}, "temperature = 0.0 is outside"),
        ({"temperature": "hot"}, "temperature must be float or int"),
        ({"n_features": 7}, "n_features = 7 does not match the model's 4"),
        ({"n_samples": 0}, "n_samples = 0 is outside"),
        ({"n_samples": 10**9}, "n_samples = 1000000000 is outside"),
        ({"n_samples": 37}, "do not match"),  # the weights file holds 36
    ],
)
def test_a_tampered_calibration_is_refused_naming_the_field(
    calibrated_folder, changes, message
):
    _edit(calibrated_folder, **changes)
    with pytest.raises(ValueError, match=message):
        load_model(calibrated_folder)


def test_calibration_logits_are_sized_before_they_are_allocated(tmp_path, monkeypatch):
    import artmedium._state

    X, y = blobs(40)
    clf = MediumClassifier(calibration_size=0.3, **FAST).fit(X[:, :2], y)
    save_model(clf, tmp_path / "m")
    # 36 held-out images: 36 x 2 features pass, 36 x 3 logits do not.
    monkeypatch.setattr(artmedium._state, "MAX_LAYER_PARAMS", 100)
    with pytest.raises(ValueError, match="a layer of 36 x 3 weights exceeds"):
        load_model(tmp_path / "m")


def _record_weights(folder):
    """Make model.json record the (edited) weights file, as a forger would."""
    from artmedium.persistence import WEIGHTS

    sidecar = json.loads((folder / "model.json").read_text())
    blob = (folder / WEIGHTS).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    sidecar["weights"] = {"sha256": digest, "bytes": len(blob)}
    (folder / "model.json").write_text(json.dumps(sidecar))


def test_tampered_calibration_labels_fail_with_a_clear_error(calibrated_folder):
    from safetensors.numpy import load_file, save_file

    from artmedium.persistence import WEIGHTS

    tensors = load_file(calibrated_folder / WEIGHTS)
    tensors["calibration.labels"][0] = 99
    save_file(tensors, calibrated_folder / WEIGHTS)
    _record_weights(calibrated_folder)
    model = load_model(calibrated_folder)
    with pytest.raises(ValueError, match="class indices in \\[0, 3\\)"):
        model.assess(np.zeros((1, 4)))


def test_fit_temperature_of_two_classes_matches_the_multiclass_softmax():
    rng = np.random.RandomState(1)
    logits = rng.normal(0, 3, (4000, 2))
    labels = np.array([rng.choice(2, p=p) for p in softmax(logits / 0.5, axis=1)])
    assert fit_temperature(logits, labels) == pytest.approx(0.5, rel=0.1)


# ------------------------------------------------------------------ the tagger
def noisy_tags(n, seed):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    Y = (X + rng.normal(0, 1.5, X.shape) > 0).astype(int)
    return X, np.c_[Y, np.zeros(n, int)]  # the third tag is never present


def overconfident_tagger(**params):
    from sklearn.linear_model import LogisticRegression

    from artmedium import MediumTagger

    return MediumTagger(
        estimator=LogisticRegression(C=1e4),
        embedder="passthrough",
        tag_names=["graphite", "watercolour", "gouache"],
        decode="independent",
        **params,
    )


def test_tag_temperatures_lower_each_tags_log_loss():
    from sklearn.metrics import log_loss

    X, Y = noisy_tags(60, 0)
    X_test, Y_test = noisy_tags(2000, 1)
    # Scaled-up features: the same boundaries with overconfident probabilities.
    tagger = overconfident_tagger().fit(X * 20, Y)
    before = tagger.predict_proba(X_test * 20)
    X_cal, Y_cal = noisy_tags(500, 2)
    tagger.calibrate(X_cal * 20, Y_cal)
    after = tagger.predict_proba(X_test * 20)
    for j in (0, 1):
        assert log_loss(Y_test[:, j], after[:, j], labels=[0, 1]) < log_loss(
            Y_test[:, j], before[:, j], labels=[0, 1]
        )
    assert tagger.tag_temperatures_[2] == 1.0  # constant: nothing to calibrate
    assert (after[:, 2] == 0).all()
    # Calibration keeps each tag's decision at 0.5.
    assert ((after[:, :2] > 0.5) == (before[:, :2] > 0.5)).all()


def test_tagger_calibration_size_holds_out_and_saves(tmp_path):
    X, Y = noisy_tags(300, 0)
    tagger = overconfident_tagger(calibration_size=0.3, random_state=0).fit(X, Y)
    assert tagger.tag_temperatures_.shape == (3,)
    assert (tagger.tag_temperatures_[:2] != 1).all()
    save_model(tagger, tmp_path / "t")
    loaded = load_model(tmp_path / "t")
    np.testing.assert_array_equal(loaded.tag_temperatures_, tagger.tag_temperatures_)
    np.testing.assert_allclose(loaded.predict_proba(X), tagger.predict_proba(X))
    assert overconfident_tagger().fit(X, Y).tag_temperatures_ is None


def test_a_tampered_tagger_calibration_flag_is_named(tmp_path):
    X, Y = noisy_tags(100, 0)
    save_model(overconfident_tagger(calibration_size=0.3).fit(X, Y), tmp_path / "t")
    path = tmp_path / "t" / "model.json"
    sidecar = json.loads(path.read_text())
    sidecar["state"]["calibrated"] = "yes"
    path.write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="calibrated must be true or false"):
        load_model(tmp_path / "t")


def test_a_held_out_set_the_model_gets_all_right_gives_a_bounded_temperature():
    from artmedium.estimators._calibration import TEMPERATURE_RANGE

    logits = np.array([[5.0, -5.0], [-4.0, 4.0], [6.0, 0.0], [0.0, 3.0]])
    assert fit_temperature(logits, [0, 1, 0, 1]) == TEMPERATURE_RANGE[0]


@pytest.mark.parametrize("scale", [1e5, 1e-8])
def test_novelty_works_whatever_the_scale_of_the_features(scale):
    X, y = blobs(100, spread=1.0)
    clf = MediumClassifier(calibration_size=0.3, **FAST).fit(X * scale, y)
    far = np.array([[0, 0, -60.0, 60.0]]) * scale
    out = clf.assess(np.vstack([X[:1], far]) * np.array([[scale], [1]]))
    assert out.status[1] == "unknown" and np.isfinite(out.novelty).all()


def test_the_novelty_threshold_is_the_conformal_rank():
    cal = Calibration(np.zeros((19, 2)), np.arange(19) % 2, np.eye(19, 3))
    scores = np.sort(cal._held_out["novelty"])
    # ceil((19 + 1) * 0.9) = 18th smallest of 19; at 1 % there is no such rank.
    assert cal.novelty_threshold(0.1) == scores[17]
    assert cal.novelty_threshold(0.01) == np.inf


def test_few_held_out_images_use_as_many_neighbours_for_new_and_held_out():
    cal = Calibration(np.zeros((3, 2)), [0, 1, 0], np.eye(3))
    assert cal._neighbours == 2
    new = cal.novelty_scores(np.eye(3))
    np.testing.assert_allclose(new, cal._held_out["novelty"], atol=1e-3)


def test_images_weighted_zero_are_not_used_to_calibrate():
    X, y = blobs(60)
    weight = np.ones(len(y))
    weight[::2] = 0
    clf = MediumClassifier(calibration_size=0.3, **FAST).fit(X, y, sample_weight=weight)
    plain = MediumClassifier(calibration_size=0.3, **FAST).fit(X, y)
    assert 0 < len(clf.calibration_.labels) < len(plain.calibration_.labels)


def test_saved_arrays_of_another_kind_are_refused_naming_them(calibrated_folder):
    import torch
    from safetensors.torch import load_file, save_file

    from artmedium.persistence import WEIGHTS

    tensors = load_file(calibrated_folder / WEIGHTS)
    tensors["calibration.labels"] = tensors["calibration.labels"].float()
    tensors["calibration.logits"] = tensors["calibration.logits"].to(torch.bfloat16)
    save_file(tensors, calibrated_folder / WEIGHTS)
    _record_weights(calibrated_folder)
    with pytest.raises(ValueError, match="wrong shapes or types: calibration.labels"):
        load_model(calibrated_folder)


def test_a_tagger_of_many_combinations_still_holds_out_a_share():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 8))
    Y = (X + rng.normal(0, 1, X.shape) > 0).astype(int)  # ~200 combinations
    from artmedium import MediumTagger

    tagger = MediumTagger(
        embedder="passthrough", tag_names=[f"t{j}" for j in range(8)],
        decode="independent", calibration_size=0.2, random_state=0,
    ).fit(X, Y)  # fmt: skip
    assert tagger.tag_temperatures_.shape == (8,)
