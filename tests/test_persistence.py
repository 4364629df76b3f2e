"""save_model / load_model: exact round trips, refusals, atomic writes, no pickle."""

import hashlib
import json
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from skorch.callbacks import EpochScoring

import artmedium
import artmedium.pretrained
from artmedium import ImageEmbedder, MediumClassifier, MediumTagger
from artmedium._class_tags import class_tag_probabilities
from artmedium.datasets import POSTER_CLASSES, POSTER_TAGS, medium_to_tags
from artmedium.persistence import (
    FORMAT_VERSION,
    SIDECAR,
    WEIGHTS,
    load_model,
    model_info,
    save_model,
)
from conftest import make_toy_images

TINY = {
    "backbone": "simple_cnn",
    "weights": None,
    "image_size": 32,
    "batch_size": 8,
    "random_state": 0,
    "max_epochs": 2,
}
TWO_MEDIA = np.array(["Graphite on paper", "Oil paint on canvas"], dtype=object)


@pytest.fixture(scope="module")
def toy():
    X, y = make_toy_images(n_per_class=8, size=40)
    return X, y


def fit_toy_classifier(X, y, **params):
    return MediumClassifier(**{**TINY, **params}).fit(X, y)


def toy_embedder():
    return ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )


@pytest.fixture(scope="module")
def fitted(toy):
    """One fitted estimator of every supported kind, with its prediction input."""
    X, y = toy
    media = TWO_MEDIA[(y == "striped").astype(int)]
    rng = np.random.RandomState(0)
    Xf = rng.normal(size=(30, 5))
    yf = np.arange(30) % 3  # int labels
    Xt = rng.normal(size=(40, 3))
    Yt = np.c_[Xt[:, 0] > 0, Xt[:, 1] > 0, np.zeros(40)].astype(int)  # a constant tag
    return {
        "head only": (fit_toy_classifier(X, y), X),
        "all stages": (fit_toy_classifier(X, y, freeze="none", augment=True), X),
        "last 2 stages": (
            fit_toy_classifier(X, media, freeze=2, dropout=0.3, augment=True),
            X,
        ),
        "features": (
            MediumClassifier(lr=0.1, max_epochs=3, random_state=0).fit(Xf, yf),
            Xf,
        ),
        "tagger linear": (
            MediumTagger(embedder=toy_embedder(), random_state=0).fit(X, media),
            X,
        ),
        "tagger joint": (
            MediumTagger(
                embedder=toy_embedder(), mode="joint", max_epochs=3, random_state=0
            ).fit(X, media),
            X,
        ),
        "tagger passthrough": (
            MediumTagger(
                embedder="passthrough",
                tag_names=["a", "b", "c"],
                threshold=[0.4, 0.5, 0.6],
                decode="independent",
            ).fit(Xt, Yt),
            Xt,
        ),
    }


KINDS = [
    "head only",
    "all stages",
    "last 2 stages",
    "features",
    "tagger linear",
    "tagger joint",
    "tagger passthrough",
]


def comparable_params(est):
    params = est.get_params(deep=False)
    for name in ("memory", "callbacks"):
        params.pop(name, None)
    for name in ("estimator", "embedder"):
        if hasattr(params.get(name), "get_params"):
            params[name] = (type(params[name]), params[name].get_params())
    return {
        k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in params.items()
    }


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_predicts_exactly_as_the_saved_estimator(fitted, kind, tmp_path):
    est, X = fitted[kind]
    path = save_model(est, tmp_path / "model")
    loaded = load_model(path)
    assert type(loaded) is type(est)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert comparable_params(loaded) == comparable_params(est)
    if isinstance(est, MediumClassifier):
        assert loaded.classes_.dtype == est.classes_.dtype
        assert loaded.classes_.tolist() == est.classes_.tolist()
    else:
        assert list(loaded.tag_names_) == list(est.tag_names_)
        np.testing.assert_array_equal(loaded.combinations_, est.combinations_)


def test_label_types_survive(fitted, tmp_path):
    ints = load_model(save_model(fitted["features"][0], tmp_path / "ints"))
    assert ints.classes_.dtype.kind == "i"
    assert isinstance(ints.predict(fitted["features"][1][:1])[0], np.integer)
    strs = load_model(save_model(fitted["head only"][0], tmp_path / "strs"))
    assert all(isinstance(c, str) for c in strs.classes_)


