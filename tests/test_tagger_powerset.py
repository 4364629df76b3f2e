"""MediumTagger(mode="powerset"): one classifier over the valid tag combinations.

Predictions are always a combination seen in training, tag probabilities are
the combinations' marginals, a calibrated MediumClassifier inside gives
conformal sets and novelty, and the whole is saved as checked data. Also the
crafted-file checks of the loading code it goes through (the saved vocabulary,
the combination model) and ``recipes.tagger_recipe``.
"""

import json
import shutil

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from artmedium import MediumClassifier, MediumTagger
from artmedium.persistence import SIDECAR, load_model, save_model
from artmedium.recipes import DEFAULT_RECIPE, recipe, tagger_recipe
from artmedium.vocabulary import Vocabulary, build_vocabulary, tag_matrix
from conftest import PRINTS_AND_PAINTINGS, TINY, run_in_thread

# One colour per description: a tiny CNN tells them apart in three epochs.
KINDS = np.array(PRINTS_AND_PAINTINGS, dtype=object)
COLOURS = np.array(
    [(220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 200, 40), (200, 40, 200)]
)
IMPOSSIBLE = "Oil paint on canvas on board"  # two supports of one exclusive group


def colour_images(n_per_kind, seed):
    """Noisy images of one colour per description (uint8, 32 px)."""
    rng = np.random.RandomState(seed)
    kind = np.repeat(np.arange(len(KINDS)), n_per_kind)
    rng.shuffle(kind)
    noise = rng.normal(0, 25, size=(len(kind), 32, 32, 3))
    X = (COLOURS[kind][:, None, None, :] + noise).clip(0, 255).astype(np.uint8)
    return X, KINDS[kind].copy()


def colour_features(n_per_kind, seed):
    """The same task as numbers: each image's mean colour, noisier."""
    rng = np.random.RandomState(seed)
    kind = np.repeat(np.arange(len(KINDS)), n_per_kind)
    rng.shuffle(kind)
    return COLOURS[kind] / 255 + rng.normal(0, 0.05, (len(kind), 3)), KINDS[kind]


X_TRAIN, Y_TRAIN = colour_images(30, 0)
Y_TRAIN[:3] = IMPOSSIBLE
VOCAB = build_vocabulary(Y_TRAIN, n_tags=None, broader=True)
FAR = np.zeros((2, 32, 32, 3), np.uint8)
FAR[1] = 255  # solid black, solid white: nothing like the colourful training images


def classifier(**params):
    return MediumClassifier(**{**TINY, "max_epochs": 3, "lr": 0.05, **params})


def powerset(**params):
    return MediumTagger(
        mode="powerset",
        embedder="passthrough",
        estimator=classifier(),
        tag_names=VOCAB,
        random_state=0,
        **params,
    )


def names_of(row):
    return tuple(t for t, on in zip(VOCAB, row) if on)


@pytest.fixture(scope="module")
def tagger():
    """A calibrated powerset tagger (shared: do not modify)."""
    return powerset(calibration_size=0.3).fit(X_TRAIN, Y_TRAIN)


@pytest.fixture(scope="module")
def check_images():
    """New images of the five descriptions, then black and white."""
    X, y = colour_images(4, 1)
    return np.concatenate([X, FAR]), y


def test_the_vocabulary_has_broader_tags_and_an_exclusive_group():
    assert {"intaglio print", "print", "paint"} <= set(VOCAB)
    assert VOCAB.parent("etching") == "intaglio print"
    assert VOCAB.exclusive == (("board", "canvas"),)


def test_combinations_are_the_valid_closed_labelled_sets(tagger):
    seen = {tuple(r) for r in tag_matrix(Y_TRAIN[3:], VOCAB)}
    assert {tuple(r) for r in tagger.combinations_} == seen
    assert len(tagger.combinations_) == len(KINDS)
    for row in tagger.combinations_:
        assert VOCAB.is_valid(names_of(row))
        assert VOCAB.closure(names_of(row)) == names_of(row)
    # The impossible label is no candidate (both supports of a group).
    both = {"canvas", "board"}
    assert not any(both <= set(names_of(r)) for r in tagger.combinations_)
    # The combination model's classes index combinations_.
    assert isinstance(tagger.estimator_, MediumClassifier)
    np.testing.assert_array_equal(tagger.estimator_.classes_, np.arange(len(KINDS)))
    assert tagger.combination_counts_.sum() == len(Y_TRAIN) - 3


