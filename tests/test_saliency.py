"""Saliency maps: hand-computable toy models, then SaliencyMap on fitted estimators."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from torch import nn

from artmedium import ImageEmbedder, MediumClassifier, MediumTagger
from artmedium.explain import SaliencyMap
from artmedium.explain._saliency import (
    METHODS,
    integrated_gradients,
    normalize_maps,
    resolve_layer,
    resolve_target,
    saliency_maps,
)

# ------------------------------------------------------------------ toy modules


def linear_model(n_out=3, size=5, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, n_out))


def small_convnet(seed=0):
    """Nonlinear, with BatchNorm and dropout so that train mode would show."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.Tanh(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Softplus(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(16, 3),
    )


def test_gradient_of_linear_model_is_its_weights():
    model = linear_model()
    x = torch.randn(4, 3, 5, 5)
    maps, targets = saliency_maps(model, x, targets=2)
    weights = model[1].weight[2].detach().view(3, 5, 5)
    expected = weights.abs().amax(dim=0)  # Simonyan: max |grad| over channels
    expected = expected / expected.max()
    assert targets.tolist() == [2, 2, 2, 2]
    for m in maps:  # the same for every image: the gradient of a linear map
        torch.testing.assert_close(m, expected)


def test_predicted_target_is_the_argmax_logit():
    model = linear_model()
    x = torch.randn(6, 3, 5, 5)
    with torch.no_grad():
        predicted = model(x).argmax(dim=1)
    for method in METHODS:
        layer = model[0] if method == "gradcam" else None
        if method == "gradcam":
            continue  # Flatten has no spatial activation; covered below
        _, targets = saliency_maps(model, x, method=method, layer=layer, n_samples=2)
        assert torch.equal(targets, predicted), method


def test_per_image_targets():
    model = linear_model()
    x = torch.randn(2, 3, 5, 5)
    maps, _ = saliency_maps(model, x, targets=torch.tensor([0, 1]))
    w = model[1].weight.detach().view(3, 3, 5, 5).abs().amax(dim=1)
    torch.testing.assert_close(maps[0], w[0] / w[0].max())
    torch.testing.assert_close(maps[1], w[1] / w[1].max())
    with pytest.raises(ValueError, match="one index per image"):
        saliency_maps(model, x, targets=torch.tensor([0, 1, 2]))


def test_smoothgrad_of_linear_model_equals_gradient():
    # The gradient of a linear model is the same at every noisy copy.
    model = linear_model()
    x = torch.randn(3, 3, 5, 5)
    plain, _ = saliency_maps(model, x, targets=1)
    smooth, _ = saliency_maps(
        model,
        x,
        targets=1,
        method="smoothgrad",
        n_samples=5,
        generator=torch.Generator().manual_seed(0),
    )
    torch.testing.assert_close(smooth, plain)


def test_integrated_gradients_of_linear_model():
    model = linear_model()
    x = torch.randn(2, 3, 5, 5)
    base = torch.zeros_like(x)
    attr = integrated_gradients(model, x, torch.tensor([0, 0]), base, steps=4)
    expected = x * model[1].weight[0].detach().view(1, 3, 5, 5)
    torch.testing.assert_close(attr, expected)


def test_integrated_gradients_completeness():
    model = small_convnet().eval()
    x = torch.randn(3, 3, 8, 8)
    base = torch.full((1, 3, 8, 8), -1.5)
    targets = torch.tensor([0, 1, 2])
    attr = integrated_gradients(model, x, targets, base, steps=12)
    with torch.no_grad():
        fx = model(x)[torch.arange(3), targets]
        fb = model(base.expand_as(x))[torch.arange(3), targets]
    torch.testing.assert_close(attr.sum(dim=(1, 2, 3)), fx - fb, rtol=1e-3, atol=1e-4)
    # The maps are the absolute pixel attributions, normalised.
    maps, _ = saliency_maps(
        model, x, targets, method="integrated_gradients", baseline=base, steps=12
    )
    torch.testing.assert_close(maps, normalize_maps(attr.sum(dim=1).abs()))


@pytest.mark.parametrize("method", METHODS)
def test_parameters_grads_and_modes_untouched(method):
    model = small_convnet().train()
    model[3].weight.requires_grad_(False)  # a frozen layer among trainable ones
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    flags = [p.requires_grad for p in model.parameters()]
    x = torch.randn(4, 3, 8, 8)
    saliency_maps(
        model,
        x,
        method=method,
        layer=model[2],
        n_samples=3,
        steps=3,
        generator=torch.Generator().manual_seed(0),
    )
    after = model.state_dict()  # includes BatchNorm's running statistics
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    assert flags == [p.requires_grad for p in model.parameters()]
    assert all(m.training for m in model.modules())  # train mode given back


