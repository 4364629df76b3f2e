"""pooling="texture": mid-level statistics next to the global average (#14)."""

import numpy as np
import pytest
import torch

from artmedium import ImageEmbedder, MediumClassifier
from artmedium.nets import get_backbone
from artmedium.persistence import load_model, save_model
from conftest import TINY


def test_texture_pooling_appends_mean_and_sd_of_the_stages_before_the_last():
    net = get_backbone("simple_cnn").eval()
    x = torch.rand(3, 3, 32, 32)
    avg = net(x)
    net.set_pooling("texture")
    texture = net(x)
    h1 = net.forward_until(x, 2)  # output of stages[1]
    h2 = net.stages[2](h1)
    expected = [avg]
    for h in (h1, h2):
        expected += [h.mean(dim=(2, 3)), h.std(dim=(2, 3), unbiased=False)]
    torch.testing.assert_close(texture, torch.cat(expected, 1), atol=1e-3, rtol=1e-4)
    assert net.feature_dim == texture.shape[1] == 256 + 2 * (64 + 128)
    # Back to the plain average: the same features as before, and the same size.
    assert net.set_pooling("avg").feature_dim == 256
    torch.testing.assert_close(net(x), avg)


@pytest.mark.parametrize("name", ["simple_cnn", "resnet18", "efficientnet_lite0"])
def test_texture_pooling_can_start_from_a_cached_stage(name):
    net = get_backbone(name).eval().set_pooling("texture")
    x = torch.rand(2, 3, 64, 64)
    full = net(x)
    n = net.n_stages
    for start in range(n - 1):
        h = net.forward_until(x, start)
        torch.testing.assert_close(net.forward_from(h, start), full)
    # The statistics need the output of stages[-3]: a later cut cannot give them.
    with pytest.raises(ValueError, match="at least the last 2 stages must run"):
        net.forward_from(net.forward_until(x, n - 1), n - 1)


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling must be one of 'avg', 'texture'"):
        get_backbone("simple_cnn").set_pooling("max")
    with pytest.raises(ValueError, match="'pooling' parameter of MediumClassifier"):
        MediumClassifier(pooling="max").fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="'pooling' parameter of ImageEmbedder"):
        ImageEmbedder(pooling="max").fit(np.zeros((4, 2)))


def test_embedder_texture_features(toy_task):
    X, _ = toy_task
    plain = ImageEmbedder(**TINY).fit(X)
    texture = ImageEmbedder(**TINY, pooling="texture").fit(X)
    a, b = plain.transform(X[:4]), texture.transform(X[:4])
    assert a.shape == (4, 256) and b.shape == (4, 640)
    # The first block is the global average: the same network, the same values.
    np.testing.assert_allclose(b[:, :256], a, rtol=1e-4, atol=1e-5)
    assert texture.get_feature_names_out().shape == (640,)


@pytest.mark.parametrize("freeze", ["backbone", 2, "none"])
def test_classifier_with_texture_pooling_saves_and_exports(toy_task, tmp_path, freeze):
    X, y = toy_task
    clf = MediumClassifier(**TINY, pooling="texture", freeze=freeze, max_epochs=2)
    clf.fit(X, y)
    proba = clf.predict_proba(X[:6])
    # The exported network computes the same pooled features and head (up to
    # the float16 of the cached maps when some stages are frozen).
    net = clf.to_torch()
    with torch.inference_mode():
        exported = net(clf.preprocessing_.batch(list(X[:6]))).softmax(1).numpy()
    np.testing.assert_allclose(exported, proba, atol=1e-4)
    save_model(clf, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.pooling == "texture"
    np.testing.assert_allclose(loaded.predict_proba(X[:6]), proba, atol=1e-6)


def test_texture_pooling_with_one_trainable_stage_is_refused_early(toy_task):
    X, y = toy_task
    clf = MediumClassifier(**TINY, pooling="texture", freeze=1, max_epochs=1)
    with pytest.raises(ValueError, match="at least 2 trainable stages; got freeze=1"):
        clf.fit(X, y)


def test_texture_features_are_cached_apart_from_average_ones(toy_task, tmp_path):
    X, _ = toy_task
    avg = ImageEmbedder(**TINY, memory=tmp_path).fit(X).transform(X[:3])
    texture = ImageEmbedder(**TINY, pooling="texture", memory=tmp_path).fit(X)
    assert texture.transform(X[:3]).shape == (3, 640)
    # and the average features read back from the cache are unchanged
    again = ImageEmbedder(**TINY, memory=tmp_path).fit(X).transform(X[:3])
    np.testing.assert_array_equal(again, avg)
