"""Where a classifier goes wrong: its most confused class pairs and worst images."""

import numpy as np
from sklearn.metrics import confusion_matrix
from sklearn.utils.validation import check_is_fitted

from artmedium._validation import check_count


def _item(value):
    return value.item() if hasattr(value, "item") else value


def most_confused_pairs(y_true, y_pred, k=5, *, labels=None, symmetric=False):
    """The ``k`` most frequent mistakes: (true label, predicted label, count).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    k : int, default=5
        How many pairs to return (fewer when fewer kinds of mistake occur).
    labels : sequence, optional
        The label set and the order that breaks ties; default: the sorted
        union of both arrays.
    symmetric : bool, default=False
        Count ``a -> b`` and ``b -> a`` together: each pair is then reported
        once, as ``(a, b, count)`` with ``a`` first in ``labels``.

    Returns
    -------
    list of tuple
        ``(true, predicted, count)``, most frequent first; ties in the order of
        ``labels``. Correct predictions and pairs never confused are left out.

    Examples
    --------
    >>> y_true = ["engraving", "engraving", "line engraving", "graphite"]
    >>> y_pred = ["line engraving", "line engraving", "engraving", "graphite"]
    >>> most_confused_pairs(y_true, y_pred)
    [('engraving', 'line engraving', 2), ('line engraving', 'engraving', 1)]
    >>> most_confused_pairs(y_true, y_pred, symmetric=True)
    [('engraving', 'line engraving', 3)]
    """
    k = check_count(k, "k")
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    labels = np.asarray(labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    if symmetric:
        cm = np.triu(cm + cm.T, k=1)
    np.fill_diagonal(cm, 0)
    rows, cols = np.nonzero(cm)
    counts = cm[rows, cols]
    # Stable sort on -count keeps the row-major (label) order among ties.
    order = np.argsort(-counts, kind="stable")[:k]
    return [
        (_item(labels[rows[i]]), _item(labels[cols[i]]), int(counts[i])) for i in order
    ]


def losses_from_proba(proba, y, classes, k=None):
    """Cross-entropy of each image, worst first, as :func:`top_losses` reports it.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
    y : array-like of shape (n_samples,)
        True labels, all among ``classes``.
    classes : array-like of shape (n_classes,)
        Labels of ``proba``'s columns.
    k : int or None
        Keep the ``k`` largest losses; None keeps all.

    Returns
    -------
    list of dict
    """
    proba = np.asarray(proba, dtype=float)
    y = np.asarray(y)
    classes = np.asarray(classes)
    if proba.ndim != 2 or proba.shape != (len(y), len(classes)):
        raise ValueError(
            f"proba has shape {proba.shape}; expected ({len(y)}, {len(classes)})"
        )
    index = {_item(c): i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in y if _item(v) not in index})
    if unknown:
        raise ValueError(
            f"y contains labels the estimator does not know: {unknown[:10]}; "
            f"its classes are {[str(c) for c in classes]}"
        )
    true_idx = np.array([index[_item(v)] for v in y], dtype=np.int64)
    p_true = proba[np.arange(len(y)), true_idx]
    loss = -np.log(np.clip(p_true, 1e-12, None))
    pred_idx = proba.argmax(axis=1)
    # Highest loss first; among equal losses, the earlier image first.
    order = np.lexsort((np.arange(len(y)), -loss))
    if k is not None:
        order = order[: check_count(k, "k")]
    return [
        {
            "index": int(i),
            "true": _item(classes[true_idx[i]]),
            "predicted": _item(classes[pred_idx[i]]),
            "proba_true": float(p_true[i]),
            "loss": float(loss[i]),
        }
        for i in order
    ]


def top_losses(estimator, X, y, *, k=8):
    """The ``k`` images a fitted classifier got most wrong (highest log loss).

    Parameters
    ----------
    estimator : classifier
        Fitted, with ``predict_proba`` and ``classes_`` (a
        :class:`~artmedium.MediumClassifier`, or any scikit-learn classifier).
    X : images or array-like
        What the estimator predicts on.
    y : array-like of shape (n_samples,)
        True labels.
    k : int, default=8

    Returns
    -------
    list of dict
        Worst first, each with ``index`` (position in ``X``), ``true``,
        ``predicted``, ``proba_true`` (the probability of the true class) and
        ``loss`` (``-log proba_true``, the cross-entropy).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> clf = LogisticRegression().fit(X, ["ink", "ink", "oil", "oil"])
    >>> worst = top_losses(clf, X, ["oil", "ink", "ink", "oil"], k=2)
    >>> [(r["index"], r["true"], r["predicted"]) for r in worst]
    [(0, 'oil', 'ink'), (2, 'ink', 'oil')]
    """
    check_is_fitted(estimator)
    k = check_count(k, "k")
    proba = estimator.predict_proba(X)
    return losses_from_proba(proba, y, estimator.classes_, k)
