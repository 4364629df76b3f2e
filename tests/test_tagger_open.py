"""MediumTagger with an open, hierarchical vocabulary: broader tags learned as
tags, impossible sets never decoded, assess() backing off to a confident broader
term, novelty, and saving all of it."""

import json
import shutil

import numpy as np
import pytest

from artmedium import ImageEmbedder, MediumTagger
from artmedium.persistence import SIDECAR, load_model, save_model
from artmedium.vocabulary import Vocabulary, as_vocabulary, build_vocabulary, tag_matrix
from conftest import PRINTS_AND_PAINTINGS, make_toy_images

KINDS = np.array(PRINTS_AND_PAINTINGS, dtype=object)
# Feature 0 separates prints from paintings, feature 1 intaglio prints from
# lithographs, feature 3 canvas from board; feature 2 barely separates etching
# from aquatint, so an image can be a sure intaglio print of unsure process.
CENTRES = np.array(
    [[3, 3, 1, 0], [3, 3, -1, 0], [3, -3, 0, 0], [-3, 0, 0, 3], [-3, 0, 0, -3]],
    dtype=float,
)


def synthetic(n, seed):
    rng = np.random.RandomState(seed)
    kind = rng.randint(len(KINDS), size=n)
    return CENTRES[kind] + rng.normal(size=(n, 4)), KINDS[kind]


X_TRAIN, Y_TRAIN = synthetic(600, 0)
VOCAB = build_vocabulary(Y_TRAIN, n_tags=None, broader=True)

# Sure etching; sure intaglio print, unsure etching or aquatint; sure print,
# unsure intaglio print or lithograph; sure oil paint, unsure canvas or board.
ETCHING, INTAGLIO, PRINT, OIL = (
    [3, 3, 3, 0],
    [3, 3, 0, 0],
    [3, -0.45, 0, 0],
    [-3, 0, 0, 0],
)


def names_of(row, vocab=VOCAB):
    return tuple(t for t, on in zip(vocab, row) if on)


def passthrough(**params):
    return MediumTagger(embedder="passthrough", tag_names=VOCAB, **params)


@pytest.fixture(scope="module")
def tagger():
    """A calibrated tagger over VOCAB (shared: do not modify)."""
    return passthrough(calibration_size=0.3, random_state=0).fit(X_TRAIN, Y_TRAIN)


def test_the_vocabulary_is_the_learned_one():
    assert list(VOCAB) == [
        "oil paint",
        "canvas",
        "etching",
        "aquatint",
        "board",
        "lithograph",
        "paint",
        "intaglio print",
        "print",
    ]
    assert VOCAB.exclusive == (("canvas", "board"),)


def test_broader_tags_are_learned_as_tags_of_their_own(tagger):
    assert tagger.vocabulary_ is VOCAB
    assert list(tagger.tag_names_) == list(VOCAB)
    column = {t: j for j, t in enumerate(VOCAB)}
    # "intaglio print" and "print" vary in the data: each has a classifier.
    assert column["intaglio print"] in tagger._learned
    assert column["print"] in tagger._learned
    proba = tagger.predict_proba([INTAGLIO, PRINT])
    assert proba[0, column["intaglio print"]] > 0.9
    assert proba[1, column["print"]] > 0.9 > proba[1, column["intaglio print"]]
    for row in tagger.combinations_:
        assert VOCAB.closure(names_of(row)) == names_of(row)


def test_a_tag_matrix_without_its_broader_tags_is_completed():
    leaves_only = tag_matrix(Y_TRAIN, VOCAB)
    broader = [j for j, t in enumerate(VOCAB) if VOCAB.narrower(t)]
    assert leaves_only[:, broader].any()
    leaves_only[:, broader] = 0
    from_matrix = passthrough().fit(X_TRAIN, leaves_only)
    from_text = passthrough().fit(X_TRAIN, Y_TRAIN)
    np.testing.assert_array_equal(from_matrix.combinations_, from_text.combinations_)
    np.testing.assert_allclose(
        from_matrix.predict_proba(X_TRAIN[:50]), from_text.predict_proba(X_TRAIN[:50])
    )


