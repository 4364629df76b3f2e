"""Tests of artmedium.inference: batch prediction over image files."""

import os

import numpy as np
import pytest
from PIL import Image

from artmedium.inference import (
    BatchPredictor,
    ImageInput,
    collect_inputs,
    predict_files,
)
from artmedium.io import ImageReadError
from artmedium.persistence import save_model
from conftest import make_toy_images
from test_persistence import TWO_MEDIA, fit_toy_classifier


@pytest.fixture(scope="module")
def clf():
    X, y = make_toy_images(n_per_class=8, size=40)
    return fit_toy_classifier(X, TWO_MEDIA[(y == "striped").astype(int)])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Five readable PNGs, in an order that is not the sorted one."""
    X, _ = make_toy_images(n_per_class=3, size=40, seed=1)
    root = tmp_path_factory.mktemp("inference")
    paths = []
    for i in (3, 0, 4, 1, 2):
        path = root / f"scan{i}.png"
        Image.fromarray(X[i]).save(path)
        paths.append(str(path))
    broken = root / "broken.png"
    broken.write_bytes(b"not an image at all")
    return paths, str(broken)


def test_results_follow_input_order_and_match_predict_proba(clf, files):
    paths, _ = files
    rows = list(predict_files(clf, paths, batch_size=2, workers=2))
    assert [r["path"] for r in rows] == paths
    proba = clf.predict_proba(np.array(paths, dtype=object))
    for row, p in zip(rows, proba):
        assert row["error"] == ""
        assert row["medium"] == clf.classes_[np.argmax(p)]
        assert row["probability"] == pytest.approx(p.max(), abs=1e-6)


def test_a_bad_file_gets_an_error_row_and_the_others_still_get_results(clf, files):
    paths, broken = files
    inputs = [*paths[:2], broken, *paths[2:]]
    rows = list(predict_files(clf, inputs, batch_size=2))
    assert [r["path"] for r in rows] == inputs
    bad = rows[2]
    assert bad["error"] != ""
    assert bad["medium"] is None and bad["probability"] is None
    assert bad["top_k"] == []
    good = rows[:2] + rows[3:]
    assert all(r["error"] == "" and r["medium"] in clf.classes_ for r in good)


def test_a_pattern_that_matched_nothing_keeps_its_place(clf, files, tmp_path):
    paths, _ = files
    inputs = [ImageInput(paths[0]), *collect_inputs([str(tmp_path / "*.tif")])]
    inputs.append(ImageInput(paths[1]))
    rows = list(predict_files(clf, inputs))
    assert [r["error"] for r in rows] == ["", "no file matches this pattern", ""]


def test_on_error_fail_raises_naming_the_file_after_the_rows_before_it(clf, files):
    paths, broken = files
    seen = []
    with pytest.raises(ImageReadError, match="broken.png") as info:
        for row in predict_files(clf, [paths[0], broken, paths[1]], on_error="fail"):
            seen.append(row["path"])
    assert info.value.source == broken
    assert seen == [paths[0]]


@pytest.mark.parametrize("top_k, expected", [(1, 1), (2, 2), (5, 2)])
def test_top_k_lists_the_most_probable_media_first(clf, files, top_k, expected):
    paths, _ = files
    for row in predict_files(clf, paths[:2], top_k=top_k):
        assert len(row["top_k"]) == expected
        probs = [alt["probability"] for alt in row["top_k"]]
        assert probs == sorted(probs, reverse=True)
        assert row["top_k"][0]["medium"] == row["medium"]


def test_tags_are_reported_unless_switched_off(clf, files):
    paths, _ = files
    (with_tags,) = predict_files(clf, paths[:1])
    assert with_tags["tag_probabilities"]
    assert all(0 <= p <= 1 for p in with_tags["tag_probabilities"].values())
    assert set(with_tags["tags"]) <= set(with_tags["tag_probabilities"])
    (without,) = predict_files(clf, paths[:1], tags=False)
    assert without["tags"] == [] and without["tag_probabilities"] == {}


def test_batches_stream_at_most_batch_size_images(clf, files):
    paths, _ = files
    predictor = BatchPredictor(clf, top_k=2)
    sizes = [len(b) for b in predictor.predict_batches(paths, batch_size=2)]
    assert sizes == [2, 2, 1]


def test_batches_are_positional_whatever_is_unreadable(clf, files, monkeypatch):
    """Batch k is inputs 2k and 2k+1: an unreadable file empties its place and
    moves no image into another batch (#18: a Dask partition starting at a
    multiple of batch_size is batched as in the whole run)."""
    paths, broken = files
    inputs = [broken, *paths[:3], ImageInput("*.gif", "no match"), paths[3]]
    forwards = []
    real = BatchPredictor.predict_images

    def counted(self, names, images):
        forwards.append(list(names))
        return real(self, names, images)

    monkeypatch.setattr(BatchPredictor, "predict_images", counted)
    batches = list(BatchPredictor(clf).predict_batches(inputs, batch_size=2))
    assert [[r["path"] for r in b] for b in batches] == [
        [broken, paths[0]],
        [paths[1], paths[2]],
        ["*.gif", paths[3]],
    ]
    assert forwards == [[paths[0]], [paths[1], paths[2]], [paths[3]]]


def test_a_saved_model_folder_predicts_like_the_estimator(clf, files, tmp_path):
    paths, _ = files
    folder = save_model(clf, tmp_path / "model")
    from_folder = [r["medium"] for r in predict_files(folder, paths)]
    assert from_folder == [r["medium"] for r in predict_files(clf, paths)]


@pytest.mark.parametrize(
    "options, error",
    [
        ({"on_error": "ignore"}, "on_error"),
        ({"top_k": 0}, "top_k"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_options_are_refused_by_name(clf, files, options, error):
    paths, _ = files
    with pytest.raises(ValueError, match=error):
        list(predict_files(clf, paths, **options))


def test_an_image_the_model_fails_on_gets_an_error_row_alone(clf, files):
    """Issue #12 item 6: one image must not take its batch (or the run) down."""
    paths, _ = files
    predictor = BatchPredictor(clf, top_k=2)
    real = predictor.predict_images
    poisoned = paths[1]

    def fails_on_one(names, images):
        if poisoned in names:
            raise RuntimeError(f"cannot allocate memory for {len(names)} image(s)")
        return real(names, images)

    predictor.predict_images = fails_on_one
    rows = [
        r for batch in predictor.predict_batches(paths, batch_size=4) for r in batch
    ]
    assert [r["path"] for r in rows] == paths
    assert rows[1]["error"] == "cannot predict: cannot allocate memory for 1 image(s)"
    assert rows[1]["medium"] is None
    assert all(r["error"] == "" and r["medium"] for i, r in enumerate(rows) if i != 1)


