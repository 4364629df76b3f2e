"""The embedded default model and its model card.

The wheel ships a :class:`~artmedium.MediumClassifier` over the poster's ten Tate
medium classes in ``pretrained/default/`` (a folder written by
:func:`artmedium.persistence.save_model`, with ``MODEL_CARD.md`` and the NOTICE of
the EfficientNet-Lite0 weights). ``load_model("default")`` and the command line
use it when no other model is named; it is produced by
``benchmarks/train_default_model.py``.
"""

from pathlib import Path

#: Where the embedded default model lives. Tests point it at a stand-in.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"


def default_model_dir():
    """Folder of the embedded default model (it may not exist).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from artmedium.pretrained import default_model_dir
    >>> default_model_dir().name
    'default'
    """
    return Path(DEFAULT_MODEL_DIR)


def is_default_model_installed():
    """Whether this copy of artmedium holds the embedded default model.

    Returns
    -------
    bool

    Examples
    --------
    >>> from artmedium.pretrained import is_default_model_installed
    >>> isinstance(is_default_model_installed(), bool)
    True
    """
    from artmedium.persistence import SIDECAR

    return (default_model_dir() / SIDECAR).is_file()


def load_default_model(*, device="cpu"):
    """Load the embedded default model (``load_model("default")``).

    Parameters
    ----------
    device : str, default="cpu"
        Torch device.

    Returns
    -------
    MediumClassifier

    Raises
    ------
    FileNotFoundError
        This copy of artmedium has no embedded model.
    """
    from artmedium.persistence import load_model

    return load_model("default", device=device)


def default_model_summary():
    """Name, classes and held-out scores of the embedded model, or None.

    Read from the model's sidecar without loading its weights.

    Returns
    -------
    dict or None
        ``name``, ``estimator``, ``backbone``, ``classes``, ``tag_names``,
        ``accuracy``, ``balanced_accuracy`` and ``artist_accuracy`` (None
        where not recorded), ``weights_bytes``; None when no model is installed.

    Examples
    --------
    >>> from artmedium.pretrained import default_model_summary
    >>> summary = default_model_summary()
    >>> summary is None or len(summary["classes"]) > 1
    True
    """
    from artmedium.persistence import model_info

    if not is_default_model_installed():
        return None
    info = model_info(default_model_dir())
    meta = info.get("metadata") or {}
    metrics = meta.get("metrics") or {}
    held_out = metrics.get("random") or {}
    artist = metrics.get("artist") or {}
    return {
        "name": meta.get("name", "default"),
        "estimator": info["estimator"],
        "backbone": info.get("backbone"),
        "classes": info.get("classes") or [],
        "tag_names": info.get("tag_names") or [],
        "accuracy": held_out.get("accuracy"),
        "balanced_accuracy": held_out.get("balanced_accuracy"),
        "artist_accuracy": artist.get("accuracy"),
        "weights_bytes": info["weights"].get("bytes"),
    }
