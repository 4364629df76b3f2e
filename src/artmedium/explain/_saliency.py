"""Saliency maps: which pixels of the network input drive a class (or tag) score.

The functions here take any ``images -> logits`` module and a normalised input
batch; :class:`SaliencyMap` wraps them as a scikit-learn transformer around a
fitted :class:`~artmedium.MediumClassifier` or :class:`~artmedium.MediumTagger`.

Every method differentiates with :func:`torch.autograd.grad` with respect to the
input (or, for Grad-CAM, one intermediate activation) only: the network's
parameters, their ``requires_grad`` flags and their ``.grad`` are never touched,
and the network runs in eval mode (its previous mode is restored afterwards), so
batch statistics, dropout and augmentation play no part and an image gets the
same map alone or inside a batch.
"""

import numbers
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

from artmedium._inputs import FEATURES, parse_X, raise_read_errors
from artmedium.io import read_images
from artmedium.nets import Backbone

METHODS = ("gradient", "smoothgrad", "gradcam", "integrated_gradients")
BASELINES = ("black", "mean")


# --------------------------------------------------------------------- core maths
@contextmanager
def _eval_mode(module):
    """Run ``module`` in eval mode, then give every submodule its mode back."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            m.training = mode


def _target_scores(logits, targets):
    if logits.ndim != 2:
        raise ValueError(
            "the network must return logits of shape (n, n_outputs); got shape "
            f"{tuple(logits.shape)}"
        )
    if targets is None:
        targets = logits.detach().argmax(dim=1)
    return logits.gather(1, targets.view(-1, 1)).squeeze(1), targets


def _grad(output, inputs):
    """d output / d inputs, or zeros when the output does not depend on them."""
    if not output.requires_grad:
        return torch.zeros_like(inputs)
    (grad,) = torch.autograd.grad(output, inputs, allow_unused=True)
    return torch.zeros_like(inputs) if grad is None else grad


def input_gradients(module, x, targets=None):
    """Gradient of each image's target logit with respect to its input.

    Parameters
    ----------
    module : torch.nn.Module
        Maps ``(n, C, H, W)`` inputs to logits ``(n, n_outputs)``; already in the
        mode it should run in (see :func:`saliency_maps`).
    x : torch.Tensor of shape (n, C, H, W)
        Normalised inputs.
    targets : torch.Tensor of int64, shape (n,), or None
        Output index per image; None takes each image's largest logit.

    Returns
    -------
    grad : torch.Tensor of shape (n, C, H, W)
    targets : torch.Tensor of shape (n,)
    """
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        scores, targets = _target_scores(module(x), targets)
        # Each image's logit depends on that image only (eval mode), so the
        # gradient of the sum holds every image's own gradient.
        return _grad(scores.sum(), x), targets


def _gauss_legendre(steps):
    nodes, weights = np.polynomial.legendre.leggauss(int(steps))
    return (nodes + 1) / 2, weights / 2  # from [-1, 1] to [0, 1]


def integrated_gradients(module, x, targets, baseline, *, steps=32):
    """Integrated gradients (Sundararajan et al., 2017) per input element.

    The path integral from ``baseline`` to ``x`` is computed with ``steps``-point
    Gauss-Legendre quadrature, so that the attributions of an image sum to
    ``f(x) - f(baseline)`` for its target logit (completeness) up to the
    quadrature error.

    Parameters
    ----------
    module : torch.nn.Module
    x : torch.Tensor of shape (n, C, H, W)
    targets : torch.Tensor of int64, shape (n,)
    baseline : torch.Tensor broadcastable to ``x``
    steps : int, default=32

    Returns
    -------
    torch.Tensor of shape (n, C, H, W)
    """
    alphas, weights = _gauss_legendre(steps)
    delta = x - baseline
    total = torch.zeros_like(x)
    for alpha, weight in zip(alphas, weights):
        grad, _ = input_gradients(module, baseline + float(alpha) * delta, targets)
        total += float(weight) * grad
    return delta * total


def _noise_scale(x, noise):
    # SmoothGrad's sigma is a fraction of each image's own value range.
    flat = x.flatten(1)
    span = flat.max(dim=1).values - flat.min(dim=1).values
    return (noise * span).view(-1, 1, 1, 1)


def grad_cam(module, x, targets, layer):
    """Grad-CAM (Selvaraju et al., 2017) of ``layer``'s activation, at input size.

    ``relu(sum_k w_k A_k)`` with ``w_k`` the spatial mean of the gradient of the
    target logit with respect to channel ``k`` of the activation ``A``, upsampled
    bilinearly to the input's height and width.

    Returns
    -------
    cam : torch.Tensor of shape (n, H, W)
    targets : torch.Tensor of shape (n,)
    """
    captured = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.enable_grad():
            # The input needs a graph even when every parameter is frozen.
            x = x.detach().requires_grad_(True)
            scores, targets = _target_scores(module(x), targets)
            if not captured:
                raise ValueError(
                    f"layer {type(layer).__name__} did not run in the forward pass"
                )
            activation = captured[-1]
            if not isinstance(activation, torch.Tensor) or activation.ndim != 4:
                shape = getattr(activation, "shape", None)
                raise ValueError(
                    "Grad-CAM needs a layer whose output is an (n, C, h, w) "
                    f"activation map; {type(layer).__name__} gives {shape}"
                )
            grads = _grad(scores.sum(), activation)
    finally:
        handle.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam[:, 0], targets


def normalize_maps(maps):
    """Scale each map to [0, 1] by its maximum; an all-zero map stays zero.

    Parameters
    ----------
    maps : torch.Tensor of shape (n, H, W)
        Non-negative maps.

    Returns
    -------
    torch.Tensor of shape (n, H, W)
    """
    peak = maps.flatten(1).amax(dim=1).view(-1, 1, 1)
    return torch.where(peak > 0, maps / torch.where(peak > 0, peak, 1), 0)


def saliency_maps(
    module,
    x,
    targets=None,
    *,
    method="gradient",
    layer=None,
    n_samples=25,
    noise=0.15,
    steps=32,
    baseline=None,
    generator=None,
    normalize=True,
):
    """Saliency maps of any ``images -> logits`` module for a batch of inputs.

    Parameters
    ----------
    module : torch.nn.Module
        Maps normalised ``(n, C, H, W)`` inputs to logits ``(n, n_outputs)``. It
        runs in eval mode; the mode of each submodule is restored afterwards.
    x : torch.Tensor of shape (n, C, H, W)
        Normalised inputs.
    targets : None, int or torch.Tensor of int64, shape (n,)
        Output to explain per image; None: each image's largest logit on ``x``.
    method : {"gradient", "smoothgrad", "gradcam", "integrated_gradients"}
        ``"gradient"``: ``max_c |d logit / d x_c|`` (Simonyan et al., 2014).
        ``"smoothgrad"``: the same reduction of ``|gradient|`` averaged over
        ``n_samples`` noisy copies of the input (Smilkov et al., 2017).
        ``"integrated_gradients"``: ``|sum_c IG_c|``, the absolute pixel
        attribution. ``"gradcam"``: Grad-CAM of ``layer``.
    layer : torch.nn.Module or None
        For Grad-CAM: the layer whose activation is weighted; required.
    n_samples : int, default=25
        Noisy copies for SmoothGrad.
    noise : float, default=0.15
        SmoothGrad's noise standard deviation, as a fraction of each image's
        value range.
    steps : int, default=32
        Quadrature points of integrated gradients.
    baseline : torch.Tensor or None
        Integrated gradients' starting point, broadcastable to ``x``; None: zeros.
    generator : torch.Generator or None
        Draws SmoothGrad's noise: ``n_samples`` noise images shared by all images
        of the batch, so that an image's map does not depend on its batch.
    normalize : bool, default=True
        Scale each map to [0, 1] (:func:`normalize_maps`).

    Returns
    -------
    maps : torch.Tensor of shape (n, H, W)
    targets : torch.Tensor of shape (n,)
        The output index explained for each image.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    >>> maps, targets = saliency_maps(net, torch.rand(3, 3, 2, 2), targets=1)
    >>> tuple(maps.shape), targets.tolist()
    ((3, 2, 2), [1, 1, 1])
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    n = len(x)
    if targets is not None:
        targets = torch.as_tensor(targets, dtype=torch.int64, device=x.device)
        targets = targets.expand(n).contiguous() if targets.ndim == 0 else targets
        if targets.shape != (n,):
            raise ValueError(f"targets must hold one index per image; got {n} images")
    with _eval_mode(module):
        if targets is None and method in ("smoothgrad", "integrated_gradients"):
            # The prediction on the clean input, not on a noisy or scaled copy.
            with torch.no_grad():
                targets = module(x).argmax(dim=1)
        if method == "gradient":
            grad, targets = input_gradients(module, x, targets)
            maps = grad.abs().amax(dim=1)
        elif method == "smoothgrad":
            scale = _noise_scale(x, noise)
            total = torch.zeros_like(x)
            for _ in range(int(n_samples)):
                eps = torch.randn(
                    x.shape[1:], generator=generator, dtype=x.dtype, device="cpu"
                ).to(x.device)
                grad, _ = input_gradients(module, x + scale * eps, targets)
                total += grad.abs()
            maps = (total / int(n_samples)).amax(dim=1)
        elif method == "integrated_gradients":
            base = torch.zeros_like(x) if baseline is None else baseline.to(x)
            attributions = integrated_gradients(module, x, targets, base, steps=steps)
            maps = attributions.sum(dim=1).abs()
        else:
            if layer is None:
                raise ValueError("method='gradcam' needs a layer")
            maps, targets = grad_cam(module, x, targets, layer)
    maps = maps.detach()
    return (normalize_maps(maps) if normalize else maps), targets


