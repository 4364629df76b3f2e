"""What a classifier learns from held-out images to say how far to trust it.

A :class:`Calibration` is fitted on the logits, labels and pooled features of
images the network never trained on, and gives:

* calibrated probabilities: temperature scaling, fitted with scikit-learn's
  :class:`~sklearn.calibration.CalibratedClassifierCV` (``method="temperature"``);
* prediction sets: split conformal prediction with crepes'
  :class:`~crepes.ConformalClassifier` on the hinge score ``1 - p(true class)``,
  so a set at confidence ``c`` holds the true medium for a share ``c`` of new
  images exchangeable with the held-out ones;
* an acceptance threshold: the smallest top probability at which the held-out
  answers above it reach a requested accuracy (selective prediction);
* a novelty score: the cosine distance of an image's features to its k-th
  nearest held-out image, against which "not one of the media I know" is
  decided at a quantile of the held-out images' own (leave-one-out) scores.

Everything is kept as arrays (the held-out logits, labels and features), so a
saved model recomputes the same sets, thresholds and statuses after loading, for
any confidence the caller asks.
"""

import warnings
from functools import cached_property

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from artmedium._answers import accepted_share

#: Neighbours the novelty score looks at (the k-th nearest held-out image).
NOVELTY_NEIGHBOURS = 5
#: The temperatures a fit may give and a saved model may hold. A held-out set
#: the model gets all right drives the fitted temperature towards 0 (every
#: probability 0 or 1), which no answer on new images deserves.
TEMPERATURE_RANGE = (0.05, 20.0)
#: Most held-out images a calibration keeps (the novelty score compares every
#: new image with each of them).
MAX_CALIBRATION_IMAGES = 20_000


class _LogitsAsInput(ClassifierMixin, BaseEstimator):
    """A fitted "classifier" whose input is already its logits.

    It lets CalibratedClassifierCV fit a temperature to logits computed once,
    instead of running the network again.
    """

    def __init__(self, n_classes=2):
        self.n_classes = n_classes

    def fit(self, X, y):
        self.classes_ = np.arange(self.n_classes)
        return self

    def decision_function(self, X):
        X = np.asarray(X, dtype=np.float64)
        if self.n_classes == 2:
            # scikit-learn's binary convention: one score x, read as logits
            # (-x, x); half the difference gives the same softmax.
            return (X[:, 1] - X[:, 0]) / 2
        return X

    def predict(self, X):
        return np.argmax(X, axis=1)