def test_impossible_labelled_combinations_are_never_decoding_candidates():
    y = Y_TRAIN.copy()
    y[:20] = "Oil paint on canvas on board"  # two supports: impossible
    both = {"canvas", "board"}
    structured = passthrough().fit(X_TRAIN, y)
    assert not any(both <= set(names_of(c)) for c in structured.combinations_)
    assert all(VOCAB.is_valid(names_of(c)) for c in structured.combinations_)
    # The same tags as a plain list know no exclusive group: the set stays.
    plain = MediumTagger(embedder="passthrough", tag_names=list(VOCAB)).fit(X_TRAIN, y)
    assert any(both <= set(names_of(c)) for c in plain.combinations_)


@pytest.mark.parametrize("decode", ["valid", "independent"])
def test_predictions_are_valid_sets_closed_under_broader_tags(tagger, decode):
    X, _ = synthetic(300, 1)
    X = np.r_[X, [ETCHING, INTAGLIO, PRINT, OIL], X[:50] * 0.2]
    # A low threshold switches on many tags at once.
    proba = tagger.predict_proba(X)
    raw = proba >= 0.05
    column = {t: j for j, t in enumerate(VOCAB)}
    assert (raw[:, column["canvas"]] & raw[:, column["board"]]).any()
    Y = tagger.decode_proba(proba, decode=decode)
    for row in Y:
        assert VOCAB.is_valid(names_of(row))
        assert VOCAB.closure(names_of(row)) == names_of(row)
    Y_low = clone_with(tagger, threshold=0.05, decode=decode).predict(X)
    for row in Y_low:
        assert VOCAB.is_valid(names_of(row))
        assert VOCAB.closure(names_of(row)) == names_of(row)


def clone_with(tagger, **params):
    """A copy of the fitted tagger with other decoding parameters."""
    import copy

    return copy.deepcopy(tagger).set_params(**params)


def test_independent_decoding_adds_broader_tags_and_keeps_the_likeliest_of_a_group():
    vocab = Vocabulary(
        ["oil paint", "canvas", "board", "hardboard"],
        supports=["canvas", "board", "hardboard"],
        broader={"hardboard": "board"},
        exclusive=[["canvas", "board"]],
    )
    rng = np.random.RandomState(0)
    X = rng.normal(size=(90, 3))
    y = np.repeat(
        ["Oil paint on canvas", "Oil paint on board", "Oil paint on hardboard"], 30
    )
    tagger = MediumTagger(embedder="passthrough", tag_names=vocab).fit(X, y)
    proba = np.array(
        [
            # hardboard alone: its broader "board" is added
            [0.9, 0.1, 0.2, 0.8],
            # canvas beats board: board leaves with its narrower hardboard
            [0.9, 0.9, 0.3, 0.8],
            # board beats canvas: canvas leaves, hardboard stays
            [0.9, 0.6, 0.7, 0.8],
            # canvas and board: the likelier (board) stays
            [0.9, 0.6, 0.7, 0.1],
        ]
    )
    raw = (proba >= 0.5).astype(int)
    decoded = tagger.decode_proba(proba, decode="independent")
    assert [names_of(r, vocab) for r in decoded] == [
        ("oil paint", "board", "hardboard"),
        ("oil paint", "canvas"),
        ("oil paint", "board", "hardboard"),
        ("oil paint", "board"),
    ]
    assert [names_of(r, vocab) for r in raw] != [names_of(r, vocab) for r in decoded]
    # A plain vocabulary decodes each tag on its own, as before.
    plain = MediumTagger(embedder="passthrough", tag_names=list(vocab)).fit(X, y)
    np.testing.assert_array_equal(plain.decode_proba(proba, decode="independent"), raw)


def test_score_is_exact_match_including_broader_tags(tagger):
    X, y = synthetic(400, 2)
    expected = (tagger.predict(X) == tag_matrix(y, VOCAB)).all(axis=1).mean()
    assert tagger.score(X, y) == pytest.approx(expected)
    assert tagger.score(X, y) > 0.85
    assert tagger.score(X, tag_matrix(y, VOCAB)) == pytest.approx(expected)


def test_describe_and_predict_medium_use_the_vocabulary(tagger):
    def row(*tags):
        closed = VOCAB.closure(tags)
        return [int(t in closed) for t in VOCAB]

    rows = [row("etching"), row("intaglio print"), row("oil paint", "board"), row()]
    assert tagger.describe(rows).tolist() == [
        "Etching on paper",
        "Intaglio print on paper",
        "Oil paint on board",
        "",
    ]
    X, _ = synthetic(40, 3)
    np.testing.assert_array_equal(
        tagger.predict_medium(X), tagger.describe(tagger.predict(X))
    )
    assert set(tagger.predict_medium(X)) <= set(KINDS)


