"""Weighting and cross-validation for images grouped by artist.

A cataloguer's new acquisitions are by artists the model never saw, and in a
museum collection one hand can dominate a medium (most of the Tate's "Graphite
on paper" are Turner's sketchbook pages). The tools here measure and train for
that case:

- :func:`balanced_sample_weight`: ``sample_weight`` for ``fit`` that gives each
  class and/or each group (artist) the same total weight, so that a model learns
  the medium rather than its most prolific artist.
- :func:`cross_validate_report`: a recipe measured the way we report it:
  stratified (optionally grouped: no artist on both sides of a fold) k-fold
  cross-validation, each fold refitting a clone, with accuracy, balanced
  accuracy, the majority baseline and per-class recall as mean ± sd over folds,
  and the out-of-fold prediction of every sample;
- :func:`format_cv_report`: that report as the text ``artmedium evaluate --cv``
  prints.

Examples
--------
>>> from artmedium.model_selection import balanced_sample_weight
>>> balanced_sample_weight(["oil", "oil", "oil", "ink"], ["a", "a", "b", "c"])
array([0.5, 0.5, 1. , 2. ])
"""

import sys
import time
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, check_cv
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils._param_validation import HasMethods, StrOptions, validate_params
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _num_samples, column_or_1d

__all__ = ["balanced_sample_weight", "cross_validate_report", "format_cv_report"]

_BALANCE = ("class", "group", "group_in_class", "class_and_group")


@validate_params(
    {
        "y": ["array-like"],
        "groups": ["array-like", None],
        "balance": [StrOptions(set(_BALANCE))],
    },
    prefer_skip_nested_validation=True,
)
def balanced_sample_weight(y, groups=None, *, balance="class_and_group"):
    """Sample weights that balance classes, groups (artists), or both.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (media).
    groups : array-like of shape (n_samples,), default=None
        Group of each sample, e.g. its artist (``load_tate(...).groups``).
        Required unless ``balance="class"``.
    balance : {"class_and_group", "class", "group", "group_in_class"}, \
            default="class_and_group"
        - ``"class"``: each class has the same total weight (scikit-learn's
          ``compute_sample_weight("balanced", y)``);
        - ``"group"``: each group has the same total weight;
        - ``"group_in_class"``: classes keep their share of the samples, and
          within a class each group has the same share of it;
        - ``"class_and_group"``: each class has the same total weight, shared
          equally by the groups in it, then equally by each group's samples.

    Returns
    -------
    sample_weight : ndarray of shape (n_samples,)
        Positive float64 weights with mean 1 (so ``lr`` and regularisation mean
        what they mean unweighted).

    Raises
    ------
    ValueError
        ``groups`` is missing, or its length differs from ``y``'s.

    Examples
    --------
    Three Turner pages and one page by another artist, all graphite, and one
    oil: each class weighs 2.5, and within graphite each artist weighs 1.25.

    >>> from artmedium.model_selection import balanced_sample_weight
    >>> y = ["graphite"] * 4 + ["oil"]
    >>> artist = ["Turner"] * 3 + ["Blake", "Constable"]
    >>> balanced_sample_weight(y, artist).round(3)
    array([0.417, 0.417, 0.417, 1.25 , 2.5  ])
    >>> balanced_sample_weight(y, balance="class").round(3)
    array([0.625, 0.625, 0.625, 0.625, 2.5  ])
    """
    y = column_or_1d(np.asarray(y, dtype=object), warn=True)
    n = len(y)
    if n == 0:
        return np.ones(0)
    if balance == "class":
        keys = [y]
    else:
        if groups is None:
            raise ValueError(f"balance={balance!r} needs groups (e.g. the artists).")
        groups = column_or_1d(np.asarray(groups, dtype=object), warn=True)
        if len(groups) != n:
            raise ValueError(
                f"groups has {len(groups)} entries but y has {n}; give one group "
                "per sample."
            )
        if balance == "group":
            keys = [groups]
        elif balance == "group_in_class":
            keys = [None, y, (y, groups)]
        else:
            keys = [y, (y, groups)]
    # Each level splits its parent's weight equally among its children: a sample
    # gets 1 / (children of the root) * 1 / (children of its class) * ...
    weight = np.ones(n)
    if balance == "group_in_class":
        # Classes keep their sample share: start from the class sizes.
        _, cls_inv, cls_count = np.unique(y, return_inverse=True, return_counts=True)
        weight *= cls_count[cls_inv]
        _, pair_inv = np.unique(_pairs(y, groups), return_inverse=True)
        n_groups_in_class = _children(cls_inv, pair_inv)
        _, pair_count = np.unique(pair_inv, return_counts=True)
        weight /= n_groups_in_class[cls_inv] * pair_count[pair_inv]
    else:
        parent = np.zeros(n, dtype=np.intp)
        for key in keys:
            codes = key if not isinstance(key, tuple) else _pairs(*key)
            _, inv = np.unique(codes, return_inverse=True)
            inv = inv.ravel()
            weight /= _children(parent, inv)[parent]
            parent = inv
        _, leaf_count = np.unique(parent, return_counts=True)
        weight /= leaf_count[parent]
    return weight * (n / weight.sum())


