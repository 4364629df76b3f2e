"""MediumTagger: one binary classifier per media tag (the poster's tag system)."""

from numbers import Integral, Real

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.multioutput import MultiOutputClassifier
from sklearn.utils import Bunch, _safe_indexing, check_random_state, check_scalar
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    _num_samples,
    check_is_fitted,
    validate_data,
)

from artmedium._honest import (
    describe_rows,
    independent_combination_proba,
    tagger_answers,
)
from artmedium._inputs import FEATURES, as_tag_matrix, parse_X
from artmedium._seeded import seeded
from artmedium._state import (
    MAX_FEATURES,
    MAX_LABELS,
    State,
    array_from_json,
    check_int,
    check_keys,
    check_layer_size,
    check_strings,
)
from artmedium.estimators._calibration import (
    MAX_CALIBRATION_IMAGES,
    NOVELTY_NEIGHBOURS,
    check_temperature,
    conformal_threshold,
    fit_temperature,
    knn_distance,
    unit_features,
)
from artmedium.estimators._embedder import ImageEmbedder
from artmedium.estimators._modules import Standardize, WeightedBCENet, make_head
from artmedium.vocabulary import POSTER_TAGS, Vocabulary, as_vocabulary


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


class _JointTagNet:
    """One network, n_tags sigmoid outputs, BCE loss (skorch underneath)."""

    def __init__(self, *, lr, max_epochs, batch_size, seed, verbose):
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.seed = seed
        self.verbose = verbose

    def fit(self, features, Y, sample_weight=None):
        features = torch.as_tensor(features, dtype=torch.float32)
        with seeded(self.seed):
            standardize = Standardize.fit(features, sample_weight)
            head = make_head(features.shape[1], Y.shape[1], standardize=standardize)
            self.net_ = self._make_net(head)
            targets = torch.as_tensor(Y, dtype=torch.float32)
            if sample_weight is None:
                self.net_.fit(features, targets)
            else:
                weights = torch.as_tensor(sample_weight, dtype=torch.float32)
                self.net_.fit({"x": features, "sample_weight": weights}, targets)
        return self

    def _make_net(self, head):
        return WeightedBCENet(
            head,
            criterion=torch.nn.BCEWithLogitsLoss,
            optimizer=torch.optim.Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            iterator_train__shuffle=True,
            verbose=self.verbose,
        )

    def _rebuild(self, n_features, n_tags):
        """The fitted structure with placeholder weights (for load_model)."""
        zeros, ones = torch.zeros(n_features), torch.ones(n_features)
        head = make_head(n_features, n_tags, standardize=Standardize(zeros, ones))
        self.net_ = self._make_net(head).initialize()
        self.net_.module_.eval()
        return self

    def predict_proba(self, features):
        features = torch.as_tensor(features, dtype=torch.float32)
        # skorch's loader draws a seed from torch's global generator: in a
        # seeded block, so that a fit in another thread is not disturbed.
        with seeded(), torch.inference_mode():
            logits = self.net_.forward(features, training=False)
        return torch.sigmoid(logits).numpy()