def test_assess_backs_off_an_uncertain_leaf_to_its_confident_broader_term(tagger):
    answers = tagger.assess([ETCHING, INTAGLIO, PRINT, OIL])
    assert answers.medium.tolist() == [
        "Etching on paper",
        "Intaglio print on paper",
        "Print on paper",
        answers.decoded_medium[3],
    ]
    assert answers.backed_off.tolist() == [False, True, True, False]
    assert answers.status.tolist() == ["ok", "ok", "ok", "uncertain"]
    assert answers.decoded_medium[1] in ("Etching on paper", "Aquatint on paper")
    assert answers.decoded_medium[2] != "Print on paper"  # decoding names a leaf
    assert answers.decoded_medium[3] in ("Oil paint on canvas", "Oil paint on board")
    assert names_of(answers.tags[1]) == ("intaglio print", "print")
    assert names_of(answers.tags[2]) == ("print",)
    np.testing.assert_array_equal(
        answers.decoded, tagger.predict([ETCHING, INTAGLIO, PRINT, OIL])
    )
    # Confidence: the least probable claim. Tags under the term backed off to
    # are left open, every other tag is claimed absent.
    p = answers.proba[1]
    present = VOCAB.closure(["intaglio print"])
    claims = [p[j] for j, t in enumerate(VOCAB) if t in present] + [
        1 - p[j]
        for j, t in enumerate(VOCAB)
        if t not in present and t not in VOCAB.narrower("intaglio print")
    ]
    assert answers.confidence[1] == pytest.approx(min(claims))
    ok = answers.status == "ok"
    assert (answers.confidence[ok] >= 0.9).all()
    assert (answers.confidence[~ok] < 0.9).all()
    # Asking less confidence keeps the decoded leaf.
    relaxed = tagger.assess([INTAGLIO], confidence=0.3)
    assert not relaxed.backed_off[0]
    assert relaxed.medium[0] == answers.decoded_medium[1]
    # Without an embedder there is no novelty: no answer is "unknown".
    assert answers.novelty is None and answers.novelty_threshold is None


def test_assess_answers_are_valid_closed_sets(tagger):
    X, _ = synthetic(200, 4)
    answers = tagger.assess(np.r_[X, X[:50] * 0.3], confidence=0.95)
    assert answers.backed_off.any()
    for row, was in zip(answers.tags, answers.decoded):
        assert VOCAB.is_valid(names_of(row))
        assert VOCAB.closure(names_of(row)) == names_of(row)
        # Backing off only ever removes specific tags (never adds one).
        assert set(names_of(row)) <= set(names_of(was))
    assert set(answers.status) <= {"ok", "uncertain"}


def test_without_an_embedder_there_is_no_novelty_and_nothing_is_unknown(tagger):
    assert tagger.novelty_features_ is None
    far = [[1e3, -1e3, 1e3, -1e3]]
    answers = tagger.assess(far, unknown_rate=0.5)
    assert answers.status[0] != "unknown"
    assert answers.novelty is None and answers.novelty_threshold is None
    with pytest.raises(ValueError, match="novelty needs a calibrated tagger with an"):
        tagger.novelty_score(far)


def test_assess_needs_calibration():
    tagger = passthrough().fit(X_TRAIN, Y_TRAIN)
    assert tagger.tag_temperatures_ is None
    with pytest.raises(ValueError, match="assess needs calibrated probabilities"):
        tagger.assess([ETCHING])
    X_cal, y_cal = synthetic(200, 5)
    tagger.calibrate(X_cal, y_cal)
    assert tagger.tag_temperatures_.shape == (len(VOCAB),)
    assert tagger.assess([ETCHING]).medium.tolist() == ["Etching on paper"]
    with pytest.raises(ValueError, match="2 to 20000 held-out images; got 1"):
        tagger.calibrate(X_cal[:1], y_cal[:1])


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"confidence": 0}, ValueError, "confidence == 0"),
        ({"confidence": 1}, ValueError, "confidence == 1"),
        ({"confidence": 1.5}, ValueError, "confidence == 1.5"),
        ({"confidence": -0.1}, ValueError, "confidence == -0.1"),
        ({"confidence": "high"}, TypeError, "confidence must be an instance of"),
        ({"confidence": None}, TypeError, "confidence must be an instance of"),
        ({"unknown_rate": 0}, ValueError, "unknown_rate == 0"),
        ({"unknown_rate": 1.0}, ValueError, "unknown_rate == 1.0"),
        ({"unknown_rate": "5%"}, TypeError, "unknown_rate must be an instance of"),
    ],
)
def test_assess_validates_confidence_and_unknown_rate(tagger, params, error, match):
    with pytest.raises(error, match=match):
        tagger.assess([ETCHING], **params)


