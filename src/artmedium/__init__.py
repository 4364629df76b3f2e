"""artmedium: recognise the medium of an artwork from its image.

A scikit-learn compatible toolkit: image reading that survives any file
(:mod:`artmedium.io`), the Tate collection in one call (:mod:`artmedium.datasets`),
CNN backbones (:mod:`artmedium.nets`) and estimators with the scikit-learn API
(:class:`MediumClassifier`, :class:`ImageEmbedder`).
"""

from artmedium._version import __version__
from artmedium.datasets import fetch_tate, load_tate, medium_to_tags, tags_to_medium
from artmedium.estimators import ImageEmbedder, MediumClassifier, MediumTagger
from artmedium.explain import SaliencyMap
from artmedium.inference import predict_files
from artmedium.io import ImageReadError, Preprocessing, read_image, read_images
from artmedium.nets import get_backbone, list_backbones
from artmedium.persistence import load_model, save_model

__all__ = [
    "ImageEmbedder",
    "ImageReadError",
    "MediumClassifier",
    "MediumTagger",
    "Preprocessing",
    "SaliencyMap",
    "__version__",
    "fetch_tate",
    "get_backbone",
    "list_backbones",
    "load_model",
    "load_tate",
    "medium_to_tags",
    "predict_files",
    "read_image",
    "read_images",
    "save_model",
    "tags_to_medium",
]
