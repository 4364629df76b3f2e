"""artmedium: recognise the medium of an artwork from its image.

A scikit-learn compatible toolkit: image reading that survives any file
(:mod:`artmedium.io`), the Tate collection in one call (:mod:`artmedium.datasets`),
CNN backbones (:mod:`artmedium.nets`) and estimators with the scikit-learn API
(:class:`MediumClassifier`, :class:`ImageEmbedder`).
"""

import importlib

from artmedium._version import __version__

# Public names -> the module that defines them. They are imported on first use
# (PEP 562), so `import artmedium` and `artmedium --help` do not pay for torch,
# torchvision and scikit-learn until something needs them.
_LAZY = {
    "fetch_tate": "artmedium.datasets",
    "load_tate": "artmedium.datasets",
    "medium_to_tags": "artmedium.vocabulary",
    "tags_to_medium": "artmedium.vocabulary",
    "ImageEmbedder": "artmedium.estimators",
    "MediumClassifier": "artmedium.estimators",
    "MediumTagger": "artmedium.estimators",
    "SaliencyMap": "artmedium.explain",
    "predict_files": "artmedium.inference",
    "ImageReadError": "artmedium.io",
    "Preprocessing": "artmedium.io",
    "read_image": "artmedium.io",
    "read_images": "artmedium.io",
    "get_backbone": "artmedium.nets",
    "list_backbones": "artmedium.nets",
    "load_model": "artmedium.persistence",
    "save_model": "artmedium.persistence",
}


# Subpackages reachable as attributes after a plain `import artmedium`.
_SUBMODULES = (
    "datasets",
    "estimators",
    "explain",
    "inference",
    "io",
    "metrics",
    "nets",
    "persistence",
    "pretrained",
    "vocabulary",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


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
