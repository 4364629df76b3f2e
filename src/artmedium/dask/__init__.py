"""Scale out on a Dask cluster: batch prediction and embedding (``artmedium[dask]``).

:func:`predict` runs a saved model (or a fitted estimator) over a list, a dask
bag or a dask DataFrame column of image paths and returns a dask DataFrame with
the columns of ``artmedium predict``; :func:`embed` writes an
:class:`~artmedium.ImageEmbedder`'s features to Parquet, resumably, and
returns an :class:`EmbedResult`. Grid
searches need nothing from here: ``GridSearchCV`` under
``joblib.parallel_backend("dask")`` with a shared ``memory=`` folder.

The submodules are imported on first use, so that ``import artmedium.dask``
costs nothing until then, and says what to install when dask is missing.
"""

import importlib

__all__ = ["EmbedResult", "embed", "local_cluster", "predict"]

_WHERE = {
    "predict": "._predict",
    "embed": "._embed",
    "EmbedResult": "._embed",
    "local_cluster": "._cluster",
}


def __getattr__(name):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
