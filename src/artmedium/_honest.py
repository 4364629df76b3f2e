"""Honest answers from a network's outputs: numpy only, no torch, no scikit-learn.

What a calibrated model does after its forward pass (temperature scaling,
conformal prediction sets, the novelty score and its threshold, a tagger's
back-off to broader tags and each answer's status) is the same whichever
backend ran the network. It lives here, importing nothing heavier than numpy,
so that :class:`~artmedium.MediumClassifier` and :class:`~artmedium.MediumTagger`
(torch) and the ONNX Runtime models of :mod:`artmedium.onnx` give the same
answers from the same logits, and a one-image ``artmedium predict`` on an ONNX
model starts without importing torch, scikit-learn, scipy or crepes.

The conformal sets are crepes' split conformal classifier with unsmoothed
p-values (``ConformalClassifier().predict_set(..., smoothing=False)``), computed
by sorting instead of crepes' per-cell loop; the test suite checks them against
crepes itself.
"""

from functools import cached_property

import numpy as np

#: Neighbours the novelty score looks at (the k-th nearest held-out image).
NOVELTY_NEIGHBOURS = 5
#: The temperatures a fit may give and a saved model may hold. A held-out set
#: the model gets all right drives the fitted temperature towards 0 (every
#: probability 0 or 1), which no answer on new images deserves.
TEMPERATURE_RANGE = (0.05, 20.0)
#: Most held-out images a calibration keeps (the novelty score compares every
#: new image with each of them).
MAX_CALIBRATION_IMAGES = 20_000


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


class Answers(dict):
    """A dict whose keys are also attributes (scikit-learn's ``Bunch``)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __dir__(self):
        return list(self.keys())


def softmax(logits, temperature=1.0):
    """``softmax(logits / temperature)`` along the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _unit(features):
    features = np.asarray(features, dtype=np.float32)
    norm = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norm, 1e-12)


def unit_features(features):
    """Rows scaled to unit length, in half precision: what a saved model keeps
    for cosine distances (see :class:`Calibration`)."""
    return _unit(features).astype(np.float16)


