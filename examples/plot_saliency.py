"""
Saliency maps: where the model looks
====================================

:class:`~artmedium.SaliencyMap` is a scikit-learn transformer around a fitted
classifier: images in, one map per image out, over the image as the network sees
it. Here the embedded ten-class model explains its answer for four Tate
thumbnails of four media, with the four methods: the vanilla gradient of the
poster's Figure 6, SmoothGrad, integrated gradients and Grad-CAM.

The embedded model was trained on the Tate sample these images come from: the maps
show what it learned to use, not how it does on new work.
"""

# %%
# One image of each of four media
# -------------------------------
import os

import numpy as np

from artmedium import SaliencyMap, load_model
from artmedium.datasets import fetch_tate, load_tate
from artmedium.explain import plot_saliency

data_home = os.environ.get("ARTMEDIUM_TATE_DIR")
if data_home is None:  # no local sample: download a small one (a few minutes)
    fetch_tate(classes="poster", max_images=300, verbose=0)
tate = load_tate(data_home=data_home, classes="poster")

media = [
    "Graphite on paper",
    "Oil paint on canvas",
    "Lithograph on paper",
    "Watercolour on paper",
]
rng = np.random.RandomState(1)
paths = np.array([rng.choice(tate.data[tate.target == medium]) for medium in media])

# %%
# The vanilla gradient
# --------------------
# :func:`~artmedium.load_model` with the default backend gives the torch
# estimator, which saliency needs (the ONNX backend only predicts).
clf = load_model("default")
predicted = clf.predict(paths)
explainer = SaliencyMap(clf, method="gradient").fit()
maps = explainer.transform(paths)
print(maps.shape, maps.min(), maps.max())

titles = [f"{p}\n(Tate: {t})" for p, t in zip(predicted, media)]
fig = plot_saliency(explainer.input_images(paths), maps, titles=titles)
fig.suptitle("Vanilla gradient of the predicted class (images © Tate)")

# %%
# Three more methods
# ------------------
# SmoothGrad averages the gradient over noisy copies (less speckle);
# integrated gradients attribute the logit along a path from a black image;
# Grad-CAM weighs the last stage's activations by their gradient: coarse regions.
methods = {
    "smoothgrad": {"n_samples": 8, "random_state": 0},
    "integrated_gradients": {"steps": 8},
    "gradcam": {},
}
all_maps, all_titles = [], []
for method, params in methods.items():
    explainer = SaliencyMap(clf, method=method, **params).fit()
    all_maps.extend(explainer.transform(paths))
    all_titles.extend(f"{method}: {p}" for p in predicted)

fig = plot_saliency(
    np.concatenate([explainer.input_images(paths)] * len(methods)),
    all_maps,
    titles=all_titles,
    show_images=False,
)
fig.suptitle("SmoothGrad, integrated gradients, Grad-CAM (rows)")

# %%
# Look for shortcuts. On a page of one of Turner's sketchbooks, the maps can sit
# on the binding and the edges of the page rather than on the drawing: most of
# the Tate's "Graphite on paper" are such pages, and a model can learn the
# sketchbook as much as the graphite (the confound of artist and medium that
# :doc:`/new_artists` measures).
#
# ``artmedium saliency default scans/ --out maps/`` writes one such overlay per
# image from the command line, and
# :func:`~artmedium.explain.plot_top_losses` draws the saliency of a model's worst
# mistakes.
