"""ImageEmbedder: images -> features, pipelines, caching, numeric rows, errors."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from artmedium import ImageEmbedder
from conftest import make_toy_images

TINY = {"backbone": "simple_cnn", "weights": None, "image_size": 32, "random_state": 0}


def test_shapes_and_feature_names():
    images, _ = make_toy_images(n_per_class=3)
    emb = ImageEmbedder(**TINY).fit(images)
    out = emb.transform(images)
    assert out.shape == (6, emb.n_features_out_)
    assert out.dtype == np.float32
    names = emb.get_feature_names_out()
    assert len(names) == emb.n_features_out_
    assert names[0] == "imageembedder0"


def test_pipeline_with_logistic_regression_learns_toy_task():
    X, y = make_toy_images(n_per_class=16, seed=1)
    X_test, y_test = make_toy_images(n_per_class=10, seed=2)
    pipe = make_pipeline(ImageEmbedder(**TINY), LogisticRegression(max_iter=2000))
    pipe.fit(X, y)
    assert pipe.score(X_test, y_test) >= 0.8


def test_same_seed_same_features_and_batch_invariance():
    images, _ = make_toy_images(n_per_class=4)
    a = ImageEmbedder(**TINY).fit_transform(images)
    b = clone(ImageEmbedder(**TINY)).fit_transform(images)
    np.testing.assert_array_equal(a, b)
    emb = ImageEmbedder(**TINY, batch_size=3).fit(images)
    np.testing.assert_allclose(emb.transform(images), a, atol=1e-5)
    np.testing.assert_allclose(emb.transform(images[2:3]), a[2:3], atol=1e-5)


def test_memory_cache_is_keyed_by_content(tmp_path):
    images, _ = make_toy_images(n_per_class=3)
    emb = ImageEmbedder(**TINY, memory=str(tmp_path)).fit(images)
    first = emb.transform(images)
    assert len(list(tmp_path.rglob("*.npy"))) == len(images)
    np.testing.assert_array_equal(emb.transform(images), first)
    # Changed pixels are a new key: one more entry, not a stale hit.
    changed = images.copy()
    changed[0, 0, 0] ^= 0xFF
    emb.transform(changed[:1])
    assert len(list(tmp_path.rglob("*.npy"))) == len(images) + 1
    # Different weights (another seed) never reuse the cached features.
    other = ImageEmbedder(**{**TINY, "random_state": 1}, memory=str(tmp_path))
    assert not np.allclose(other.fit(images).transform(images), first)


def test_numeric_rows_are_read_as_images():
    rng = np.random.RandomState(0)
    X = rng.rand(5, 64)  # 8 x 8 greyscale
    emb = ImageEmbedder(**TINY).fit(X)
    assert emb.transform(X).shape == (5, emb.n_features_out_)
    with pytest.raises(ValueError, match="image_shape"):
        ImageEmbedder(**TINY, image_shape=(3, 3)).fit(X)
    with pytest.raises(ValueError, match="features"):
        emb.transform(rng.rand(5, 10))


def test_errors():
    with pytest.raises(NotFittedError):
        ImageEmbedder(**TINY).transform(np.zeros((1, 8, 8, 3), np.uint8))
    images, _ = make_toy_images(n_per_class=2)
    emb = ImageEmbedder(**TINY).fit(images)
    bad = [images[0], b"not an image"]
    with pytest.raises(ValueError, match=r"X\[1\]"):
        emb.transform(bad)
    with pytest.raises(ValueError, match="fitted on images"):
        emb.transform(np.zeros((2, 4)))
