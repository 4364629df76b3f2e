"""Explaining fitted models: saliency maps, error analysis, the poster's figures.

:class:`SaliencyMap` is a scikit-learn transformer that turns images into
saliency maps of a fitted :class:`~artmedium.MediumClassifier` or
:class:`~artmedium.MediumTagger` (vanilla gradient, SmoothGrad, integrated
gradients, Grad-CAM). :func:`evaluation_report` computes the poster's numbers
(accuracy, per-class and per-tag accuracy, confusion matrix) and writes its
figures; :func:`save_saliency_overlays` writes an overlay PNG per image file
(``artmedium saliency``). The ``plot_*`` functions need matplotlib
(``pip install "artmedium[plot]"``), imported only when a figure is drawn.
"""

from artmedium.explain._analysis import most_confused_pairs, top_losses
from artmedium.explain._overlays import SavedOverlay, save_saliency_overlays
from artmedium.explain._plots import (
    abbreviate_medium,
    plot_confusion_matrix,
    plot_per_class_accuracy,
    plot_per_tag_accuracy,
    plot_saliency,
    plot_top_losses,
)
from artmedium.explain._report import evaluation_report
from artmedium.explain._saliency import SaliencyMap

__all__ = [
    "SaliencyMap",
    "SavedOverlay",
    "abbreviate_medium",
    "evaluation_report",
    "most_confused_pairs",
    "plot_confusion_matrix",
    "plot_per_class_accuracy",
    "plot_per_tag_accuracy",
    "plot_saliency",
    "plot_top_losses",
    "save_saliency_overlays",
    "top_losses",
]
