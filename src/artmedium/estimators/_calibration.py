"""What a classifier learns from held-out images to say how far to trust it.

A :class:`Calibration` is fitted on the logits, labels and pooled features of
images the network never trained on, and gives:

* calibrated probabilities: temperature scaling, fitted with scikit-learn's
  :class:`~sklearn.calibration.CalibratedClassifierCV` (``method="temperature"``);
* prediction sets: split conformal prediction on the hinge score
  ``1 - p(true class)`` (crepes' :class:`~crepes.ConformalClassifier` with
  unsmoothed p-values, computed in :mod:`artmedium._honest` and checked against
  crepes by the tests), so a set at confidence ``c`` holds the true medium for a
  share ``c`` of new images exchangeable with the held-out ones;
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

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from artmedium._honest import (  # noqa: F401 - re-exported for the estimators
    MAX_CALIBRATION_IMAGES,
    NOVELTY_NEIGHBOURS,
    TEMPERATURE_RANGE,
    check_temperature,
    conformal_threshold,
    knn_distance,
    unit_features,
)
from artmedium._honest import Calibration as _Calibration


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


class Calibration(_Calibration):
    """Held-out logits, labels and features, and what is derived from them.

    :class:`artmedium._honest.Calibration`, whose temperature is fitted from
    ``logits`` and ``labels`` (:func:`fit_temperature`) when not given.

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
    """

    def __init__(self, logits, labels, features, temperature=None):
        if temperature is None:
            temperature = fit_temperature(
                np.asarray(logits, dtype=np.float32), np.asarray(labels)
            )
        super().__init__(logits, labels, features, temperature)
