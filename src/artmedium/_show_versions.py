"""The versions of artmedium and its stack: one report for ``info`` and saved models."""

import platform

from artmedium._version import __version__

#: The distributions whose versions matter when reporting a problem or
#: reproducing a saved model.
STACK = (
    "torch",
    "torchvision",
    "scikit-learn",
    "skorch",
    "safetensors",
    "onnxruntime",
    "Pillow",
    "numpy",
)


def versions(missing=None):
    """``name -> version`` of artmedium, Python and :data:`STACK`.

    Parameters
    ----------
    missing : object, default=None
        The value of a distribution that is not installed.

    Returns
    -------
    dict

    Examples
    --------
    >>> from artmedium._show_versions import versions
    >>> report = versions()
    >>> list(report)[:2], "torch" in report
    (['artmedium', 'python'], True)
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {"artmedium": __version__, "python": platform.python_version()}
    for dist in STACK:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = missing
    return out
