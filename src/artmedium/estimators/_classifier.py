"""MediumClassifier: a CNN medium classifier, sklearn API on top, skorch inside."""

import numbers
import os
import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, _safe_indexing, check_random_state, check_scalar
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_is_fitted,
    validate_data,
)
from torch import nn

from artmedium._class_tags import class_tag_names
from artmedium._inputs import FEATURES, check_labels, parse_X, raise_read_errors
from artmedium._seeded import seeded
from artmedium._state import (
    MAX_FEATURES,
    State,
    check_int,
    check_keys,
    check_layer_size,
    check_strings,
    labels_from_json,
    labels_to_json,
    preprocessing_from_json,
)
from artmedium.estimators._cached_backbone import (
    POOLED,
    cached_backbone,
)
from artmedium.estimators._calibration import (
    MAX_CALIBRATION_IMAGES,
    Calibration,
    check_temperature,
)
from artmedium.estimators._modules import (
    BatchDataset,
    BatchLoader,
    Standardize,
    TrainableNet,
    WeightedNeuralNetClassifier,
    make_head,
)
from artmedium.recipes import DEFAULT_RECIPE, RECIPES

# The defaults are the recipe of the embedded model (artmedium.recipes).
_DEFAULTS = RECIPES[DEFAULT_RECIPE]

_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


def resolve_freeze(freeze, n_stages):
    """Number of *trainable* last stages for a ``freeze`` setting.

    ``"backbone"`` -> 0 (only the head trains), ``"none"`` -> all stages,
    an int ``k`` -> the last ``k`` stages train.
    """
    if freeze == "backbone":
        return 0
    if freeze == "none" or freeze is None:
        return n_stages
    if isinstance(freeze, numbers.Integral) and not isinstance(freeze, bool):
        if 0 <= freeze <= n_stages:
            return int(freeze)
        raise ValueError(
            f"freeze={freeze} is out of range: the backbone has {n_stages} stages, "
            f"so the number of trainable last stages must be in [0, {n_stages}]."
        )
    raise ValueError(
        f"freeze must be 'backbone', 'none' or the number of trainable last stages; "
        f"got {freeze!r}."
    )


def resolve_optimizer(optimizer):
    if isinstance(optimizer, str):
        try:
            return _OPTIMIZERS[optimizer.lower()]
        except KeyError:
            raise ValueError(
                f"optimizer={optimizer!r} is not one of {sorted(_OPTIMIZERS)} "
                "(or pass a torch.optim.Optimizer class)."
            ) from None
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer
    raise ValueError(
        f"optimizer must be a name or an Optimizer class; got {optimizer!r}"
    )