def test_predictions_are_always_one_of_the_combinations(tagger, check_images):
    X, y = check_images
    Y = tagger.predict(X)
    assert Y.shape == (len(X), len(VOCAB)) and Y.dtype == np.int64
    allowed = {tuple(r) for r in tagger.combinations_}
    assert all(tuple(r) in allowed for r in Y)
    # Black and white too: the argmax over combinations, never a mixed set.
    assert tagger.score(X[:-2], y) == 1.0
    assert set(tagger.predict_medium(X)) <= set(KINDS)


def test_tag_probabilities_are_the_marginals_of_the_combinations(tagger, check_images):
    X, _ = check_images
    combination = tagger.estimator_.predict_proba(X)
    rows = tagger.combinations_[tagger.estimator_.classes_]
    proba = tagger.predict_proba(X)
    np.testing.assert_allclose(combination.sum(axis=1), 1, rtol=1e-5)
    # A tag's probability: the total of the combinations having it.
    for j in range(len(VOCAB)):
        np.testing.assert_allclose(
            proba[:, j], combination[:, rows[:, j] == 1].sum(axis=1), atol=1e-6
        )
    np.testing.assert_array_equal(tagger.predict(X), rows[combination.argmax(axis=1)])
    # A broader tag is at least as probable as each narrower one.
    for narrow, broad in VOCAB.broader:
        i, j = VOCAB.tags.index(narrow), VOCAB.tags.index(broad)
        assert (proba[:, j] >= proba[:, i] - 1e-6).all(), (narrow, broad)
    # ... and strictly more probable when it has several narrower tags.
    intaglio, etching = VOCAB.tags.index("intaglio print"), VOCAB.tags.index("etching")
    assert (proba[:, intaglio] > proba[:, etching]).any()
    # Canvas and board exclude each other: their probabilities add to at most 1.
    canvas, board = VOCAB.tags.index("canvas"), VOCAB.tags.index("board")
    assert (proba[:, canvas] + proba[:, board] <= 1 + 1e-6).all()


def test_calibration_size_calibrates_the_combination_model(tagger):
    inner = tagger.estimator_
    assert inner.calibration_size == 0.3
    assert inner.calibration_ is not None
    assert tagger.estimator.calibration_size is None  # the parameter is untouched
    np.testing.assert_array_equal(tagger.tag_temperatures_, np.ones(len(VOCAB)))
    assert tagger.novelty_features_ is None  # novelty is the inner model's


def test_calibration_size_needs_an_estimator_that_calibrates_itself():
    X, y = colour_features(20, 0)
    tagger = MediumTagger(
        mode="powerset",
        embedder="passthrough",
        estimator=LogisticRegression(),
        tag_names=VOCAB,
        calibration_size=0.3,
    )
    with pytest.raises(ValueError, match="calibration_size with mode='powerset' needs"):
        tagger.fit(X, y)


def test_a_logistic_regression_on_features_works_uncalibrated(tmp_path):
    X, y = colour_features(20, 0)
    tagger = MediumTagger(
        mode="powerset",
        embedder="passthrough",
        estimator=LogisticRegression(max_iter=1000),
        tag_names=VOCAB,
    ).fit(X, y)
    assert isinstance(tagger.estimator_, LogisticRegression)
    assert tagger.tag_temperatures_ is None
    X_new, y_new = colour_features(10, 1)
    assert tagger.score(X_new, y_new) > 0.9
    allowed = {tuple(r) for r in tagger.combinations_}
    assert all(tuple(r) in allowed for r in tagger.predict(X_new * 3 - 1))
    rows = tagger.combinations_[tagger.estimator_.classes_]
    np.testing.assert_allclose(
        tagger.predict_proba(X_new), tagger.estimator_.predict_proba(X_new) @ rows
    )
    with pytest.raises(ValueError, match="assess needs calibrated probabilities"):
        tagger.assess(X_new)
    with pytest.raises(ValueError, match="needs an estimator that calibrates itself"):
        tagger.calibrate(X_new, y_new)
    with pytest.raises(ValueError, match="novelty needs a calibrated tagger"):
        tagger.novelty_score(X_new)
    with pytest.raises(TypeError, match="estimator a MediumClassifier"):
        save_model(tagger, tmp_path / "m")