def _pairs(a, b):
    return np.array([f"{x!r}\x00{y!r}" for x, y in zip(a, b)], dtype=object)


def _children(parent, child):
    """For each parent code, how many distinct child codes it has."""
    pairs = np.unique(np.stack([parent, child], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=parent.max() + 1)


@validate_params(
    {
        "estimator": [HasMethods(["fit", "predict"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "groups": ["array-like", None],
        "cv": ["cv_object"],
        "balance": [StrOptions(set(_BALANCE)), None],
        "group_folds": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=False,  # the estimator is validated in fit
)
def cross_validate_report(
    estimator,
    X,
    y,
    *,
    groups=None,
    cv=5,
    balance=None,
    group_folds=True,
    random_state=0,
    n_jobs=None,
    verbose=0,
):
    """Cross-validate a classifier's configuration: mean ± sd over folds.

    Each fold fits a clone of ``estimator`` on its training part and predicts
    its test part, so every sample is predicted by a model that never saw it.
    With ``groups`` (e.g. the artists), no group is on both sides of a fold: the
    score is that of works by artists the model has not seen.

    Parameters
    ----------
    estimator : classifier
        Its configuration is evaluated: it is cloned for each fold (a fitted
        estimator's fitted state is not used).
    X : array-like of shape (n_samples, ...)
        Inputs: image paths, a uint8 image array, a DataFrame, features...;
        indexed with scikit-learn's ``_safe_indexing``.
    y : array-like of shape (n_samples,)
        One class label per sample. A tag matrix (a
        :class:`~artmedium.MediumTagger`'s target) is refused: evaluate a
        tagger with :func:`artmedium.explain.evaluation_report`.
    groups : array-like of shape (n_samples,), default=None
        Group of each sample, e.g. its artist (``load_tate(...).groups``).
        With an int ``cv``, makes the folds grouped (unless
        ``group_folds=False``); with a splitter, is passed to its ``split``.
    cv : int, cross-validation splitter or iterable, default=5
        An int (None: 5) is the number of folds of a shuffled
        :class:`~sklearn.model_selection.StratifiedKFold`, or with ``groups``
        of a shuffled :class:`~sklearn.model_selection.StratifiedGroupKFold`,
        both seeded with ``random_state``; each class then needs at least
        ``cv`` samples and, with groups, there must be at least ``cv`` groups.
        Otherwise a splitter object or an iterable of ``(train, test)`` index
        arrays (see :func:`sklearn.model_selection.check_cv`).
    balance : {"class_and_group", "class", "group", "group_in_class"} or None, \
            default=None
        Fit with ``sample_weight=balanced_sample_weight(y_train, groups_train,
        balance=balance)``, computed on each training fold alone (see
        :func:`balanced_sample_weight`); None fits unweighted. All but
        ``"class"`` need ``groups``.
    group_folds : bool, default=True
        With ``groups`` and an int ``cv``: False keeps the folds stratified,
        not grouped, and uses ``groups`` only for ``balance``'s weights (the
        random-split protocol of a model trained with artist weights); groups
        on both sides of a fold are then expected, not warned about.
    random_state : int, RandomState instance or None, default=0
        Seed of the shuffled folds made from an int ``cv`` (not of the
        estimator: set its own ``random_state`` for repeatable fits).
    n_jobs : int or None, default=None
        Folds fitted in parallel by joblib; None or 1 fits them one after the
        other (the image estimators already use several threads each).
    verbose : int, default=0
        Above 0, a line per fold on standard error.

    Returns
    -------
    report : dict
        JSON-serialisable. Scores are ``{"mean", "sd", "folds"}`` where ``sd`` is
        the population standard deviation over folds (``numpy.std``,
        ``ddof=0``) and ``folds`` the score of each fold:

        - ``n_samples``, ``n_splits``, ``cv`` (the splitter's ``repr``),
          ``estimator`` (its class name), ``grouped`` (the folds were made
          with ``groups``),
          ``n_groups`` (None without groups), ``balance``, ``classes`` (sorted);
        - ``accuracy``; ``balanced_accuracy`` (the mean recall over the classes
          present in the test fold);
        - ``majority``: the accuracy of always predicting the training fold's
          most frequent class, the score to beat;
        - ``per_class_recall``: class -> score, where a class absent from a
          test fold is ``None`` in ``folds`` and ``mean`` and ``sd`` are over
          the folds holding it (None if none does);
        - ``fit_time`` and ``predict_time`` in seconds;
        - ``folds``: per fold ``n_train``, ``n_test`` and, with groups,
          ``n_test_groups`` and ``n_shared_groups`` (groups on both sides of
          the fold: 0 unless the splitter ignores groups, which warns);
        - ``predictions``: the out-of-fold prediction of every sample, in
          input order; None when the test folds are not a partition of the
          samples (e.g. a ``ShuffleSplit``).

    Raises
    ------
    ValueError
        ``y`` is not one label per sample, ``X``, ``y`` or ``groups`` differ in
        length, ``balance`` needs ``groups``, ``y`` has a single class, an int
        ``cv`` asks for more folds than a class has samples or than there are
        groups, the splitter cannot split the data, or a test fold is empty.

    See Also
    --------
    balanced_sample_weight : the weights of ``balance``.
    format_cv_report : the report as text.

    Examples
    --------
    Two classes by twelve artists, six each; grouped 3-fold cross-validation
    keeps each artist's works on one side of every fold.

    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from artmedium.model_selection import cross_validate_report
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat(["ink", "oil"], 30)
    >>> X = rng.normal(size=(60, 2)) + 2.0 * (y == "oil")[:, None]
    >>> artist = np.repeat(np.arange(12), 5)
    >>> report = cross_validate_report(
    ...     LogisticRegression(), X, y, groups=artist, cv=3, balance="class"
    ... )
    >>> report["n_splits"], report["n_groups"], report["classes"]
    (3, 12, ['ink', 'oil'])
    >>> [fold["n_shared_groups"] for fold in report["folds"]]
    [0, 0, 0]
    >>> round(report["accuracy"]["mean"], 3), round(report["majority"]["mean"], 3)
    (0.917, 0.5)
    >>> len(report["predictions"])
    60
    """
    n_samples = _num_samples(X)
    y = _check_labels(y, n_samples)
    if groups is not None:
        groups = column_or_1d(np.asarray(groups, dtype=object), warn=True)
        if len(groups) != n_samples:
            raise ValueError(
                f"groups has {len(groups)} entries but X and y have {n_samples}; "
                "give one group per sample."
            )
    if balance not in (None, "class") and groups is None:
        raise ValueError(f"balance={balance!r} needs groups (e.g. the artists).")
    if not get_tags(estimator).target_tags.single_output:
        raise ValueError(
            f"{type(estimator).__name__} predicts several outputs (tags); "
            "cross_validate_report evaluates classifiers of one label per sample. "
            "Evaluate a tagger with artmedium.explain.evaluation_report."
        )
    classes, class_counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"y holds {len(classes)} class(es) {classes.tolist()}: nothing to "
            "cross-validate."
        )
    n_groups = None if groups is None else len(np.unique(groups))
    int_cv = cv is None or isinstance(cv, Integral)
    grouped = groups is not None and (group_folds or not int_cv)
    splitter = _check_splitter(
        cv,
        y,
        groups if grouped else None,
        n_groups,
        random_state,
        classes,
        class_counts,
    )
    try:
        splits = [
            (np.asarray(train), np.asarray(test))
            for train, test in splitter.split(X, y, groups if grouped else None)
        ]
    except ValueError as exc:
        raise ValueError(f"cannot split the data with {splitter!r}: {exc}") from exc
    for k, (_, test) in enumerate(splits, start=1):
        if len(test) == 0:
            raise ValueError(f"fold {k} of {splitter!r} has an empty test set.")
    folds_info = []
    for train, test in splits:
        info = {"n_train": int(len(train)), "n_test": int(len(test))}
        if groups is not None:
            test_groups = set(groups[test].tolist())
            info["n_test_groups"] = len(test_groups)
            info["n_shared_groups"] = len(test_groups & set(groups[train].tolist()))
        folds_info.append(info)
    leaky = [k for k, info in enumerate(folds_info, 1) if info.get("n_shared_groups")]
    if leaky and grouped:
        warnings.warn(
            f"{splitter!r} ignores groups: fold(s) {', '.join(map(str, leaky))} "
            "have groups on both sides; use a group-aware splitter such as "
            "StratifiedGroupKFold.",
            UserWarning,
            stacklevel=3,  # the caller of the validate_params wrapper
        )

    if n_jobs is None or n_jobs == 1:
        results = []
        for k, (train, test) in enumerate(splits, start=1):
            results.append(
                _fit_and_predict(estimator, X, y, groups, train, test, balance)
            )
            if verbose:
                y_pred, fit_time, _ = results[-1]
                print(
                    f"[cross_validate_report] fold {k}/{len(splits)}: fit "
                    f"{fit_time:.1f} s, accuracy {np.mean(y[test] == y_pred):.3f}",
                    file=sys.stderr,
                )
    else:
        results = Parallel(n_jobs=n_jobs, verbose=verbose)(
            delayed(_fit_and_predict)(estimator, X, y, groups, train, test, balance)
            for train, test in splits
        )

    scores = {"accuracy": [], "balanced_accuracy": [], "majority": []}
    recalls, fit_times, predict_times = [], [], []
    predictions = np.empty(n_samples, dtype=object)
    times_tested = np.zeros(n_samples, dtype=np.intp)
    for (train, test), (y_pred, fit_time, predict_time) in zip(splits, results):
        y_true = y[test]
        if y_pred.ndim != 1 or len(y_pred) != len(test):
            raise ValueError(
                f"{type(estimator).__name__}.predict returned shape {y_pred.shape} "
                f"for {len(test)} samples; cross_validate_report evaluates "
                "classifiers of one label per sample. Evaluate a tagger with "
                "artmedium.explain.evaluation_report."
            )
        labels, counts = np.unique(y[train], return_counts=True)
        majority = labels[np.argmax(counts)]
        scores["accuracy"].append(accuracy_score(y_true, y_pred))
        with warnings.catch_warnings():
            # A class the model predicts but this test fold lacks is simply a
            # mistake; balanced accuracy averages over the classes present.
            warnings.filterwarnings(
                "ignore", message="y_pred contains classes not in y_true"
            )
            scores["balanced_accuracy"].append(balanced_accuracy_score(y_true, y_pred))
        scores["majority"].append(float(np.mean(y_true == majority)))
        # zero_division=nan: a class absent from this test fold has no recall.
        recalls.append(
            recall_score(
                y_true, y_pred, labels=classes, average=None, zero_division=np.nan
            )
        )
        fit_times.append(fit_time)
        predict_times.append(predict_time)
        predictions[test] = y_pred
        times_tested[test] += 1

    recalls = np.asarray(recalls, dtype=float)
    report = {
        "n_samples": int(n_samples),
        "n_splits": len(splits),
        "cv": _describe(splitter, cv),
        "estimator": type(estimator).__name__,
        "grouped": grouped,
        "n_groups": n_groups,
        "balance": balance,
        "classes": [_json_value(c) for c in classes],
        **{name: _summary(values) for name, values in scores.items()},
        "per_class_recall": {
            _json_value(c): _summary(recalls[:, j]) for j, c in enumerate(classes)
        },
        "fit_time": _summary(fit_times),
        "predict_time": _summary(predict_times),
        "folds": folds_info,
        "predictions": (
            [_json_value(v) for v in predictions] if np.all(times_tested == 1) else None
        ),
    }
    return report


def _check_labels(y, n_samples):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 or y.ndim > 2:
        raise ValueError(
            f"y has shape {y.shape}: cross_validate_report evaluates classifiers "
            "of one label per sample. A tag matrix is a tagger's target: evaluate "
            "a tagger with artmedium.explain.evaluation_report."
        )
    y = column_or_1d(y, warn=True)
    kind = type_of_target(y, input_name="y")
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"y holds {kind} values; cross_validate_report needs class labels."
        )
    if len(y) != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {len(y)} labels.")
    return y


def _check_splitter(cv, y, groups, n_groups, random_state, classes, class_counts):
    if cv is None:
        cv = 5
    if not isinstance(cv, Integral):
        return check_cv(cv, y, classifier=True)
    small = [(c, n) for c, n in zip(classes, class_counts) if n < cv]
    if small:
        listed = ", ".join(f"{c!r} has {n}" for c, n in small)
        raise ValueError(
            f"cv={cv} folds need at least {cv} samples of each class, but {listed}: "
            "use fewer folds or leave these classes out."
        )
    if groups is None:
        return StratifiedKFold(cv, shuffle=True, random_state=random_state)
    if n_groups < cv:
        raise ValueError(
            f"cv={cv} grouped folds need at least {cv} groups, but groups holds "
            f"{n_groups}: use fewer folds."
        )
    return StratifiedGroupKFold(cv, shuffle=True, random_state=random_state)


def _describe(splitter, cv):
    if isinstance(cv, Integral) or cv is None or hasattr(cv, "split"):
        return repr(splitter)
    return f"{splitter.get_n_splits()} given (train, test) splits"


def _fit_and_predict(estimator, X, y, groups, train, test, balance):
    """One fold: fit a clone on ``train`` (weighted from ``train`` alone),
    predict ``test``; the predictions and both durations in seconds."""
    fit_params = {}
    if balance is not None:
        fit_params["sample_weight"] = balanced_sample_weight(
            y[train], None if groups is None else groups[train], balance=balance
        )
    model = clone(estimator)
    start = time.perf_counter()
    model.fit(_safe_indexing(X, train), y[train], **fit_params)
    fit_time = time.perf_counter() - start
    X_test = _safe_indexing(X, test)
    start = time.perf_counter()
    y_pred = np.asarray(model.predict(X_test))
    return y_pred, fit_time, time.perf_counter() - start


def _summary(values):
    """``{"mean", "sd", "folds"}`` of per-fold scores; NaN (a class absent
    from a fold) is None in ``folds`` and left out of ``mean`` and ``sd``."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    return {
        "mean": float(np.mean(present)) if len(present) else None,
        "sd": float(np.std(present)) if len(present) else None,
        "folds": [None if np.isnan(v) else float(v) for v in values],
    }


def _json_value(value):
    return value.item() if isinstance(value, np.generic) else value


def _printable(value):
    """A label as one terminal-safe line: controls, line breaks and format
    characters (bidirectional overrides) backslash-escaped."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


def format_cv_report(report):
    """The report of :func:`cross_validate_report` as text, one score a line.

    Scores read ``mean ± sd`` over folds (``sd``: population standard
    deviation), then each fold's. Labels are printed with control characters
    escaped.

    Parameters
    ----------
    report : dict
        As returned by :func:`cross_validate_report` (or read back from its
        JSON).

    Returns
    -------
    str
        Several lines, without a final newline.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from artmedium.model_selection import cross_validate_report
    >>> X = np.arange(12.0).reshape(-1, 1)
    >>> y = np.array(["ink"] * 6 + ["oil"] * 6)
    >>> report = cross_validate_report(LogisticRegression(), X, y, cv=3)
    >>> print(format_cv_report(report))  # doctest: +ELLIPSIS
    3-fold cross-validation of LogisticRegression on 12 samples, 2 classes
      StratifiedKFold(n_splits=3, random_state=0, shuffle=True)
    accuracy           1.000 ± 0.000  (folds 1.000 1.000 1.000)
    balanced accuracy  1.000 ± 0.000  (folds 1.000 1.000 1.000)
    majority baseline  0.500 ± 0.000  (folds 0.500 0.500 0.500)
    recall per class (mean ± sd over the folds holding it)
      ink  1.000 ± 0.000
      oil  1.000 ± 0.000
    fit time           ... s per fold (total ... s)
    predict time       ... s per fold (total ... s)
    """
    n_splits = report["n_splits"]
    head = (
        f"{n_splits}-fold cross-validation of {report.get('estimator', 'the model')} "
        f"on {report['n_samples']} samples, {len(report['classes'])} classes"
    )
    if report.get("grouped"):
        head += f", {report['n_groups']} groups"
    lines = [head, f"  {report['cv']}"]
    if report.get("grouped"):
        shared = sum(f.get("n_shared_groups", 0) for f in report["folds"])
        lines.append(
            "  no group on both sides of a fold"
            if shared == 0
            else f"  WARNING: {shared} group(s) on both sides of a fold"
        )
    if report.get("balance") is not None:
        lines.append(f"  fitted with balance={report['balance']!r} sample weights")
    for key, name in (
        ("accuracy", "accuracy"),
        ("balanced_accuracy", "balanced accuracy"),
        ("majority", "majority baseline"),
    ):
        score = report[key]
        folds = " ".join(_number(v) for v in score["folds"])
        lines.append(f"{name:<18} {_mean_sd(score)}  (folds {folds})")
    lines.append("recall per class (mean ± sd over the folds holding it)")
    names = {label: _printable(label) for label in report["per_class_recall"]}
    width = max((len(n) for n in names.values()), default=0)
    for label, score in report["per_class_recall"].items():
        held = sum(v is not None for v in score["folds"])
        note = "" if held == n_splits else f"  (in {held} of {n_splits} folds)"
        lines.append(f"  {names[label]:<{width}}  {_mean_sd(score)}{note}")
    for key, name in (("fit_time", "fit time"), ("predict_time", "predict time")):
        seconds = report[key]
        total = sum(seconds["folds"])
        lines.append(
            f"{name:<18} {seconds['mean']:.2f} ± {seconds['sd']:.2f} s per fold "
            f"(total {total:.1f} s)"
        )
    return "\n".join(lines)


def _number(value):
    return "n/a" if value is None else f"{value:.3f}"


def _mean_sd(score):
    if score["mean"] is None:
        return "n/a"
    return f"{score['mean']:.3f} ± {score['sd']:.3f}"
