"""From a fitted estimator and a test set to the poster's numbers and figures."""

import json
import math
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix
from sklearn.utils.validation import check_is_fitted

from artmedium._answers import STATUSES
from artmedium._files import atomic_write
from artmedium._inputs import IMAGES, as_tag_matrix, parse_X
from artmedium.explain._analysis import losses_from_proba, most_confused_pairs
from artmedium.metrics import (
    accepted_at_accuracy,
    expected_calibration_error,
    per_class_accuracy,
    reliability_display,
    risk_coverage_curve,
    tag_report,
)
from artmedium.vocabulary import tags_to_medium

NO_MEDIUM = "(no medium tag)"


def jsonable(value):
    """``value`` with numpy types, tuples and non-finite floats made JSON-safe.

    NaN and infinities become None (strict JSON has no such numbers); dict keys
    become strings.
    """
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_figure(fig, path, *, dpi=150):
    """Write a matplotlib figure as PNG, atomically."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


def _labels_by_support(y, known):
    """Known labels, most frequent in ``y`` first (ties in ``known`` order)."""
    y = np.asarray(y)
    counts = np.array([np.sum(y == label) for label in known])
    order = np.argsort(-counts, kind="stable")
    return [known[i] for i in order]


def _check_y(y, n, name="y"):
    y = np.asarray(y)
    if len(y) != n:
        raise ValueError(f"X has {n} samples but {name} has {len(y)}")
    return y


def _classifier_report(estimator, X, y, *, labels, k):
    classes = np.asarray(estimator.classes_)
    answers = None
    if getattr(estimator, "calibration_", None) is not None:
        answers = estimator.assess(X, confidence=0.9, accept_accuracy=0.95)
        proba = answers.proba
    else:
        proba = np.asarray(estimator.predict_proba(X))
    y = _check_y(y, len(proba))
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D labels for a classifier; got shape {y.shape}")
    # Also refuses labels the estimator never saw, naming them.
    losses = losses_from_proba(proba, y, classes)
    y_pred = classes[proba.argmax(axis=1)]
    if labels is None:
        labels = _labels_by_support(y, list(classes))
    labels = list(labels)
    scores = per_class_accuracy(y, y_pred, labels=labels)
    report = {
        "kind": "classifier",
        "estimator": type(estimator).__name__,
        "n_samples": len(y),
        "accuracy": scores["accuracy"],
        "balanced_accuracy": scores["balanced_accuracy"],
        "per_class": scores["per_class"],
        "labels": labels,
        "confusion_matrix": confusion_matrix(y, y_pred, labels=labels),
        "most_confused": [
            {"true": t, "predicted": p, "count": c}
            for t, p, c in most_confused_pairs(y, y_pred, k=5, labels=labels)
        ],
        "top_losses": losses[:k],
        "calibration": _calibration_report(y, proba, classes, answers),
    }
    figures = {
        "confusion_matrix.png": lambda: _plots().plot_confusion_matrix(
            y, y_pred, labels=labels, normalize="true"
        ),
        "per_class_accuracy.png": lambda: _plots().plot_per_class_accuracy(
            y, y_pred, labels=labels
        ),
    }
    figures["reliability.png"] = lambda: (
        reliability_display(y, proba, classes=classes).figure_
    )
    if parse_X(X).kind == IMAGES:
        figures["top_losses.png"] = lambda: _plots().plot_top_losses(
            estimator, X, y, k=k, losses=losses[:k]
        )
    return report, figures


def _calibration_report(y, proba, classes, answers):
    """ECE, a risk-coverage curve, and (calibrated models) sets and statuses."""
    coverage, accuracy, _ = risk_coverage_curve(y, proba, classes=classes)
    step = max(1, len(coverage) // 20)
    share, threshold = accepted_at_accuracy(y, proba, 0.95, classes=classes)
    report = {
        "ece": expected_calibration_error(y, proba, classes=classes),
        "risk_coverage": {
            "coverage": np.r_[coverage[::step], coverage[-1]].round(4).tolist(),
            "accuracy": np.r_[accuracy[::step], accuracy[-1]].round(4).tolist(),
        },
        "share_at_95_accuracy": share,
        "calibrated": answers is not None,
    }
    if answers is not None:
        truth = np.searchsorted(classes, y)
        rows = np.arange(len(y))
        status = np.asarray(answers.status)
        ok = status == "ok"
        ok_accuracy = float((answers.labels == y)[ok].mean()) if ok.any() else None
        report.update(
            confidence=0.9,
            coverage=float(answers.sets[rows, truth].mean()),
            mean_set_size=float(answers.sets.sum(axis=1).mean()),
            status={s: float((status == s).mean()) for s in STATUSES},
            accuracy_of_ok=ok_accuracy,
            accepted_at_95={
                "threshold": answers.accept_threshold,
                "share": float((proba.max(axis=1) >= answers.accept_threshold).mean()),
            },
        )
    return report


def _media_of(Y, names):
    return np.array(
        [tags_to_medium(row, vocabulary=names) or NO_MEDIUM for row in Y],
        dtype=object,
    )


def _tagger_report(estimator, X, y, *, labels):
    names = [str(t) for t in estimator.tag_names_]
    # The tagger's own vocabulary: broader tags implied, the catalogue's wording.
    vocab = getattr(estimator, "vocabulary_", None) or names
    y_arr = np.asarray(y, dtype=object) if isinstance(y, (list, tuple)) else y
    Y_true = as_tag_matrix(y_arr, vocab)
    if hasattr(estimator, "_complete"):
        Y_true = estimator._complete(Y_true)  # a 0/1 matrix without broader tags
    Y_pred = np.asarray(estimator.predict(X))
    _check_y(Y_true, len(Y_pred))
    proba = np.asarray(estimator.predict_proba(X))
    given = np.asarray(y_arr)
    if given.ndim == 1 and given.dtype.kind in "OUS":
        medium_true = np.array([" ".join(str(m).split()) for m in given], dtype=object)
    else:
        medium_true = _media_of(Y_true, vocab)
    medium_pred = _media_of(Y_pred, vocab)
    scores = tag_report(
        Y_true,
        Y_pred,
        names,
        Y_proba=proba,
        medium_true=medium_true,
        medium_pred=medium_pred,
    )
    if labels is None:
        seen = list(dict.fromkeys([*medium_true, *medium_pred]))
        labels = _labels_by_support(medium_true, seen)
    labels = list(labels)
    report = {
        "kind": "tagger",
        "estimator": type(estimator).__name__,
        "n_samples": len(Y_true),
        "exact_match": scores["exact_match"],
        "hamming_loss": scores["hamming_loss"],
        "medium_accuracy": scores["medium_accuracy"],
        "per_tag": scores["per_tag"],
        "labels": labels,
        "confusion_matrix": confusion_matrix(medium_true, medium_pred, labels=labels),
        "most_confused": [
            {"true": t, "predicted": p, "count": c}
            for t, p, c in most_confused_pairs(
                medium_true, medium_pred, k=5, labels=labels
            )
        ],
    }
    figures = {
        "per_tag_accuracy.png": lambda: _plots().plot_per_tag_accuracy(
            Y_true, Y_pred, names
        ),
        "confusion_matrix.png": lambda: _plots().plot_confusion_matrix(
            medium_true,
            medium_pred,
            labels=labels,
            normalize="true",
            title="Media composed from predicted tags (normalised over true)",
        ),
    }
    return report, figures


def _plots():
    from artmedium.explain import _plots

    return _plots


def evaluation_report(estimator, X, y, *, out_dir=None, labels=None, k=8):
    """The poster's evaluation of a fitted estimator on a test set.

    Parameters
    ----------
    estimator : MediumClassifier, MediumTagger or classifier
        Fitted. A classifier needs ``predict_proba`` and ``classes_``; its
        predictions are the most probable classes. An estimator with
        ``tag_names_`` (a :class:`~artmedium.MediumTagger`) is evaluated per tag.
    X : images or array-like
        Test inputs.
    y : array-like
        For a classifier, labels ``(n_samples,)``. For a tagger, a 0/1 tag
        matrix ``(n_samples, n_tags)`` or medium descriptions (converted to tags
        as :meth:`MediumTagger.fit` does).
    out_dir : str or path-like, optional
        Folder (created if needed) where the figures and ``report.json`` are
        written, each atomically: ``confusion_matrix.png`` (normalised over true
        labels), ``per_class_accuracy.png``, ``reliability.png`` (reliability
        diagram of the top class) and ``top_losses.png`` (with saliency; images
        only) for a classifier; ``per_tag_accuracy.png`` and
        ``confusion_matrix.png`` (of the media the tags compose) for a tagger.
        Figures need matplotlib (``pip install "artmedium[plot]"``).
    labels : sequence, optional
        Class (or medium) order of the confusion matrix and per-class figure;
        default: most frequent in ``y`` first.
    k : int, default=8
        Number of top losses reported and drawn.

    Returns
    -------
    dict
        JSON-safe (what ``report.json`` holds). A classifier's: ``accuracy``,
        ``balanced_accuracy``, ``per_class`` (label -> accuracy and support),
        ``labels`` and ``confusion_matrix`` (counts, rows true, columns
        predicted), ``most_confused`` (five pairs), ``top_losses`` and
        ``calibration``: the expected calibration error (``ece``), a
        risk-coverage curve (accuracy of the most confident answers against
        their share), the share answerable at 95 % accuracy and, for a
        calibrated :class:`~artmedium.MediumClassifier`, the coverage and mean
        size of its 90 % prediction sets, the share of each status, the
        accuracy of the ``"ok"`` answers and the 95 % acceptance threshold. A
        tagger's: ``exact_match``, ``hamming_loss``, ``medium_accuracy``,
        ``per_tag`` (see :func:`artmedium.metrics.tag_report`), ``labels``,
        ``confusion_matrix`` and ``most_confused`` over the composed media.
        Both have ``kind``, ``estimator``, ``n_samples`` and, with ``out_dir``,
        ``files`` (the names written).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array(["ink", "ink", "oil", "oil"])
    >>> report = evaluation_report(LogisticRegression().fit(X, y), X, y)
    >>> report["accuracy"], report["confusion_matrix"]
    (1.0, [[2, 0], [0, 2]])
    """
    check_is_fitted(estimator)
    if hasattr(estimator, "tag_names_"):
        report, figures = _tagger_report(estimator, X, y, labels=labels)
    else:
        if not (hasattr(estimator, "predict_proba") and hasattr(estimator, "classes_")):
            raise TypeError(
                f"{type(estimator).__name__} has no predict_proba / classes_: "
                "evaluation_report needs a probabilistic classifier or a MediumTagger"
            )
        report, figures = _classifier_report(estimator, X, y, labels=labels, k=k)
    if out_dir is not None:
        _plots()._matplotlib()  # fail before anything is written
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, draw in figures.items():
            save_figure(draw(), out / name)
        report["files"] = [*figures, "report.json"]
    report = jsonable(report)
    if out_dir is not None:
        text = json.dumps(report, indent=2, allow_nan=False)
        atomic_write(
            Path(out_dir) / "report.json",
            lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"),
        )
    return report
