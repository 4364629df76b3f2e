"""A model folder from a stranger: it can fail to load, never run code or blow up.

Each test plays the attacker who wrote the folder (issue #12): the sidecar names a
cache of pickles, a huge input size, a sparse weights file, wrongly typed or
absurdly nested fields. Loading must refuse with a ValueError naming the file, or
load a model that takes nothing path-like or executable from the sidecar.
"""

import json
import os
import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from artmedium import ImageEmbedder, MediumClassifier, MediumTagger
from artmedium.cli import main
from artmedium.persistence import (
    MAX_SIDECAR_BYTES,
    SIDECAR,
    WEIGHTS,
    load_model,
    model_info,
    save_model,
)
from conftest import TINY, RunsCode, make_toy_images, run_in_thread

TINY = {**TINY, "max_epochs": 1}
MEDIA = np.array(["Graphite on paper", "Oil paint on canvas"], dtype=object)


@pytest.fixture(scope="module")
def toy():
    return make_toy_images(n_per_class=4, size=32)


@pytest.fixture(scope="module")
def models(toy, tmp_path_factory):
    """A saved classifier (on images) and tagger, with the original estimators."""
    X, y = toy
    root = tmp_path_factory.mktemp("models")
    clf = MediumClassifier(**TINY, freeze=1).fit(X, y)
    embedder = ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )
    tagger = MediumTagger(embedder=embedder).fit(X, MEDIA[(y == "striped") * 1])
    return {
        "classifier": (save_model(clf, root / "clf"), clf),
        "tagger": (save_model(tagger, root / "tagger"), tagger),
    }


def copy_model(models, kind, tmp_path):
    import shutil

    src, est = models[kind]
    dst = tmp_path / f"{kind}_copy"
    shutil.copytree(src, dst)
    return dst, est


def rewrite(path, change):
    info = json.loads((path / SIDECAR).read_text())
    change(info)
    (path / SIDECAR).write_text(json.dumps(info))


# -------------------------------------------------------- item 1: code execution


def test_a_sidecar_memory_pointing_at_a_pickle_cache_never_runs(toy, models, tmp_path):
    """The reported attack: model.json names a joblib cache of pickles."""
    X, y = toy
    path, est = copy_model(models, "classifier", tmp_path)
    cache = path / "cache"
    marker = tmp_path / "pwned"
    rewrite(path, lambda info: info["params"].update(memory=str(cache)))
    loaded = load_model(path)
    assert loaded.memory is None
    loaded.predict(X)
    # Loading and predicting neither created nor wrote the folder it names.
    assert not cache.exists()
    # Ship a cache there anyway, in every format artmedium ever wrote (joblib's
    # pickles, our .npy files), each file replaced by a pickle that runs code.
    import joblib

    joblib.Memory(cache, verbose=0).cache(lambda key, value=None: value)("k", 1)
    MediumClassifier(**TINY, freeze=1, memory=str(cache)).fit(X, y)
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert len(files) > len(X)
    for file in files:
        file.write_bytes(pickle.dumps(RunsCode(marker)))
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert not marker.exists()
    # A memory anywhere else is neither created nor written to.
    elsewhere = tmp_path / "created" / "by" / "loading"
    rewrite(path, lambda info: info["params"].update(memory=str(elsewhere)))
    load_model(path).predict(X)
    assert not (tmp_path / "created").exists()


def as_version_1(info):
    """A sidecar in the layout artmedium wrote before format version 2."""
    info["format_version"] = 1
    state = info["state"]
    if info["estimator"] == "MediumClassifier":
        info["preprocessing"] = state.pop("preprocessing")
    else:
        if state["embedder"] is not None:
            state["embedder"]["params"] = dict(info["params"]["embedder"]["params"])
        for item in state["estimators"] or []:
            item["params"] = {"C": 1.0, "max_iter": 2000, "n_jobs": None}


@pytest.mark.parametrize("version", [2, 1])
def test_nested_estimators_take_nothing_path_like_or_executable(
    toy, models, tmp_path, version
):
    X, _ = toy
    path, est = copy_model(models, "tagger", tmp_path)
    planted = {
        "memory": str(tmp_path / "nested_cache"),
        "device": "cuda:7",
        "n_jobs": 64,
        "weights": str(tmp_path / "stranger.pth"),
    }

    def plant(info):
        if version == 1:
            as_version_1(info)
            info["state"]["embedder"]["params"].update(planted)
            for item in info["state"]["estimators"]:
                item["params"]["n_jobs"] = 64
        info["params"]["embedder"]["params"].update(planted)
        info["params"]["n_jobs"] = -1
        info["params"]["estimator"] = {
            "__estimator__": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 2000, "n_jobs": 64},
        }

    rewrite(path, plant)
    loaded = load_model(path)
    for emb in (loaded.embedder, loaded.embedder_):
        assert emb.memory is None
        assert emb.device == "cpu"
        assert emb.n_jobs is None
        assert emb.weights is None
    assert loaded.embedder_.backbone_.cache is None
    assert loaded.n_jobs is None
    assert all(lr.n_jobs is None for lr in loaded.estimator_.estimators_)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert not (tmp_path / "nested_cache").exists()


