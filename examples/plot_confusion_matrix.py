"""
Confusion matrix and per-class accuracy
=======================================

The poster's Figures 3 and 7, for any classifier's predictions:
:func:`~artmedium.explain.plot_confusion_matrix` (with short, wrapped medium names)
and :func:`~artmedium.explain.plot_per_class_accuracy`, with the numbers from
:func:`~artmedium.metrics.per_class_accuracy` and the most confused pairs. Every one
of 300 Tate thumbnails (30 per medium) is predicted by a classifier that never saw
it: five-fold ``cross_val_predict``.
"""

# %%
# Predictions from models that never saw the image
# ------------------------------------------------
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from artmedium import MediumClassifier
from artmedium.datasets import fetch_tate, load_tate
from artmedium.explain import (
    most_confused_pairs,
    plot_confusion_matrix,
    plot_per_class_accuracy,
)
from artmedium.metrics import per_class_accuracy

data_home = os.environ.get("ARTMEDIUM_TATE_DIR")
if data_home is None:  # no local sample: download a small one (a few minutes)
    fetch_tate(classes="poster", max_images=300, verbose=0)
tate = load_tate(data_home=data_home, classes="poster")

rng = np.random.RandomState(0)
keep = np.concatenate(
    [rng.permutation(np.flatnonzero(tate.target == c))[:30] for c in tate.target_names]
)
X, y = tate.data[keep], tate.target[keep]

clf = MediumClassifier(
    freeze="backbone",
    lr=1e-3,
    max_epochs=20,
    memory=os.path.join(tempfile.gettempdir(), "artmedium-gallery-cache"),
    random_state=0,
)
y_pred = cross_val_predict(
    clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)
)

# %%
# The numbers
# -----------
report = per_class_accuracy(y, y_pred, labels=tate.target_names)
print(f"accuracy {report['accuracy']:.3f}, balanced {report['balanced_accuracy']:.3f}")
for medium, row in report["per_class"].items():
    print(f"  {medium:34} {row['accuracy']:.2f}  (n={row['support']})")
print("most confused (true -> predicted, images):")
for true, predicted, count in most_confused_pairs(y, y_pred, k=5):
    print(f"  {true} -> {predicted}: {count}")

# %%
# The confusion matrix
# --------------------
# Rows are the true media, normalised to sum to 1: the diagonal is each
# medium's recall.
fig = plot_confusion_matrix(
    y,
    y_pred,
    labels=tate.target_names,
    normalize="true",
    title="5-fold predictions, frozen EfficientNet-Lite0 + linear head",
)
fig.set_size_inches(9, 8)

# %%
# Per-class accuracy
# ------------------
fig, ax = plt.subplots(figsize=(8, 5))
plot_per_class_accuracy(
    y, y_pred, labels=tate.target_names, ax=ax, title="Accuracy within each medium"
)
fig.tight_layout()

# %%
# Read the pairs: the media confused are those that share a process (engraving
# and line engraving, lithograph and screenprint, etching and engraving) or a
# material (watercolour with or without graphite), as on the poster. With 30
# images a medium these rates move by several points from one sample to the
# next; the model cards report the whole Tate sample.
