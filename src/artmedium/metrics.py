"""Metrics for medium tags and classes, built on :mod:`sklearn.metrics`.

The poster reports per-tag accuracy (its Figure 5), exact match over all ten tags,
and per-class accuracy (Figure 3); these functions compute them from any fitted
estimator's predictions.
"""

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    hamming_loss,
    precision_recall_fscore_support,
)

__all__ = [
    "accepted_at_accuracy",
    "expected_calibration_error",
    "per_class_accuracy",
    "reliability_display",
    "risk_coverage_curve",
    "tag_report",
]


def _as_matrix(Y, name):
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D (n_samples, n_tags) array; got {Y.shape}"
        )
    return Y


def tag_report(
    Y_true,
    Y_pred,
    tag_names,
    *,
    Y_proba=None,
    medium_true=None,
    medium_pred=None,
    as_frame=False,
):
    """Exact match, Hamming loss and per-tag scores of a multilabel prediction.

    Parameters
    ----------
    Y_true, Y_pred : array-like of shape (n_samples, n_tags)
        0/1 tag matrices.
    tag_names : sequence of str
        Name of each column.
    Y_proba : array-like of shape (n_samples, n_tags), optional
        "Tag present" probabilities; adds per-tag average precision.
    medium_true, medium_pred : array-like of str, optional
        Medium descriptions (e.g. from ``MediumTagger.predict_medium``); adds the
        description-level accuracy.
    as_frame : bool, default=False
        Return ``per_tag`` as a pandas DataFrame (one row per tag).

    Returns
    -------
    dict
        ``exact_match`` (subset accuracy), ``hamming_loss``, optionally
        ``medium_accuracy``, and ``per_tag``: for each tag its ``accuracy``,
        ``precision``, ``recall``, ``f1``, ``support`` (true positives + false
        negatives) and, with ``Y_proba``, ``average_precision``.

    Examples
    --------
    >>> Y_true = [[1, 0], [0, 1], [1, 1]]
    >>> Y_pred = [[1, 0], [0, 0], [1, 1]]
    >>> report = tag_report(Y_true, Y_pred, ["graphite", "watercolour"])
    >>> round(report["exact_match"], 3), round(report["hamming_loss"], 3)
    (0.667, 0.167)
    >>> report["per_tag"]["watercolour"]["recall"]
    0.5
    """
    Y_true = _as_matrix(Y_true, "Y_true")
    Y_pred = _as_matrix(Y_pred, "Y_pred")
    if Y_true.shape != Y_pred.shape:
        raise ValueError(
            f"Y_true {Y_true.shape} and Y_pred {Y_pred.shape} differ in shape"
        )
    tag_names = [str(t) for t in tag_names]
    if len(tag_names) != Y_true.shape[1]:
        raise ValueError(
            f"{len(tag_names)} tag names for {Y_true.shape[1]} columns: {tag_names}"
        )
    precision, recall, f1, support = precision_recall_fscore_support(
        Y_true, Y_pred, average=None, zero_division=0
    )
    per_tag = {}
    for j, name in enumerate(tag_names):
        row = {
            "accuracy": float(accuracy_score(Y_true[:, j], Y_pred[:, j])),
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "support": int(support[j]),
        }
        if Y_proba is not None:
            proba = np.asarray(Y_proba)[:, j]
            has_both = 0 < Y_true[:, j].sum() < len(Y_true)
            row["average_precision"] = (
                float(average_precision_score(Y_true[:, j], proba))
                if has_both
                else float("nan")
            )
        per_tag[name] = row
    report = {
        "exact_match": float(accuracy_score(Y_true, Y_pred)),
        "hamming_loss": float(hamming_loss(Y_true, Y_pred)),
    }
    if medium_true is not None and medium_pred is not None:
        report["medium_accuracy"] = float(accuracy_score(medium_true, medium_pred))
    if as_frame:
        import pandas as pd

        report["per_tag"] = pd.DataFrame.from_dict(per_tag, orient="index")
    else:
        report["per_tag"] = per_tag
    return report