def test_an_extreme_aspect_ratio_png_gets_a_label(tmp_path):
    """Issue #12 item 6: a 178-byte 100000 x 1 PNG asked for 19.7 GB in predict."""
    strip = tmp_path / "strip.png"
    Image.new("RGB", (100_000, 1), (200, 180, 150)).save(strip, optimize=True)
    assert strip.stat().st_size < 1000
    good = tmp_path / "good.png"
    Image.fromarray(make_toy_images(n_per_class=1, size=64)[0][0]).save(good)
    rows = list(predict_files("default", [str(strip), str(good)], batch_size=2))
    assert [r["error"] for r in rows] == ["", ""]
    assert all(r["medium"] for r in rows)


def _tree(root, links=True):
    for folder in ("a/b/c", "a/d", ".hidden"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in ("top.jpg", "a/x.jpg", "a/b/y.png", "a/b/c/z.jpg", "a/d/w.JPG"):
        (root / name).write_bytes(b"x")
    (root / ".hidden" / "h.jpg").write_bytes(b"x")
    (root / "a" / ".h.jpg").write_bytes(b"x")
    if links:
        # Links back up the tree: glob.glob's "**" follows each of them again at
        # every level, so three of them multiply the work by three per level.
        for folder in ("a", "a/b", "a/b/c"):
            for i in range(3):
                os.symlink("..", root / folder / f"up{i}")


@pytest.mark.parametrize(
    "pattern",
    [
        "**/*.jpg",
        "**",
        "a/**",
        "a/*/*.png",
        "*.jpg",
        "a/**/c",
        "a/**/*.[jp]*",
        ".hidden/*",
        "a/b/../*.jpg",
        "nothing/**/*.jpg",
        "a/*/",
        "*/",
        "a/**/",
    ],
)
def test_glob_matches_what_glob_matches_without_links(tmp_path, monkeypatch, pattern):
    import glob

    from artmedium.inference import _glob

    _tree(tmp_path, links=False)
    monkeypatch.chdir(tmp_path)
    expected = {p.rstrip(os.sep) for p in glob.glob(pattern, recursive=True)}
    assert set(_glob(pattern)) == expected
    absolute = str(tmp_path / pattern)
    assert set(_glob(absolute)) == {
        p.rstrip(os.sep) for p in glob.glob(absolute, recursive=True)
    }


def test_quoted_doublestar_follows_each_real_folder_once(tmp_path):
    """Issue #12 item 5: self-referencing links made "**" expand exponentially."""
    import threading

    _tree(tmp_path)
    out = {}
    thread = threading.Thread(
        target=lambda: out.update(found=collect_inputs([str(tmp_path / "**/*.jpg")])),
        daemon=True,
    )
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the ** expansion did not finish in 20 s"
    names = sorted(os.path.relpath(i.path, tmp_path) for i in out["found"])
    # Each real file once (through whichever name was met first), hidden skipped.
    real = sorted(
        os.path.relpath(os.path.realpath(i.path), tmp_path) for i in out["found"]
    )
    assert real == ["a/b/c/z.jpg", "a/x.jpg", "top.jpg"]
    assert len(names) == 3


# ------------------------------------------------------------------ tags agree


MEDIA = [
    "Etching on paper",
    "Graphite on paper",
    "Oil paint on canvas",
    "Graphite and watercolour on paper",
]


@pytest.fixture(scope="module")
def clf4():
    X, _ = make_toy_images(n_per_class=8, size=40)
    y = [MEDIA[i % len(MEDIA)] for i in range(len(X))]
    return fit_toy_classifier(X, np.array(y, dtype=object))


def test_a_classifier_rows_tags_are_those_of_its_medium(clf4, files, monkeypatch):
    """Issue #13: "Graphite on paper" printed with no tags (P(graphite) = .45)."""
    paths, _ = files
    graphite, etching, oil, both = MEDIA[1], MEDIA[0], MEDIA[2], MEDIA[3]
    rows_proba = [
        {graphite: 0.45, etching: 0.30, oil: 0.25},  # P(graphite) = 0.45
        {etching: 0.40, graphite: 0.30, both: 0.30},  # P(graphite) = 0.60
    ]
    proba = np.array([[p.get(c, 0.0) for c in clf4.classes_] for p in rows_proba])
    monkeypatch.setattr(clf4, "predict_proba", lambda X: proba[: len(X)])
    rows = list(predict_files(clf4, paths[:2], batch_size=2))
    assert [r["medium"] for r in rows] == ["Graphite on paper", "Etching on paper"]
    assert [r["tags"] for r in rows] == [["graphite"], ["etching"]]
    # The marginals keep their own meaning, whatever the medium's tags are.
    assert rows[0]["tag_probabilities"]["graphite"] == pytest.approx(0.45)
    assert rows[0]["tag_probabilities"]["canvas"] == pytest.approx(0.25)
    assert rows[1]["tag_probabilities"]["graphite"] == pytest.approx(0.60)
    assert rows[1]["tag_probabilities"]["etching"] == pytest.approx(0.40)


def test_implied_tags_give_every_medium_its_tags(clf4):
    predictor = BatchPredictor(clf4)
    assert predictor.implied_tags == {
        "Etching on paper": ["etching"],
        "Graphite and watercolour on paper": ["graphite", "watercolour"],
        "Graphite on paper": ["graphite"],
        "Oil paint on canvas": ["oil paint", "canvas"],
    }
    assert predictor.tag_names == [
        "graphite", "watercolour", "oil paint", "canvas", "etching"
    ]  # fmt: skip
    quiet = BatchPredictor(clf4, tags=False)
    assert quiet.implied_tags == dict.fromkeys(predictor.implied_tags, [])


def test_a_tagger_rows_tags_name_its_medium(files):
    from artmedium import MediumTagger
    from artmedium.datasets import medium_to_tags, tags_to_medium
    from test_persistence import toy_embedder

    paths, _ = files
    X, _ = make_toy_images(n_per_class=8, size=40)
    y = np.array([MEDIA[i % len(MEDIA)] for i in range(len(X))], dtype=object)
    tagger = MediumTagger(embedder=toy_embedder(), random_state=0).fit(X, y)
    predictor = BatchPredictor(tagger)
    names = predictor.tag_names
    for medium, tags in predictor.implied_tags.items():
        assert tags_to_medium(tags, vocabulary=names) == medium
    for row in predict_files(tagger, paths):
        assert row["medium"] == tags_to_medium(row["tags"], vocabulary=names)
        if row["medium"]:
            implied = medium_to_tags(row["medium"], vocabulary=names).tags
            assert sorted(implied) == sorted(row["tags"])


def test_stacked_stars_follow_each_real_folder_once(tmp_path):
    """The reviewer's fan-out: 7 links per folder, 5 levels of "*" took 4.9 s in
    glob (x7 per level); each real folder is now listed once per level."""
    import threading

    from artmedium.inference import _glob

    level = tmp_path
    for depth in range(5):
        (level / "d").mkdir()
        for i in range(7):
            os.symlink(".", level / f"l{i}")
        level = level / "d"
    (level / "scan.jpg").write_bytes(b"x")
    out = {}
    pattern = str(tmp_path / "*/*/*/*/*/scan.jpg")
    thread = threading.Thread(target=lambda: out.update(r=_glob(pattern)), daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert {os.path.realpath(p) for p in out["r"]} == {str(level / "scan.jpg")}


# ------------------------------------------------------------------ calibrated


def fit_calibrated_classifier():
    """A tiny classifier of two poster media with a calibration (issue #15).

    30 images per class, so that the 18 held out give sets of one medium at
    0.9 for most of the toy scans, and a rate high enough to leave a few
    answers unsure after two epochs.
    """
    from artmedium import MediumClassifier
    from test_persistence import TWO_MEDIA

    X, y = make_toy_images(n_per_class=30, size=40)
    return MediumClassifier(
        backbone="simple_cnn",
        weights=None,
        image_size=32,
        batch_size=8,
        max_epochs=2,
        lr=0.05,
        calibration_size=0.3,
        random_state=0,
    ).fit(X, TWO_MEDIA[(y == "striped").astype(int)])


@pytest.fixture(scope="module")
def calibrated():
    return fit_calibrated_classifier()


ASSESSMENT = ("status", "candidates", "novelty")


def test_a_calibrated_models_rows_carry_what_assess_gives(calibrated, files):
    paths, _ = files
    predictor = BatchPredictor(calibrated, top_k=2)
    assert predictor.calibrated
    rows = [r for b in predictor.predict_batches(paths, batch_size=2) for r in b]
    answers = calibrated.assess(np.array(paths, dtype=object))
    classes = list(calibrated.classes_)
    for i, row in enumerate(rows):
        assert row["status"] == answers.status[i]
        assert row["novelty"] == pytest.approx(answers.novelty[i], rel=1e-4, abs=1e-6)
        assert row["medium"] == answers.labels[i]
        assert row["probability"] == pytest.approx(answers.proba[i].max(), abs=1e-6)
        members = {classes[j] for j in np.flatnonzero(answers.sets[i])}
        assert set(row["candidates"]) == members
        # The set's media, most probable first; all of them media it knows.
        p = dict(zip(classes, answers.proba[i]))
        assert set(row["candidates"]) <= set(classes)
        probs = [p[m] for m in row["candidates"]]
        assert probs == sorted(probs, reverse=True)
        assert row["top_k"][0]["probability"] == pytest.approx(p[row["medium"]])
    assert {r["status"] for r in rows} <= {"ok", "uncertain", "unknown"}


def test_a_calibrated_model_is_assessed_once_per_batch(calibrated, files, monkeypatch):
    paths, _ = files
    calls = []
    real = type(calibrated).assess

    def counted(self, X, **options):
        calls.append((len(X), options))
        return real(self, X, **options)

    def forbidden(self, X):
        raise AssertionError("assess gives the calibrated probabilities")

    monkeypatch.setattr(type(calibrated), "assess", counted)
    monkeypatch.setattr(type(calibrated), "predict_proba", forbidden)
    rows = list(
        predict_files(calibrated, paths, batch_size=2, confidence=0.8,
                      accept_accuracy=0.95, unknown_rate=0.1)
    )  # fmt: skip
    assert len(rows) == 5
    options = {"confidence": 0.8, "accept_accuracy": 0.95, "unknown_rate": 0.1}
    assert calls == [(2, options), (2, options), (1, options)]


def test_a_bad_file_gets_an_error_row_with_no_status(calibrated, files):
    paths, broken = files
    inputs = [paths[0], broken, *paths[1:3]]
    rows = list(predict_files(calibrated, inputs, batch_size=2))
    bad = rows[1]
    assert bad["error"] and bad["medium"] is None
    assert (bad["status"], bad["candidates"], bad["novelty"]) == (None, [], None)
    for row in rows[:1] + rows[2:]:
        assert row["error"] == ""
        assert row["status"] in ("ok", "uncertain", "unknown")
        assert isinstance(row["novelty"], float)
    # Every row of a run has the same keys, in the same order.
    assert len({tuple(r) for r in rows}) == 1


def test_an_uncalibrated_models_rows_are_as_before(clf, files):
    paths, broken = files
    predictor = BatchPredictor(clf)
    assert not predictor.calibrated
    rows = list(predict_files(clf, [paths[0], broken]))
    expected = ["path", "medium", "probability", "top_k", "tags", "aat_ids",
                "tag_probabilities", "error"]  # fmt: skip
    assert [list(r) for r in rows] == [expected, expected]


def test_a_higher_accept_accuracy_accepts_no_more_answers(calibrated, files):
    paths, _ = files

    def n_ok(**options):
        rows = predict_files(calibrated, paths, **options)
        return sum(r["status"] == "ok" for r in rows)

    assert n_ok(accept_accuracy=1.0) <= n_ok()


@pytest.mark.parametrize(
    "options",
    [{"accept_accuracy": 0.9}, {"confidence": 0.8}, {"unknown_rate": 0.1}],
)
def test_calibration_options_need_a_calibrated_model(clf, options):
    name = next(iter(options))
    with pytest.raises(ValueError, match=f"{name} needs a calibrated model") as info:
        BatchPredictor(clf, **options)
    assert "not calibrated" in str(info.value)
    assert "calibration_size" in str(info.value) and "calibrate(" in str(info.value)
    # The defaults, given explicitly, change nothing and are accepted.
    BatchPredictor(clf, confidence=0.9, accept_accuracy=None, unknown_rate=0.05)


def test_a_tagger_has_no_calibration_to_use(files):
    from artmedium import MediumTagger
    from test_persistence import toy_embedder

    X, _ = make_toy_images(n_per_class=4, size=40)
    y = np.array([MEDIA[i % 2] for i in range(len(X))], dtype=object)
    tagger = MediumTagger(embedder=toy_embedder(), random_state=0).fit(X, y)
    assert not BatchPredictor(tagger).calibrated
    with pytest.raises(ValueError, match="accept_accuracy applies to a Medium"):
        BatchPredictor(tagger, accept_accuracy=0.9)
    with pytest.raises(ValueError, match="this tagger is not calibrated") as info:
        BatchPredictor(tagger, confidence=0.8)
    assert "MediumTagger.calibrate(X_held_out, Y_held_out)" in str(info.value)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"confidence": 0}, r"confidence must be in \(0, 1\), got 0.0"),
        ({"confidence": 1}, r"confidence must be in \(0, 1\)"),
        ({"confidence": 1.5}, r"confidence must be in \(0, 1\)"),
        ({"confidence": float("nan")}, r"confidence must be in \(0, 1\)"),
        ({"confidence": "high"}, r"confidence must be a number in \(0, 1\)"),
        ({"accept_accuracy": 0}, r"accept_accuracy must be in \(0, 1\]"),
        ({"accept_accuracy": 1.01}, r"accept_accuracy must be in \(0, 1\]"),
        ({"accept_accuracy": True}, r"accept_accuracy must be a number"),
        ({"unknown_rate": 1}, r"unknown_rate must be in \[0, 1\)"),
        ({"unknown_rate": -0.1}, r"unknown_rate must be in \[0, 1\)"),
    ],
)
def test_calibration_options_are_checked(calibrated, options, message):
    with pytest.raises(ValueError, match=message):
        BatchPredictor(calibrated, **options)