def test_callbacks_device_and_weights_paths_come_from_the_caller(models, tmp_path):
    path, _ = copy_model(models, "classifier", tmp_path)

    def plant(info):
        info["params"].update(
            callbacks=["print"],
            device="cuda",
            n_jobs=10_000,
            weights="/etc/passwd",
        )

    rewrite(path, plant)
    loaded = load_model(path)
    assert loaded.callbacks is None
    assert loaded.device == "cpu"
    assert loaded.n_jobs is None
    assert loaded.weights is None
    # A saved path is not even written to a new folder.
    clf = MediumClassifier(**{**TINY, "weights": str(tmp_path / "w.pth")})
    clf.__dict__.update(load_model(path).__dict__)  # a fitted model, weights a path
    clf.weights = str(tmp_path / "w.pth")
    saved = save_model(clf, tmp_path / "resaved")
    assert model_info(saved)["params"]["weights"] is None


# --------------------------------------------------- item 7: resource demands


def test_a_huge_input_size_is_refused_before_any_tensor_is_read(models, tmp_path):
    path, _ = copy_model(models, "classifier", tmp_path)
    rewrite(
        path, lambda info: info["state"]["preprocessing"].update(size=40000, resize=1)
    )
    with pytest.raises(ValueError, match=r"model\.state\.preprocessing: .*40000"):
        load_model(path)
    rewrite(path, lambda info: info["preprocessing"].update(size=40000, resize=40000))
    with pytest.raises(ValueError, match=r"model\.preprocessing: size 40000"):
        model_info(path)
    path, _ = copy_model(models, "tagger", tmp_path / "t")
    rewrite(
        path,
        lambda info: info["state"]["embedder"]["preprocessing"].update(size=5000),
    )
    with pytest.raises(ValueError, match=r"embedder\.preprocessing.*size 5000"):
        load_model(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 10**9, "batch_size = 1000000000 exceeds"),
        ("image_size", 40000, "image_size = 40000 exceeds"),
        ("batch_size", "32", "batch_size"),
        ("lr", -1.0, "lr"),
        ("freeze", "everything", "freeze"),
    ],
)
def test_parameters_are_validated_before_use(models, tmp_path, field, value, message):
    path, _ = copy_model(models, "classifier", tmp_path)
    rewrite(path, lambda info: info["params"].update({field: value}))
    with pytest.raises(ValueError, match=rf"{SIDECAR}.*{message}"):
        load_model(path)


def test_a_huge_sparse_weights_file_is_never_read(models, tmp_path, monkeypatch):
    import artmedium.persistence as persistence

    path, _ = copy_model(models, "classifier", tmp_path)
    reads = []
    real = persistence.read_limited
    monkeypatch.setattr(
        persistence, "read_limited", lambda *a, **k: reads.append(a) or real(*a, **k)
    )
    with open(path / WEIGHTS, "r+b") as fh:
        fh.truncate(3 << 30)  # 3 GB, sparse: costs no disk
    # The sidecar still says the true size: the size differs, refused unread.
    with pytest.raises(ValueError, match=r"has 3221225472 bytes, model\.json records"):
        load_model(path)
    # The sidecar agrees with the file: more than this model's tensors can take.
    rewrite(path, lambda info: info["weights"].update(bytes=3 << 30))
    with pytest.raises(ValueError, match="declares a 3221225472-byte"):
        load_model(path)
    assert [a for a in reads if WEIGHTS in str(a)] == []


# ----------------------------------------------------- clear errors, no hangs


def test_fifo_and_device_files_in_a_model_folder_do_not_hang(models, tmp_path):
    path, _ = copy_model(models, "classifier", tmp_path)
    (path / WEIGHTS).unlink()
    os.symlink("/dev/zero", path / WEIGHTS)
    with pytest.raises(
        ValueError, match=r"weights\.safetensors is a device, not a regular"
    ):
        run_in_thread(lambda: load_model(path))
    (path / SIDECAR).unlink()
    os.mkfifo(path / SIDECAR)
    with pytest.raises(
        ValueError, match=r"model\.json is a named pipe \(FIFO\), not a regular"
    ):
        run_in_thread(lambda: load_model(path))