def test_assess_candidates_are_the_conformal_set(tagger, check_images):
    X, _ = check_images
    answers = tagger.assess(X, confidence=0.9)
    inner = tagger.estimator_.assess(X, confidence=0.9, unknown_rate=0.05)
    rows = tagger.combinations_[tagger.estimator_.classes_]
    names = tagger.describe(rows)
    np.testing.assert_allclose(answers.proba, np.asarray(inner.proba) @ rows)
    np.testing.assert_allclose(answers.proba, tagger.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(answers.decoded, tagger.predict(X))
    np.testing.assert_allclose(
        answers.combination_proba @ tagger.combinations_, answers.proba, atol=1e-6
    )
    for i, candidates in enumerate(answers.candidates):
        in_set = [names[j] for j in np.flatnonzero(inner.sets[i])]
        assert sorted(candidates) == sorted(in_set)
        if candidates:
            # Most probable first: the decoded answer leads.
            assert candidates[0] == answers.decoded_medium[i]
    assert all(answers.candidates[: len(X) - 2])  # known images get a set
    assert set(answers.status) <= {"ok", "uncertain", "unknown"}


def test_far_away_images_are_unknown(tagger, check_images):
    X, _ = check_images
    answers = tagger.assess(X)
    np.testing.assert_allclose(answers.novelty, tagger.novelty_score(X))
    assert np.isfinite(answers.novelty_threshold)
    # Black and white are farther from the calibration images than any known one.
    assert answers.novelty[-2:].min() > answers.novelty[:-2].max()
    assert answers.status[-2:].tolist() == ["unknown", "unknown"]
    assert (answers.status[:-2] == "unknown").mean() <= 0.15
    quiet = tagger.assess(X, unknown_rate=None)
    assert quiet.novelty is None and quiet.novelty_threshold is None
    assert "unknown" not in set(quiet.status)
    np.testing.assert_array_equal(quiet.tags, answers.tags)


def test_calibrate_after_an_uncalibrated_fit(check_images):
    X, _ = check_images
    tagger = powerset().fit(X_TRAIN, Y_TRAIN)
    assert tagger.estimator_.calibration_ is None
    assert tagger.tag_temperatures_ is None
    with pytest.raises(ValueError, match="assess needs calibrated probabilities"):
        tagger.assess(X)
    with pytest.raises(ValueError, match="novelty needs a calibrated tagger"):
        tagger.novelty_score(X)
    before = tagger.predict(X)
    X_held, y_held = colour_images(10, 2)
    y_held[0] = IMPOSSIBLE  # no combination: left out of the calibration
    assert tagger.calibrate(X_held, y_held) is tagger
    assert tagger.estimator_.calibration_ is not None
    np.testing.assert_array_equal(tagger.tag_temperatures_, np.ones(len(VOCAB)))
    np.testing.assert_array_equal(tagger.predict(X), before)
    answers = tagger.assess(X)
    assert answers.novelty[-2:].min() > answers.novelty[:-2].max()
    assert answers.status[-2:].tolist() == ["unknown", "unknown"]


# ------------------------------------------------------------------- saving


@pytest.fixture(scope="module")
def saved(tagger, tmp_path_factory):
    return save_model(tagger, tmp_path_factory.mktemp("powerset") / "tagger")


def test_a_loaded_tagger_answers_identically(tagger, saved, check_images):
    X, _ = check_images
    loaded = load_model(saved)
    assert loaded.mode == "powerset" and loaded.embedder_ is None
    assert type(loaded.estimator_) is MediumClassifier
    assert loaded.vocabulary_ == tagger.vocabulary_
    np.testing.assert_array_equal(loaded.combinations_, tagger.combinations_)
    assert loaded.preprocessing_ is not None
    assert loaded.preprocessing_ == tagger.preprocessing_
    assert tagger.preprocessing_ == tagger.estimator_.preprocessing_
    before, after = tagger.assess(X), loaded.assess(X)
    assert set(before) == set(after)
    for key in ("tags", "decoded", "medium", "decoded_medium", "backed_off", "status"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert after.candidates == before.candidates
    for key in ("proba", "confidence", "novelty", "combination_proba"):
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-6)
    assert after.novelty_threshold == pytest.approx(before.novelty_threshold)
    assert after.status[-2:].tolist() == ["unknown", "unknown"]


def test_load_model_gives_the_combination_model_the_callers_settings(saved, tmp_path):
    loaded = load_model(saved, n_jobs=2, memory=str(tmp_path / "cache"))
    # The combination model reads the images: the caller's settings reach it.
    assert loaded.estimator_.n_jobs == 2
    assert loaded.estimator_.memory == str(tmp_path / "cache")
    assert loaded.estimator.n_jobs == 2


def edited(saved, tmp_path, change):
    folder = tmp_path / "edited"
    shutil.copytree(saved, folder)
    sidecar = json.loads((folder / SIDECAR).read_text())
    change(sidecar)
    (folder / SIDECAR).write_text(json.dumps(sidecar))
    return folder


def set_classes(values):
    def change(sidecar):
        sidecar["state"]["powerset"]["classes"]["values"] = values

    return change


def with_estimator(name, params):
    def change(sidecar):
        sidecar["params"]["estimator"] = {"__estimator__": name, "params": params}

    return change


def uncalibrated_inner(sidecar):
    sidecar["state"]["powerset"].pop("calibration", None)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda s: s["state"].update(powerset=5),
            r"state\.powerset must be an object",
        ),
        (
            lambda s: s["state"].update(powerset=None),
            r"state\.powerset must be an object",
        ),
        (set_classes([0, 1, 2, 3, 99]), r"powerset\.classes must be distinct indices"),
        (set_classes([-1, 0, 1, 2, 3]), r"powerset\.classes must be distinct indices"),
        (set_classes([0, 0, 1, 2, 3]), r"powerset\.classes must be distinct indices"),
        (set_classes([4, 3, 2, 1, 0]), r"powerset\.classes must be distinct indices"),
        (
            lambda s: s["state"]["powerset"].update(
                classes={"values": ["a", "b", "c", "d", "e"], "dtype": "<U1"}
            ),
            r"powerset\.classes must be distinct indices",
        ),
        (
            with_estimator("sklearn.linear_model.LogisticRegression", {}),
            r"MediumClassifier as estimator",
        ),
        (
            lambda s: s["params"].update(embedder=None),
            r"embedder must be null exactly when embedder='passthrough'",
        ),
        (
            lambda s: s["params"].update(
                embedder={"__estimator__": "artmedium.ImageEmbedder", "params": {}}
            ),
            r"embedder must be null exactly when embedder='passthrough'",
        ),
        (
            lambda s: s["state"].update(calibrated=False),
            r"state\.calibrated must be true: it says whether model\.state\.powerset",
        ),
        (uncalibrated_inner, r"state\.calibrated must be false"),
    ],
)
def test_a_tampered_sidecar_is_refused_naming_the_problem(
    saved, tmp_path, change, match
):
    folder = edited(saved, tmp_path, change)
    with pytest.raises(ValueError, match=match):
        load_model(folder)