def resolve_layer(module, layer):
    """The submodule Grad-CAM weights: by stage index, module name or default.

    ``None`` is the last stage of the :class:`~artmedium.nets.Backbone` inside
    ``module``; an int indexes that backbone's stages; a str names a submodule
    as in ``module.named_modules()``.
    """
    if isinstance(layer, nn.Module):
        return layer
    backbone = next((m for m in module.modules() if isinstance(m, Backbone)), None)
    if layer is None or (
        isinstance(layer, numbers.Integral) and not isinstance(layer, bool)
    ):
        if backbone is None:
            raise ValueError(
                "layer must name a submodule (module.named_modules()) when the "
                "network holds no artmedium Backbone"
            )
        index = -1 if layer is None else int(layer)
        if not -backbone.n_stages <= index < backbone.n_stages:
            raise ValueError(
                f"layer={layer} is not a stage of backbone {backbone.name!r}, which "
                f"has {backbone.n_stages} stages"
            )
        return backbone.stages[index]
    if isinstance(layer, str):
        named = dict(module.named_modules())
        if layer in named:
            return named[layer]
        examples = [name for name in named if name][:8]
        raise ValueError(
            f"layer={layer!r} is not a submodule of the network; names look like "
            f"{examples}"
        )
    raise TypeError(
        f"layer must be None, a stage index or a submodule name; got {layer!r}"
    )