class MediumClassifier(ClassifierMixin, BaseEstimator):
    """Classify artworks into media from their images (skorch underneath).

    ``X`` is images (a 1-D array of paths, a list of PIL images or bytes, a uint8
    stack ``(n, H, W[, C])``, a one-column DataFrame) or a 2-D float array of
    features already produced by a backbone (then only the head is trained).

    The defaults are the recipe of the embedded default model
    (``artmedium.recipes.RECIPES["lite0-finetune"]``): EfficientNet-Lite0 from
    ImageNet weights, its last two stages and a linear head fine-tuned with Adam
    for 8 epochs. Other named recipes: ``MediumClassifier(**recipe(name))``.

    Parameters
    ----------
    backbone : str, default="efficientnet_lite0"
        A registered backbone (:func:`artmedium.nets.list_backbones`).
    weights : "auto", None, "imagenet" or path, default="auto"
        Initial backbone weights: ``"auto"`` is ImageNet weights where the
        backbone has them (``efficientnet_lite0``, ``resnet18``) and a seeded
        random initialisation otherwise (``simple_cnn``); ``weights_`` says
        which was used. See :func:`artmedium.nets.get_backbone`.
    freeze : "backbone", "none" or int, default=2
        What trains: only the head, everything, or the head and the last ``k``
        backbone stages. Frozen stages run once per image (cached with
        ``memory``), not once per epoch.
    augment : bool, default=True
        Training-time augmentation (random resized crops, flips, mild colour
        jitter when the whole network trains; flips of the cached activations
        otherwise). Never applied in ``predict`` or in skorch's validation split.
    lr : float, default=3e-4
        Learning rate.
    max_epochs : int, default=8
        Training epochs.
    batch_size : int, default=32
        Mini-batch size for training and inference.
    optimizer : {"sgd", "adam", "adamw"} or Optimizer class, default="adam"
        SGD uses ``momentum`` (the poster's setting).
    momentum : float, default=0.9
        Momentum for SGD.
    weight_decay : float, default=1e-4
        L2 penalty.
    dropout : float, default=0.2
        Dropout before the final linear layer.
    class_weight : None, "balanced" or dict, default=None
        Weights of the cross-entropy loss per class, as in scikit-learn.
    validation_fraction : float or None, default=None
        Share of the training data held out (stratified) for skorch's validation
        scores, which callbacks such as ``EarlyStopping`` monitor.
    image_size : int or None, default=None
        Input size; ``None`` uses the backbone's (224).
    pooling : {"avg", "texture"}, default="avg"
        ``"avg"``: the backbone's global-average features. ``"texture"``: those,
        followed by the per-channel mean and standard deviation over positions
        of the two stages before the last (orderless mid-level statistics, as
        texture and material descriptors pool; 2,304 features for
        EfficientNet-Lite0 instead of 1,280). See
        :meth:`artmedium.nets.Backbone.set_pooling`.
    calibration_size : float or None, default=None
        Share of the training images (stratified) that ``fit`` holds out of
        training to calibrate the answers on: temperature-scaled probabilities,
        conformal prediction sets (:meth:`predict_set`), an acceptance threshold
        and a novelty score (:meth:`assess`). ``None`` trains on everything; a
        fitted classifier can then be calibrated on other held-out images with
        :meth:`calibrate`.
    memory : None, str or joblib.Memory, default=None
        Disk cache for frozen-stage outputs, keyed by image content, backbone
        weights, preprocessing and stage. Entries are ``.npy`` arrays read
        without pickle, so a cache folder shared with others cannot run code
        (a ``joblib.Memory`` gives its folder only). Never restored by
        :func:`~artmedium.persistence.load_model`.
    n_jobs : int or None, default=None
        Image decoding threads.
    device : str, default="cpu"
        Torch device.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, dropout and augmentation: the same seed
        and data give bit-identical predictions on the CPU.
    callbacks : list or None, default=None
        skorch callbacks passed through (``EarlyStopping``, ``LRScheduler``,
        ``Checkpoint``, ``ProgressBar``, ...).
    verbose : int, default=0
        skorch's per-epoch table when > 0.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, in the order of ``predict_proba``'s columns.
    net_ : skorch.NeuralNetClassifier
        The fitted skorch net (its ``history`` holds the losses).
    backbone_ : CachedBackbone or None
        The backbone network, its preprocessing and the cache of its frozen
        stages (None when fitted on features).
    preprocessing_ : artmedium.io.Preprocessing or None
        How images become the network's input (None when fitted on features).
    weights_ : None, "imagenet" or str
        The backbone weights ``fit`` started from: ``"imagenet"``, a weights
        file, or None for a random initialisation (and when fitted on features).
    n_features_in_ : int
        Only when fitted on 2-D features.
    calibration_ : Calibration or None
        What the held-out images taught (temperature, conformal scores, the
        acceptance and novelty data), or None before :meth:`calibrate` or
        without ``calibration_size``.

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium import MediumClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = np.r_[rng.normal(-2, 1, (20, 3)), rng.normal(2, 1, (20, 3))]
    >>> y = np.array(["graphite"] * 20 + ["oil"] * 20)
    >>> clf = MediumClassifier(lr=0.1, max_epochs=10, random_state=0).fit(X, y)
    >>> clf.predict(X[[0, -1]]).tolist()
    ['graphite', 'oil']
    >>> clf.predict_proba(X[:1]).shape
    (1, 2)
    """

    # What every parameter may be (scikit-learn's declarative validation); a
    # loaded model's sidecar is checked against it.
    _parameter_constraints = {
        "backbone": [str],
        "weights": [None, str, os.PathLike],
        "freeze": [
            None,
            StrOptions({"backbone", "none"}),
            Interval(Integral, 0, None, closed="left"),
        ],
        "augment": ["boolean", Mapping],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [str, type],
        "momentum": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "class_weight": [None, StrOptions({"balanced"}), dict],
        "validation_fraction": [None, Interval(Real, 0, 1, closed="neither")],
        "image_size": [None, Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"avg", "texture"})],
        "calibration_size": [None, Interval(Real, 0, 1, closed="neither")],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "n_jobs": [None, Integral],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "callbacks": [None, list],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        backbone=_DEFAULTS["backbone"],
        weights=_DEFAULTS["weights"],
        freeze=_DEFAULTS["freeze"],
        augment=_DEFAULTS["augment"],
        lr=_DEFAULTS["lr"],
        max_epochs=_DEFAULTS["max_epochs"],
        batch_size=_DEFAULTS["batch_size"],
        optimizer=_DEFAULTS["optimizer"],
        momentum=0.9,
        weight_decay=_DEFAULTS["weight_decay"],
        dropout=_DEFAULTS["dropout"],
        class_weight=None,
        validation_fraction=None,
        image_size=None,
        pooling="avg",
        calibration_size=None,
        memory=None,
        n_jobs=None,
        device="cpu",
        random_state=None,
        callbacks=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.freeze = freeze
        self.augment = augment
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.image_size = image_size
        self.pooling = pooling
        self.calibration_size = calibration_size
        self.memory = memory
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.string = True  # a 1-D array of paths
        tags.non_deterministic = self.random_state is None
        return tags

    # ----------------------------------------------------------------- encoding
    def _encode(self, X, *, reset):
        """X -> (tensor for the trainable net, mode); builds the backbone on reset."""
        inp = parse_X(X)
        if inp.kind == FEATURES:
            Xf = validate_data(self, inp.data, reset=reset, dtype=np.float32)
            if not reset and self.backbone_ is not None:
                expected = self.backbone_.network.feature_dim
                if Xf.shape[1] != expected:
                    raise ValueError(
                        f"X has {Xf.shape[1]} features, but this classifier was fitted "
                        f"on images and expects {expected}-dimensional "
                        f"{self.backbone} features (or images)."
                    )
                if self.start_ is not None:
                    raise ValueError(
                        "2-D features can only be classified when the whole backbone "
                        "is frozen (freeze='backbone'); pass images instead."
                    )
            return torch.from_numpy(np.ascontiguousarray(Xf)), FEATURES
        if reset:
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
            self.backbone_ = cached_backbone(
                self, weights=self.weights, seed=self._seed
            )
            self.weights_ = self.backbone_.network.weights
            n_trainable = resolve_freeze(self.freeze, self.backbone_.n_stages)
            if self.pooling != "avg" and n_trainable == 1:
                raise ValueError(
                    f"pooling={self.pooling!r} pools the outputs of the last three "
                    "stages, so it needs freeze='backbone', 'none' or at least 2 "
                    "trainable stages; got freeze=1."
                )
            n_frozen = self.backbone_.n_stages - n_trainable
            self._set_start(POOLED if n_trainable == 0 else n_frozen)
        elif self.backbone_ is None:
            raise ValueError(
                "This classifier was fitted on 2-D features; pass features of the "
                f"same {self.n_features_in_} dimensions, not images."
            )
        views = 2 if (reset and self.augment and self.start_ is POOLED) else 1
        # Activation maps are large: keep them as float16 in memory and on disk.
        dtype = torch.float32 if self.start_ in (POOLED, 0) else torch.float16
        self.backbone_.configure(memory=self.memory, n_jobs=self.n_jobs)
        out, errors = self.backbone_.activations(
            inp.data, stop=self.start_, views=views, dtype=dtype
        )
        raise_read_errors(errors)
        return out, "images"

    # --------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Fit the network on images (or features) ``X`` and labels ``y``.

        Parameters
        ----------
        X : images or array of shape (n_samples, n_features)
            See the class docstring.
        y : array-like of shape (n_samples,)
            Labels: strings, ints or any hashable.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative weight of each image in the loss (and in the feature
            standardisation of the head): weighting an image by 2 is training
            on it twice. Weights that balance artists rather than images are a
            way to recognise media rather than hands (see the user guide).
            Combined with ``class_weight`` by multiplication.

        Returns
        -------
        self : MediumClassifier
        """
        from skorch.dataset import ValidSplit

        self._validate_params()

        if y is None:
            raise ValueError(
                "MediumClassifier requires y to be passed, but the target y is None."
            )
        parse_X(X)  # refuse empty or unusable X before looking at y
        check_labels(y)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected.",
                DataConversionWarning,
                stacklevel=2,
            )
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D (one label per image); got shape {y.shape}."
            )
        check_classification_targets(y)
        n = len(y)
        n_x = _num_samples(X)
        if n_x != n:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {n_x} images or rows "
                f"in X, {n} labels in y."
            )
        self._label_encoder = LabelEncoder().fit(y)
        classes = self._label_encoder.classes_
        if len(classes) < 2:
            raise ValueError(
                f"MediumClassifier needs samples of at least 2 classes; got 1 class: "
                f"{classes.tolist()}."
            )
        y_enc = self._label_encoder.transform(y).astype(np.int64)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, y, dtype=np.float32, ensure_non_negative=True
            )
        self._seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self.backbone_ = None
        self.weights_ = None
        self.start_ = POOLED
        self.calibration_ = None
        X_cal = None
        if self.calibration_size is not None:
            fit_rows, cal_rows = self._calibration_split(y_enc, classes)
            if sample_weight is not None:
                # An image weighted 0 is left out of the calibration too.
                cal_rows = cal_rows[sample_weight[cal_rows] > 0]
            X_cal, y_cal = _safe_indexing(X, cal_rows), y_enc[cal_rows]
            X, y_enc = _safe_indexing(X, fit_rows), y_enc[fit_rows]
            if sample_weight is not None:
                sample_weight = sample_weight[fit_rows]

        # seeded: fits in other threads of this process (a dask worker's, joblib's
        # threading backend) take turns on torch's one global generator.
        with seeded(self._seed):
            Xt, mode = self._encode(X, reset=True)
            module = self._build_module(Xt, len(classes), sample_weight=sample_weight)
            weight = self._loss_weights(y_enc, classes, sample_weight)
            train_split = None
            if self.validation_fraction:
                train_split = ValidSplit(
                    self.validation_fraction, stratified=True, random_state=self._seed
                )
            self.net_ = self._make_net(module, len(classes), weight, train_split)
            if sample_weight is None:
                self.net_.fit(Xt, y_enc)
            else:  # skorch hands dict entries to forward() and to get_loss's X
                weights = torch.from_numpy(sample_weight)
                self.net_.fit({"x": Xt, "sample_weight": weights}, y_enc)
        self.classes_ = classes
        self.input_mode_ = mode
        if X_cal is not None:
            self._calibrate(X_cal, y_cal)
        return self

    def _calibration_split(self, y_enc, classes):
        """Stratified (fit rows, calibration rows) for ``calibration_size``."""
        # A class of one image keeps it for training: the calibration data
        # then lacks that class, which temperature, sets and novelty allow.
        alone = np.bincount(y_enc, minlength=len(classes))[y_enc] < 2
        try:
            fit_rows, cal_rows = train_test_split(
                np.flatnonzero(~alone),
                test_size=self.calibration_size,
                stratify=y_enc[~alone],
                random_state=self._seed,
            )
            return np.sort(np.r_[fit_rows, np.flatnonzero(alone)]), cal_rows
        except ValueError as exc:
            raise ValueError(
                f"calibration_size={self.calibration_size} cannot hold out one "
                f"image of each of the {len(classes)} classes from {len(y_enc)} "
                f"images ({exc}); raise it, or set it to None to train on all "
                "images without calibration"
            ) from None

    # ------------------------------------------------------------- calibration
    def calibrate(self, X, y):
        """Calibrate the answers of this fitted classifier on held-out images.

        Fits the temperature of :meth:`predict_proba`, the conformal prediction
        sets of :meth:`predict_set`, and the acceptance and novelty data of
        :meth:`assess` on images the network never trained on (``fit`` does
        this itself with ``calibration_size``). Replaces any earlier
        calibration; the network is unchanged, so :meth:`predict` is too.

        Parameters
        ----------
        X : images or array of shape (n_samples, n_features)
            Held-out images (or features), as for :meth:`fit`. A few hundred
            give stable sets and thresholds.
        y : array-like of shape (n_samples,)
            Their labels, among ``classes_`` (each class should occur: the
            sets and thresholds are only as good as the held-out images are
            like the images to come).

        Returns
        -------
        self : MediumClassifier

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium import MediumClassifier
        >>> rng = np.random.RandomState(0)
        >>> def sample(n):
        ...     X = np.r_[rng.normal(-1, 1, (n, 3)), rng.normal(1, 1, (n, 3))]
        ...     return X, np.array(["graphite"] * n + ["oil"] * n)
        >>> X, y = sample(100)
        >>> clf = MediumClassifier(lr=0.1, max_epochs=5, random_state=0).fit(X, y)
        >>> X_held_out, y_held_out = sample(100)
        >>> clf = clf.calibrate(X_held_out, y_held_out)
        >>> round(clf.calibration_.temperature, 1) > 0
        True
        >>> clf.predict_set(X_held_out[:1], confidence=0.9).shape
        (1, 2)
        """
        check_is_fitted(self)
        check_labels(y)
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one label per image); got {y.shape}.")
        unknown = sorted(
            {str(v) for v in set(y.tolist()) - set(self.classes_.tolist())}
        )
        if unknown:
            raise ValueError(
                f"y holds labels this classifier does not know: {unknown[:5]}; "
                f"its classes are {[str(c) for c in self.classes_]}."
            )
        n_x = _num_samples(X)
        if n_x != len(y):
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {n_x} images or rows "
                f"in X, {len(y)} labels in y."
            )
        return self._calibrate(X, self._label_encoder.transform(y))

    def _calibrate(self, X, y_enc):
        if not 2 <= len(y_enc) <= MAX_CALIBRATION_IMAGES:
            raise ValueError(
                f"calibration needs 2 to {MAX_CALIBRATION_IMAGES} held-out images; "
                f"got {len(y_enc)}."
            )
        features, logits = self._features_and_logits(X)
        self.calibration_ = Calibration(logits, y_enc, features)
        return self

    def _check_calibrated(self):
        check_is_fitted(self)
        if self.calibration_ is None:
            raise NotFittedError(
                "This MediumClassifier is not calibrated: fit it with "
                "calibration_size (e.g. 0.2) or call calibrate(X_held_out, "
                "y_held_out) first."
            )

    def _features_and_logits(self, X):
        """Novelty features and raw logits, in eval mode.

        The features are what the head sees, or (see :meth:`_novelty_pooling`)
        texture statistics that begin with them.
        """
        check_is_fitted(self)
        Xt, _ = self._encode(X, reset=False)
        module = self.net_.module_
        pool = None if self.backbone_ is None else self._novelty_pooling()
        module.train(False)
        features, logits = [], []
        with torch.inference_mode():
            for start in range(0, len(Xt), self.batch_size):
                xb = Xt[start : start + self.batch_size].to(self.device).float()
                if module.start is None:
                    f = xb[:, 0] if xb.ndim == 3 else xb
                    head_in = f
                else:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                    f = module.backbone.forward_from(xb, module.start, pooling=pool)
                    head_in = f[:, : module.backbone.feature_dim]
                features.append(f.float().cpu().numpy())
                logits.append(module.head(head_in).float().cpu().numpy())
        return np.concatenate(features), np.concatenate(logits)

    def _novelty_pooling(self):
        """How :meth:`_features_and_logits` pools its features.

        Mid-level texture statistics (:meth:`Backbone.set_pooling`) where the
        trained stages give them in the same pass: they tell solid colours,
        noise and photographs from artworks far better than the global average
        alone. A fully frozen backbone gives its cached pooled features only.
        """
        if self.start_ is POOLED or self.start_ > self.backbone_.n_stages - 2:
            return None
        return "texture"

    def _novelty_dim(self):
        if self.backbone_ is None:
            return self.n_features_in_
        pooling = self._novelty_pooling()
        network = self.backbone_.network
        return network.feature_dim if pooling is None else network.pooled_dim(pooling)

    def predict_set(self, X, confidence=0.9):
        """Conformal prediction sets: the media that may be the true one.

        For images exchangeable with the calibration images, a set holds the
        true medium with probability at least ``confidence`` (split conformal
        prediction, crepes' ``ConformalClassifier``). Sets are larger where the
        model is unsure; one may be empty (no medium fits well) or hold several
        (e.g. etching and engraving). On work by artists the calibration never
        saw, coverage can fall below ``confidence``.

        Parameters
        ----------
        X : images or array of shape (n_samples, n_features)
        confidence : float in (0, 1), default=0.9

        Returns
        -------
        ndarray of bool, shape (n_samples, n_classes)
            ``sets[i, j]``: ``classes_[j]`` is in image ``i``'s set.
        """
        self._check_calibrated()
        confidence = _fraction(confidence, "confidence", "neither")
        _, logits = self._features_and_logits(X)
        cal = self.calibration_
        return cal.sets(cal.proba(logits), confidence)

    def novelty_score(self, X):
        """How unlike the calibration images each image is (higher: stranger).

        The cosine distance of its features (the pooled features, with the
        per-channel mean and standard deviation of two mid-level stages where
        the trained stages give them) to the 5th nearest calibration image's.
        :meth:`assess` marks an image ``"unknown"`` when its score is above
        all but ``unknown_rate`` of the calibration images' own.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        self._check_calibrated()
        features, _ = self._features_and_logits(X)
        return self.calibration_.novelty_scores(features)

    def assess(self, X, *, confidence=0.9, accept_accuracy=None, unknown_rate=0.05):
        """Predictions with how far to trust each: sets, novelty and a status.

        One forward pass gives, per image, the predicted medium, calibrated
        probabilities, its conformal prediction set, its novelty score and a
        status:

        * ``"unknown"``: unlike every medium the model knows (novelty above the
          threshold that marks ``unknown_rate`` of the calibration images);
        * ``"uncertain"``: the set at ``confidence`` does not hold exactly one
          medium, or the top probability is below the threshold that made the
          calibration answers ``accept_accuracy`` accurate;
        * ``"ok"``: otherwise, an answer to accept.

        Parameters
        ----------
        X : images or array of shape (n_samples, n_features)
        confidence : float in (0, 1), default=0.9
            Confidence level of the prediction sets.
        accept_accuracy : float in (0, 1] or None, default=None
            Accept only answers whose probability reaches the threshold at which
            the calibration answers were this accurate; None: sets only.
        unknown_rate : float in [0, 1), default=0.05
            Share of calibration images (of the known media) that would be
            marked unknown: the false-alarm rate of ``"unknown"``.

        Returns
        -------
        Bunch
            ``labels`` (n,), ``proba`` (n, n_classes), ``sets`` (n, n_classes)
            bool, ``novelty`` (n,), ``status`` (n,) of ``"ok"``,
            ``"uncertain"`` or ``"unknown"``, and the thresholds used:
            ``accept_threshold`` (None without ``accept_accuracy``) and
            ``novelty_threshold``.

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium import MediumClassifier
        >>> rng = np.random.RandomState(0)
        >>> X = np.r_[rng.normal(-2, 1, (100, 3)), rng.normal(2, 1, (100, 3))]
        >>> y = np.array(["graphite"] * 100 + ["oil"] * 100)
        >>> clf = MediumClassifier(lr=0.1, max_epochs=10, calibration_size=0.3,
        ...                        random_state=0).fit(X, y)
        >>> far_away = np.array([[40.0, -40.0, 40.0]])
        >>> answers = clf.assess(np.r_[X[:1], far_away], confidence=0.9)
        >>> answers.status.tolist()
        ['ok', 'unknown']
        """
        self._check_calibrated()
        confidence = _fraction(confidence, "confidence", "neither")
        if accept_accuracy is not None:
            accept_accuracy = _fraction(accept_accuracy, "accept_accuracy", "right")
        unknown_rate = _fraction(unknown_rate, "unknown_rate", "left")
        features, logits = self._features_and_logits(X)
        answers = self.calibration_.assess(
            features,
            logits,
            confidence=confidence,
            accept_accuracy=accept_accuracy,
            unknown_rate=unknown_rate,
        )
        return Bunch(labels=self.classes_[np.argmax(answers.proba, axis=1)], **answers)

    def _make_net(self, module, n_classes, weight=None, train_split=None):
        # skorch's PrintLog formats its table every epoch, even when verbose=0
        # prints nothing: leave it out then.
        quiet = {} if self.verbose else {"callbacks__print_log": None}
        return WeightedNeuralNetClassifier(
            module,
            criterion=nn.CrossEntropyLoss,
            criterion__weight=weight,
            optimizer=resolve_optimizer(self.optimizer),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=train_split,
            callbacks=self.callbacks,
            dataset=BatchDataset,
            iterator_train=BatchLoader,
            iterator_valid=BatchLoader,
            iterator_train__shuffle=True,
            classes=np.arange(n_classes),
            device=self.device,
            verbose=self.verbose,
            **quiet,
            **self._optimizer_params(),
        )

    def _set_start(self, start):
        """The first trained backbone stage (None: the head only trains)."""
        self.start_ = start
        if start is not POOLED:
            for stage in self.backbone_.network.stages[start:]:
                stage.requires_grad_(True)

    # ---------------------------------------------------------- saved state
    def _get_state(self):
        """What :func:`~artmedium.persistence.save_model` stores (artmedium._state)."""
        check_is_fitted(self)
        images = self.backbone_ is not None
        fields = {
            "classes": labels_to_json(self.classes_),
            "input_mode": self.input_mode_,
            "start": self.start_,
            "seed": int(self._seed),
            "n_features_in": None if images else int(self.n_features_in_),
            "feature_names_in": (
                [str(n) for n in self.feature_names_in_]
                if not images and hasattr(self, "feature_names_in_")
                else None
            ),
            "preprocessing": self.preprocessing_.to_dict() if images else None,
            "weights": self.weights_ if self.weights_ in (None, "imagenet") else "file",
        }
        modules = {"head": self.net_.module_.head}
        if images:
            modules["backbone"] = self.backbone_.network
        arrays, cal = {}, getattr(self, "calibration_", None)
        fields["calibration"] = None
        if cal is not None:
            fields["calibration"] = {
                "n_samples": len(cal.labels),
                "n_features": int(cal.features.shape[1]),
                "temperature": cal.temperature,
            }
            for name in ("logits", "labels", "features"):
                arrays[f"calibration.{name}"] = (cal, name)
        info = {
            "backbone": self.backbone if images else None,
            "classes": fields["classes"]["values"],
            "tag_names": class_tag_names(self.classes_),
            "preprocessing": fields["preprocessing"],
        }
        return State(fields, modules=modules, arrays=arrays, info=info)

    @classmethod
    def _from_state(cls, params, fields, *, device="cpu", where="state"):
        """A fitted classifier of a saved structure, its weights still random.

        :func:`artmedium.persistence.load_model` calls this with checked
        constructor parameters and the saved ``fields`` (checked here), then
        loads the saved tensors into the modules :meth:`_get_state` names. The
        backbone is built with ``weights=None``: loading never needs pretrained
        weights.

        Returns
        -------
        MediumClassifier
        """
        check_keys(
            fields,
            where,
            {
                "classes": dict,
                "start": (int, type(None)),
                "seed": int,
                "n_features_in": (int, type(None)),
                "feature_names_in": (list, type(None)),
                "preprocessing": (dict, type(None)),
            },
        )
        n_features_in = check_int(
            fields["n_features_in"], f"{where}.n_features_in", 1, MAX_FEATURES
        )
        prep = fields["preprocessing"]
        if (n_features_in is None) == (prep is None):
            raise ValueError(
                f"{where}: exactly one of n_features_in (a model of features) and "
                "preprocessing (a model of images) must be given"
            )
        classes = labels_from_json(fields["classes"], f"{where}.classes")
        if len(classes) < 2:
            raise ValueError(f"{where}.classes must hold at least 2 labels")
        # Models saved before weights_ existed do not say: None (unknown).
        weights = fields.get("weights")
        if weights not in (None, "imagenet", "file"):
            raise ValueError(f"{where}.weights must be null, 'imagenet' or 'file'")
        est = cls(**params)
        est.weights_ = weights
        est._seed = check_int(fields["seed"], f"{where}.seed", 0, 2**32 - 1)
        est._label_encoder = LabelEncoder()
        est._label_encoder.classes_ = classes
        n_classes = len(classes)
        if n_features_in is not None:
            est.backbone_ = None
            est.start_ = POOLED
            est.n_features_in_ = n_features_in
            check_layer_size(n_classes, n_features_in, f"{where}.classes")
            names = check_strings(
                fields["feature_names_in"], f"{where}.feature_names_in", n_features_in
            )
            if names is not None:
                est.feature_names_in_ = np.asarray(names, dtype=object)
            module = est._build_module(None, n_classes, n_features=n_features_in)
            mode = FEATURES
        else:
            prep = preprocessing_from_json(prep, f"{where}.preprocessing")
            with seeded(est._seed):
                est.backbone_ = cached_backbone(est, weights=None, seed=est._seed)
            est.backbone_.preprocessing = prep
            start = check_int(
                fields["start"], f"{where}.start", 0, est.backbone_.n_stages
            )
            est._set_start(start)
            dim = est.backbone_.network.feature_dim
            check_layer_size(n_classes, dim, f"{where}.classes")
            module = est._build_module(None, n_classes)
            mode = "images"
        est.net_ = est._make_net(module, n_classes).initialize()
        est.net_.module_.eval()
        est.calibration_ = _calibration_from_state(
            fields.get("calibration"),
            n_classes,
            est._novelty_dim(),
            f"{where}.calibration",
        )
        est.classes_ = classes
        est.input_mode_ = mode
        return est

    def _optimizer_params(self):
        params = {"optimizer__weight_decay": self.weight_decay}
        if resolve_optimizer(self.optimizer) is torch.optim.SGD:
            params["optimizer__momentum"] = self.momentum
        return params

    def _loss_weights(self, y_enc, classes, sample_weight=None):
        if self.class_weight is None:
            return None
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            extra = {} if sample_weight is None else {"sample_weight": sample_weight}
            w = compute_class_weight(
                "balanced", classes=np.arange(len(classes)), y=y_enc, **extra
            )
        elif isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(classes.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight names labels not in y: {sorted(map(str, unknown))}."
                )
            w = np.array([float(self.class_weight.get(c, 1.0)) for c in classes])
        else:
            raise ValueError(
                "class_weight must be None, 'balanced' or a dict label -> weight; "
                f"got {self.class_weight!r}."
            )
        return torch.as_tensor(w, dtype=torch.float32)

    def _build_module(self, Xt, n_classes, *, n_features=None, sample_weight=None):
        # Xt=None builds the structure only (load_model fills in the tensors).
        if self.start_ is POOLED:
            if Xt is None:
                dim = n_features or self.backbone_.network.feature_dim
                standardize = Standardize(torch.zeros(dim), torch.ones(dim))
            else:
                feats = Xt[:, 0] if Xt.ndim == 3 else Xt
                standardize = Standardize.fit(feats, sample_weight)
                dim = feats.shape[1]
            head = make_head(
                dim, n_classes, dropout=self.dropout, standardize=standardize
            )
            return TrainableNet(head, start=None, augment=self.augment)
        backbone = self.backbone_.network
        head = make_head(backbone.feature_dim, n_classes, dropout=self.dropout)
        prep = self.backbone_.preprocessing
        return TrainableNet(
            head,
            backbone,
            self.start_,
            augment=self.augment,
            augmentation=prep.augmentation() if self.start_ == 0 else None,
            mean=prep.mean,
            std=prep.std,
        )

    # ------------------------------------------------------------ torch access
    @property
    def preprocessing_(self):
        """The :class:`~artmedium.io.Preprocessing` images go through (None when
        fitted on 2-D features)."""
        check_is_fitted(self)
        return None if self.backbone_ is None else self.backbone_.preprocessing

    def to_torch(self):
        """The whole fitted network as one ``nn.Module``, in eval mode.

        It maps normalised image tensors ``(n, 3, size, size)`` (as produced by
        ``preprocessing_.batch``) to logits ``(n, n_classes)``: frozen and trained
        stages alike, without augmentation. Saliency maps and ONNX export use it.

        Returns
        -------
        torch.nn.Module
        """
        check_is_fitted(self)
        if self.backbone_ is None:
            raise ValueError(
                "This classifier was fitted on 2-D features; there is no image "
                "network to return. Fit it on images."
            )
        return _ImageToLogits(self.backbone_.network, self.net_.module_.head).eval()

    # ----------------------------------------------------------------- predict
    def _logits(self, X):
        check_is_fitted(self)
        Xt, _ = self._encode(X, reset=False)
        # The batch loader draws a seed from torch's global generator, as
        # DataLoader does: in a seeded block, so that a fit in another thread
        # of this process (a dask worker's) keeps its random numbers.
        with seeded(), torch.inference_mode():
            return self.net_.forward(Xt, training=False).float().cpu().numpy()

    def decision_function(self, X):
        """Unnormalised class scores (logits).

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two classes
        """
        logits = self._logits(X)
        if len(self.classes_) == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Temperature-scaled when the classifier is calibrated
        (``calibration_size`` or :meth:`calibrate`): an answer given with
        probability .8 is then right about 80 % of the time on images like the
        calibration images. The ranking, and so :meth:`predict`, is unchanged.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        logits = self._logits(X)
        if getattr(self, "calibration_", None) is not None:
            return self.calibration_.proba(logits).astype(np.float32)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def predict(self, X):
        """Predicted labels, taken from ``classes_``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        logits = self._logits(X)  # checks fitted before classes_ is touched
        return self.classes_[np.argmax(logits, axis=1)]


def _fraction(value, name, include_boundaries):
    """``value`` checked to lie in [0, 1] (ends as sklearn's check_scalar says)."""
    return check_scalar(
        value, name, Real, min_val=0, max_val=1, include_boundaries=include_boundaries
    )


def _calibration_from_state(fields, n_classes, n_features, where):
    """An empty :class:`Calibration` of the saved shapes (None if none saved)."""
    if fields is None:  # not calibrated, or saved before calibration existed
        return None
    check_keys(
        fields,
        where,
        {"n_samples": int, "n_features": int, "temperature": (float, int)},
    )
    n_samples = check_int(
        fields["n_samples"], f"{where}.n_samples", 2, MAX_CALIBRATION_IMAGES
    )
    if fields["n_features"] != n_features:
        raise ValueError(
            f"{where}.n_features = {fields['n_features']} does not match the "
            f"model's {n_features} features"
        )
    # Both arrays are allocated before the weights file is read: bound them.
    check_layer_size(n_samples, n_features, f"{where}.n_samples")
    check_layer_size(n_samples, n_classes, f"{where}.n_samples")
    temperature = check_temperature(fields["temperature"], f"{where}.temperature")
    return Calibration.empty(n_samples, n_classes, n_features, temperature)


class _ImageToLogits(nn.Module):
    """Backbone then head: images in, logits out (shares the fitted modules)."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        return self.head(self.backbone(x))
