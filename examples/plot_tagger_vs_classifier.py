"""
Tags or classes: MediumTagger against MediumClassifier
======================================================

The poster tried two framings of the same task: ten classes ("Graphite and
watercolour on paper" is one class), or ten binary tags (graphite, watercolour,
oil paint, canvas, lithograph, ...) whose combination is the medium.
:class:`~artmedium.MediumTagger` is the second: one logistic regression per tag on
frozen EfficientNet-Lite0 features, decoded to the most probable tag combination
seen in training. Here both learn the same Tate thumbnails, fold by fold, and are
scored the same two ways: the medium description, and the exact tag set.
"""

# %%
# The same folds for both
# -----------------------
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import StratifiedKFold

from artmedium import ImageEmbedder, MediumClassifier, MediumTagger
from artmedium.datasets import fetch_tate, load_tate
from artmedium.explain import plot_per_tag_accuracy
from artmedium.vocabulary import tag_matrix

data_home = os.environ.get("ARTMEDIUM_TATE_DIR")
if data_home is None:  # no local sample: download a small one (a few minutes)
    fetch_tate(classes="poster", max_images=300, verbose=0)
tate = load_tate(data_home=data_home, classes="poster")

rng = np.random.RandomState(0)
keep = np.concatenate(
    [rng.permutation(np.flatnonzero(tate.target == c))[:30] for c in tate.target_names]
)
X, y, tags = tate.data[keep], tate.target[keep], tate.tags[keep]
print("tags:", ", ".join(tate.tag_names))

memory = os.path.join(tempfile.gettempdir(), "artmedium-gallery-cache")
tagger = MediumTagger(embedder=ImageEmbedder(memory=memory))
classifier = MediumClassifier(
    freeze="backbone", lr=1e-3, max_epochs=20, memory=memory, random_state=0
)

names = ["classifier", "tagger", "tagger, tags alone"]
medium_by = {name: np.empty(len(y), dtype=object) for name in names}
tags_by = {name: np.zeros_like(tags) for name in names}
for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
    classifier.fit(X[train], y[train])
    medium_by["classifier"][test] = classifier.predict(X[test])
    tags_by["classifier"][test] = tag_matrix(medium_by["classifier"][test])
    # The tagger learns from the descriptions too: it parses them into tags.
    # decode="valid" predicts the most probable tag combination seen in
    # training; decode="independent" thresholds each tag alone, as the poster.
    tagger.fit(X[train], y[train])
    for name, decode in [("tagger", "valid"), ("tagger, tags alone", "independent")]:
        tagger.set_params(decode=decode)
        tags_by[name][test] = tagger.predict(X[test])
        medium_by[name][test] = tagger.predict_medium(X[test])
    tagger.set_params(decode="valid")

# %%
# Two scores
# ----------
# *Medium*: the description is the catalogue's. *Exact tag set*: all ten tags
# right; a classifier's tags are those of the class it predicts.
scores = {}
for name in names:
    scores[name] = {
        "medium": np.mean(medium_by[name] == y),
        "exact tag set": np.mean((tags_by[name] == tags).all(axis=1)),
    }
    print(
        f"{name:18}  medium {scores[name]['medium']:.3f}   "
        f"exact tag set {scores[name]['exact tag set']:.3f}"
    )

# %%
# The classifier's tags follow from its class, and the tagger that decodes to
# combinations seen in training can only answer one of the ten media too, so
# their two scores agree. Tags thresholded one by one can form sets no medium
# has (graphite and oil paint, or no tag at all): the poster's tagger scored
# .477 exact match that way, against .565 to .749 for its classifiers.
fig, ax = plt.subplots(figsize=(7, 3.5))
width = 0.27
positions = np.arange(2)
for i, (name, score) in enumerate(scores.items()):
    offset = (i - 1) * width
    bars = ax.bar(positions + offset, list(score.values()), width, label=name)
    ax.bar_label(bars, fmt="%.2f")
ax.set_xticks(positions, list(scores["tagger"]))
ax.set_ylim(0, 1)
ax.set_title("5-fold predictions, 300 images, 30 per medium")
ax.legend()
fig.tight_layout()

# %%
# Accuracy of each tag
# --------------------
# The poster's Figure 5, for the tags thresholded alone: a tag is right when its
# presence or absence is, so tags absent from most images score high whatever
# the model does.
fig = plot_per_tag_accuracy(tags, tags_by["tagger, tags alone"], tate.tag_names)
fig.set_size_inches(8, 5)

# %%
# On the whole Tate sample, the embedded tagger (a fine-tuned network over tag
# combinations, 51 tags) gets the exact tag set of 0.768 ± 0.014 of the
# poster's ten media where the ten-class classifier gets 0.817 ± 0.010 on the
# same images (its model card): classes win on a closed list of ten, tags are
# what describe a whole collection (:doc:`/tags`).