# ---------------------------------------------------------------- the transformer
def _unwrap(estimator):
    # sklearn.frozen.FrozenEstimator keeps the fitted estimator in `estimator`.
    inner = getattr(type(estimator), "__name__", "") == "FrozenEstimator"
    return estimator.estimator if inner else estimator


def _preprocessing_of(estimator):
    prep = getattr(estimator, "preprocessing_", None)
    if prep is None:
        raise ValueError(
            f"{type(estimator).__name__} has no image preprocessing "
            "(preprocessing_ is None): was it fitted on images?"
        )
    return prep


def _output_names(estimator):
    if hasattr(estimator, "tag_names_"):
        return np.asarray(estimator.tag_names_, dtype=object)
    if hasattr(estimator, "classes_"):
        return np.asarray(estimator.classes_)
    raise ValueError(
        f"{type(estimator).__name__} has neither classes_ nor tag_names_: is it a "
        "fitted MediumClassifier or MediumTagger?"
    )


def resolve_target(target, names):
    """Output index of ``target``: None for "predicted", a label, else an index.

    A value found among ``names`` (class labels or tag names) is a label, even
    when it is an int; any other int is a position, negative ones from the end.
    """
    if isinstance(target, str) and target == "predicted":
        return None
    names = list(names)
    for i, name in enumerate(names):
        try:
            if bool(name == target):
                return i
        except (TypeError, ValueError):
            continue
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        if -len(names) <= target < len(names):
            return int(target) % len(names)
        raise ValueError(
            f"target={target} is out of range for {len(names)} outputs "
            f"{[str(n) for n in names]}"
        )
    raise ValueError(
        f"target={target!r} is neither 'predicted', one of the labels "
        f"{[str(n) for n in names]}, nor an output index"
    )