# ------------------------------------------------------- with an image embedder


def solid(*colours):
    images = np.zeros((len(colours), 32, 32, 3), np.uint8)
    for image, colour in zip(images, colours):
        image[:] = colour
    return images


def toy_media(labels):
    return np.where(labels == "striped", "Etching on paper", "Lithograph on paper")


@pytest.fixture(scope="module")
def image_tagger():
    """A calibrated tagger over toy images (shared: do not modify)."""
    X, labels = make_toy_images(n_per_class=20, size=32, seed=1)
    y = toy_media(labels)
    vocab = build_vocabulary(y, n_tags=None, broader=True)
    assert list(vocab) == ["etching", "lithograph", "intaglio print", "print"]
    embedder = ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )
    return MediumTagger(
        embedder=embedder, tag_names=vocab, calibration_size=0.5, random_state=0
    ).fit(X, y)


@pytest.fixture(scope="module")
def check_images():
    """New toy images, then three far from anything the tagger saw."""
    X, labels = make_toy_images(n_per_class=10, size=32, seed=5)
    return np.concatenate([X, solid((0, 0, 0), (255, 0, 0), (0, 0, 255))]), labels


def test_an_embedder_keeps_unit_features_of_the_calibration_images(image_tagger):
    reference = image_tagger.novelty_features_
    assert reference.dtype == np.float16
    assert reference.shape == (20, image_tagger.embedder_.n_features_out_)
    np.testing.assert_allclose(
        np.linalg.norm(reference.astype(np.float32), axis=1), 1, atol=2e-3
    )


def test_far_away_images_are_unknown(image_tagger, check_images):
    X, labels = check_images
    answers = image_tagger.assess(X)
    assert np.isfinite(answers.novelty_threshold)
    np.testing.assert_allclose(answers.novelty, image_tagger.novelty_score(X))
    assert answers.status[-3:].tolist() == ["unknown"] * 3
    assert (answers.novelty[-3:] > answers.novelty_threshold).all()
    assert (answers.status[:-3] == "unknown").mean() <= 0.15
    known = answers.status[:-3] != "unknown"
    assert (answers.medium[:-3][known] == toy_media(labels)[known]).mean() > 0.8
    # No unknown_rate: no novelty computed, nothing called unknown.
    quiet = image_tagger.assess(X, unknown_rate=None)
    assert quiet.novelty is None and "unknown" not in set(quiet.status)
    np.testing.assert_array_equal(quiet.tags, answers.tags)


def test_a_higher_unknown_rate_marks_more_images_unknown(image_tagger, check_images):
    X, _ = check_images
    strict = image_tagger.assess(X, unknown_rate=0.05)
    loose = image_tagger.assess(X, unknown_rate=0.5)
    assert loose.novelty_threshold < strict.novelty_threshold
    assert (loose.status == "unknown").sum() > (strict.status == "unknown").sum()


def test_too_few_calibration_images_never_call_an_image_unknown(check_images):
    X_fit, labels = make_toy_images(n_per_class=6, size=32, seed=1)
    embedder = ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )
    y = toy_media(labels)
    tagger = MediumTagger(
        embedder=embedder, tag_names=build_vocabulary(y, broader=True)
    ).fit(X_fit, y)
    assert tagger.novelty_features_ is None  # not calibrated
    with pytest.raises(ValueError, match="novelty needs a calibrated tagger"):
        tagger.novelty_score(X_fit)
    tagger.calibrate(X_fit[:6], y[:6])
    assert len(tagger.novelty_features_) == 6
    answers = tagger.assess(check_images[0], unknown_rate=0.05)
    # 6 held-out images cannot show a 5 % false-alarm threshold.
    assert answers.novelty_threshold == np.inf
    assert "unknown" not in set(answers.status)