def fit_temperature(logits, labels):
    """The temperature ``T`` that best calibrates ``softmax(logits / T)``.

    Fitted by :class:`~sklearn.calibration.CalibratedClassifierCV` with
    ``method="temperature"`` (log-loss of the held-out labels).

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)
    labels : ndarray of shape (n_samples,)
        Class indices into the columns of ``logits``.

    Returns
    -------
    float
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = logits.shape[1]
    weights = np.ones(len(labels))
    # CalibratedClassifierCV reads the classes from the labels: a class no
    # held-out image has gets one row of weight 0, which the loss ignores.
    missing = np.setdiff1d(np.arange(n_classes), labels)
    if len(missing):
        logits = np.vstack([logits, np.zeros((len(missing), n_classes))])
        labels = np.r_[labels, missing]
        weights = np.r_[weights, np.zeros(len(missing))]
    n = len(labels)
    # A shift leaves the softmax unchanged, and keeps scikit-learn from reading
    # rows that happen to lie in [0, 1] and sum to 1 as probabilities.
    logits = logits - logits.max(axis=1, keepdims=True)
    frozen = FrozenEstimator(_LogitsAsInput(n_classes).fit(logits, labels))
    # The network is fitted and frozen: one "fold" predicting every row, so no
    # class needs a minimum count for cross-validation.
    everything = np.arange(n)
    cal = CalibratedClassifierCV(
        frozen, method="temperature", cv=[(everything, everything)]
    )
    with warnings.catch_warnings():
        # "sample weights will only be used for the calibration itself": the
        # network is frozen, so that is exactly what is wanted.
        warnings.filterwarnings("ignore", "Since FrozenEstimator", UserWarning)
        cal.fit(logits, labels, sample_weight=weights)
    beta = float(cal.calibrated_classifiers_[0].calibrators[0].beta_)
    return float(np.clip(1.0 / beta, *TEMPERATURE_RANGE))


def check_temperature(value, where):
    """``value`` as a float within :data:`TEMPERATURE_RANGE`, else ValueError."""
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{where} must be a number, not {value!r:.40}") from None
    low, high = TEMPERATURE_RANGE
    if not low <= value <= high:  # also refuses NaN
        raise ValueError(f"{where} = {value} is outside [{low}, {high}]")
    return value


def _unit(features):
    features = np.asarray(features, dtype=np.float32)
    norm = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norm, 1e-12)


def knn_distance(features, reference, k, *, leave_one_out=False):
    """Cosine distance of each row of ``features`` to its ``k``-th nearest row
    of ``reference`` (both L2-normalised inside); ``leave_one_out`` when
    ``features`` is ``reference`` itself, so a row is not its own neighbour."""
    queries, reference = _unit(features), _unit(reference)
    k = min(k + int(leave_one_out), len(reference))
    out = np.empty(len(queries), dtype=np.float64)
    block = max(1, (1 << 22) // max(len(reference), 1))  # about 16 MB per block
    for start in range(0, len(queries), block):
        sim = queries[start : start + block] @ reference.T
        kth = np.partition(-sim, k - 1, axis=1)[:, k - 1]
        out[start : start + block] = 1.0 + kth
    return out


class Calibration:
    """Held-out logits, labels and features, and what is derived from them.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)
        The network's raw logits on held-out images.
    labels : ndarray of shape (n_samples,)
        Their true classes, as column indices.
    features : ndarray of shape (n_samples, n_features)
        Their pooled features (what the head sees).
    temperature : float or None, default=None
        Given when loading; fitted from ``logits`` and ``labels`` otherwise.

    Notes
    -----
    What is derived (conformal scores, acceptance data, novelty scores of the
    held-out images) is computed on first use, so a loaded model, whose arrays
    are filled in after it is built, derives it from the loaded arrays.
    """

    def __init__(self, logits, labels, features, temperature=None):
        self.logits = np.asarray(logits, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        # Only cosine distances use them: unit rows in half precision halve a
        # saved model's share of them and change a distance by less than 1e-3
        # (normalised first, so no scale of features overflows or vanishes).
        self.features = _unit(features).astype(np.float16)
        if temperature is None:
            temperature = fit_temperature(self.logits, self.labels)
        self.temperature = float(temperature)

    @classmethod
    def empty(cls, n_samples, n_classes, n_features, temperature):
        """Zero arrays of the given shapes, for a loader to fill in."""
        return cls(
            np.zeros((n_samples, n_classes), np.float32),
            np.zeros(n_samples, np.int64),
            np.zeros((n_samples, n_features), np.float16),
            temperature,
        )

    def _check(self):
        n, k = self.logits.shape
        if self.labels.shape != (n,) or len(self.features) != n:
            raise ValueError("calibration arrays disagree on the number of images")
        if self.labels.dtype.kind not in "iu":
            raise ValueError("calibration labels must be integers")
        if n < 2:
            raise ValueError("a calibration needs at least 2 held-out images")
        if n and (self.labels.min() < 0 or self.labels.max() >= k):
            raise ValueError(f"calibration labels must be class indices in [0, {k})")
        finite = np.isfinite(self.logits).all() and np.isfinite(self.features).all()
        if not finite:
            raise ValueError("calibration logits and features must be finite")

    @cached_property
    def _held_out(self):
        self._check()
        from crepes import ConformalClassifier

        proba = self.proba(self.logits)
        rows = np.arange(len(self.labels))
        conformal = ConformalClassifier().fit(1.0 - proba[rows, self.labels])
        novelty = knn_distance(
            self.features, self.features, self._neighbours, leave_one_out=True
        )
        return {
            "confidence": proba.max(axis=1),
            "correct": proba.argmax(axis=1) == self.labels,
            "conformal": conformal,
            "novelty": novelty,
        }

    def proba(self, logits):
        """Calibrated probabilities ``softmax(logits / temperature)``."""
        z = np.asarray(logits, dtype=np.float64) / self.temperature
        return softmax(z, axis=1)

    def sets(self, proba, confidence):
        """Boolean ``(n, n_classes)`` conformal prediction sets."""
        sets = self._held_out["conformal"].predict_set(
            1.0 - np.asarray(proba), confidence=confidence, smoothing=False
        )
        return np.asarray(sets, dtype=bool)

    def acceptance_threshold(self, accuracy):
        """Lowest top probability whose held-out answers at or above it are at
        least ``accuracy`` accurate (above 1, accepting nothing, when none are)."""
        held_out = self._held_out
        return accepted_share(held_out["correct"], held_out["confidence"], accuracy)[1]

    @property
    def _neighbours(self):
        # The same k for the held-out images (leaving each out) and new ones.
        return min(NOVELTY_NEIGHBOURS, len(self.labels) - 1)

    def novelty_scores(self, features):
        """Cosine distance to the k-th nearest held-out image (higher: stranger)."""
        self._held_out  # noqa: B018 - checks the arrays first
        return knn_distance(features, self.features, self._neighbours)

    def novelty_threshold(self, rate):
        """The conformal threshold: a new image like the held-out ones scores
        above it with probability at most ``rate`` (inf: never, when there are
        too few held-out images for that rate)."""
        return conformal_threshold(self._held_out["novelty"], rate)


def conformal_threshold(held_out_scores, rate):
    """The score a new image exchangeable with the held-out ones exceeds with
    probability at most ``rate``: their ``ceil((n + 1)(1 - rate))``-th smallest
    score (inf, never exceeded, when there are too few held-out images)."""
    scores = np.sort(np.asarray(held_out_scores, dtype=np.float64))
    rank = int(np.ceil((len(scores) + 1) * (1.0 - rate)))
    return float(scores[rank - 1]) if rank <= len(scores) else float("inf")


def unit_features(features):
    """Rows scaled to unit length, in half precision: what a saved model keeps
    for cosine distances (see :class:`Calibration`)."""
    return _unit(features).astype(np.float16)
