"""
Quick start: the medium of a few artworks
=========================================

artmedium ships two trained models, so the first prediction needs no training and
no download: ``"tags"``, which describes any combination of 51 media tags in Tate's
wording (what ``artmedium predict`` uses), and ``"default"``, the classifier of the
poster's ten media. Here both answer for a few Tate thumbnails, and we read their
answers: the medium, its calibrated probability, a status that says how far to trust
it, and the candidate descriptions.

Both models were trained on the Tate sample these images come from, so this shows
what the answers look like, not how accurate they are: the model cards give the
held-out figures.
"""

# %%
# Some Tate thumbnails
# --------------------
# The Tate sample the project's tests use when it is there
# (``$ARTMEDIUM_TATE_DIR``), else a few hundred thumbnails downloaded into
# scikit-learn's data folder by :func:`~artmedium.datasets.fetch_tate`.
import os
import textwrap
import warnings

import matplotlib.pyplot as plt
import numpy as np

from artmedium import load_model, predict_files, read_image
from artmedium.datasets import fetch_tate, load_tate

data_home = os.environ.get("ARTMEDIUM_TATE_DIR")
if data_home is None:
    fetch_tate(classes="poster", max_images=300, verbose=0)
# Every medium, not only the ten. Only the paths and Tate's descriptions are used
# here, so the warning about rare terms without a tag (in ``tate.tags``) is not.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*have no tag in the vocabulary")
    tate = load_tate(data_home=data_home, classes=None)

rng = np.random.RandomState(3)
chosen = rng.choice(len(tate.data), 8, replace=False)
paths, truth = tate.data[chosen], tate.target[chosen]

# %%
# The embedded tagger
# -------------------
# ``backend="onnx"`` runs the network in ONNX Runtime, without importing torch:
# what ``artmedium predict`` does. ``assess`` gives the honest answers.
tagger = load_model("tags", backend="onnx")
answers = tagger.assess(paths, confidence=0.9)

for path, true, medium, p, status, candidates in zip(
    paths,
    truth,
    answers.medium,
    answers.confidence,
    answers.status,
    answers.candidates,
):
    print(f"{os.path.basename(path)}  Tate: {true}")
    print(f"    answer: {medium} ({status}, p={p:.2f})")
    print(f"    {len(candidates)} candidate(s), first three: {candidates[:3]}")

# %%
# ``confidence`` is the calibrated probability of the answer's least sure claim
# (each of its tags present, each other tag absent). ``ok`` answers can be
# accepted, ``uncertain`` ones need a look (several
# candidates, or a claim under the confidence level), and ``unknown`` means the
# image is unlike every medium the model knows. Here are the images with their
# answers:
fig, axes = plt.subplots(2, 4, figsize=(12, 8.5), layout="constrained")
for ax, path, true, medium, status in zip(
    axes.flat, paths, truth, answers.medium, answers.status
):
    ax.imshow(read_image(path))
    ax.set_title(textwrap.fill(medium, 30) + f"\n[{status}]", fontsize=9)
    ax.set_xlabel(textwrap.fill(f"Tate: {true}", 34), fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("The embedded tagger's answers (images © Tate)")

# %%
# The poster's ten media
# ----------------------
# The ten-class classifier knows only the poster's media: for an image of
# another medium, the best it can say is ``uncertain`` or ``unknown``.
classifier = load_model("default", backend="onnx")
poster = classifier.assess(paths, confidence=0.9)
for true, label, status in zip(truth, poster.labels, poster.status):
    print(f"{status:9}  {label:34}  Tate: {true}")

# %%
# Every row of ``artmedium predict``
# ----------------------------------
# :func:`~artmedium.predict_files` streams the rows of the command line as
# dicts: with the tags, their Getty AAT ids and probabilities, and an ``error``
# instead of an exception for a file that cannot be read.
row = next(predict_files(tagger, paths[:1]))
print({key: row[key] for key in ("medium", "status", "tags", "aat_ids", "error")})