def test_an_oversized_sidecar_is_refused(models, tmp_path, monkeypatch):
    import artmedium.persistence as persistence

    path, _ = copy_model(models, "classifier", tmp_path)
    monkeypatch.setattr(persistence, "MAX_SIDECAR_BYTES", 100)
    with pytest.raises(ValueError, match="larger than the 100 bytes"):
        load_model(path)
    assert MAX_SIDECAR_BYTES >= 1 << 20


def test_deep_nesting_is_a_clear_error(models, tmp_path):
    path, _ = copy_model(models, "classifier", tmp_path)
    (path / SIDECAR).write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match=r"model\.json is nested too deeply"):
        load_model(path)
    path, _ = copy_model(models, "classifier", tmp_path / "b")
    deep = {"__tuple__": [1]}
    for _ in range(100):
        deep = {"__tuple__": [deep]}
    rewrite(path, lambda info: info["params"].update(class_weight=deep))
    with pytest.raises(ValueError, match="nested more than"):
        load_model(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: i.update(weights="abc"), r"model\.weights must be dict, not str"),
        (lambda i: i.update(params=[1, 2]), r"model\.params must be dict, not list"),
        (lambda i: i.update(state=None), r"model\.state must be dict, not null"),
        (lambda i: i["weights"].update(sha256=5), r"weights\.sha256 must be str"),
        (lambda i: i["weights"].update(bytes=-1), r"weights\.bytes = -1 is outside"),
        (lambda i: i["weights"].update(file="../x"), r"weights\.file must be"),
        (lambda i: i.update(estimator="os.system"), "unknown estimator type"),
        (lambda i: i.update(tag_names="abc"), r"model\.tag_names must be list"),
        (
            lambda i: i["state"].update(classes={"values": ["a"], "dtype": "<U9"}),
            "at least 2 labels",
        ),
        (
            lambda i: i["state"]["classes"].update(dtype="<U1000000000"),
            "dtype '<U1000000000' is not allowed",
        ),
        (
            lambda i: i["state"]["classes"].update(dtype="<U1"),
            "do not fit dtype",
        ),
        (lambda i: i["state"].update(seed="x"), r"state\.seed must be int"),
        (lambda i: i["state"].update(n_features_in=10**9), "n_features_in"),
        (lambda i: i["params"].update(class_weight={"__x__": 1}), "unrecognised"),
    ],
)
def test_wrongly_typed_fields_are_named(models, tmp_path, change, message):
    path, _ = copy_model(models, "classifier", tmp_path)
    rewrite(path, change)
    with pytest.raises(ValueError, match=message) as info:
        load_model(path)
    assert str(path / SIDECAR) in str(info.value)
    assert "\n" not in str(info.value)


def test_tagger_state_fields_are_checked(models, tmp_path):
    cases = {
        "combinations": ([[0, 2]], "zeros and ones"),
        "constant_tags": ([[99, 1]], r"constant_tags\[0\]"),
        "estimators": ([], "learned tags"),
        "n_features": (0, "n_features = 0 is outside"),
    }
    for i, (field, (value, message)) in enumerate(cases.items()):
        path, _ = copy_model(models, "tagger", tmp_path / str(i))
        rewrite(path, lambda info, f=field, v=value: info["state"].update({f: v}))
        with pytest.raises(ValueError, match=message):
            load_model(path)


def test_the_cli_prints_one_line_for_a_hostile_model(models, tmp_path):
    path, _ = copy_model(models, "classifier", tmp_path)
    rewrite(path, lambda info: info.update(params=[1]))
    image = tmp_path / "scan.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    result = CliRunner().invoke(main, ["predict", "--model", str(path), str(image)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot load")
    assert "params must be dict" in result.output
    assert "Traceback" not in result.output


