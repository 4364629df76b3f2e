"""The poster's figures: structure of what is drawn, readable labels, no pyplot."""

import io
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from artmedium.datasets import POSTER_CLASSES  # noqa: E402
from artmedium.explain import (  # noqa: E402
    abbreviate_medium,
    plot_confusion_matrix,
    plot_per_class_accuracy,
    plot_per_tag_accuracy,
    plot_saliency,
)
from artmedium.metrics import per_class_accuracy, tag_report  # noqa: E402


def tick_texts(labels):
    return [t.get_text() for t in labels]


def png_bytes(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_abbreviations_of_the_poster_classes():
    short = {c: abbreviate_medium(c) for c in POSTER_CLASSES}
    assert short["Graphite and watercolour on paper"] == "Graphite +\nwatercolour"
    assert short["Oil paint on canvas"] == "Oil paint\non canvas"
    assert short["Pen and ink on paper"] == "Pen and ink"  # one medium, not two
    assert short["Line engraving on paper"] == "Line engraving"
    assert all(max(len(line) for line in s.split("\n")) <= 14 for s in short.values())
    assert len(set(short.values())) == len(POSTER_CLASSES)  # still distinct
    # Unknown terms: "on paper" dropped, wrapped; other labels left readable.
    assert abbreviate_medium("Gouache and gum arabic on paper") == (
        "Gouache and\ngum arabic"
    )
    assert abbreviate_medium("Oil paint on board") == "Oil paint on\nboard"
    assert abbreviate_medium(3) == "3"


def test_confusion_matrix_counts_and_labels():
    y_true = ["Graphite and watercolour on paper"] * 3 + ["Graphite on paper"] * 2
    y_pred = ["Graphite on paper", *["Graphite and watercolour on paper"] * 2]
    y_pred += ["Graphite on paper"] * 2
    fig = plot_confusion_matrix(y_true, y_pred)
    ax, colorbar = fig.axes  # the matrix and its colour bar
    assert colorbar.get_ylabel() == "count"
    # Sorted labels: "Graphite and watercolour ..." < "Graphite on paper".
    assert tick_texts(ax.get_yticklabels()) == ["Graphite +\nwatercolour", "Graphite"]
    assert tick_texts(ax.get_xticklabels()) == tick_texts(ax.get_yticklabels())
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    cells = [t.get_text() for t in ax.texts]
    assert cells == ["2", "1", "0", "2"]  # rows true, columns predicted
    assert png_bytes(fig).startswith(b"\x89PNG")


def test_confusion_matrix_normalised_and_on_given_axes():
    from matplotlib.figure import Figure

    y_true = ["a", "a", "a", "b"]
    y_pred = ["a", "b", "b", "b"]
    fig = Figure()
    ax = fig.add_subplot()
    out = plot_confusion_matrix(
        y_true, y_pred, normalize="true", ax=ax, abbreviate=str.upper
    )
    assert out is fig
    assert tick_texts(ax.get_xticklabels()) == ["A", "B"]
    values = np.array([float(t.get_text()) for t in ax.texts]).reshape(2, 2)
    np.testing.assert_allclose(values.sum(axis=1), 1, atol=0.011)
    np.testing.assert_allclose(values[0], [0.33, 0.67], atol=0.006)
    assert "true" in ax.get_title()


def test_per_class_accuracy_bars():
    rng = np.random.RandomState(0)
    classes = list(POSTER_CLASSES[:5])
    y_true = rng.choice(classes, 60)
    y_pred = np.where(rng.rand(60) < 0.6, y_true, rng.choice(classes, 60))
    fig = plot_per_class_accuracy(y_true, y_pred, labels=classes)
    ax = fig.axes[0]
    assert len(ax.patches) == 5
    expected = per_class_accuracy(y_true, y_pred, labels=classes)
    widths = [bar.get_width() for bar in ax.patches]
    np.testing.assert_allclose(
        widths, [expected["per_class"][c]["accuracy"] for c in classes]
    )
    assert tick_texts(ax.get_yticklabels()) == classes  # top to bottom
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == f"overall accuracy {expected['accuracy']:.3f}"
    assert any("n=" in t.get_text() for t in ax.texts)
    short = plot_per_class_accuracy(y_true, y_pred, labels=classes, abbreviate=True)
    assert "Oil paint\non canvas" in tick_texts(short.axes[0].get_yticklabels())


def test_per_tag_accuracy_bars():
    rng = np.random.RandomState(1)
    tags = ["graphite", "watercolour", "oil paint", "canvas"]
    Y_true = (rng.rand(40, 4) < 0.3).astype(int)
    Y_pred = np.where(rng.rand(40, 4) < 0.8, Y_true, 1 - Y_true)
    fig = plot_per_tag_accuracy(Y_true, Y_pred, tags)
    ax = fig.axes[0]
    assert len(ax.patches) == 4
    report = tag_report(Y_true, Y_pred, tags)
    np.testing.assert_allclose(
        [bar.get_width() for bar in ax.patches],
        [report["per_tag"][t]["accuracy"] for t in tags],
    )
    assert tick_texts(ax.get_yticklabels()) == tags
    assert f"{report['exact_match']:.3f}" in ax.get_title()
    (baseline,) = ax.lines  # the majority-class markers
    share = Y_true.mean(axis=0)
    np.testing.assert_allclose(baseline.get_xdata(), np.maximum(share, 1 - share))


def test_saliency_overlays():
    images = np.random.RandomState(0).randint(0, 255, (3, 16, 16, 3)).astype(np.uint8)
    maps = np.zeros((3, 16, 16), np.float32)
    maps[:, 4:8, 4:8] = 1.0
    fig = plot_saliency(images, maps, titles=["oil", "ink", "graphite"], ncols=2)
    panels = [ax for ax in fig.axes if ax.images]
    # Two groups of two columns; each group an image row and an overlay row.
    assert len(panels) == 6
    overlays = [ax for ax in panels if len(ax.images) == 2]
    assert len(overlays) == 3
    heat = overlays[0].images[1].get_array()
    assert heat.shape == (16, 16, 4)
    assert heat[5, 5, 3] > 0.5 and heat[0, 0, 3] == 0  # opaque only where large
    assert heat[5, 5, 0] > heat[5, 5, 2]  # red, not blue, where large
    assert [ax.get_title() for ax in panels if ax.get_title()] == [
        "oil",
        "ink",
        "graphite",
    ]
    assert any(ax.get_ylabel().startswith("saliency") for ax in fig.axes)
    assert png_bytes(fig).startswith(b"\x89PNG")


def test_saliency_display_scaling():
    # One hot pixel would leave everything else invisible; the 99th percentile
    # scaling (display only) shows the rest of the map.
    image = np.zeros((20, 20, 3), np.uint8)
    saliency = np.full((20, 20), 0.1)
    saliency[0, 0] = 1.0

    def opacity(**kwargs):
        fig = plot_saliency([image], [saliency], show_images=False, **kwargs)
        (panel,) = [ax for ax in fig.axes if ax.images]
        return panel.images[1].get_array()[10, 10, 3]

    assert opacity(clip_percentile=None, alpha=1.0) == pytest.approx(0.1)
    assert opacity(clip_percentile=99, alpha=1.0) == pytest.approx(1.0)


def test_saliency_map_sizes():
    image = np.zeros((20, 40, 3), np.uint8)
    fig = plot_saliency([image], [np.ones((10, 20))], show_images=False)
    (panel,) = [ax for ax in fig.axes if ax.images]
    assert panel.images[1].get_array().shape[:2] == (20, 40)  # resized onto it
    with pytest.raises(ValueError, match="to_original"):
        plot_saliency([image], [np.ones((8, 8))])
    with pytest.raises(ValueError, match="2 images but 1 maps"):
        plot_saliency([image, image], [np.ones((20, 40))])


def test_no_pyplot_figures_left_behind():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_confusion_matrix(["a", "b"], ["a", "a"])
    plot_per_class_accuracy(["a", "b"], ["a", "a"])
    plot_saliency([np.zeros((4, 4, 3), np.uint8)], [np.ones((4, 4))])
    assert plt.get_fignums() == before


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "artmedium\[plot\]"'):
        plot_per_class_accuracy(["a"], ["a"])
