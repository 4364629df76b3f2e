"""
Any scikit-learn estimator on images
====================================

:class:`~artmedium.ImageEmbedder` turns images into feature vectors with a frozen
CNN, so a plain scikit-learn classifier can learn from images; a
:class:`~artmedium.MediumClassifier` does the same with a trainable head and plugs
into ``GridSearchCV``. The images here are generated (striped vs dotted "media")
so the example runs anywhere; point ``X`` at your own files instead — a 1-D array
of paths works the same way.
"""

# %%
# Make a small image task
# -----------------------
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from artmedium import ImageEmbedder, MediumClassifier

rng = np.random.RandomState(0)


def make_image(kind):
    img = np.full((48, 48, 3), rng.randint(160, 256), np.uint8)
    if kind == "striped":
        period = rng.randint(4, 8)
        img[(np.arange(48) % period) < period // 2] = rng.randint(0, 90)
    else:
        for r, c in rng.randint(0, 45, (15, 2)):
            img[r : r + 3, c : c + 3] = rng.randint(0, 90)
    return img


y = np.array(["striped", "dotted"] * 30)
X = np.stack([make_image(kind) for kind in y])
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %%
# Embed once, then any classifier
# -------------------------------
# ``efficientnet_lite0`` with ``weights="imagenet"`` is the strong default (it needs
# the ``artmedium[pretrained]`` extra); a small random CNN keeps this example fast.
embedder = ImageEmbedder(
    backbone="simple_cnn", weights=None, image_size=32, random_state=0
)
pipe = make_pipeline(embedder, LogisticRegression(max_iter=2000))
pipe.fit(X_train, y_train)
print(f"embedder + logistic regression: {pipe.score(X_test, y_test):.2f}")

# %%
# A MediumClassifier in a grid search over the learning rate
# ----------------------------------------------------------
clf = MediumClassifier(
    backbone="simple_cnn",
    weights=None,
    image_size=32,
    freeze="none",
    max_epochs=5,
    batch_size=16,
    random_state=0,
)
search = GridSearchCV(clf, {"lr": [0.01, 0.05]}, cv=2).fit(X_train, y_train)
print("best lr:", search.best_params_["lr"])
print(f"test accuracy: {search.score(X_test, y_test):.2f}")
