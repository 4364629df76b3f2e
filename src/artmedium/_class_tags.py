"""Which media tags a medium class implies, and tag probabilities of a classifier.

The one definition of "the tags of a class" (a class's medium description parsed
by :func:`artmedium.datasets.medium_to_tags`), used by the classifier's saved
model, its tag probabilities and prediction rows.
"""

import numpy as np

from artmedium.vocabulary import POSTER_TAGS, tag_matrix


def class_tag_matrix(classes, vocabulary=None):
    """``(n_classes, n_tags)`` 0/1: which tags each class implies.

    Parameters
    ----------
    classes : sequence
        Class labels; those that are not strings imply no tag, and terms of a
        class outside the vocabulary imply none either (no warning).
    vocabulary : None, Vocabulary or sequence of str, default=None
        The tags; None means :data:`artmedium.datasets.POSTER_TAGS`.

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> class_tag_matrix(["Graphite on paper", 3], ["graphite", "canvas"]).tolist()
    [[1, 0], [0, 0]]
    """
    if vocabulary is None:
        vocabulary = POSTER_TAGS
    names = [c if isinstance(c, str) else "" for c in classes]
    # A class's terms outside the vocabulary simply imply no tag: a classifier
    # of other media is not an error, and would warn on every prediction.
    return tag_matrix(names, vocabulary=vocabulary, unknown="ignore")


def class_tag_names(classes, vocabulary=None):
    """The tags implied by at least one class, in vocabulary order.

    Examples
    --------
    >>> class_tag_names(["Oil paint on canvas", "Graphite on paper"])
    ['graphite', 'oil paint', 'canvas']
    """
    if vocabulary is None:
        vocabulary = POSTER_TAGS
    present = class_tag_matrix(classes, vocabulary).any(axis=0)
    return [str(t) for t, on in zip(vocabulary, present) if on]


def class_tag_probabilities(proba, classes, vocabulary=None):
    """Probability of each media tag implied by class probabilities.

    A classifier over medium descriptions ("Graphite and watercolour on paper",
    ...) says nothing about tags directly; but its classes are mutually exclusive,
    so the probability that a tag is present is the total probability of the
    classes whose description has that tag (:func:`artmedium.datasets.medium_to_tags`):
    ``P(tag) = sum of P(class) over classes with the tag``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities, columns in the order of ``classes`` (e.g.
        ``MediumClassifier.predict_proba``).
    classes : sequence of str
        The medium description of each column (``classes_``). Classes that are
        not strings have no tags.
    vocabulary : None, Vocabulary or sequence of str, default=None
        The tags; None means :data:`artmedium.datasets.POSTER_TAGS`.

    Returns
    -------
    ndarray of shape (n_samples, n_tags)
        Columns in vocabulary order. A tag that no class has gets 0.

    Examples
    --------
    >>> import numpy as np
    >>> classes = ["Graphite on paper", "Graphite and watercolour on paper",
    ...            "Oil paint on canvas"]
    >>> p = class_tag_probabilities([[0.5, 0.3, 0.2]], classes,
    ...                             vocabulary=["graphite", "watercolour", "canvas"])
    >>> p.round(2).tolist()
    [[0.8, 0.3, 0.2]]
    """
    proba = np.asarray(proba, dtype=float)
    classes = list(classes)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(
            f"proba must have shape (n_samples, {len(classes)}), one column per "
            f"class; got {proba.shape}."
        )
    return proba @ class_tag_matrix(classes, vocabulary).astype(float)