def knn_distance(features, reference, k, *, leave_one_out=False, unit=False):
    """Cosine distance of each row of ``features`` to its ``k``-th nearest row
    of ``reference`` (both L2-normalised inside, or ``reference`` already
    normalised float32 rows with ``unit``); ``leave_one_out`` when
    ``features`` is ``reference`` itself, so a row is not its own neighbour."""
    queries = _unit(features)
    reference = reference if unit else _unit(reference)
    k = min(k + int(leave_one_out), len(reference))
    out = np.empty(len(queries), dtype=np.float64)
    block = max(1, (1 << 22) // max(len(reference), 1))  # about 16 MB per block
    for start in range(0, len(queries), block):
        sim = queries[start : start + block] @ reference.T
        kth = np.partition(-sim, k - 1, axis=1)[:, k - 1]
        out[start : start + block] = 1.0 + kth
    return out


def conformal_threshold(held_out_scores, rate):
    """The score a new image exchangeable with the held-out ones exceeds with
    probability at most ``rate``: their ``ceil((n + 1)(1 - rate))``-th smallest
    score (inf, never exceeded, when there are too few held-out images)."""
    scores = np.sort(np.asarray(held_out_scores, dtype=np.float64))
    rank = int(np.ceil((len(scores) + 1) * (1.0 - rate)))
    return float(scores[rank - 1]) if rank <= len(scores) else float("inf")


def conformal_sets(sorted_scores, proba, confidence):
    """Split conformal prediction sets on the hinge score ``1 - p``.

    Class ``j`` is in image ``i``'s set when its unsmoothed p-value
    ``(#{held-out scores >= 1 - proba[i, j]} + 1) / (n + 1)`` is at least
    ``1 - confidence`` (crepes' ``predict_set(..., smoothing=False)``).

    Parameters
    ----------
    sorted_scores : ndarray of shape (n,)
        The held-out images' scores ``1 - p(true class)``, sorted ascending.
    proba : ndarray of shape (n_samples, n_classes)
    confidence : float in (0, 1)

    Returns
    -------
    ndarray of bool, shape (n_samples, n_classes)
    """
    alphas = 1.0 - np.asarray(proba, dtype=np.float64)
    n = len(sorted_scores)
    at_least = n - np.searchsorted(sorted_scores, alphas, side="left")
    return (at_least + 1) / (n + 1) >= 1.0 - confidence


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
    temperature : float
        The fitted temperature (see ``fit_temperature`` in
        ``artmedium.estimators._calibration``).

    Notes
    -----
    What is derived (conformal scores, acceptance data, novelty scores of the
    held-out images) is computed on first use, so a loaded model, whose arrays
    are filled in after it is built, derives it from the loaded arrays.
    """

    def __init__(self, logits, labels, features, temperature):
        self.logits = np.asarray(logits, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        # Only cosine distances use them: unit rows in half precision halve a
        # saved model's share of them and change a distance by less than 1e-3
        # (normalised first, so no scale of features overflows or vanishes).
        self.features = unit_features(features)
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
        proba = self.proba(self.logits)
        rows = np.arange(len(self.labels))
        novelty = knn_distance(
            self.features, self.features, self._neighbours, leave_one_out=True
        )
        return {
            "confidence": proba.max(axis=1),
            "correct": proba.argmax(axis=1) == self.labels,
            "scores": np.sort(1.0 - proba[rows, self.labels]),
            "novelty": novelty,
        }

    def proba(self, logits):
        """Calibrated probabilities ``softmax(logits / temperature)``."""
        return softmax(logits, self.temperature)

    def sets(self, proba, confidence):
        """Boolean ``(n, n_classes)`` conformal prediction sets."""
        return conformal_sets(self._held_out["scores"], proba, confidence)

    def acceptance_threshold(self, accuracy):
        """Lowest top probability whose held-out answers at or above it are at
        least ``accuracy`` accurate (above 1, accepting nothing, when none are)."""
        from artmedium._answers import accepted_share

        held_out = self._held_out
        return accepted_share(held_out["correct"], held_out["confidence"], accuracy)[1]

    @property
    def _neighbours(self):
        # The same k for the held-out images (leaving each out) and new ones.
        return min(NOVELTY_NEIGHBOURS, len(self.labels) - 1)

    @cached_property
    def _reference(self):
        # Normalised once, not on every batch (the same numbers knn_distance
        # would compute from self.features).
        return _unit(self.features)

    def novelty_scores(self, features):
        """Cosine distance to the k-th nearest held-out image (higher: stranger)."""
        self._held_out  # noqa: B018 - checks the arrays first
        return knn_distance(features, self._reference, self._neighbours, unit=True)

    def novelty_threshold(self, rate):
        """The conformal threshold: a new image like the held-out ones scores
        above it with probability at most ``rate`` (inf: never, when there are
        too few held-out images for that rate)."""
        return conformal_threshold(self._held_out["novelty"], rate)

    def assess(self, features, logits, *, confidence, accept_accuracy, unknown_rate):
        """A classifier's answers from its network's outputs.

        What :meth:`MediumClassifier.assess <artmedium.MediumClassifier.assess>`
        returns, less ``labels`` (the caller maps column indices to classes):
        ``proba``, ``sets``, ``novelty``, ``status``, ``accept_threshold`` and
        ``novelty_threshold``. The arguments are already checked.
        """
        proba = self.proba(logits)
        sets = self.sets(proba, confidence)
        novelty = self.novelty_scores(features)
        novelty_threshold = self.novelty_threshold(unknown_rate)
        accept_threshold = (
            None
            if accept_accuracy is None
            else self.acceptance_threshold(accept_accuracy)
        )
        sure = sets.sum(axis=1) == 1
        if accept_threshold is not None:
            sure &= proba.max(axis=1) >= accept_threshold
        status = np.where(sure, "ok", "uncertain").astype(object)
        status[novelty > novelty_threshold] = "unknown"
        return Answers(
            proba=proba,
            sets=sets,
            novelty=novelty,
            status=status,
            accept_threshold=accept_threshold,
            novelty_threshold=novelty_threshold,
        )


def independent_combination_proba(proba, combinations):
    """P(each combination) from tag probabilities, tags taken as independent."""
    p = np.clip(np.asarray(proba, dtype=float), 1e-12, 1 - 1e-12)
    log = np.log(p) @ combinations.T + np.log1p(-p) @ (1 - combinations).T
    return np.exp(log)


def back_off(vocabulary, decoded, proba, confidence):
    """A tagger's answers after backing off to broader tags, and their confidence.

    Each most specific tag of a decoded row whose probability is below
    ``confidence`` is replaced by its nearest broader tag that reaches it (none:
    it stays). An answer claims its tags (broader ones included) present and
    every other tag absent, except the narrower tags of a term it backed off
    to; its confidence is the least probable of those claims.

    Parameters
    ----------
    vocabulary : artmedium.vocabulary.Vocabulary
    decoded : ndarray of shape (n_samples, n_tags)
        0/1 rows, columns in ``vocabulary.tags`` order.
    proba : ndarray of shape (n_samples, n_tags)
        Calibrated tag probabilities.
    confidence : float

    Returns
    -------
    tags : ndarray of shape (n_samples, n_tags)
    least : ndarray of shape (n_samples,)
    """
    column = {t: j for j, t in enumerate(vocabulary.tags)}
    names = vocabulary.tags
    out = np.zeros_like(decoded)
    least = np.empty(len(decoded))
    for i, (row, p) in enumerate(zip(decoded, proba)):
        kept, open_ = set(), set()
        for leaf in vocabulary.leaves([names[j] for j in np.flatnonzero(row)]):
            if p[column[leaf]] >= confidence:
                kept.add(leaf)
                continue
            up = next(
                (a for a in vocabulary.ancestors(leaf) if p[column[a]] >= confidence),
                None,
            )
            if up is None:
                kept.add(leaf)  # nothing broader is sure: stays, uncertain
            else:
                kept.add(up)
                open_.update(vocabulary.narrower(up))
        present = {column[t] for t in vocabulary.closure(kept)}
        out[i, sorted(present)] = 1
        claims = [p[j] for j in present] + [
            1.0 - p[j]
            for j in range(len(names))
            if j not in present and names[j] not in open_
        ]
        least[i] = min(claims)
    return out, least


def tagger_answers(
    vocabulary,
    describe,
    *,
    decoded,
    proba,
    combination_proba,
    confidence,
    novelty=None,
    novelty_threshold=None,
    sets=None,
    set_proba=None,
    set_rows=None,
):
    """A tagger's answers once its probabilities are known.

    What :meth:`MediumTagger.assess <artmedium.MediumTagger.assess>` returns:
    the back-off (:func:`back_off`), each answer's status (``"unknown"`` above
    the novelty threshold, else ``"ok"`` when every claim reaches
    ``confidence``, else ``"uncertain"``), descriptions and candidates.

    Parameters
    ----------
    vocabulary : Vocabulary
    describe : callable
        0/1 tag rows -> descriptions.
    decoded, proba : ndarray of shape (n_samples, n_tags)
        The decoded tags and their calibrated probabilities.
    combination_proba : ndarray of shape (n_samples, n_combinations)
        Reported as is.
    confidence : float
    novelty, novelty_threshold : ndarray and float, optional
        None: no image is marked unknown.
    sets, set_proba : ndarray of shape (n_samples, n_classes), optional
        A label-powerset tagger's conformal sets and class probabilities:
        the candidates are the descriptions of the set's classes (tag rows
        ``set_rows``), most probable first. None: the answer then, when it
        backed off, the more specific guess.
    set_rows : ndarray of shape (n_classes, n_tags), optional

    Returns
    -------
    Answers
    """
    tags, least = back_off(vocabulary, decoded, proba, confidence)
    backed_off = (tags != decoded).any(axis=1)
    status = np.where(least >= confidence, "ok", "uncertain")
    if novelty is not None:
        status = np.where(novelty > novelty_threshold, "unknown", status)
    medium, decoded_medium = describe(tags), describe(decoded)
    if sets is not None:
        names = describe(set_rows)
        order = np.argsort(-set_proba, axis=1, kind="stable")
        candidates = [
            [names[j] for j in order[i] if sets[i, j]] for i in range(len(sets))
        ]
    else:
        candidates = [
            [m] + ([d] if b and d != m else [])
            for m, d, b in zip(medium, decoded_medium, backed_off)
        ]
    return Answers(
        tags=tags,
        decoded=decoded,
        medium=medium,
        decoded_medium=decoded_medium,
        backed_off=backed_off,
        proba=proba,
        confidence=least,
        candidates=candidates,
        combination_proba=combination_proba,
        novelty=novelty,
        status=status.astype(object),
        novelty_threshold=novelty_threshold,
    )


def describe_rows(vocabulary, Y):
    """Descriptions of 0/1 tag rows in ``vocabulary``'s wording (one
    :func:`~artmedium.vocabulary.tags_to_medium` per distinct row)."""
    from artmedium.vocabulary import tags_to_medium

    names = vocabulary.tags
    out, seen = [], {}
    for row in np.asarray(Y):
        key = tuple(np.flatnonzero(row))
        if key not in seen:
            seen[key] = tags_to_medium([names[j] for j in key], vocabulary=vocabulary)
        out.append(seen[key])
    return np.array(out, dtype=object)