def test_the_limits_of_the_ranges_are_accepted(calibrated):
    predictor = BatchPredictor(calibrated, accept_accuracy=1, unknown_rate=0)
    assert (predictor.accept_accuracy, predictor.unknown_rate) == (1.0, 0.0)


def test_a_saved_calibrated_model_gives_the_same_rows(calibrated, files, tmp_path):
    paths, broken = files
    folder = save_model(calibrated, tmp_path / "calibrated")
    inputs = [*paths, broken]
    loaded = list(predict_files(folder, inputs, top_k=2))
    fresh = list(predict_files(calibrated, inputs, top_k=2))
    assert BatchPredictor(folder).calibrated
    for a, b in zip(loaded, fresh):
        assert list(a) == list(b)
        for key in ("path", "medium", "status", "candidates", "tags", "error"):
            assert a[key] == b[key]
        for key in ("probability", "novelty"):
            if b["error"]:
                assert a[key] is b[key] is None
            else:
                assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7)


# ------------------------------------------------------------ calibrated tagger

# A hierarchical vocabulary (#16): etching and aquatint are intaglio prints.
INTAGLIO = {"etching": "intaglio print", "aquatint": "intaglio print"}


def fit_calibrated_tagger():
    """A tiny calibrated tagger over a hierarchical vocabulary (issue #16).

    Striped images are etchings or aquatints at random, dotted ones graphite:
    the tagger is sure of "intaglio print" but not of which, so it backs off
    to "Intaglio print on paper" on striped scans.
    """
    from artmedium import MediumTagger
    from artmedium.vocabulary import Vocabulary
    from test_persistence import toy_embedder

    vocab = Vocabulary(
        ["etching", "aquatint", "intaglio print", "graphite"],
        broader=INTAGLIO,
        exclusive=[["etching", "aquatint"]],
    )
    X, y = make_toy_images(n_per_class=20, size=40)
    coin = np.random.RandomState(0).rand(len(y)) < 0.5
    print_ = np.where(coin, "Etching on paper", "Aquatint on paper")
    media = np.where(y == "striped", print_, "Graphite on paper").astype(object)
    return MediumTagger(
        embedder=toy_embedder(), tag_names=vocab, calibration_size=0.3, random_state=0
    ).fit(X, media)