def test_loaded_model_can_be_cloned_and_refitted(fitted, toy, tmp_path):
    X, y = toy
    loaded = load_model(save_model(fitted["head only"][0], tmp_path / "m"))
    refit = clone(loaded).fit(X, y)
    np.testing.assert_allclose(
        refit.predict_proba(X), fitted["head only"][0].predict_proba(X), atol=1e-6
    )


@pytest.mark.parametrize("kind", ["all stages", "last 2 stages", "tagger linear"])
def test_half_precision_halves_the_file_and_stays_close(fitted, kind, tmp_path):
    est, X = fitted[kind]
    full = save_model(est, tmp_path / "full")
    half = save_model(est, tmp_path / "half", half=True)
    full_size = (full / WEIGHTS).stat().st_size
    half_size = (half / WEIGHTS).stat().st_size
    assert half_size < 0.6 * full_size
    assert model_info(half)["weights"]["dtype"] == "float16"
    loaded = load_model(half)
    # float16 keeps ~3 significant digits of each weight; measured on these toy
    # networks the probabilities move by < 3e-4.
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X), atol=2e-3)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    params = dict(loaded.to_torch().named_parameters())
    assert all(p.dtype == torch.float32 for p in params.values())


def test_sidecar_describes_the_model(fitted, tmp_path):
    est, _ = fitted["last 2 stages"]
    path = save_model(
        est, tmp_path / "m", metadata={"name": "toy", "acc": np.float32(0.5)}
    )
    info = model_info(path)
    assert info["format_version"] == FORMAT_VERSION
    assert info["estimator"] == "MediumClassifier"
    assert info["backbone"] == "simple_cnn"
    assert info["classes"] == list(TWO_MEDIA)
    assert info["tag_names"] == ["graphite", "oil paint", "canvas"]
    assert info["preprocessing"] == est.preprocessing_.to_dict()
    assert info["metadata"] == {"name": "toy", "acc": 0.5}
    assert info["versions"]["artmedium"] == artmedium.__version__
    assert info["versions"]["torch"] and info["versions"]["safetensors"]
    digest = hashlib.sha256((path / WEIGHTS).read_bytes()).hexdigest()
    assert info["weights"]["sha256"] == digest
    assert sorted(p.name for p in path.iterdir()) == [SIDECAR, WEIGHTS]


def test_metadata_must_be_json_safe(fitted, tmp_path):
    with pytest.raises(TypeError, match="metadata"):
        save_model(fitted["features"][0], tmp_path / "m", metadata={"x": object()})
    assert not (tmp_path / "m").exists()


# ----------------------------------------------------------------- refusals


def saved(fitted, tmp_path, kind="head only"):
    return save_model(fitted[kind][0], tmp_path / "model")


def rewrite_sidecar(path, change):
    info = json.loads((path / SIDECAR).read_text())
    change(info)
    (path / SIDECAR).write_text(json.dumps(info))