def test_a_saved_powerset_needs_a_passthrough_embedder_and_a_classifier():
    """The checks behind the sidecar's, whatever built the parameters."""
    for est in (
        MediumTagger(mode="powerset", embedder=None, estimator=classifier()),
        MediumTagger(mode="powerset", embedder="passthrough", estimator=None),
    ):
        with pytest.raises(ValueError, match="embedder='passthrough' and a"):
            MediumTagger._powerset_from_state(est, {}, 5, "cpu", "state")


# ------------------------------------------------- crafted vocabularies on load


def deep_hierarchy(depth, n_leaves=0):
    """A chain of ``depth`` broader terms above ``c0``, and leaves under ``c0``."""
    tags = [f"c{i}" for i in range(depth + 1)] + [f"l{i}" for i in range(n_leaves)]
    broader = [[f"c{i}", f"c{i + 1}"] for i in range(depth)]
    broader += [[f"l{i}", "c0"] for i in range(n_leaves)]
    return {"tags": tags, "broader": broader}


def test_a_deep_hierarchy_is_refused_at_once():
    Vocabulary.from_dict(deep_hierarchy(32))  # deeper than any real one: fine
    with pytest.raises(ValueError, match="nest more than 32 levels deep above 'c0'"):
        Vocabulary.from_dict(deep_hierarchy(33))
    # 4096 tags in one chain: refused after 33 steps up, not 4096 x 4096.
    with pytest.raises(ValueError, match="nest more than 32 levels deep"):
        run_in_thread(lambda: Vocabulary.from_dict(deep_hierarchy(4095)), 10)


