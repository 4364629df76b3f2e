"""artmedium: recognise the medium of an artwork from its image.

A scikit-learn compatible toolkit: image reading that survives any file
(:mod:`artmedium.io`), the Tate collection in one call (:mod:`artmedium.datasets`),
CNN backbones (:mod:`artmedium.nets`) and estimators with the scikit-learn API.
"""

from artmedium._version import __version__

__all__ = ["__version__"]
