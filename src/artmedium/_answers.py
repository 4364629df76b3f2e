"""Accepting answers: the statuses of an answer and the risk-coverage trade-off.

Shared by the estimators (the acceptance threshold of a calibration), the
metrics and the evaluation report.
"""

import numpy as np

#: Statuses of an answer, in the order a reader acts on them.
STATUSES = ("ok", "uncertain", "unknown")


def risk_coverage(correct, confidence):
    """(coverage, accuracy, threshold) of accepting the most confident answers
    first; equal confidences enter together (see
    :func:`artmedium.metrics.risk_coverage_curve`)."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    confidence, correct = np.asarray(confidence)[order], np.asarray(correct)[order]
    hits = np.cumsum(correct)
    last = np.r_[np.flatnonzero(np.diff(confidence) != 0), len(confidence) - 1]
    return (last + 1) / len(confidence), hits[last] / (last + 1), confidence[last]


def accepted_share(correct, confidence, accuracy):
    """The largest share reaching ``accuracy`` and its threshold (0 and a
    threshold above 1 when none does)."""
    coverage, hits, thresholds = risk_coverage(correct, confidence)
    good = np.flatnonzero(hits >= accuracy)
    if len(good) == 0:
        return 0.0, float(np.nextafter(1.0, 2.0))
    return float(coverage[good[-1]]), float(thresholds[good[-1]])