@pytest.mark.parametrize("method", METHODS)
def test_same_map_alone_or_in_a_batch(method):
    model = small_convnet().train()  # eval mode is the function's job
    x = torch.randn(5, 3, 8, 8)

    def run(batch, targets):
        maps, _ = saliency_maps(
            model,
            batch,
            targets,
            method=method,
            layer=model[2],
            n_samples=4,
            steps=6,
            generator=torch.Generator().manual_seed(3),
        )
        return maps

    together = run(x, None)
    for i in range(len(x)):
        alone = run(x[i : i + 1], None)
        torch.testing.assert_close(alone[0], together[i], rtol=1e-4, atol=1e-6)


def test_normalisation():
    maps = torch.tensor([[[0.0, 2.0], [1.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])
    out = normalize_maps(maps)
    torch.testing.assert_close(out[0], maps[0] / 2)
    assert torch.equal(out[1], torch.zeros(2, 2))  # no division by zero
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    nn.init.zeros_(model[1].weight)
    zero, _ = saliency_maps(model, torch.randn(1, 3, 2, 2), targets=0)
    assert torch.equal(zero, torch.zeros(1, 2, 2))


class QuadrantNet(nn.Module):
    """Responds to bright pixels: its activation is non-zero only where they are."""

    def __init__(self):
        super().__init__()
        self.detect = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.detect.weight.fill_(1.0)
            self.detect.bias.fill_(-1.5)  # active only where the sum of RGB > 1.5
        self.relu = nn.ReLU()
        self.head = nn.Linear(2, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
            self.head.bias.zero_()

    def forward(self, x):
        h = self.relu(self.detect(x))
        return self.head(h.mean(dim=(2, 3)))


@pytest.mark.parametrize("corner", ["top_left", "bottom_right"])
def test_gradcam_follows_the_responding_quadrant(corner):
    x = torch.zeros(1, 3, 16, 16)
    rows = slice(0, 8) if corner == "top_left" else slice(8, 16)
    x[0, :, rows, rows] = 1.0
    model = QuadrantNet()
    cam, _ = saliency_maps(model, x, targets=0, method="gradcam", layer=model.relu)
    cam = cam[0]
    inside = cam[rows, rows].sum()
    assert cam.max() == 1.0
    assert inside / cam.sum() > 0.95
    far = slice(12, 16) if corner == "top_left" else slice(0, 4)
    assert cam[far, far].max() == 0
    # Explaining the other class, whose logit falls where the patch is, gives
    # an all-zero map (ReLU keeps only positive evidence).
    other, _ = saliency_maps(model, x, targets=1, method="gradcam", layer=model.relu)
    assert torch.equal(other, torch.zeros_like(other))


def test_gradcam_needs_a_spatial_layer():
    model = linear_model()
    with pytest.raises(ValueError, match="activation map"):
        saliency_maps(
            model, torch.randn(1, 3, 5, 5), 0, method="gradcam", layer=model[0]
        )
    with pytest.raises(ValueError, match="needs a layer"):
        saliency_maps(model, torch.randn(1, 3, 5, 5), 0, method="gradcam")
    with pytest.raises(ValueError, match="method"):
        saliency_maps(model, torch.randn(1, 3, 5, 5), 0, method="occlusion")


def test_resolve_target():
    names = np.array(["ink", "oil", "watercolour"], dtype=object)
    assert resolve_target("predicted", names) is None
    assert resolve_target("oil", names) == 1
    assert resolve_target(2, names) == 2
    assert resolve_target(-1, names) == 2
    # Labels win over positions when the classes are ints.
    assert resolve_target(3, np.array([3, 5, 7])) == 0
    with pytest.raises(ValueError, match="out of range"):
        resolve_target(3, names)
    with pytest.raises(ValueError, match="'acrylic'"):
        resolve_target("acrylic", names)


def test_resolve_layer_errors():
    model = linear_model()
    with pytest.raises(ValueError, match="no artmedium Backbone"):
        resolve_layer(model, None)
    with pytest.raises(ValueError, match="not a submodule"):
        resolve_layer(model, "conv9")
    assert resolve_layer(model, "1") is model[1]
    with pytest.raises(TypeError, match="layer"):
        resolve_layer(model, 1.5)


# ------------------------------------------------------------ fitted estimators


@pytest.fixture
def toy(toy_task):
    return toy_task


@pytest.fixture
def clf(toy_classifier):
    return toy_classifier


def test_transform_matches_the_network_on_preprocessed_images(clf, toy):
    X, _ = toy
    maps = SaliencyMap(clf).fit().transform(X[:6])
    assert maps.shape == (6, 32, 32) and maps.dtype == np.float32
    assert maps.min() >= 0 and np.allclose(maps.reshape(6, -1).max(axis=1), 1)
    batch = clf.preprocessing_.batch(list(X[:6]))
    expected, targets = saliency_maps(clf.to_torch(), batch)
    np.testing.assert_allclose(maps, expected.numpy(), atol=1e-6)
    # "predicted" is the classifier's prediction.
    _, explained = SaliencyMap(clf).fit().explain(X[:6])
    assert list(explained) == list(clf.predict(X[:6]))


def test_fit_does_not_refit_or_touch_the_estimator(clf, toy):
    X, y = toy
    net = clf.net_
    state = {k: v.clone() for k, v in clf.to_torch().state_dict().items()}
    params = list(clf.to_torch().parameters())
    grads = [None if p.grad is None else p.grad.clone() for p in params]
    for method in METHODS:
        SaliencyMap(clf, method=method, n_samples=2, steps=2).fit(X, y).transform(X[:1])
    assert clf.net_ is net
    after = clf.to_torch().state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    for p, g in zip(params, grads):  # skorch leaves the last step's gradients
        assert (p.grad is None) if g is None else torch.equal(p.grad, g)


@pytest.mark.parametrize("method", ["gradient", "smoothgrad"])
def test_batch_size_does_not_change_maps(clf, toy, method):
    X, _ = toy
    params = {"method": method, "n_samples": 3, "steps": 4, "random_state": 0}
    big = SaliencyMap(clf, batch_size=16, **params).fit().transform(X[:3])
    small = SaliencyMap(clf, batch_size=2, **params).fit().transform(X[:3])
    assert big.shape == (3, 32, 32)
    assert np.isfinite(big).all() and big.min() >= 0 and big.max() <= 1
    np.testing.assert_allclose(small, big, rtol=1e-4, atol=1e-6)


def test_smoothgrad_random_state(clf, toy):
    X, _ = toy
    a = SaliencyMap(clf, method="smoothgrad", n_samples=3, random_state=0)
    b = SaliencyMap(clf, method="smoothgrad", n_samples=3, random_state=1)
    first = a.fit().transform(X[:2])
    np.testing.assert_array_equal(first, a.transform(X[:2]))
    assert not np.allclose(first, b.fit().transform(X[:2]))


def test_target_by_label_or_index(clf, toy):
    X, _ = toy
    index = list(clf.classes_).index("dotted")
    by_label = SaliencyMap(clf, target="dotted").fit()
    maps, explained = by_label.explain(X[:3])
    assert set(explained) == {"dotted"}
    np.testing.assert_allclose(
        maps, SaliencyMap(clf, target=index).fit().transform(X[:3])
    )
    with pytest.raises(ValueError, match="'oil'"):
        SaliencyMap(clf, target="oil").fit()


def test_gradcam_layers(clf, toy):
    X, _ = toy
    default = SaliencyMap(clf, method="gradcam").fit()
    assert default.layer_ is clf.to_torch().backbone.stages[-1]
    by_index = SaliencyMap(clf, method="gradcam", layer=-1).fit()
    np.testing.assert_allclose(default.transform(X[:2]), by_index.transform(X[:2]))
    by_name = SaliencyMap(clf, method="gradcam", layer="backbone.stages.1").fit()
    assert by_name.transform(X[:2]).shape == (2, 32, 32)
    with pytest.raises(ValueError, match="not a stage"):
        SaliencyMap(clf, method="gradcam", layer=9).fit()


def test_in_a_pipeline_and_cloned(clf, toy):
    X, _ = toy
    expected = SaliencyMap(clf).fit().transform(X[:3])
    pipe = Pipeline([("saliency", SaliencyMap(clf))])
    np.testing.assert_allclose(pipe.fit_transform(X[:3]), expected)
    copy = clone(SaliencyMap(clf, method="gradient", batch_size=4))
    assert copy.estimator is clf  # prefit: the fitted estimator, not a blank copy
    assert copy.batch_size == 4 and not hasattr(copy, "module_")
    np.testing.assert_allclose(copy.fit().transform(X[:3]), expected)
    np.testing.assert_allclose(clone(pipe).fit_transform(X[:3]), expected)
    frozen = SaliencyMap(FrozenEstimator(clf)).fit()
    np.testing.assert_allclose(frozen.transform(X[:3]), expected)
    assert "estimator__backbone" in SaliencyMap(clf).get_params()


def test_unfitted_estimator_and_bad_parameters(toy):
    X, y = toy
    with pytest.raises(NotFittedError):
        SaliencyMap(MediumClassifier()).fit()
    with pytest.raises(NotFittedError):
        SaliencyMap(MediumClassifier()).transform(X[:1])
    for params, match in [
        ({"method": "lime"}, "method"),
        ({"n_samples": 0}, "n_samples"),
        ({"steps": 2.5}, "steps"),
        ({"noise": -1}, "noise"),
        ({"baseline": "white"}, "baseline"),
    ]:
        with pytest.raises(ValueError, match=match):
            SaliencyMap(MediumClassifier(), **params).fit()


def test_images_only_and_errors_name_the_file(clf, toy, tmp_path):
    X, _ = toy
    explainer = SaliencyMap(clf).fit()
    with pytest.raises(ValueError, match="features"):
        explainer.transform(np.zeros((2, 5)))
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"plain text")
    good = tmp_path / "good.png"
    from PIL import Image

    Image.fromarray(X[0]).save(good)
    with pytest.raises(ValueError, match=r"X\[1\].*not_an_image\.png"):
        explainer.transform(np.array([str(good), str(bad)], dtype=object))
    from_path = explainer.transform(np.array([str(good)], dtype=object))
    np.testing.assert_allclose(from_path, explainer.transform(X[:1]), atol=1e-6)


def test_back_to_the_original_image(clf):
    wide = np.zeros((40, 64, 3), np.uint8)
    wide[:, :, 0] = 200
    tall = np.full((50, 30, 3), 120, np.uint8)
    X = [wide, tall]
    explainer = SaliencyMap(clf).fit()
    maps = explainer.transform(X)
    crops = explainer.input_images(X)
    assert crops.shape == (2, 32, 32, 3) and crops.dtype == np.uint8
    assert abs(int(crops[0, 0, 0, 0]) - 200) <= 1  # normalisation undone
    full = explainer.to_original(maps, X)
    assert [m.shape for m in full] == [(40, 64), (50, 30)]
    left, top, right, bottom = clf.preprocessing_.crop_box(64, 40)
    assert full[0][:, :left].max() == 0 and full[0][:, right:].max() == 0
    assert full[0][top:bottom, left:right].max() > 0
    with pytest.raises(ValueError, match="1 maps for 2 images"):
        explainer.to_original(maps[:1], X)


def test_tagger_per_tag(toy):
    X, labels = toy
    # A third tag present in every image: its constant logit must not be
    # "the most probable tag".
    Y = np.c_[labels == "striped", labels == "dotted", np.ones(len(X))].astype(int)
    embedder = ImageEmbedder(
        backbone="simple_cnn", weights=None, image_size=32, random_state=0
    )
    tagger = MediumTagger(
        estimator=LogisticRegression(max_iter=500),
        embedder=embedder,
        tag_names=["graphite", "watercolour", "canvas"],
    ).fit(X, Y)
    by_name = SaliencyMap(tagger, target="watercolour").fit()
    maps, explained = by_name.explain(X[:4])
    assert maps.shape == (4, 32, 32) and set(explained) == {"watercolour"}
    np.testing.assert_allclose(
        maps, SaliencyMap(tagger, target=1).fit().transform(X[:4])
    )
    _, predicted = SaliencyMap(tagger).fit().explain(X)
    assert "canvas" not in set(predicted)
    proba = tagger.predict_proba(X)[:, :2]
    assert list(predicted) == [["graphite", "watercolour"][i] for i in proba.argmax(1)]


def test_per_image_targets_and_inference_mode(clf, toy):
    X, y = toy
    explainer = SaliencyMap(clf).fit()
    true_index = np.searchsorted(clf.classes_, y[:4])
    with torch.inference_mode():  # a caller's context must not break gradients
        maps, explained = explainer.explain(X[:4], targets=true_index)
    assert list(explained) == list(y[:4])
    for i in range(4):
        alone = (
            SaliencyMap(clf, target=int(true_index[i])).fit().transform(X[i : i + 1])
        )
        np.testing.assert_allclose(maps[i], alone[0], atol=1e-6)
    with pytest.raises(ValueError, match="3 targets for 4 images"):
        explainer.explain(X[:4], targets=true_index[:3])
    with pytest.raises(ValueError, match="output indices"):
        explainer.explain(X[:1], targets=[5])
