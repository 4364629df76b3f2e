"""The embedded models and their model cards: data only.

The wheel ships a :class:`~artmedium.MediumClassifier` over the poster's ten Tate
medium classes in ``pretrained/default/`` (a folder written by
:func:`artmedium.persistence.save_model`, with ``MODEL_CARD.md`` and the NOTICE of
the EfficientNet-Lite0 weights), produced by
``benchmarks/train_default_model.py``: ``load_model("default")``, and
``artmedium predict --vocabulary poster``.

``pretrained/tags/`` holds a calibrated :class:`~artmedium.MediumTagger` over an
open, hierarchical vocabulary of Tate media tags, when this copy of artmedium
has one: ``load_model("tags")``, and what ``artmedium predict`` uses when no
model is named (``--vocabulary tate``).

This package holds no code that reads them:
:func:`artmedium.persistence.default_model_summary` and
:func:`~artmedium.persistence.load_model` do.
"""

from pathlib import Path

#: Where the embedded default model lives. Tests point it at a stand-in.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default"

#: Where the embedded tagger lives (it may not exist). Tests point it at a stand-in.
DEFAULT_TAGGER_DIR = Path(__file__).resolve().parent / "tags"
