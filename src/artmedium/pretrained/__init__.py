"""The embedded default model and its model card: data only.

The wheel ships a :class:`~artmedium.MediumClassifier` over the poster's ten Tate
medium classes in ``pretrained/default/`` (a folder written by
:func:`artmedium.persistence.save_model`, with ``MODEL_CARD.md`` and the NOTICE of
the EfficientNet-Lite0 weights). ``load_model("default")`` and the command line
use it when no other model is named; it is produced by
``benchmarks/train_default_model.py``. This package holds no code that reads it:
:func:`artmedium.persistence.default_model_summary` and
:func:`~artmedium.persistence.load_model` do.
"""

from pathlib import Path

#: Where the embedded default model lives. Tests point it at a stand-in.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"