@pytest.fixture(scope="module")
def calibrated_tagger():
    return fit_calibrated_tagger()


def test_a_calibrated_taggers_rows_carry_what_assess_gives(calibrated_tagger, files):
    from artmedium.vocabulary import aat_term

    paths, _ = files
    predictor = BatchPredictor(calibrated_tagger, top_k=2)
    assert predictor.calibrated
    rows = [r for b in predictor.predict_batches(paths, batch_size=2) for r in b]
    answers = calibrated_tagger.assess(np.array(paths, dtype=object))
    names = list(calibrated_tagger.tag_names_)
    for i, row in enumerate(rows):
        assert list(row) == [
            "path", "medium", "probability", "status", "candidates", "novelty",
            "top_k", "tags", "aat_ids", "tag_probabilities", "error",
        ]  # fmt: skip
        assert row["medium"] == answers.medium[i]
        # Its probability: that of the answer's least sure claim.
        assert row["probability"] == pytest.approx(answers.confidence[i], abs=1e-6)
        assert row["status"] == answers.status[i]
        assert row["novelty"] == pytest.approx(answers.novelty[i], rel=1e-4, abs=1e-6)
        assert row["tags"] == [t for t, on in zip(names, answers.tags[i]) if on]
        assert row["aat_ids"] == {
            t: aat_term(t).id for t in row["tags"] if aat_term(t) is not None
        }
        assert row["tag_probabilities"] == pytest.approx(
            dict(zip(names, answers.proba[i])), abs=1e-6
        )
        expected = [answers.medium[i]]
        if answers.backed_off[i]:
            expected.append(answers.decoded_medium[i])
        assert row["candidates"] == expected
        probs = [alt["probability"] for alt in row["top_k"]]
        assert probs == sorted(probs, reverse=True) and len(probs) == 2
    assert {r["status"] for r in rows} <= {"ok", "uncertain", "unknown"}


