"""Estimators with the scikit-learn API: classifiers and transformers on images."""

from artmedium._class_tags import class_tag_probabilities
from artmedium.estimators._classifier import MediumClassifier
from artmedium.estimators._embedder import ImageEmbedder
from artmedium.estimators._tagger import MediumTagger

__all__ = [
    "ImageEmbedder",
    "MediumClassifier",
    "MediumTagger",
    "class_tag_probabilities",
]
