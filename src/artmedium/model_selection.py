"""Weighting and cross-validation for images grouped by artist.

A cataloguer's new acquisitions are by artists the model never saw, and in a
museum collection one hand can dominate a medium (most of the Tate's "Graphite
on paper" are Turner's sketchbook pages). The tools here measure and train for
that case:

- :func:`balanced_sample_weight`: ``sample_weight`` for ``fit`` that gives each
  class and/or each group (artist) the same total weight, so that a model learns
  the medium rather than its most prolific artist.

Examples
--------
>>> from artmedium.model_selection import balanced_sample_weight
>>> balanced_sample_weight(["oil", "oil", "oil", "ink"], ["a", "a", "b", "c"])
array([0.5, 0.5, 1. , 2. ])
"""

import numpy as np
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.validation import column_or_1d

__all__ = ["balanced_sample_weight"]

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