def test_a_backed_off_row_names_the_broader_answer_first(calibrated_tagger, files):
    paths, _ = files
    rows = list(predict_files(calibrated_tagger, paths))
    backed = [r for r in rows if r["medium"] == "Intaglio print on paper"]
    assert backed, "the toy tagger backs off on striped scans"
    for row in backed:
        # The answer, then the more specific description it backed off from.
        assert row["candidates"][0] == "Intaglio print on paper"
        assert row["candidates"][1:] in (
            ["Etching on paper"], ["Aquatint on paper"]
        )  # fmt: skip
        assert row["tags"] == ["intaglio print"]
        assert row["aat_ids"] == {"intaglio print": "300053218"}
        assert row["probability"] >= 0.9 or row["status"] != "ok"
    for row in rows:
        if row["medium"] != "Intaglio print on paper":
            assert row["candidates"] == [row["medium"]]


def test_a_calibrated_tagger_is_assessed_once_per_batch(
    calibrated_tagger, files, monkeypatch
):
    paths, _ = files
    calls = []
    cls = type(calibrated_tagger)
    real = cls.assess

    def counted(self, X, **options):
        calls.append((len(X), options))
        return real(self, X, **options)

    def forbidden(self, X):
        raise AssertionError("assess gives the calibrated probabilities")

    monkeypatch.setattr(cls, "assess", counted)
    monkeypatch.setattr(cls, "predict_proba", forbidden)
    rows = list(
        predict_files(calibrated_tagger, paths, batch_size=2, confidence=0.8,
                      unknown_rate=0.1)
    )  # fmt: skip
    assert len(rows) == 5 and all(r["error"] == "" for r in rows)
    options = {"confidence": 0.8, "unknown_rate": 0.1}
    assert calls == [(2, options), (2, options), (1, options)]