def per_class_accuracy(y_true, y_pred, *, labels=None):
    """Accuracy within each true class (its recall), plus overall and balanced.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    labels : sequence, optional
        Classes to report, in this order; default: the sorted labels of ``y_true``.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy`` and ``per_class``: label ->
        ``{"accuracy": recall of that class, "support": its count}``.

    Examples
    --------
    >>> r = per_class_accuracy(["oil", "oil", "ink"], ["oil", "ink", "ink"])
    >>> r["per_class"]["oil"]
    {'accuracy': 0.5, 'support': 2}
    >>> r["balanced_accuracy"]
    0.75
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ")
    if labels is None:
        labels = np.unique(y_true)
    labels = list(labels)
    # Accuracy within a class is its recall; a class absent from y_true has none.
    _, recall, _, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=np.nan
    )
    per_class = {
        (label.item() if hasattr(label, "item") else label): {
            "accuracy": float(r) if n else float("nan"),
            "support": int(n),
        }
        for label, r, n in zip(labels, recall, support)
    }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "per_class": per_class,
    }


def _top_label(y_true, proba, classes):
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2:
        raise ValueError(f"proba must be 2-D (n_samples, n_classes); got {proba.shape}")
    y_true = np.asarray(y_true)
    if len(y_true) != len(proba):
        raise ValueError(
            f"y_true has {len(y_true)} labels but proba has {len(proba)} rows"
        )
    if classes is None:
        classes = np.arange(proba.shape[1])
    classes = np.asarray(classes)
    if len(classes) != proba.shape[1]:
        raise ValueError(
            f"{len(classes)} classes for {proba.shape[1]} columns of proba"
        )
    correct = classes[proba.argmax(axis=1)] == y_true
    return correct, proba.max(axis=1)


def expected_calibration_error(y_true, proba, *, classes=None, n_bins=15):
    """Expected calibration error of the top class (equal-width bins).

    The mean over bins of top probability of :math:`|accuracy - confidence|`,
    weighted by the share of images in each bin (Guo et al., 2017): 0 when an
    answer given with probability p is right a share p of the time.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,) or None, default=None
        The label of each column (an estimator's ``classes_``); None: the
        column indices.
    n_bins : int, default=15
        Equal-width bins of the top probability over [0, 1].

    Returns
    -------
    float

    Examples
    --------
    >>> from artmedium.metrics import expected_calibration_error
    >>> proba = [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]]
    >>> round(expected_calibration_error(["a", "a", "b", "b"], proba,
    ...                                  classes=["a", "b"]), 3)
    0.3
    """
    correct, confidence = _top_label(y_true, proba, classes)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        inside = bins == b
        error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def risk_coverage_curve(y_true, proba, *, classes=None):
    """Accuracy of the accepted answers against the share accepted.

    Answers are accepted from the most probable down: the ``k``-th point is
    the ``k`` most confident answers (selective prediction). Ties in
    probability enter together.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    proba : array-like of shape (n_samples, n_classes)
    classes : array-like of shape (n_classes,) or None, default=None
        As in :func:`expected_calibration_error`.

    Returns
    -------
    coverage : ndarray
        Share of the answers accepted, increasing to 1.
    accuracy : ndarray
        Accuracy of the accepted answers.
    thresholds : ndarray
        The lowest accepted top probability at each point.

    Examples
    --------
    >>> from artmedium.metrics import risk_coverage_curve
    >>> proba = [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]]
    >>> coverage, accuracy, _ = risk_coverage_curve([0, 0, 1, 1], proba)
    >>> coverage.tolist(), accuracy.round(2).tolist()
    ([0.25, 0.5, 0.75, 1.0], [1.0, 1.0, 1.0, 0.75])
    """
    from artmedium._answers import risk_coverage

    return risk_coverage(*_top_label(y_true, proba, classes))


def accepted_at_accuracy(y_true, proba, accuracy, *, classes=None):
    """The largest share of answers whose most confident part is ``accuracy``
    accurate, and the probability threshold that accepts it.

    Parameters
    ----------
    y_true, proba, classes
        As in :func:`risk_coverage_curve`.
    accuracy : float
        The accuracy the accepted answers must reach.

    Returns
    -------
    coverage : float
        0 when no share reaches ``accuracy``.
    threshold : float
        Accept answers with top probability at least this (above 1 when none).

    Examples
    --------
    >>> from artmedium.metrics import accepted_at_accuracy
    >>> proba = [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]]
    >>> accepted_at_accuracy([0, 0, 1, 1], proba, 0.9)
    (0.75, 0.7)
    """
    from artmedium._answers import accepted_share

    return accepted_share(*_top_label(y_true, proba, classes), accuracy)


def reliability_display(y_true, proba, *, classes=None, n_bins=10, ax=None, name=None):
    """Reliability diagram of the top class: scikit-learn's CalibrationDisplay.

    Plots, per bin of top probability, the share of right answers against the
    mean probability (the diagonal is perfect calibration), with the expected
    calibration error in the legend. Needs matplotlib.

    Parameters
    ----------
    y_true, proba, classes
        As in :func:`expected_calibration_error`.
    n_bins : int, default=10
    ax : matplotlib Axes or None, default=None
    name : str or None, default=None
        Legend label (the ECE is appended).

    Returns
    -------
    sklearn.calibration.CalibrationDisplay

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from artmedium.metrics import reliability_display
    >>> proba = [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]]
    >>> display = reliability_display([0, 0, 1, 1], proba, n_bins=5)
    >>> display.ax_.get_xlabel()
    'Mean predicted probability (Positive class: 1)'
    """
    from sklearn.calibration import CalibrationDisplay

    correct, confidence = _top_label(y_true, proba, classes)
    ece = expected_calibration_error(y_true, proba, classes=classes)
    label = f"{name or 'top class'} (ECE {ece:.3f})"
    return CalibrationDisplay.from_predictions(
        correct.astype(int), confidence, n_bins=n_bins, ax=ax, name=label
    )
