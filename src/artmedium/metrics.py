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

__all__ = ["per_class_accuracy", "tag_report"]


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