# ----------------------------------------------------------- property-based

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value, prefix=()):
    """Every place inside a JSON value, as key/index paths."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            yield from _paths(item, (*prefix, i))


@pytest.fixture(scope="module")
def sidecars(models):
    out = {}
    for kind, (path, _) in models.items():
        info = json.loads((path / SIDECAR).read_text())
        out[kind] = (path, info, sorted(_paths(info), key=repr))
    return out


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_sidecar_gives_a_model_or_a_documented_error(sidecars, tmp_path, data):
    """Arbitrary JSON anywhere in a real sidecar: a model, or ValueError."""
    import copy
    import shutil

    kind = data.draw(st.sampled_from(sorted(sidecars)))
    src, info, places = sidecars[kind]
    place = data.draw(st.sampled_from(places))
    info = copy.deepcopy(info)
    replacement = data.draw(_json)
    if place:
        target = info
        for key in place[:-1]:
            target = target[key]
        target[place[-1]] = replacement
    else:
        info = replacement
    folder = tmp_path / "m"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(src, folder)
    (folder / SIDECAR).write_text(json.dumps(info))
    try:
        loaded = load_model(folder)
    except (ValueError, FileNotFoundError) as exc:
        assert str(exc)
        return
    assert loaded.memory is None if hasattr(loaded, "memory") else True


# ------------------------------------------- review findings (sizes that multiply)


def test_a_head_of_many_classes_times_many_features_is_refused(tmp_path):
    """100000 classes x 65536 features: a 2 MB sidecar asked for 26 GB."""
    rng = np.random.RandomState(0)
    clf = MediumClassifier(lr=0.1, max_epochs=1, random_state=0).fit(
        rng.normal(size=(8, 3)), [0, 1] * 4
    )
    path = save_model(clf, tmp_path / "features")

    def huge(info):
        info["state"]["n_features_in"] = 65536
        info["state"]["classes"] = {"values": list(range(100_000)), "dtype": "<i8"}

    rewrite(path, huge)
    with pytest.raises(ValueError, match=r"100000 x 65536 weights exceeds"):
        load_model(path)


def test_a_tagger_of_many_tags_times_many_features_is_refused(models, tmp_path):
    path, _ = copy_model(models, "tagger", tmp_path)

    def huge(info):
        state = info["state"]
        state["tag_names"] = [f"t{i}" for i in range(5000)]
        state["n_features"] = 65536
        state["combinations"] = [[0] * 5000]
        state["combination_counts"] = [1]

    rewrite(path, huge)
    with pytest.raises(ValueError, match=r"5000 x 65536 weights exceeds"):
        load_model(path)


def test_arrays_are_sized_before_they_are_allocated(models, tmp_path):
    """[""] * 100000 with dtype <U4096: 400 KB of JSON, 1.6 GB of numpy."""
    path, _ = copy_model(models, "classifier", tmp_path)
    value = {"__ndarray__": [""] * 100_000, "dtype": "<U4096"}
    rewrite(path, lambda info: info["params"].update(class_weight=value))
    with pytest.raises(ValueError, match=r"bytes exceeds the \d+ a loaded model"):
        load_model(path)


def test_huge_integers_and_boolean_versions_are_named(models, tmp_path):
    path, _ = copy_model(models, "classifier", tmp_path)
    text = (path / SIDECAR).read_text()
    huge = text.replace('"seed": ', '"seed": ' + "9" * 5000, 1)
    assert huge != text
    (path / SIDECAR).write_text(huge)
    with pytest.raises(ValueError, match=r"model\.json is not valid JSON"):
        load_model(path)
    path, _ = copy_model(models, "classifier", tmp_path / "v")
    rewrite(path, lambda info: info.update(format_version=True))
    with pytest.raises(ValueError, match="format version True"):
        load_model(path)


def test_the_caller_chooses_cache_and_threads_and_set_params_works(
    toy, models, tmp_path
):
    X, _ = toy
    path, est = copy_model(models, "classifier", tmp_path)
    cache = tmp_path / "mine"
    loaded = load_model(path, memory=str(cache), n_jobs=2)
    assert loaded.memory == str(cache) and loaded.n_jobs == 2
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert len(list(cache.rglob("*.npy"))) == len(X)
    other = tmp_path / "later"
    loaded.set_params(memory=str(other)).predict(X)
    assert len(list(other.rglob("*.npy"))) == len(X)
    tagger = load_model(copy_model(models, "tagger", tmp_path / "t")[0], memory=cache)
    assert tagger.embedder_.memory == cache


def test_large_inputs_run_in_smaller_batches():
    """size 1024 with batch 1024 from a sidecar took 3.1 GB for 8 images."""
    from artmedium.estimators._cached_backbone import MAX_BATCH_PIXELS, CachedBackbone

    runner = CachedBackbone("simple_cnn", None, image_size=1024, batch_size=1024)
    assert runner.run_batch_size == MAX_BATCH_PIXELS // 1024**2
    assert CachedBackbone("simple_cnn", None, batch_size=32).run_batch_size == 32
