"""Shared fixtures: seeding, and the optional real Tate sample."""

import os
import random
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_tate_dir():
    """Return the real Tate sample folder, or None when this checkout has none.

    ``$ARTMEDIUM_TATE_DIR`` wins; otherwise ``../shared/data/tate`` beside the
    repository (where CI lays it). A user's clone has neither: those tests skip.
    """
    env = os.environ.get("ARTMEDIUM_TATE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data" / "tate")
    for path in candidates:
        if (path / "artwork_data.csv").is_file() and (path / "images").is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def tate_dir():
    """Path of the real Tate sample; skips the test when it is absent."""
    path = find_tate_dir()
    if path is None:
        pytest.skip(
            "real Tate sample not found: set $ARTMEDIUM_TATE_DIR or place it at "
            "../shared/data/tate beside the repository"
        )
    return path


@pytest.fixture(autouse=True)
def seeds_fixed():
    """Every test starts from the same random state (skorch's conftest habit)."""
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


def make_toy_images(n_per_class=12, size=40, seed=0):
    """A learnable two-class image task: striped vs dotted (uint8, RGB).

    Stripes are horizontal bars of random phase and colour; dots are a random
    scatter of small squares. Chance is 0.5; a small CNN separates them in seconds.
    """
    rng = np.random.RandomState(seed)
    images, labels = [], []
    for label in ("striped", "dotted"):
        for _ in range(n_per_class):
            bg = rng.randint(150, 256, 3)
            fg = rng.randint(0, 100, 3)
            img = np.empty((size, size, 3), np.uint8)
            img[:] = bg
            if label == "striped":
                period = rng.randint(4, 8)
                phase = rng.randint(period)
                rows = (np.arange(size) + phase) % period < period // 2
                img[rows] = fg
            else:
                for _ in range(rng.randint(12, 20)):
                    r, c = rng.randint(0, size - 3, 2)
                    img[r : r + 3, c : c + 3] = fg
            images.append(img)
            labels.append(label)
    order = rng.permutation(len(images))
    return np.stack(images)[order], np.array(labels, dtype=object)[order]


@pytest.fixture(scope="session")
def toy_image_files(tmp_path_factory):
    """The toy task written as PNG files: (1-D object array of paths, labels)."""
    from PIL import Image

    images, labels = make_toy_images(n_per_class=16)
    folder = tmp_path_factory.mktemp("toy")
    paths = []
    for i, img in enumerate(images):
        path = folder / f"img{i:03d}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return np.array(paths, dtype=object), labels


@pytest.fixture(scope="session")
def toy_task():
    """The toy task in memory: (uint8 images (24, 40, 40, 3), labels)."""
    return make_toy_images(n_per_class=12, size=40, seed=0)


@pytest.fixture(scope="session")
def toy_classifier(toy_task):
    """A simple-CNN MediumClassifier fitted on ``toy_task`` (shared: do not modify)."""
    from artmedium import MediumClassifier

    X, y = toy_task
    return MediumClassifier(
        backbone="simple_cnn",
        weights=None,
        image_size=32,
        batch_size=8,
        random_state=0,
        max_epochs=2,
    ).fit(X, y)


# Tiny, fast settings: a small CNN from scratch on 32 px images.
TINY = {
    "backbone": "simple_cnn",
    "weights": None,
    "image_size": 32,
    "batch_size": 8,
    "random_state": 0,
}


class RunsCode:
    """Unpickling this creates ``marker``: proof that reading a file ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def run_in_thread(fn, timeout=20):
    """``fn()`` in a daemon thread: its result, or a test failure if it hangs.

    For inputs that used to block forever (a FIFO, an endless stream): the test
    fails after ``timeout`` seconds instead of hanging the suite.
    """
    import threading

    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"hung for more than {timeout} s"
    if "error" in out:
        raise out["error"]
    return out.get("value")


#: Five descriptions of prints and paintings whose tags have broader terms
#: (intaglio print, print, paint) and an exclusive pair of supports (canvas,
#: board): the open-vocabulary tagger tests fit on them.
PRINTS_AND_PAINTINGS = (
    "Etching on paper",
    "Aquatint on paper",
    "Lithograph on paper",
    "Oil paint on canvas",
    "Oil paint on board",
)


def two_workers():
    """A new local cluster of 2 worker processes of one thread each (and
    ``OMP_NUM_THREADS=1``), on loopback: :func:`artmedium.dask.local_cluster`."""
    from artmedium.dask import local_cluster

    return local_cluster(2, env={"OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="session")
def dask_cluster():
    """A ``distributed.LocalCluster`` of 2 worker processes on loopback only.

    Shared by the whole session (starting one costs about a second, and its
    workers keep the models they load). Tests that kill or restart a worker
    must start their own cluster instead. Workers run one thread each and
    ``OMP_NUM_THREADS=1`` so that two workers fit the 2-core CI machine.
    """
    pytest.importorskip("distributed")
    cluster = two_workers()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def dask_client(dask_cluster):
    """A ``distributed.Client`` of :func:`dask_cluster`, closed after the test."""
    import distributed

    with distributed.Client(dask_cluster, set_as_default=True) as client:
        yield client