def test_a_calibrated_tagger_refuses_accept_accuracy(calibrated_tagger):
    with pytest.raises(ValueError, match="accept_accuracy applies to a Medium") as info:
        BatchPredictor(calibrated_tagger, accept_accuracy=0.95)
    assert "confidence" in str(info.value)


def test_a_bad_file_of_a_tagger_gets_an_error_row_the_others_intact(
    calibrated_tagger, files
):
    paths, broken = files
    inputs = [paths[0], broken, *paths[1:3]]
    rows = list(predict_files(calibrated_tagger, inputs, batch_size=2))
    alone = list(predict_files(calibrated_tagger, [paths[0], *paths[1:3]]))
    bad = rows.pop(1)
    assert bad["error"] and bad["medium"] is None and bad["probability"] is None
    assert (bad["status"], bad["candidates"], bad["novelty"]) == (None, [], None)
    assert (bad["tags"], bad["aat_ids"]) == ([], {})
    assert list(bad) == list(rows[0])
    for row, same in zip(rows, alone):
        assert row["error"] == ""
        for key in ("medium", "status", "candidates", "tags", "aat_ids"):
            assert row[key] == same[key]
        assert row["probability"] == pytest.approx(same["probability"], abs=1e-6)


def test_an_image_a_tagger_fails_on_gets_an_error_row_alone(
    calibrated_tagger, files, monkeypatch
):
    paths, _ = files
    cls = type(calibrated_tagger)
    real = cls.assess

    def fails_on_many(self, X, **options):
        if len(X) > 1:
            raise ValueError("a batch of one, please")
        if np.asarray(X[0]).mean() == np.asarray(poisoned).mean():
            raise RuntimeError("out of memory")
        return real(self, X, **options)

    from artmedium.io import read_image

    poisoned = read_image(paths[1])
    monkeypatch.setattr(cls, "assess", fails_on_many)
    rows = list(predict_files(calibrated_tagger, paths, batch_size=4))
    assert [r["path"] for r in rows] == paths
    assert rows[1]["error"] == "cannot predict: out of memory"
    assert rows[1]["status"] is None
    assert all(r["error"] == "" and r["status"] for i, r in enumerate(rows) if i != 1)