class MediumTagger(MultiOutputMixin, ClassifierMixin, BaseEstimator):
    """Predict which media tags an artwork shows: one binary classifier per tag.

    The poster's tag system: each medium description becomes a set of tags
    ("Graphite and watercolour on paper" -> graphite, watercolour) and one binary
    classifier per tag decides its presence. Images are embedded once by
    ``embedder`` and every tag's classifier (a clone of ``estimator``, realised by
    :class:`sklearn.multioutput.MultiOutputClassifier`) trains on those features.

    Parameters
    ----------
    estimator : classifier or None, default=None
        The per-tag binary classifier; ``None`` -> ``LogisticRegression``. A binary
        :class:`MediumClassifier` with ``embedder="passthrough"`` gives the poster's
        literal one-network-per-tag setup.
    embedder : transformer, "passthrough" or None, default=None
        Turns images into features once for all tags; ``None`` ->
        ``ImageEmbedder()``; ``"passthrough"`` gives ``X`` to every tag's
        classifier as it is.
    mode : {"independent", "joint"}, default="independent"
        ``"joint"``: one network with a sigmoid output per tag (BCE loss) on the
        embedded features, to compare with the independent classifiers.
    tag_names : Vocabulary, sequence of str or None, default=None
        The tag vocabulary; ``None`` -> the poster's ten tags. A
        :class:`~artmedium.vocabulary.Vocabulary` learned by
        :func:`~artmedium.vocabulary.build_vocabulary` (``broader=True``) brings
        its structure: a tag implies its broader tags (the targets are
        completed with them, so broader tags are learned as tags of their
        own), decoding never emits two tags of an exclusive group, descriptions
        use the catalogue's wording, and :meth:`assess` backs off to broader
        tags when unsure.
    threshold : float or array-like of shape (n_tags,), default=0.5
        Probability above which a tag is predicted present (scalar or per tag).
    decode : {"valid", "independent"}, default="valid"
        ``"valid"``: predict the most probable tag combination among those seen
        in training at least ``min_support`` times (so mutually exclusive tags
        such as "engraving" and "line engraving" never co-occur);
        ``"independent"``: threshold each tag on its own.
    min_support : int, default=1
        How many training images a combination needs to be a decoding candidate.
    calibration_size : float or None, default=None
        Share of the training images that ``fit`` holds out (stratified by tag
        combination) to fit one temperature per tag, so that each tag's
        probability is calibrated; ``None`` trains on everything (a fitted
        tagger can be calibrated on other held-out images with
        :meth:`calibrate`).
    lr, max_epochs, batch_size : float, int, int
        Training settings of the joint network.
    n_jobs : int or None, default=None
        Parallel fits of the per-tag classifiers.
    random_state : int, RandomState or None, default=None
        Seeds the joint network.
    verbose : int, default=0

    Attributes
    ----------
    tag_names_ : ndarray of str
        Tag of each output column.
    classes_ : list of ndarray
        ``[array([0, 1])] * n_tags``, as scikit-learn's multilabel classifiers.
    combinations_ : ndarray of shape (n_combinations, n_tags)
        Valid tag combinations for ``decode="valid"``.
    embedder_ : transformer or None
    estimator_ : MultiOutputClassifier or _JointTagNet
    tag_temperatures_ : ndarray of shape (n_tags,) or None
        The temperature dividing each tag's logit (1 for tags the calibration
        images do not show both ways), or None when not calibrated.
    vocabulary_ : Vocabulary
        The tags with their structure (broader terms, exclusive groups,
        wordings); a plain one when ``tag_names`` is a list.
    novelty_features_ : ndarray of shape (n_calibration, n_features) or None
        Unit-length features (float16) of the calibration images, the
        reference of :meth:`novelty_score`; None when not calibrated.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from artmedium import MediumTagger
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(40, 4))
    >>> Y = np.c_[X[:, 0] > 0, X[:, 1] > 0].astype(int)
    >>> tagger = MediumTagger(embedder="passthrough", tag_names=["graphite", "canvas"],
    ...                       decode="independent").fit(X, Y)
    >>> tagger.predict(X).shape
    (40, 2)
    >>> tagger.predict_proba(X).shape
    (40, 2)
    """

    _parameter_constraints = {
        "estimator": [None, HasMethods(["fit", "predict_proba"])],
        "embedder": [None, StrOptions({"passthrough"}), HasMethods(["transform"])],
        "mode": [StrOptions({"independent", "joint", "powerset"})],
        "tag_names": [None, "array-like"],
        "threshold": [Interval(Real, 0, 1, closed="both"), "array-like"],
        "decode": [StrOptions({"valid", "independent"})],
        "min_support": [Interval(Integral, 1, None, closed="left")],
        "calibration_size": [None, Interval(Real, 0, 1, closed="neither")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Integral],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        embedder=None,
        mode="independent",
        tag_names=None,
        threshold=0.5,
        decode="valid",
        min_support=1,
        calibration_size=None,
        lr=1e-2,
        max_epochs=50,
        batch_size=64,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.embedder = embedder
        self.mode = mode
        self.tag_names = tag_names
        self.threshold = threshold
        self.decode = decode
        self.min_support = min_support
        self.calibration_size = calibration_size
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.input_tags.string = True
        # A 1-D y is one 0/1 tag (or medium descriptions); a multiclass label
        # vector (0, 1, 2, ...) is not a tag matrix and is refused.
        tags.classifier_tags.multi_class = False
        return tags

    def _tag_names_for(self, y):
        if isinstance(self.tag_names, Vocabulary):
            return list(self.tag_names)
        if self.tag_names is not None:
            return [str(t) for t in self.tag_names]
        # np.asarray, not np.shape: y may be any array-like (a list, a Series,
        # an object exposing only __array__).
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] != len(POSTER_TAGS):
            return [f"tag{j}" for j in range(y.shape[1])]
        if y.ndim == 1 and y.dtype.kind not in "OUS":
            return ["tag0"]  # a 1-D 0/1 vector: one tag
        return list(POSTER_TAGS)

    def _check_X(self, X, *, reset):
        """Numeric X given straight to the classifiers is validated here."""
        if self.embedder_ is not None:
            return X
        inp = parse_X(X)
        if inp.kind == FEATURES:
            return validate_data(self, inp.data, reset=reset)
        return X

    def _embed(self, X, *, fit):
        if self.embedder_ is None:
            return X
        if fit:
            return self.embedder_.fit_transform(X)
        return self.embedder_.transform(X)

    def fit(self, X, y, sample_weight=None):
        """Fit one classifier per tag.

        Parameters
        ----------
        X : images or array-like
            Whatever ``embedder`` accepts (images for the default embedder).
        y : array-like of shape (n_samples, n_tags) or (n_samples,)
            A 0/1 tag matrix, or medium descriptions converted with
            :func:`artmedium.datasets.medium_to_tags`.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Non-negative weight of each sample, passed to every tag's classifier
            (which must accept ``sample_weight``) or used in the joint network's
            loss. Samples of weight 0 count for nothing, also not for
            ``combinations_`` and ``constant_tags_``.

        Returns
        -------
        self : MediumTagger
        """
        if self.mode not in ("independent", "joint", "powerset"):
            raise ValueError(
                f"mode must be 'independent', 'joint' or 'powerset'; got {self.mode!r}"
            )
        if self.decode not in ("valid", "independent"):
            raise ValueError(
                f"decode must be 'valid' or 'independent'; got {self.decode!r}"
            )
        if y is None:
            raise ValueError(
                "MediumTagger requires y to be passed, but the target y is None."
            )
        if self.embedder is None:
            self.embedder_ = ImageEmbedder()
        elif isinstance(self.embedder, str) and self.embedder == "passthrough":
            self.embedder_ = None
        else:
            self.embedder_ = clone(self.embedder)
        X = self._check_X(X, reset=True)
        names = self._tag_names_for(y)
        if isinstance(self.tag_names, Vocabulary):
            self.vocabulary_ = self.tag_names
        else:
            self.vocabulary_ = as_vocabulary(names)
        Y = self._complete(as_tag_matrix(y, self.vocabulary_))
        self.tag_names_ = np.asarray(names, dtype=object)
        if len(Y) != _num_samples(X):
            raise ValueError(
                "X and y have inconsistent numbers of samples: "
                f"{_num_samples(X)} and {len(Y)}."
            )
        if self.calibration_size is not None:
            check_scalar(
                self.calibration_size,
                "calibration_size",
                Real,
                min_val=0,
                max_val=1,
                include_boundaries="neither",
            )
        fit_params = {}
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, Y, dtype=np.float64, ensure_non_negative=True
            )
        if self.mode == "powerset":
            return self._fit_powerset(X, Y, sample_weight)
        self.tag_temperatures_ = None
        self.novelty_features_ = None
        X_cal = None
        if self.calibration_size is not None:
            fit_rows, cal_rows = self._calibration_split(Y)
            X_cal, Y_cal = _safe_indexing(X, cal_rows), Y[cal_rows]
            X, Y = _safe_indexing(X, fit_rows), Y[fit_rows]
            if sample_weight is not None:
                sample_weight = sample_weight[fit_rows]
        if sample_weight is not None:
            fit_params["sample_weight"] = sample_weight
        # What the training data shows: rows of weight 0 show nothing.
        shown = Y if sample_weight is None else Y[sample_weight > 0]
        features = self._embed(X, fit=True)
        self.constant_tags_ = {}
        if self.mode == "joint":
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
            self.estimator_ = _JointTagNet(
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                seed=seed,
                verbose=self.verbose,
            ).fit(features, Y, **fit_params)
        else:
            base = self.estimator
            if base is None:
                base = LogisticRegression(max_iter=2000)
            # A tag that is always absent (or present) in the training data has no
            # classifier to learn: it is predicted as that constant.
            self.constant_tags_ = {
                j: int(shown[0, j])
                for j in range(Y.shape[1])
                if len(set(shown[:, j])) == 1
            }
            self._learned = [
                j for j in range(Y.shape[1]) if j not in self.constant_tags_
            ]
            if not self._learned:
                raise ValueError(
                    "every tag is constant in y (one class per tag): nothing to learn."
                )
            self.estimator_ = MultiOutputClassifier(base, n_jobs=self.n_jobs)
            self.estimator_.fit(features, Y[:, self._learned], **fit_params)
        self.classes_ = [np.array([0, 1])] * Y.shape[1]
        combos, counts = np.unique(shown, axis=0, return_counts=True)
        # Never a candidate: a combination the vocabulary calls impossible
        # (two supports, two tags of an exclusive group), however labelled.
        valid = np.array([self._valid(row) for row in combos], dtype=bool)
        combos, counts = combos[valid], counts[valid]
        self.combinations_ = combos[counts >= self.min_support]
        if len(self.combinations_) == 0:
            raise ValueError(
                f"no tag combination occurs min_support={self.min_support} times."
            )
        self.combination_counts_ = counts[counts >= self.min_support]
        if X_cal is not None:
            self._calibrate(X_cal, Y_cal)
        return self

    def _fit_powerset(self, X, Y, sample_weight):
        """One multiclass classifier over the valid tag combinations."""
        shown = Y if sample_weight is None else Y[sample_weight > 0]
        combos, counts = np.unique(shown, axis=0, return_counts=True)
        keep = np.array([self._valid(row) for row in combos], dtype=bool)
        keep &= counts >= self.min_support
        if not keep.any():
            raise ValueError(
                f"no valid tag combination occurs min_support={self.min_support} times."
            )
        self.combinations_ = combos[keep]
        self.combination_counts_ = counts[keep]
        index = {tuple(row): i for i, row in enumerate(self.combinations_)}
        ids = np.array([index.get(tuple(row), -1) for row in Y], dtype=np.int64)
        # Images of a combination that is no candidate (impossible, or rarer
        # than min_support) have no class to learn: left out.
        rows = ids >= 0
        if sample_weight is not None:
            rows &= sample_weight > 0
        rows = np.flatnonzero(rows)
        if len(np.unique(ids[rows])) < 2:
            raise ValueError(
                "mode='powerset' needs at least two valid tag combinations in y"
            )
        base = self.estimator
        if base is None:
            base = LogisticRegression(max_iter=2000)
        est = clone(base)
        if self.calibration_size is not None:
            if "calibration_size" not in est.get_params():
                raise ValueError(
                    "calibration_size with mode='powerset' needs an estimator "
                    "that calibrates itself (a MediumClassifier)"
                )
            est.set_params(calibration_size=self.calibration_size)
        features = self._embed(_safe_indexing(X, rows), fit=True)
        fit_params = {}
        if sample_weight is not None:
            fit_params["sample_weight"] = sample_weight[rows]
        est.fit(features, ids[rows], **fit_params)
        self.estimator_ = est
        self.constant_tags_ = {}
        self._learned = list(range(Y.shape[1]))
        self.classes_ = [np.array([0, 1])] * Y.shape[1]
        self.novelty_features_ = None
        self.tag_temperatures_ = None
        if getattr(est, "calibration_", None) is not None:
            # Calibrated through the combination model: no per-tag temperature.
            self.tag_temperatures_ = np.ones(Y.shape[1])
        return self

    def _combination_rows(self):
        """Tag row of each class of a powerset estimator, in its class order."""
        return self.combinations_[np.asarray(self.estimator_.classes_, dtype=int)]

    def _complete(self, Y):
        """``Y`` with every tag's broader tags set (a no-op without hierarchy)."""
        vocab = self._vocabulary()
        if not vocab.broader:
            return Y
        Y = np.array(Y, copy=True)
        column = {t: j for j, t in enumerate(vocab.tags)}
        for tag in vocab.tags:
            for up in vocab.ancestors(tag):
                Y[:, column[up]] |= Y[:, column[tag]]
        return Y

    def _valid(self, row):
        names = self.vocabulary_.tags
        return self.vocabulary_.is_valid([names[j] for j in np.flatnonzero(row)])

    def _calibration_split(self, Y):
        """(fit rows, calibration rows), stratified by tag combination; a
        combination of one image stays in training."""
        _, combo = np.unique(Y, axis=0, return_inverse=True)
        combo = combo.ravel()
        alone = np.bincount(combo)[combo] < 2
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        rows = np.flatnonzero(~alone)
        try:
            fit_rows, cal_rows = train_test_split(
                rows, test_size=self.calibration_size, stratify=combo[~alone],
                random_state=seed,
            )  # fmt: skip
        except ValueError:
            # More combinations than held-out images: per-tag temperatures need
            # no stratification, a random share does.
            fit_rows, cal_rows = train_test_split(
                rows, test_size=self.calibration_size, random_state=seed
            )
        return np.sort(np.r_[fit_rows, np.flatnonzero(alone)]), cal_rows

    # ------------------------------------------------------------- calibration
    def calibrate(self, X, y):
        """Fit one temperature per tag on held-out images, calibrating
        :meth:`predict_proba`.

        Each learned tag's logit is divided by the temperature that best
        predicts its presence on these images (scikit-learn's
        :class:`~sklearn.calibration.CalibratedClassifierCV`,
        ``method="temperature"``); a tag they do not show both present and
        absent keeps temperature 1. Replaces any earlier calibration. With a
        ``threshold`` other than 0.5, or ``decode="valid"``, :meth:`predict`
        decides on the calibrated probabilities, so it can change.

        Parameters
        ----------
        X : images or array-like
            Held-out inputs, as for :meth:`fit`.
        y : array-like of shape (n_samples, n_tags) or (n_samples,)
            Their tags (0/1 matrix) or medium descriptions.

        Returns
        -------
        self : MediumTagger

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium import MediumTagger
        >>> rng = np.random.RandomState(0)
        >>> X = rng.normal(size=(200, 2))
        >>> Y = (X + rng.normal(0, 1, X.shape) > 0).astype(int)
        >>> tagger = MediumTagger(embedder="passthrough", tag_names=["a", "b"],
        ...                       decode="independent").fit(X[:100], Y[:100])
        >>> tagger.calibrate(X[100:], Y[100:]).tag_temperatures_.shape
        (2,)
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        Y = self._complete(as_tag_matrix(y, self._vocabulary()))
        if len(Y) != _num_samples(X):
            raise ValueError(
                "X and y have inconsistent numbers of samples: "
                f"{_num_samples(X)} and {len(Y)}."
            )
        if self.mode == "powerset":
            index = {tuple(row): i for i, row in enumerate(self.combinations_)}
            ids = np.array([index.get(tuple(row), -1) for row in Y], dtype=np.int64)
            rows = np.flatnonzero(ids >= 0)
            if not hasattr(self.estimator_, "calibrate"):
                raise ValueError(
                    "calibrate with mode='powerset' needs an estimator that "
                    "calibrates itself (a MediumClassifier)"
                )
            features = self._embed(_safe_indexing(X, rows), fit=False)
            self.estimator_.calibrate(features, ids[rows])
            self.tag_temperatures_ = np.ones(len(self.tag_names_))
            return self
        return self._calibrate(X, Y)

    def _vocabulary(self):
        # Fitted before vocabulary_ existed (or built by hand): a plain one.
        vocab = getattr(self, "vocabulary_", None)
        if vocab is None:
            vocab = as_vocabulary([str(t) for t in self.tag_names_])
        return vocab

    def _calibrate(self, X, Y):
        if not 2 <= len(Y) <= MAX_CALIBRATION_IMAGES:
            raise ValueError(
                f"calibration needs 2 to {MAX_CALIBRATION_IMAGES} held-out images; "
                f"got {len(Y)}"
            )
        self.tag_temperatures_ = None
        self.novelty_features_ = None
        features = self._embed(X, fit=False)
        logits = _logit(self._proba_of(features))
        temperatures = np.ones(Y.shape[1])
        for j in range(Y.shape[1]):
            if j in self.constant_tags_ or len(np.unique(Y[:, j])) < 2:
                continue
            pair = np.c_[np.zeros(len(Y)), logits[:, j]]
            temperatures[j] = fit_temperature(pair, Y[:, j])
        self.tag_temperatures_ = temperatures
        if self.embedder_ is not None:
            self.novelty_features_ = unit_features(features)
        return self

    # ---------------------------------------------------------- saved state
    def _get_state(self):
        """What :func:`~artmedium.persistence.save_model` stores (see artmedium._state).

        Raises
        ------
        TypeError
            The embedder is not an :class:`ImageEmbedder` (or ``"passthrough"``),
            or the per-tag classifiers are not logistic regressions: such a
            tagger can only be pickled (trusted files only).
        """
        check_is_fitted(self)
        alternative = "Use pickle/joblib for arbitrary estimators (trusted files only)."
        if self.embedder_ is not None and type(self.embedder_) is not ImageEmbedder:
            raise TypeError(
                "save_model saves a MediumTagger whose embedder is an ImageEmbedder "
                f"or 'passthrough'; this one has {type(self.embedder_).__name__}. "
                + alternative
            )
        modules, arrays, embedder = {}, {}, None
        info = {"backbone": None, "preprocessing": None}
        if self.embedder_ is not None:
            emb = self.embedder_._get_state()
            embedder = emb.fields
            modules.update(emb.modules)
            info.update(emb.info)
        powerset = None
        if self.mode == "powerset":
            from artmedium.estimators._classifier import MediumClassifier

            if self.embedder_ is not None or type(self.estimator_) is not (
                MediumClassifier
            ):
                raise TypeError(
                    "save_model saves a mode='powerset' MediumTagger whose "
                    "embedder is 'passthrough' and estimator a MediumClassifier; "
                    f"this one has {type(self.estimator_).__name__}. " + alternative
                )
            inner = self.estimator_._get_state()
            powerset = inner.fields
            modules.update({f"powerset.{k}": m for k, m in inner.modules.items()})
            arrays.update({f"powerset.{k}": a for k, a in inner.arrays.items()})
            info.update(
                backbone=inner.info.get("backbone"),
                preprocessing=inner.info.get("preprocessing"),
            )
            n_features = len(self.combinations_)
            estimators, joint_seed = None, None
        elif self.mode == "joint":
            modules["joint"] = self.estimator_.net_.module_
            n_features = int(self.estimator_.net_.module_[-1].in_features)
            estimators, joint_seed = None, int(self.estimator_.seed)
        else:
            learned = self.estimator_.estimators_
            for j, lr in zip(self._learned, learned):
                if type(lr) is not LogisticRegression:
                    raise TypeError(
                        "save_model saves MediumTagger with LogisticRegression "
                        f"per-tag classifiers (or mode='joint'); tag "
                        f"{self.tag_names_[j]!r} has a {type(lr).__name__}. "
                        + alternative
                    )
            for i, lr in enumerate(learned):
                for attr in ("coef_", "intercept_", "classes_"):
                    arrays[f"tags.{i}.{attr.rstrip('_')}"] = (lr, attr)
            n_features = int(learned[0].coef_.shape[1])
            estimators = [
                {
                    "n_iter": (
                        None
                        if getattr(lr, "n_iter_", None) is None
                        else np.asarray(lr.n_iter_).tolist()
                    )
                }
                for lr in learned
            ]
            joint_seed = None
        fields = {
            "tag_names": [str(t) for t in self.tag_names_],
            "combinations": np.asarray(self.combinations_).tolist(),
            "combination_counts": np.asarray(self.combination_counts_).tolist(),
            "constant_tags": [[int(j), int(v)] for j, v in self.constant_tags_.items()],
            "embedder": embedder,
            "estimators": estimators,
            "joint_seed": joint_seed,
            "powerset": powerset,
            "n_features": n_features,
            "n_features_in": (
                int(self.n_features_in_) if hasattr(self, "n_features_in_") else None
            ),
            "feature_names_in": (
                [str(n) for n in self.feature_names_in_]
                if hasattr(self, "feature_names_in_")
                else None
            ),
        }
        temperatures = getattr(self, "tag_temperatures_", None)
        fields["calibrated"] = temperatures is not None
        if temperatures is not None:
            arrays["calibration.temperatures"] = (self, "tag_temperatures_")
        novelty = getattr(self, "novelty_features_", None)
        fields["novelty_images"] = None if novelty is None else int(len(novelty))
        if novelty is not None:
            arrays["calibration.novelty_features"] = (self, "novelty_features_")
        fields["vocabulary"] = self._vocabulary().to_dict()
        info.update(classes=None, tag_names=list(fields["tag_names"]))
        return State(fields, modules=modules, arrays=arrays, info=info)

    @classmethod
    def _from_state(cls, params, fields, *, device="cpu", where="state"):
        """A fitted tagger of a saved structure, weights placeholders until loaded.

        The embedder and the per-tag classifiers are built from the constructor
        parameters (as ``fit`` clones them); ``fields`` (checked here) give their
        fitted sizes and everything else ``fit`` learned.

        Returns
        -------
        MediumTagger
        """
        check_keys(
            fields,
            where,
            {
                "tag_names": list,
                "combinations": list,
                "combination_counts": list,
                "constant_tags": list,
                "embedder": (dict, type(None)),
                "estimators": (list, type(None)),
                "joint_seed": (int, type(None)),
                "n_features": int,
                "n_features_in": (int, type(None)),
                "feature_names_in": (list, type(None)),
            },
        )
        tag_names = check_strings(fields["tag_names"], f"{where}.tag_names")
        n_tags = len(tag_names)
        if not 1 <= n_tags <= MAX_LABELS:
            raise ValueError(f"{where}.tag_names must hold 1 to {MAX_LABELS} tags")
        combinations = fields["combinations"]
        if not combinations or not all(
            isinstance(row, list)
            and len(row) == n_tags
            and all(type(v) is int and v in (0, 1) for v in row)
            for row in combinations
        ):
            raise ValueError(
                f"{where}.combinations must be rows of {n_tags} zeros and ones"
            )
        counts = fields["combination_counts"]
        if len(counts) != len(combinations) or not all(
            type(c) is int and c >= 1 for c in counts
        ):
            raise ValueError(
                f"{where}.combination_counts must be one positive count per combination"
            )
        constant = {}
        for i, pair in enumerate(fields["constant_tags"]):
            if not (
                isinstance(pair, list)
                and len(pair) == 2
                and all(type(v) is int for v in pair)
                and 0 <= pair[0] < n_tags
                and pair[1] in (0, 1)
            ):
                raise ValueError(
                    f"{where}.constant_tags[{i}] must be [tag index, 0 or 1]"
                )
            constant[pair[0]] = pair[1]
        n_features = check_int(
            fields["n_features"], f"{where}.n_features", 1, MAX_FEATURES
        )
        n_features_in = check_int(
            fields["n_features_in"], f"{where}.n_features_in", 1, MAX_FEATURES
        )
        names = check_strings(
            fields["feature_names_in"], f"{where}.feature_names_in", n_features_in
        )
        check_layer_size(n_tags, n_features, f"{where}.tag_names")

        est = cls(**params)
        passthrough = isinstance(est.embedder, str) and est.embedder == "passthrough"
        if passthrough != (fields["embedder"] is None):
            raise ValueError(
                f"{where}.embedder must be null exactly when embedder='passthrough'"
            )
        est.embedder_ = None
        if not passthrough:
            if est.embedder is not None and type(est.embedder) is not ImageEmbedder:
                raise ValueError("params.embedder must be an ImageEmbedder")
            base = ImageEmbedder() if est.embedder is None else est.embedder
            est.embedder_ = ImageEmbedder._from_state(
                base.get_params(),
                fields["embedder"],
                device=device,
                where=f"{where}.embedder",
            )
        if n_features_in is not None:
            est.n_features_in_ = n_features_in
            if names is not None:
                est.feature_names_in_ = np.asarray(names, dtype=object)
        est.tag_names_ = np.asarray(tag_names, dtype=object)
        est.constant_tags_ = constant
        est._learned = [j for j in range(n_tags) if j not in constant]
        if est.mode == "powerset":
            est.estimator_ = cls._powerset_from_state(
                est, fields.get("powerset"), len(combinations), device, where
            )
        elif est.mode == "joint":
            seed = check_int(fields["joint_seed"], f"{where}.joint_seed", 0, 2**32 - 1)
            if seed is None:
                raise ValueError(f"{where}.joint_seed is missing for mode='joint'")
            est.estimator_ = _JointTagNet(
                lr=est.lr,
                max_epochs=est.max_epochs,
                batch_size=est.batch_size,
                seed=seed,
                verbose=est.verbose,
            )._rebuild(n_features, n_tags)
        else:
            items = fields["estimators"]
            if items is None or len(items) != len(est._learned):
                raise ValueError(
                    f"{where}.estimators must describe the {len(est._learned)} "
                    "learned tags"
                )
            base = est.estimator
            if base is None:
                base = LogisticRegression(max_iter=2000)
            if type(base) is not LogisticRegression:
                raise ValueError("params.estimator must be a LogisticRegression")
            estimators = []
            for i, item in enumerate(items):
                here = f"{where}.estimators[{i}]"
                check_keys(item, here, {"n_iter": (list, type(None))})
                lr = clone(base)
                # Placeholders of the saved shapes; the weights file fills them in.
                lr.coef_ = np.zeros((1, n_features))
                lr.intercept_ = np.zeros(1)
                lr.classes_ = np.array([0, 1])
                lr.n_features_in_ = n_features
                if item["n_iter"] is not None:
                    lr.n_iter_ = array_from_json(
                        item["n_iter"], "<i4", f"{here}.n_iter"
                    )
                estimators.append(lr)
            multi = MultiOutputClassifier(base, n_jobs=est.n_jobs)
            multi.estimators_ = estimators
            multi.classes_ = [e.classes_ for e in estimators]
            multi.n_features_in_ = n_features
            est.estimator_ = multi
        est.classes_ = [np.array([0, 1])] * n_tags
        # Saved before calibration existed: not calibrated.
        calibrated = fields.get("calibrated", False)
        if not isinstance(calibrated, bool):
            raise ValueError(f"{where}.calibrated must be true or false")
        est.tag_temperatures_ = np.ones(n_tags) if calibrated else None
        if est.mode == "powerset" and calibrated != (
            est.estimator_.calibration_ is not None
        ):
            raise ValueError(
                f"{where}.calibrated must be {str(not calibrated).lower()}: it "
                f"says whether {where}.powerset is calibrated"
            )
        # Saved before novelty and vocabularies existed: none, and a plain one.
        n_novelty = check_int(
            fields.get("novelty_images"),
            f"{where}.novelty_images",
            2,
            MAX_CALIBRATION_IMAGES,
        )
        est.novelty_features_ = None
        if n_novelty is not None:
            if not calibrated or est.embedder_ is None:
                raise ValueError(
                    f"{where}.novelty_images needs a calibrated tagger with an embedder"
                )
            check_layer_size(n_novelty, n_features, f"{where}.novelty_images")
            est.novelty_features_ = np.zeros((n_novelty, n_features), np.float16)
        if "vocabulary" in fields:
            vocab = Vocabulary.from_dict(fields["vocabulary"], f"{where}.vocabulary")
            if list(vocab) != tag_names:
                raise ValueError(
                    f"{where}.vocabulary must hold the tags of {where}.tag_names, "
                    "in their order"
                )
        else:
            vocab = as_vocabulary(tag_names)
        est.vocabulary_ = vocab
        est.combinations_ = np.asarray(combinations, dtype=np.int64)
        est.combination_counts_ = np.asarray(counts, dtype=np.int64)
        return est

    @staticmethod
    def _powerset_from_state(est, inner_fields, n_combinations, device, where):
        """The combination model of a saved ``mode="powerset"`` tagger."""
        from artmedium.estimators._classifier import MediumClassifier

        passthrough = isinstance(est.embedder, str) and est.embedder == "passthrough"
        if not passthrough or type(est.estimator) is not MediumClassifier:
            raise ValueError(
                "a saved mode='powerset' tagger has embedder='passthrough' and a "
                "MediumClassifier as estimator"
            )
        if not isinstance(inner_fields, dict):
            raise ValueError(f"{where}.powerset must be an object")
        inner = MediumClassifier._from_state(
            est.estimator.get_params(),
            inner_fields,
            device=device,
            where=f"{where}.powerset",
        )
        classes = np.asarray(inner.classes_)
        if (
            classes.dtype.kind not in "iu"
            or len(classes) < 2
            or classes.min() < 0
            or classes.max() >= n_combinations
            or (np.diff(classes) <= 0).any()
        ):
            raise ValueError(
                f"{where}.powerset.classes must be distinct indices of the "
                f"{n_combinations} combinations, in increasing order"
            )
        return inner

    @property
    def preprocessing_(self):
        """The :class:`~artmedium.io.Preprocessing` images go through (None when
        the embedder is ``"passthrough"`` or not an :class:`ImageEmbedder`)."""
        check_is_fitted(self)
        if self.embedder_ is None and self.mode == "powerset":
            # The combination model reads the images itself.
            return getattr(self.estimator_, "preprocessing_", None)
        return getattr(self.embedder_, "preprocessing_", None)

    # ------------------------------------------------------------ torch access
    def to_torch(self):
        """Images -> per-tag logits ``(n, n_tags)`` as one ``nn.Module`` (eval mode).

        Available when the embedder is an :class:`ImageEmbedder` and the per-tag
        classifiers are linear (``coef_`` / ``intercept_``, e.g. the default
        logistic regression) or ``mode="joint"``. Constant tags get a large fixed
        logit of their sign. Saliency maps per tag use it.

        Returns
        -------
        torch.nn.Module
        """
        check_is_fitted(self)
        if not isinstance(self.embedder_, ImageEmbedder):
            raise ValueError(
                "to_torch needs an ImageEmbedder as embedder; this tagger's "
                f"embedder is {self.embedder_!r}."
            )
        backbone = self.embedder_.backbone_.network
        n_tags = len(self.tag_names_)
        if self.mode == "joint":
            head = self.estimator_.net_.module_
        else:
            dim = backbone.feature_dim
            weight = torch.zeros(n_tags, dim)
            bias = torch.zeros(n_tags)
            for j, value in self.constant_tags_.items():
                bias[j] = 20.0 if value else -20.0
            for j, est in zip(self._learned, self.estimator_.estimators_):
                if not hasattr(est, "coef_"):
                    raise ValueError(
                        f"to_torch needs linear per-tag classifiers; {est!r} has no "
                        "coef_."
                    )
                sign = 1.0 if list(est.classes_).index(1) == 1 else -1.0
                weight[j] = sign * torch.as_tensor(est.coef_[0], dtype=torch.float32)
                bias[j] = sign * float(est.intercept_[0])
            head = torch.nn.Linear(dim, n_tags)
            with torch.no_grad():
                head.weight.copy_(weight)
                head.bias.copy_(bias)
        return torch.nn.Sequential(backbone, head).eval()

    # ------------------------------------------------------------- predictions
    def predict_proba_list(self, X):
        """scikit-learn's multilabel format: a list of ``(n, 2)`` arrays, one per tag.

        Returns
        -------
        list of ndarray
        """
        proba = self.predict_proba(X)
        return [np.c_[1 - proba[:, j], proba[:, j]] for j in range(proba.shape[1])]

    def predict_proba(self, X):
        """Probability that each tag is present.

        Unlike :class:`~sklearn.multioutput.MultiOutputClassifier`, which returns a
        list of ``(n, 2)`` arrays, this returns one ``(n, n_tags)`` array of
        "present" probabilities; :meth:`predict_proba_list` gives the list form.

        Returns
        -------
        ndarray of shape (n_samples, n_tags)
        """
        check_is_fitted(self)
        return self._proba_of(self._embed(self._check_X(X, reset=False), fit=False))

    def _proba_of(self, features):
        """Calibrated tag probabilities of embedded features."""
        if self.mode == "powerset":
            return self.estimator_.predict_proba(features) @ self._combination_rows()
        if self.mode == "joint":
            return self._calibrated(self.estimator_.predict_proba(features))
        n = _num_samples(features)
        out = np.empty((n, len(self.tag_names_)))
        for j, value in self.constant_tags_.items():
            out[:, j] = value
        probas = self.estimator_.predict_proba(features)
        for j, est, proba in zip(self._learned, self.estimator_.estimators_, probas):
            out[:, j] = proba[:, list(est.classes_).index(1)]
        return self._calibrated(out)

    def _calibrated(self, proba):
        temperatures = getattr(self, "tag_temperatures_", None)
        if temperatures is None:
            return proba
        for j, value in enumerate(temperatures):
            check_temperature(value, f"tag_temperatures_[{j}]")
        learned = [j for j in range(proba.shape[1]) if j not in self.constant_tags_]
        proba = proba.copy()
        proba[:, learned] = expit(_logit(proba[:, learned]) / temperatures[learned])
        return proba

    def _thresholds(self, n_tags):
        t = np.broadcast_to(np.asarray(self.threshold, dtype=float), (n_tags,))
        if ((t <= 0) | (t >= 1)).any():
            raise ValueError(f"threshold must lie in (0, 1); got {self.threshold!r}")
        return t

    def predict(self, X):
        """Tag presence as an ``(n, n_tags)`` 0/1 array.

        With ``decode="valid"`` the row is the most probable valid combination,
        scoring a combination ``c`` by ``sum log p_t`` over its tags and
        ``sum log (1 - p_t)`` over the others, each tag's probability first
        recentred on its ``threshold`` (so thresholds act in both decodings).

        Returns
        -------
        ndarray of shape (n_samples, n_tags)
        """
        if self.mode == "powerset":
            check_is_fitted(self)
            features = self._embed(self._check_X(X, reset=False), fit=False)
            proba = self.estimator_.predict_proba(features)
            return self._combination_rows()[np.argmax(proba, axis=1)].astype(np.int64)
        return self.decode_proba(self.predict_proba(X))

    def decode_proba(self, proba, decode=None):
        """Tag presence from tag probabilities, as :meth:`predict` decodes them.

        For callers that already hold ``predict_proba``'s output (a batch
        predictor reporting both) and must not run the network twice.

        Parameters
        ----------
        proba : array-like of shape (n_samples, n_tags)
            Tag probabilities, columns in the order of ``tag_names_``.
        decode : {"valid", "independent"} or None, default=None
            None uses the tagger's ``decode``.

        Returns
        -------
        ndarray of shape (n_samples, n_tags)
            0/1 tag presence.

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium import MediumTagger
        >>> X = np.eye(4)
        >>> tagger = MediumTagger(embedder="passthrough", tag_names=["a", "b"]).fit(
        ...     X, [[1, 0], [0, 1], [1, 0], [0, 1]])
        >>> tagger.decode_proba([[0.9, 0.8]]).tolist()  # "a and b" never seen: valid
        [[1, 0]]
        >>> tagger.decode_proba([[0.9, 0.8]], decode="independent").tolist()
        [[1, 1]]
        """
        check_is_fitted(self)
        proba = np.asarray(proba, dtype=float)
        decode = self.decode if decode is None else decode
        t = self._thresholds(proba.shape[1])
        if decode == "independent":
            return self._consistent((proba >= t).astype(np.int64), proba)
        # Shift each tag's log-odds so that p == threshold is the indifference point.
        eps = 1e-7
        p = np.clip(proba, eps, 1 - eps)
        logit = np.log(p) - np.log1p(-p) - (np.log(t) - np.log1p(-t))
        # log P(c) = sum_t [c_t * logit_t] + const: a matrix product.
        scores = logit @ self.combinations_.T
        return self.combinations_[np.argmax(scores, axis=1)].astype(np.int64)

    def _consistent(self, Y, proba):
        """Independent decisions made possible: broader tags are added, then
        of each exclusive group only the most probable present tag stays (the
        others leave with their narrower tags)."""
        vocab = self._vocabulary()
        if not (vocab.exclusive or vocab.broader):
            return Y
        column = {t: j for j, t in enumerate(vocab.tags)}
        Y = self._complete(Y)
        for group in vocab.exclusive:
            cols = np.array([column[t] for t in group])
            present = Y[:, cols].astype(bool)
            rows = np.flatnonzero(present.sum(axis=1) > 1)
            if not len(rows):
                continue
            scores = np.where(present[rows], proba[np.ix_(rows, cols)], -np.inf)
            keep = np.argmax(scores, axis=1)
            for i, row in enumerate(rows):
                for k, tag in enumerate(group):
                    if k != keep[i]:
                        drop = [column[t] for t in (tag, *vocab.narrower(tag))]
                        Y[row, drop] = 0
        return Y

    def predict_medium(self, X):
        """Medium descriptions composed from the predicted tags.

        Returns
        -------
        ndarray of str, shape (n_samples,)
        """
        return self.describe(self.predict(X))

    def describe(self, Y):
        """Medium descriptions of 0/1 tag rows (the catalogue's wording where
        the vocabulary has one, else composed: see
        :func:`~artmedium.vocabulary.tags_to_medium`).

        Parameters
        ----------
        Y : array-like of shape (n_samples, n_tags)

        Returns
        -------
        ndarray of str, shape (n_samples,)
        """
        check_is_fitted(self)
        return describe_rows(self._vocabulary(), Y)

    def combination_proba(self, X):
        """Probability of each tag combination of ``combinations_``.

        With ``mode="powerset"`` the combination model's own probabilities;
        otherwise the product of the tags' probabilities, as if tags were
        independent (so the rows need not sum to 1).

        Returns
        -------
        ndarray of shape (n_samples, n_combinations)
        """
        check_is_fitted(self)
        features = self._embed(self._check_X(X, reset=False), fit=False)
        if self.mode == "powerset":
            return self._aligned(self.estimator_.predict_proba(features))
        return independent_combination_proba(
            self._proba_of(features), self.combinations_
        )

    def _aligned(self, proba):
        """Powerset class probabilities in the order of ``combinations_``."""
        out = np.zeros((len(proba), len(self.combinations_)))
        out[:, np.asarray(self.estimator_.classes_, dtype=int)] = proba
        return out

    # ------------------------------------------------------------ honest answers
    def novelty_score(self, X):
        """How unlike the calibration images each input is (higher: stranger).

        The cosine distance of its embedded features to the k-th nearest
        calibration image (k = 5, fewer with fewer images), as
        :meth:`artmedium.MediumClassifier.novelty_score`.

        Returns
        -------
        ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            When the tagger is not calibrated, or embeds nothing
            (``embedder="passthrough"`` keeps no reference features).
        """
        features = self._embed(self._check_X(X, reset=False), fit=False)
        if self.mode == "powerset":
            check_is_fitted(self)
            if getattr(self.estimator_, "calibration_", None) is None:
                self._novelty_reference()  # raises: not calibrated
            return self.estimator_.novelty_score(features)
        return self._novelty_of(features)

    def _novelty_reference(self):
        check_is_fitted(self)
        reference = getattr(self, "novelty_features_", None)
        if reference is None:
            raise ValueError(
                "novelty needs a calibrated tagger with an embedder: fit with "
                "calibration_size, or call calibrate() on held-out images"
            )
        return reference

    def _novelty_of(self, features):
        reference = self._novelty_reference()
        k = min(NOVELTY_NEIGHBOURS, len(reference) - 1)
        return knn_distance(features, reference, k)

    def _novelty_threshold(self, rate):
        reference = self._novelty_reference()
        # The calibration images' leave-one-out scores (n x n distances): once
        # per reference, not once per batch a predictor assesses.
        cached = getattr(self, "_held_out_novelty", None)
        if cached is None or cached[0] is not reference:
            k = min(NOVELTY_NEIGHBOURS, len(reference) - 1)
            scores = knn_distance(reference, reference, k, leave_one_out=True)
            cached = self._held_out_novelty = (reference, scores)
        return conformal_threshold(cached[1], rate)

    def assess(self, X, confidence=0.9, unknown_rate=0.05):
        """Descriptions with a status, backing off to broader tags when unsure.

        Each image's tags are decoded as by :meth:`predict`. A most specific tag
        whose calibrated probability is below ``confidence`` is replaced by its
        nearest broader tag that reaches it ("etching" -> "intaglio print",
        giving "Intaglio print on paper"), if the vocabulary has one. The answer
        then claims its tags present and every other tag absent, except the
        narrower tags of a term it backed off to; its ``confidence`` is the
        least probable of those claims. Status, per image:

        * ``"unknown"``: its novelty score is above the threshold that only
          ``unknown_rate`` of images like the calibration images exceed (the
          conformal rank of their leave-one-out scores): probably not one of
          the media the tagger knows, or not an artwork;
        * ``"ok"``: every claim has probability at least ``confidence``;
        * ``"uncertain"``: otherwise.

        With ``mode="powerset"`` the combination model (a calibrated
        :class:`~artmedium.MediumClassifier`) gives the probabilities, the
        novelty and its threshold, and ``candidates`` are the descriptions of
        its conformal prediction set at level ``confidence`` (most probable
        first); a tag's probability is the total probability of the
        combinations that have it.

        Parameters
        ----------
        X : images or array-like
            As for :meth:`predict`.
        confidence : float in (0, 1), default=0.9
            Calibrated probability each claim of an ``ok`` answer reaches.
        unknown_rate : float in (0, 1), default=0.05
            Share of images like the calibration images marked ``unknown``.

        Returns
        -------
        Bunch
            ``tags`` (0/1 after backing off, broader tags included),
            ``decoded`` (0/1 before), ``medium`` and ``decoded_medium`` (their
            descriptions), ``backed_off`` (bool), ``proba`` (calibrated tag
            probabilities), ``confidence`` (of each answer), ``candidates``
            (lists of descriptions: the conformal set with
            ``mode="powerset"``, else the answer then, when it backed off,
            the more specific guess), ``combination_proba`` (as
            :meth:`combination_proba`), ``novelty`` (None without a reference),
            ``status``, and the ``novelty_threshold`` used.

        Raises
        ------
        ValueError
            When the tagger is not calibrated (see :meth:`calibrate`).

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium import MediumTagger
        >>> from artmedium.vocabulary import Vocabulary
        >>> vocab = Vocabulary(["etching", "aquatint", "intaglio print"],
        ...                    broader={"etching": "intaglio print",
        ...                             "aquatint": "intaglio print"})
        >>> rng = np.random.RandomState(0)
        >>> X = rng.normal(size=(300, 2))
        >>> noisy = X[:, 0] + rng.normal(size=300) > 0
        >>> y = np.where(noisy, "Etching on paper", "Aquatint on paper")
        >>> tagger = MediumTagger(embedder="passthrough", tag_names=vocab,
        ...                       calibration_size=0.3, random_state=0).fit(X, y)
        >>> answers = tagger.assess([[3.0, 0.0], [0.01, 0.0]], unknown_rate=None)
        >>> answers.medium.tolist()
        ['Etching on paper', 'Intaglio print on paper']
        >>> answers.status.tolist()
        ['ok', 'ok']
        """
        check_is_fitted(self)
        if getattr(self, "tag_temperatures_", None) is None:
            raise ValueError(
                "assess needs calibrated probabilities: fit with calibration_size, "
                "or call calibrate() on held-out images"
            )
        check_scalar(
            confidence, "confidence", Real, min_val=0, max_val=1,
            include_boundaries="neither",
        )  # fmt: skip
        if unknown_rate is not None:
            check_scalar(
                unknown_rate, "unknown_rate", Real, min_val=0, max_val=1,
                include_boundaries="neither",
            )  # fmt: skip
        features = self._embed(self._check_X(X, reset=False), fit=False)
        novelty, threshold, sets = None, None, None
        if self.mode == "powerset":
            # The combination model answers, with its own conformal sets and
            # novelty (a calibrated MediumClassifier).
            inner = self.estimator_.assess(
                features,
                confidence=confidence,
                unknown_rate=0.05 if unknown_rate is None else unknown_rate,
            )
            combination_proba = np.asarray(inner.proba)
            rows = self._combination_rows()
            aligned = self._aligned(combination_proba)
            proba = combination_proba @ rows
            decoded = rows[np.argmax(combination_proba, axis=1)].astype(np.int64)
            sets = np.asarray(inner.sets, dtype=bool)
            if unknown_rate is not None:
                novelty, threshold = inner.novelty, inner.novelty_threshold
        else:
            proba = self._proba_of(features)
            decoded = self.decode_proba(proba)
            aligned = independent_combination_proba(proba, self.combinations_)
            if (
                unknown_rate is not None
                and getattr(self, "novelty_features_", None) is not None
            ):
                novelty = self._novelty_of(features)
                threshold = self._novelty_threshold(unknown_rate)
        return Bunch(
            **tagger_answers(
                self._vocabulary(),
                self.describe,
                decoded=decoded,
                proba=proba,
                combination_proba=aligned,
                confidence=confidence,
                novelty=novelty,
                novelty_threshold=threshold,
                sets=sets,
                set_proba=None if sets is None else combination_proba,
                set_rows=None if sets is None else rows,
            )
        )

    def score(self, X, y, sample_weight=None):
        """Exact-match (subset) accuracy over all tags.

        Returns
        -------
        float
        """
        from sklearn.metrics import accuracy_score

        # Completed with broader tags, as predictions are.
        Y = self._complete(as_tag_matrix(y, self._vocabulary()))
        return accuracy_score(Y, self.predict(X), sample_weight=sample_weight)