def test_refitting_without_calibration_forgets_the_novelty_reference(tmp_path):
    X, labels = make_toy_images(n_per_class=8, size=32, seed=1)
    y = toy_media(labels)
    embedder = ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )
    tagger = MediumTagger(
        embedder=embedder,
        tag_names=build_vocabulary(y, broader=True),
        calibration_size=0.5,
        random_state=0,
    ).fit(X, y)
    assert tagger.novelty_features_ is not None
    tagger.set_params(calibration_size=None).fit(X, y)
    assert tagger.tag_temperatures_ is None
    assert tagger.novelty_features_ is None
    with pytest.raises(ValueError, match="novelty needs a calibrated tagger"):
        tagger.novelty_score(X)
    loaded = load_model(save_model(tagger, tmp_path / "m"))
    assert loaded.novelty_features_ is None and loaded.tag_temperatures_ is None


# ------------------------------------------------------------------- saving


@pytest.fixture(scope="module")
def saved(image_tagger, tmp_path_factory):
    return save_model(image_tagger, tmp_path_factory.mktemp("open") / "tagger")


def edited(saved, tmp_path, change):
    folder = tmp_path / "edited"
    shutil.copytree(saved, folder)
    sidecar = json.loads((folder / SIDECAR).read_text())
    change(sidecar["state"])
    (folder / SIDECAR).write_text(json.dumps(sidecar))
    return folder


def test_a_loaded_tagger_has_the_vocabulary_and_identical_answers(
    image_tagger, saved, check_images
):
    X, _ = check_images
    loaded = load_model(saved)
    assert loaded.vocabulary_ == image_tagger.vocabulary_
    assert loaded.vocabulary_.broader == image_tagger.vocabulary_.broader
    np.testing.assert_array_equal(
        loaded.novelty_features_, image_tagger.novelty_features_
    )
    before, after = image_tagger.assess(X), loaded.assess(X)
    assert set(before) == set(after)
    for key in ("tags", "decoded", "medium", "decoded_medium", "backed_off", "status"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    for key in ("proba", "confidence", "novelty"):
        np.testing.assert_allclose(after[key], before[key], rtol=1e-5, atol=1e-6)
    assert after.novelty_threshold == pytest.approx(before.novelty_threshold)
    assert after.status[-3:].tolist() == ["unknown"] * 3


def test_a_saved_tagger_without_a_vocabulary_loads_a_plain_one(saved, tmp_path):
    folder = edited(saved, tmp_path, lambda state: state.pop("vocabulary"))
    loaded = load_model(folder)
    assert loaded.vocabulary_ == as_vocabulary(list(loaded.tag_names_))
    assert loaded.vocabulary_.broader == ()


def reverse_tags(state):
    state["vocabulary"]["tags"].reverse()


def drop_tag(state):
    state["vocabulary"] = {"tags": state["vocabulary"]["tags"][:-1]}


def add_cycle(state):
    state["vocabulary"]["broader"].append(["print", "etching"])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (reverse_tags, r"vocabulary must hold the tags of .*tag_names, in their order"),
        (drop_tag, r"vocabulary must hold the tags of .*tag_names"),
        (add_cycle, r"vocabulary: broader terms form a cycle"),
        (lambda s: s.update(vocabulary=["etching"]), r"vocabulary must be an object"),
        (
            lambda s: s["vocabulary"].update(counts=5),
            r"vocabulary\.counts must be a list of \[tag, count\] pairs",
        ),
        (
            lambda s: s["vocabulary"].update(exclusive=[["etching", "zzz"]]),
            r"has tags outside the vocabulary",
        ),
        (lambda s: s.update(novelty_images=1), r"novelty_images = 1 is outside"),
        (lambda s: s.update(novelty_images=10**9), r"novelty_images = 1000000000 is"),
        (lambda s: s.update(novelty_images=-3), r"novelty_images = -3 is outside"),
        (lambda s: s.update(novelty_images="20"), r"novelty_images must be an integer"),
        (lambda s: s.update(novelty_images=True), r"novelty_images must be an integer"),
        (lambda s: s.update(novelty_images=7), r"novelty_features"),
        (
            lambda s: s.update(calibrated=False),
            r"novelty_images needs a calibrated tagger with an embedder",
        ),
    ],
)
def test_a_tampered_sidecar_is_refused_naming_the_field(saved, tmp_path, change, match):
    folder = edited(saved, tmp_path, change)
    with pytest.raises(ValueError, match=match):
        load_model(folder)