def test_exclusive_groups_of_deep_tags_are_checked_in_linear_time():
    data = deep_hierarchy(31, n_leaves=4000)
    leaves = [f"l{i}" for i in range(4000)]
    # A group of 4000 leaves each 32 deep, again and again: each member's
    # broader terms were walked (quadratically) and the group rebuilt per member.
    data["exclusive"] = [leaves] * 100
    vocab = run_in_thread(lambda: Vocabulary.from_dict(data), 10)
    assert len(vocab.exclusive) == 100 and len(vocab.ancestors("l0")) == 32
    data["exclusive"] = [leaves + ["c5"]]
    with pytest.raises(ValueError, match="holds 'l0' and its broader term 'c5'"):
        run_in_thread(lambda: Vocabulary.from_dict(data), 10)


def test_a_description_naming_an_unknown_tag_is_a_value_error():
    data = {"tags": ["etching", "print"], "descriptions": [[["etching", "zzz"], "x"]]}
    with pytest.raises(ValueError, match="description 'x' names tags outside the vo"):
        Vocabulary.from_dict(data)
    with pytest.raises(ValueError, match="names tags outside the vocabulary"):
        Vocabulary(["etching"], descriptions={("etching", "zzz"): "x"})


def test_a_saved_vocabulary_naming_an_unknown_tag_is_refused(saved, tmp_path):
    def unknown_description(sidecar):
        sidecar["state"]["vocabulary"]["descriptions"] = [[["etching", "zzz"], "x"]]

    folder = edited(saved, tmp_path, unknown_description)
    with pytest.raises(ValueError, match=r"state\.vocabulary: description 'x' names"):
        load_model(folder)


# ------------------------------------------------------------------- recipe


def test_tagger_recipe_is_an_unfitted_powerset_tagger_of_the_default_classifier():
    tagger = tagger_recipe(VOCAB, memory="cache", n_jobs=3, random_state=7)
    assert isinstance(tagger, MediumTagger)
    with pytest.raises(NotFittedError):
        check_is_fitted(tagger)
    assert tagger.mode == "powerset"
    assert tagger.embedder == "passthrough"
    assert tagger.tag_names is VOCAB
    assert tagger.calibration_size == 0.2
    assert tagger.random_state == 7
    inner = tagger.estimator
    assert type(inner) is MediumClassifier
    params = inner.get_params()
    for name, value in recipe(DEFAULT_RECIPE).items():
        assert params[name] == value, name
    assert (inner.memory, inner.n_jobs, inner.random_state) == ("cache", 3, 7)
    assert inner.calibration_size is None  # the tagger passes its own when fitting
    default = tagger_recipe(VOCAB)
    assert default.estimator.memory is None and default.random_state == 0
