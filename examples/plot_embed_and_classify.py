"""
Any scikit-learn estimator on images
====================================

:class:`~artmedium.ImageEmbedder` turns images into feature vectors with a frozen
EfficientNet-Lite0 (ImageNet weights), so any scikit-learn classifier can learn
media from images, inside a :class:`~sklearn.pipeline.Pipeline` that
cross-validation and grid search handle like any other. Here three classifiers
learn the poster's ten media from 300 Tate thumbnails.
"""

# %%
# A balanced sample of the poster's ten media
# -------------------------------------------
# ``tate.data`` is a 1-D array of image paths: scikit-learn slices it like any
# array. The Tate sample is very unbalanced (over half is "Graphite on paper"),
# so we keep 30 images of each medium.
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from artmedium import ImageEmbedder
from artmedium.datasets import fetch_tate, load_tate

data_home = os.environ.get("ARTMEDIUM_TATE_DIR")
if data_home is None:  # no local sample: download a small one (a few minutes)
    fetch_tate(classes="poster", max_images=300, verbose=0)
tate = load_tate(data_home=data_home, classes="poster")

rng = np.random.RandomState(0)
keep = np.concatenate(
    [rng.permutation(np.flatnonzero(tate.target == c))[:30] for c in tate.target_names]
)
X, y = tate.data[keep], tate.target[keep]
print(f"{len(X)} images, {len(np.unique(y))} media")

# %%
# Embed once, then any classifier
# -------------------------------
# ``memory`` caches each image's features on disk, keyed by its content, so the
# network runs once per image however many folds and classifiers follow.
memory = os.path.join(tempfile.gettempdir(), "artmedium-gallery-cache")
embedder = ImageEmbedder(memory=memory)

classifiers = {
    "logistic regression": make_pipeline(
        embedder, StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)
    ),
    "linear SVM": make_pipeline(embedder, StandardScaler(), LinearSVC(C=0.01)),
    "5 nearest neighbours": make_pipeline(embedder, KNeighborsClassifier(5)),
}
cv = StratifiedKFold(5, shuffle=True, random_state=0)
scores = {}
for name, pipe in classifiers.items():
    result = cross_validate(
        pipe, X, y, cv=cv, scoring=["accuracy", "balanced_accuracy"]
    )
    scores[name] = result
    print(
        f"{name:22} accuracy {result['test_accuracy'].mean():.3f} "
        f"± {result['test_accuracy'].std():.3f}"
    )

# %%
# The classes are balanced here, so accuracy and balanced accuracy agree; chance
# is 0.1.
fig, ax = plt.subplots(figsize=(7, 3))
names = list(scores)
means = [scores[n]["test_accuracy"].mean() for n in names]
stds = [scores[n]["test_accuracy"].std() for n in names]
ax.barh(names, means, xerr=stds, color="tab:blue", alpha=0.8)
ax.axvline(0.1, color="grey", linestyle=":", label="chance")
ax.set_xlim(0, 1)
ax.set_xlabel("accuracy, 5 stratified folds (mean ± sd)")
ax.set_title("Frozen EfficientNet-Lite0 features + scikit-learn")
ax.legend(loc="lower right")
fig.tight_layout()

# %%
# The features themselves
# -----------------------
# ``ImageEmbedder`` is a transformer: 1,280 features per image (``pooling=
# "texture"`` adds mid-level texture statistics: 2,304).
features = embedder.fit_transform(X[:4])
print(features.shape, features.dtype)