def test_unknown_rate_0_marks_no_tagger_answer_unknown(calibrated_tagger, files):
    paths, _ = files
    rows = list(predict_files(calibrated_tagger, paths, unknown_rate=0))
    assert all(r["status"] in ("ok", "uncertain") for r in rows)
    assert all(r["novelty"] is None for r in rows)


def test_an_uncalibrated_hierarchical_tagger_rows_are_as_before(files):
    """No calibration: the decoded tags, their description in the tagger's
    wording and the probability of that tag set, as before #16."""
    from artmedium import MediumTagger
    from artmedium.vocabulary import Vocabulary
    from test_persistence import toy_embedder

    paths, broken = files
    vocab = Vocabulary(["etching", "aquatint", "intaglio print", "graphite"],
                       broader=INTAGLIO)  # fmt: skip
    X, y = make_toy_images(n_per_class=8, size=40)
    media = np.where(y == "striped", "Etching on paper", "Graphite on paper")
    tagger = MediumTagger(embedder=toy_embedder(), tag_names=vocab, random_state=0)
    tagger.fit(X, media.astype(object))
    predictor = BatchPredictor(tagger)
    assert not predictor.calibrated
    rows = list(predict_files(tagger, [*paths, broken]))
    expected_keys = ["path", "medium", "probability", "top_k", "tags", "aat_ids",
                     "tag_probabilities", "error"]  # fmt: skip
    assert all(list(r) == expected_keys for r in rows)
    X_paths = np.array(paths, dtype=object)
    proba = tagger.predict_proba(X_paths)
    decoded = tagger.predict(X_paths)
    assert [r["medium"] for r in rows[:-1]] == list(tagger.predict_medium(X_paths))
    for row, p, on in zip(rows, proba, decoded):
        assert row["probability"] == pytest.approx(np.prod(np.where(on, p, 1 - p)))
        assert row["tags"] == [t for t, c in zip(vocab, on) if c]
        if "etching" in row["tags"]:
            assert row["aat_ids"] == {
                "etching": "300053241", "intaglio print": "300053218"
            }  # fmt: skip
    assert rows[-1]["aat_ids"] == {} and rows[-1]["error"]


def test_a_classifier_rows_carry_the_aat_ids_of_their_tags(clf, files):
    paths, _ = files
    for row in predict_files(clf, paths):
        if row["medium"] == "Oil paint on canvas":
            assert row["aat_ids"] == {"oil paint": "300015050", "canvas": "300014078"}
        else:  # graphite: no verified id, none guessed
            assert row["aat_ids"] == {}
    (quiet,) = predict_files(clf, paths[:1], tags=False)
    assert quiet["aat_ids"] == {} and quiet["tags"] == []