class SaliencyMap(TransformerMixin, BaseEstimator):
    """Saliency maps of a fitted estimator's network: images in, maps out.

    A transformer around an already fitted :class:`~artmedium.MediumClassifier`
    (any backbone, fitted on images) or :class:`~artmedium.MediumTagger` (with
    an :class:`~artmedium.ImageEmbedder`). Following scikit-learn's "prefit"
    convention, :meth:`fit` never refits the estimator: it only looks up its
    network (``estimator.to_torch()``), its preprocessing and the target. For
    the same reason :func:`sklearn.base.clone` keeps the fitted estimator
    itself rather than an unfitted copy (a
    :class:`sklearn.frozen.FrozenEstimator` is accepted as well). Refit the
    ``SaliencyMap`` after refitting its estimator.

    Images are read by :func:`artmedium.io.read_images` and preprocessed exactly
    as the estimator's ``predict`` does (resize, center crop, normalise; never
    augmented). The network runs in eval mode and is differentiated with respect
    to its input only, so its parameters and their gradients are untouched and an
    image's map does not depend on the other images of its batch.

    Parameters
    ----------
    estimator : MediumClassifier or MediumTagger
        Fitted on images.
    method : {"gradient", "smoothgrad", "gradcam", "integrated_gradients"}, \
default="gradient"
        ``"gradient"``: vanilla gradient saliency, ``max_c |d logit / d x_c|``
        over the colour channels of the normalised input (Simonyan et al., 2014;
        the poster's Figure 6). ``"smoothgrad"``: ``|gradient|`` averaged over
        ``n_samples`` noisy copies of the image, then the same channel maximum
        (Smilkov et al., 2017). ``"integrated_gradients"``: the absolute pixel
        attribution ``|sum_c IG_c|`` from ``baseline`` (Sundararajan et al.,
        2017). ``"gradcam"``: Grad-CAM of ``layer``, upsampled to the input size
        (Selvaraju et al., 2017).
    target : "predicted", label or int, default="predicted"
        What to explain. ``"predicted"``: each image's predicted class (for a
        tagger, its most probable tag among those that vary in training). A
        class label (tag name for a tagger) or an output index explains that
        output for every image; labels take precedence over indices.
    layer : None, int or str, default=None
        Grad-CAM's layer: None is the backbone's last stage, an int a backbone
        stage, a str a submodule name of ``estimator.to_torch()``.
    n_samples : int, default=25
        SmoothGrad's noisy copies per image.
    noise : float, default=0.15
        SmoothGrad's noise standard deviation, as a fraction of each image's
        value range.
    steps : int, default=32
        Integrated gradients' Gauss-Legendre quadrature points.
    baseline : {"black", "mean"}, default="black"
        Integrated gradients' starting image: black pixels, or the normalisation
        mean colour (zeros of the normalised input).
    batch_size : int, default=16
        Images per forward/backward pass.
    random_state : int, RandomState or None, default=None
        Seeds SmoothGrad's noise.
    n_jobs : int or None, default=None
        Image decoding threads.

    Attributes
    ----------
    module_ : torch.nn.Module
        The estimator's network, ``images -> logits``.
    preprocessing_ : artmedium.io.Preprocessing
        How images become its input; maps are ``(size, size)``.
    output_names_ : ndarray
        Class labels or tag names, one per logit.
    target_index_ : int or None
        The output explained; None for "predicted".
    layer_ : torch.nn.Module or None
        Grad-CAM's layer.

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium import MediumClassifier
    >>> from artmedium.explain import SaliencyMap
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 255, (8, 24, 24, 3)).astype(np.uint8)
    >>> y = ["ink", "oil"] * 4
    >>> clf = MediumClassifier(backbone="simple_cnn", weights=None, image_size=16,
    ...                        max_epochs=1, random_state=0).fit(X, y)
    >>> maps = SaliencyMap(clf).fit().transform(X[:2])
    >>> maps.shape, bool(maps.min() >= 0), float(maps.max())
    ((2, 16, 16), True, 1.0)
    """

    _parameter_constraints = {
        "estimator": "no_validation",  # checked fitted, unwrapped in fit
        "method": [StrOptions(set(METHODS))],
        "target": [str, Integral],
        "layer": "no_validation",  # a name, an index or a module: resolved in fit
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "baseline": [StrOptions(set(BASELINES))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
    }

    def __init__(
        self,
        estimator,
        method="gradient",
        target="predicted",
        layer=None,
        n_samples=25,
        noise=0.15,
        steps=32,
        baseline="black",
        batch_size=16,
        random_state=None,
        n_jobs=None,
    ):
        self.estimator = estimator
        self.method = method
        self.target = target
        self.layer = layer
        self.n_samples = n_samples
        self.noise = noise
        self.steps = steps
        self.baseline = baseline
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_clone__(self):
        # Prefit: a clone explains the same fitted estimator, not an unfitted copy.
        params = self.get_params(deep=False)
        estimator = params.pop("estimator")
        return type(self)(estimator=estimator, **clone(params, safe=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True  # a 1-D array of image paths
        tags.requires_fit = True
        tags.non_deterministic = (
            self.method == "smoothgrad" and self.random_state is None
        )
        return tags

    def fit(self, X=None, y=None):
        """Look up the fitted estimator's network; the estimator is not refitted.

        Parameters
        ----------
        X, y : ignored
            Present for the scikit-learn API (and Pipelines).

        Returns
        -------
        self : SaliencyMap
        """
        self._validate_params()
        estimator = _unwrap(self.estimator)
        check_is_fitted(estimator)
        self.output_names_ = _output_names(estimator)
        self.preprocessing_ = _preprocessing_of(estimator)
        self.module_ = estimator.to_torch()
        self.target_index_ = resolve_target(self.target, self.output_names_)
        self.layer_ = None
        if self.method == "gradcam":
            self.layer_ = resolve_layer(self.module_, self.layer)
        # Tags that never vary in training get a large constant logit in
        # to_torch(); "the most probable tag" is chosen among the others.
        constant = sorted(getattr(estimator, "constant_tags_", None) or {})
        varying = len(constant) < len(self.output_names_)
        self._excluded = constant if varying else []
        return self

    # ------------------------------------------------------------------ inputs
    def _sources(self, X):
        inp = parse_X(X)
        if inp.kind == FEATURES:
            raise ValueError(
                "SaliencyMap needs images (paths, PIL images, bytes or a uint8 "
                "stack), not a 2-D numeric array of features."
            )
        return inp.data

    def _read(self, sources, offset=0, *, full_size=False):
        min_size = None if full_size else self.preprocessing_.min_decode_size
        n_jobs = 1 if self.n_jobs is None else self.n_jobs
        result = read_images(sources, n_jobs=n_jobs, min_size=min_size)
        raise_read_errors({offset + i: e for i, e in result.errors.items()})
        return result.images

    def _device(self):
        param = next(self.module_.parameters(), None)
        return torch.device("cpu") if param is None else param.device

    def _batches(self, sources):
        for start in range(0, len(sources), self.batch_size):
            images = self._read(sources[start : start + self.batch_size], start)
            batch = self.preprocessing_.batch(images)
            yield start, batch.to(self._device())

    def _baseline_tensor(self, device):
        if self.baseline == "mean":
            return None  # zeros of the normalised input
        prep = self.preprocessing_
        mean = torch.tensor(prep.mean).view(1, -1, 1, 1)
        std = torch.tensor(prep.std).view(1, -1, 1, 1)
        return ((0.0 - mean) / std).to(device)

    def _targets(self, batch):
        if self.target_index_ is not None:
            return self.target_index_
        if not self._excluded:
            return None
        with _eval_mode(self.module_), torch.no_grad():
            logits = self.module_(batch)
        logits[:, self._excluded] = -torch.inf
        return logits.argmax(dim=1)

    def explain(self, X, *, targets=None):
        """Maps and the output each one explains.

        Parameters
        ----------
        X : images
            As for :meth:`transform`.
        targets : None or array-like of int, shape (n_samples,)
            Output index per image, overriding ``target`` (e.g. each image's
            true class).

        Returns
        -------
        maps : ndarray of shape (n_samples, size, size), float32 in [0, 1]
        explained : ndarray of shape (n_samples,)
            The label (class or tag name) each map explains.
        """
        check_is_fitted(self)
        generator = None
        if self.method == "smoothgrad":
            seed = check_random_state(self.random_state).randint(2**31 - 1)
            generator = torch.Generator().manual_seed(int(seed))
            state = generator.get_state()
        sources = self._sources(X)
        if targets is not None:
            targets = np.asarray(targets, dtype=np.int64).reshape(-1)
            if len(targets) != len(sources):
                raise ValueError(
                    f"{len(targets)} targets for {len(sources)} images in X"
                )
            bad = (targets < 0) | (targets >= len(self.output_names_))
            if bad.any():
                raise ValueError(
                    f"targets must be output indices in [0, "
                    f"{len(self.output_names_)}); got {targets[bad][:5].tolist()}"
                )
        maps, explained = [], []
        # Gradients are needed even when the caller runs under no_grad or
        # inference_mode (e.g. inside a prediction service).
        with torch.inference_mode(False), torch.enable_grad():
            for start, batch in self._batches(sources):
                if generator is not None:
                    # Every batch draws the same noise: maps are batch-independent.
                    generator.set_state(state)
                chosen = (
                    torch.as_tensor(targets[start : start + len(batch)])
                    if targets is not None
                    else self._targets(batch)
                )
                out, used = saliency_maps(
                    self.module_,
                    batch,
                    chosen,
                    method=self.method,
                    layer=self.layer_,
                    n_samples=self.n_samples,
                    noise=self.noise,
                    steps=self.steps,
                    baseline=self._baseline_tensor(batch.device),
                    generator=generator,
                )
                maps.append(out.float().cpu().numpy())
                explained.append(used.cpu().numpy())
        return (
            np.concatenate(maps).astype(np.float32, copy=False),
            self.output_names_[np.concatenate(explained)],
        )

    def transform(self, X):
        """Saliency maps aligned with the preprocessed (center-cropped) images.

        Parameters
        ----------
        X : images
            A 1-D array or list of paths, bytes or PIL images, a uint8 stack
            ``(n, H, W[, 3])`` or a one-column DataFrame of paths.

        Returns
        -------
        maps : ndarray of shape (n_samples, size, size), float32
            In [0, 1], each map divided by its maximum (an all-zero map stays
            zero). ``maps[i]`` lies over :meth:`input_images` ``[i]``; use
            :meth:`to_original` to place it over the original image.
        """
        return self.explain(X)[0]

    def input_images(self, X):
        """The images as the network sees them: resized and center-cropped.

        Returns
        -------
        ndarray of shape (n_samples, size, size, 3), uint8
            The preprocessed input with its normalisation undone, for overlays.
        """
        check_is_fitted(self)
        prep = self.preprocessing_
        mean = torch.tensor(prep.mean).view(1, -1, 1, 1)
        std = torch.tensor(prep.std).view(1, -1, 1, 1)
        out = []
        for _, batch in self._batches(self._sources(X)):
            pixels = (batch.cpu() * std + mean).clamp(0, 1) * 255
            out.append(pixels.round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        return np.ascontiguousarray(np.concatenate(out))

    def to_original(self, maps, X):
        """Place maps from :meth:`transform` onto the original images.

        Parameters
        ----------
        maps : array-like of shape (n_samples, size, size)
        X : images
            The images the maps were computed from, read again at full size.

        Returns
        -------
        list of ndarray
            One float32 ``(height, width)`` map per original image: the map
            resized into the region the center crop kept
            (:meth:`artmedium.io.Preprocessing.crop_box`), 0 outside it.
        """
        check_is_fitted(self)
        sources = self._sources(X)
        if len(maps) != len(sources):
            raise ValueError(f"{len(maps)} maps for {len(sources)} images in X")
        out = []
        for start in range(0, len(sources), self.batch_size):
            chunk = sources[start : start + self.batch_size]
            for j, image in enumerate(self._read(chunk, start, full_size=True)):
                width, height = image.size
                out.append(
                    self.preprocessing_.to_original(maps[start + j], width, height)
                )
        return out