def test_modified_weights_are_refused_by_hash(fitted, tmp_path):
    path = saved(fitted, tmp_path)
    data = bytearray((path / WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (path / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256 .* corrupt or was modified"):
        load_model(path)


def test_missing_files_are_named(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_model(tmp_path / "absent")
    path = saved(fitted, tmp_path)
    (path / WEIGHTS).unlink()
    with pytest.raises(FileNotFoundError, match="weights.safetensors file .* missing"):
        load_model(path)
    (path / SIDECAR).unlink()
    with pytest.raises(FileNotFoundError, match="model.json is missing"):
        load_model(path)


def test_unknown_format_version_is_refused(fitted, tmp_path):
    path = saved(fitted, tmp_path)
    rewrite_sidecar(path, lambda info: info.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}"):
        load_model(path)
    (path / SIDECAR).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(path)
    (path / SIDECAR).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not describe an artmedium model"):
        load_model(path)


def test_wrong_shapes_are_named(fitted, tmp_path):
    path = saved(fitted, tmp_path)
    three = {"values": ["a", "b", "c"], "dtype": "<U1"}
    rewrite_sidecar(path, lambda info: info["state"].update(classes=three))
    shapes = r"wrong shapes or types: head\.\d+\.bias \(file \(2,\), model \(3,\)\)"
    with pytest.raises(ValueError, match=shapes):
        load_model(path)


def test_missing_tensors_are_named(fitted, tmp_path):
    from safetensors.torch import load_file, save_file

    path = saved(fitted, tmp_path)
    tensors = load_file(path / WEIGHTS)
    dropped = next(k for k in tensors if k.startswith("backbone."))
    del tensors[dropped]
    save_file(tensors, path / WEIGHTS)
    blob = (path / WEIGHTS).read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    rewrite_sidecar(
        path, lambda info: info["weights"].update(sha256=digest, bytes=len(blob))
    )
    with pytest.raises(ValueError, match=f"missing tensors: {dropped}"):
        load_model(path)


def test_a_sidecar_cannot_name_arbitrary_classes(fitted, tmp_path):
    path = saved(fitted, tmp_path, "tagger linear")
    evil = {"__estimator__": "os.system", "params": {}}
    rewrite_sidecar(path, lambda info: info["params"].update(estimator=evil))
    with pytest.raises(ValueError, match="only .* can be loaded"):
        load_model(path)


def test_loading_never_unpickles(fitted, tmp_path, monkeypatch):
    kinds = ["last 2 stages", "features", "tagger linear", "tagger joint"]
    paths = {k: save_model(fitted[k][0], tmp_path / k.replace(" ", "_")) for k in kinds}

    def forbidden(*args, **kwargs):
        raise AssertionError("load_model must not unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(joblib, "load", forbidden)
    for kind, path in paths.items():
        est, X = fitted[kind]
        np.testing.assert_array_equal(load_model(path).predict(X), est.predict(X))


def test_unsupported_estimators_are_refused_with_the_alternative(toy, tmp_path):
    X, y = toy
    media = TWO_MEDIA[(y == "striped").astype(int)]
    forest = MediumTagger(
        estimator=RandomForestClassifier(n_estimators=3, random_state=0),
        embedder=toy_embedder(),
    ).fit(X, media)
    with pytest.raises(TypeError, match="RandomForestClassifier.*pickle/joblib"):
        save_model(forest, tmp_path / "forest")
    with pytest.raises(TypeError, match="pickle/joblib"):
        save_model(LogisticRegression().fit([[0], [1]], [0, 1]), tmp_path / "lr")
    with pytest.raises(NotFittedError):
        save_model(MediumClassifier(), tmp_path / "unfitted")
    assert not any(tmp_path.iterdir())


def test_callbacks_are_dropped_with_a_warning(toy, tmp_path):
    X, y = toy
    clf = fit_toy_classifier(
        X, y, max_epochs=1, callbacks=[("acc", EpochScoring("accuracy"))]
    )
    with pytest.warns(UserWarning, match="callbacks is not saved"):
        path = save_model(clf, tmp_path / "m")
    assert model_info(path)["dropped_params"] == ["MediumClassifier.callbacks"]
    loaded = load_model(path)
    assert loaded.callbacks is None
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_memory_is_machine_local_and_not_saved(toy, tmp_path):
    X, y = toy
    clf = fit_toy_classifier(X, y, max_epochs=1, memory=str(tmp_path / "cache"))
    path = save_model(clf, tmp_path / "m")
    assert load_model(path).memory is None
    assert model_info(path)["dropped_params"] == ["MediumClassifier.memory"]


def test_parameters_json_cannot_hold_are_refused_by_name(toy, tmp_path):
    X, y = toy
    clf = fit_toy_classifier(X, y, max_epochs=1, optimizer=torch.optim.Adam)
    with pytest.raises(TypeError, match=r"MediumClassifier\.optimizer .*JSON"):
        save_model(clf, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_tuples_dicts_and_int_keys_survive(toy, tmp_path):
    X, y = make_toy_images(n_per_class=4, size=24)
    labels = (y == "striped").astype(int)
    clf = fit_toy_classifier(X, labels, max_epochs=1, class_weight={0: 1.0, 1: 2.5})
    loaded = load_model(save_model(clf, tmp_path / "m"))
    assert loaded.class_weight == {0: 1.0, 1: 2.5}
    tagger = MediumTagger(embedder="passthrough", tag_names=("x", "y")).fit(
        np.eye(4), [[0, 1], [1, 0], [0, 1], [1, 0]]
    )
    assert load_model(save_model(tagger, tmp_path / "t")).tag_names == ("x", "y")


def test_device_in_the_sidecar_is_overridden_to_cpu(fitted, tmp_path):
    # A model trained on a GPU records device="cuda"; it must load on a CPU-only
    # machine. Tensors are always read onto the CPU (safetensors, no map needed).
    path = saved(fitted, tmp_path, "tagger linear")

    def embedder_on_cuda(info):
        info["params"]["embedder"]["params"]["device"] = "cuda"

    rewrite_sidecar(path, embedder_on_cuda)
    loaded = load_model(path)
    assert loaded.embedder_.device == "cpu"
    assert loaded.embedder_.backbone_.device.type == "cpu"
    est, X = fitted["tagger linear"]
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))

    path = saved(fitted, tmp_path / "clf", "last 2 stages")
    rewrite_sidecar(path, lambda info: info["params"].update(device="cuda"))
    loaded = load_model(path, device="cpu")
    assert loaded.device == "cpu"
    assert next(loaded.to_torch().parameters()).device.type == "cpu"


# ------------------------------------------------------------ atomic writes


def test_existing_paths_are_not_replaced_unless_asked(fitted, tmp_path):
    first = save_model(fitted["head only"][0], tmp_path / "m")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(fitted["features"][0], first)
    assert model_info(first)["estimator"] == "MediumClassifier"
    save_model(fitted["tagger linear"][0], first, overwrite=True)
    assert model_info(first)["estimator"] == "MediumTagger"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # nothing left over
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="not a saved model"):
        save_model(fitted["head only"][0], other, overwrite=True)
    assert (other / "holiday.jpg").exists()


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_write_leaves_no_half_model(fitted, tmp_path, monkeypatch, existing):
    import artmedium.persistence as persistence

    target = tmp_path / "m"
    if existing:
        save_model(fitted["features"][0], target)
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the weights are written, the sidecar is not
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(persistence.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space"):
        save_model(fitted["head only"][0], target, overwrite=True)
    if existing:
        assert model_info(target)["state"]["input_mode"] == "features"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    else:
        assert not any(tmp_path.iterdir())


# ------------------------------------------------------------ pickle habit


def test_pickle_and_joblib_still_work_for_trusted_files(fitted, tmp_path):
    for kind in ("last 2 stages", "tagger linear"):
        est, X = fitted[kind]
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
        joblib.dump(est, tmp_path / "est.joblib")
        again = joblib.load(tmp_path / "est.joblib")
        np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


# ------------------------------------------------------------ default model


def test_default_resolves_to_the_package_folder(fitted, tmp_path, monkeypatch):
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", tmp_path / "none")
    assert not artmedium.persistence.is_default_model_installed()
    assert artmedium.persistence.default_model_summary() is None
    with pytest.raises(FileNotFoundError, match="default model is not installed"):
        load_model("default")

    est, X = fitted["last 2 stages"]
    metrics = {"random": {"accuracy": 0.9, "balanced_accuracy": 0.8}}
    save_model(
        est, tmp_path / "stand_in", metadata={"name": "stand-in", "metrics": metrics}
    )
    monkeypatch.setattr(
        artmedium.pretrained, "DEFAULT_MODEL_DIR", tmp_path / "stand_in"
    )
    loaded = artmedium.persistence.load_default_model()
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    summary = artmedium.persistence.default_model_summary()
    assert summary["name"] == "stand-in"
    assert summary["classes"] == list(TWO_MEDIA)
    assert (summary["accuracy"], summary["balanced_accuracy"]) == (0.9, 0.8)
    assert summary["artist_accuracy"] is None


def test_embedded_default_model_predicts_a_poster_class():
    folder = artmedium.persistence.default_model_dir()
    if not folder.is_dir():
        pytest.skip("embedded default model not trained yet")
    model = load_model("default")
    assert sorted(model.classes_) == sorted(POSTER_CLASSES)
    image = np.random.RandomState(0).randint(0, 256, (300, 240, 3), np.uint8)
    proba = model.predict_proba([image])
    assert proba.shape == (1, 10)
    np.testing.assert_allclose(proba.sum(), 1, atol=1e-5)
    assert model.predict([image])[0] in POSTER_CLASSES
    assert (folder / "MODEL_CARD.md").is_file()
    assert (folder / "NOTICE-efficientnet-lite0.txt").is_file()
    info = model_info("default")
    assert info["weights"]["dtype"] == "float16"
    assert info["metadata"]["metrics"]["random"]["accuracy"] > 0


def test_embedded_tagger_describes_media_and_marks_non_artworks_unknown():
    folder = artmedium.persistence.default_tagger_dir()
    if not (folder / "model.json").is_file():
        pytest.skip("embedded tagger not trained yet")
    tagger = load_model("tags")
    vocab = tagger.vocabulary_
    # The open vocabulary with its structure, and a calibrated powerset model.
    assert tagger.mode == "powerset" and tagger.tag_temperatures_ is not None
    assert len(vocab) > 40 and vocab.broader and vocab.exclusive
    assert vocab.closure(["etching"]) == ("etching", "intaglio print", "print")
    assert all(vocab.is_valid(vocab.tags[j] for j in np.flatnonzero(row))
               for row in tagger.combinations_)  # fmt: skip
    rng = np.random.RandomState(0)
    solid = [np.full((240, 300, 3), colour, np.uint8)
             for colour in ([220, 20, 20], [0, 0, 0], [255, 255, 255])]  # fmt: skip
    noise = [rng.randint(0, 256, (240, 300, 3), np.uint8)]
    answers = tagger.assess(solid + noise, confidence=0.9)
    # "Today a red square is 'Oil paint on canvas' at .998": not any more.
    assert list(answers.status) == ["unknown"] * 4
    assert all(row.sum() for row in answers.tags)  # still an answer, with tags
    assert set(answers.medium) <= set(tagger.describe(tagger.combinations_)) | set(
        answers.medium[answers.backed_off]
    )
    card = (folder / "MODEL_CARD.md").read_text()
    assert "## Vocabulary" in card and "300053241" in card  # etching's AAT id
    assert (folder / "NOTICE-efficientnet-lite0.txt").is_file()
    assert model_info("tags")["weights"]["dtype"] == "float16"


# ------------------------------------------------------------ tags of classes


def test_class_tag_probabilities_sum_over_classes_with_the_tag():
    rng = np.random.RandomState(0)
    proba = rng.dirichlet(np.ones(10), size=5)
    tags = class_tag_probabilities(proba, POSTER_CLASSES)
    assert tags.shape == (5, len(POSTER_TAGS))
    for j, tag in enumerate(POSTER_TAGS):
        having = [
            i for i, c in enumerate(POSTER_CLASSES) if tag in medium_to_tags(c).tags
        ]
        np.testing.assert_allclose(tags[:, j], proba[:, having].sum(axis=1))
    # "Oil paint on canvas" is the only class with oil paint, and with canvas.
    oil, canvas = POSTER_TAGS.index("oil paint"), POSTER_TAGS.index("canvas")
    np.testing.assert_allclose(tags[:, oil], tags[:, canvas])
    assert (tags <= 1 + 1e-12).all()


def test_class_tags_of_classes_outside_the_poster_media_do_not_warn():
    # A classifier of other media predicts without a warning per call.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tags = class_tag_probabilities(
            [[0.5, 0.5]], ["Ink on paper", "Graphite on paper"]
        )
    assert tags[0, POSTER_TAGS.index("graphite")] == 0.5
    assert tags.sum() == 0.5


def test_class_tag_probabilities_of_unknown_classes_are_zero():
    tags = class_tag_probabilities([[0.3, 0.7]], [1, "striped"], vocabulary=["ink"])
    assert tags.tolist() == [[0.0]]
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        class_tag_probabilities([[0.5, 0.5]], ["a", "b", "c"])


def test_no_warnings_on_a_plain_save(fitted, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_model(fitted["tagger joint"][0], tmp_path / "m")


def test_parameters_unknown_to_this_version_are_explained(fitted, tmp_path):
    path = saved(fitted, tmp_path)
    rewrite_sidecar(path, lambda info: info["params"].update(future_option=1))
    with pytest.raises(ValueError, match="saved by a newer version"):
        load_model(path)


def test_loading_leaves_the_global_torch_rng_alone(fitted, tmp_path):
    path = saved(fitted, tmp_path, "last 2 stages")
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_model(path)
    assert torch.equal(torch.rand(3), expected)
