"""Figures of the poster: confusion matrix, per-class and per-tag accuracy, saliency.

matplotlib is optional (``pip install "artmedium[plot]"``) and imported only when
a figure is drawn. Figures are built with the object-oriented API on an Agg
canvas: nothing here touches pyplot's global figure list or opens a window, so
they can be saved from scripts and servers (``fig.savefig``) and still display
in Jupyter.
"""

import re
import textwrap

import numpy as np

from artmedium.explain._analysis import top_losses
from artmedium.metrics import per_class_accuracy, tag_report
from artmedium.vocabulary import medium_to_tags

_PLOT_EXTRA = 'pip install "artmedium[plot]"'
_SUPPORT_PAPER = re.compile(r"\s+on\s+paper\s*$", re.IGNORECASE)


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"artmedium's plots need matplotlib, which is not installed: {_PLOT_EXTRA}"
        ) from exc
    return matplotlib


def _new_axes(ax, figsize):
    """``(figure, axes)``: the caller's axes, or new ones on an Agg canvas."""
    _matplotlib()
    if ax is not None:
        return ax.figure, ax
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _wrapped(title, width=70):
    return "\n".join(textwrap.wrap(str(title), width)) if title else ""


def abbreviate_medium(label, *, width=14):
    """A short, wrapped tick label for a medium description.

    Known media are composed from their tags: "and" becomes "+", the default
    support "on paper" is dropped, other supports stay on a line of their own.
    Anything else loses a trailing "on paper" and is wrapped at ``width``.

    Parameters
    ----------
    label : object
        A medium description (any other label is turned into a string).
    width : int, default=14
        Longest line before wrapping.

    Returns
    -------
    str

    Examples
    --------
    >>> abbreviate_medium("Graphite and watercolour on paper")
    'Graphite +\\nwatercolour'
    >>> abbreviate_medium("Oil paint on canvas")
    'Oil paint\\non canvas'
    >>> abbreviate_medium("Pen and ink on paper")
    'Pen and ink'
    """
    text = " ".join(str(label).split())
    parsed = medium_to_tags(text) if text else None
    if parsed is not None and parsed.tags and not parsed.unknown:
        supports = [t for t in parsed.tags if t == "canvas"]
        media = [t for t in parsed.tags if t not in supports]
        if media:
            joined = [m + " +" for m in media[:-1]] + media[-1:]
            lines = [line for m in joined for line in textwrap.wrap(m, width)]
            lines += [f"on {s}" for s in supports]
            out = "\n".join(lines)
            return out[0].upper() + out[1:]
    short = _SUPPORT_PAPER.sub("", text) or text
    return "\n".join(textwrap.wrap(short, width)) or short


def _tick_labels(labels, abbreviate):
    if abbreviate is True:
        return [abbreviate_medium(label) for label in labels]
    if callable(abbreviate):
        return [str(abbreviate(label)) for label in labels]
    return [str(label) for label in labels]


def plot_confusion_matrix(
    y_true,
    y_pred,
    *,
    labels=None,
    normalize=None,
    ax=None,
    abbreviate=True,
    cmap="Blues",
    values_format=None,
    title=None,
):
    """Confusion matrix with short, wrapped medium names (the poster's Figure 7).

    Built on :class:`sklearn.metrics.ConfusionMatrixDisplay`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    labels : sequence, optional
        Classes and their order; default: the sorted union of both arrays.
    normalize : {None, "true", "pred", "all"}, default=None
        Counts, or rates over true labels (rows), predictions (columns) or all.
    ax : matplotlib Axes, optional
        Draw there instead of on a new figure.
    abbreviate : bool or callable, default=True
        Tick labels through :func:`abbreviate_medium` (or a callable of yours).
    cmap : str, default="Blues"
    values_format : str, optional
        Format of the cell values; default ``"d"`` for counts, ``".2f"``
        for rates.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_confusion_matrix(["Oil paint on canvas", "Graphite on paper"],
    ...                             ["Oil paint on canvas", "Oil paint on canvas"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['Graphite', 'Oil paint\\non canvas']
    """
    _matplotlib()
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if labels is None:
        labels = np.unique(np.concatenate([y_true, y_pred]))
    labels = list(labels)
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    n = len(labels)
    side = min(3 + 0.7 * n, 14)
    fig, ax = _new_axes(ax, (side + 1.5, side))
    ticks = _tick_labels(labels, abbreviate)
    display = ConfusionMatrixDisplay(cm, display_labels=ticks)
    if values_format is None:
        values_format = "d" if normalize is None else ".2f"
    fontsize = 10 if n <= 6 else 9 if n <= 12 else 6
    display.plot(
        ax=ax,
        cmap=cmap,
        values_format=values_format,
        xticks_rotation=45,
        colorbar=True,
        text_kw={"fontsize": fontsize},
    )
    # Empty cells as a plain "0": the mistakes that do occur stand out.
    for (i, j), text in np.ndenumerate(display.text_):
        if counts[i, j] == 0:
            text.set_text("0")
    if normalize == "true":
        # A rate of 1.00 over two images is not 1.00 over two hundred.
        rows = counts.sum(axis=1)
        ax.set_yticks(range(n), [f"{t}\n(n={int(r)})" for t, r in zip(ticks, rows)])
    for tick in ax.get_xticklabels():
        tick.set_ha("right")
        tick.set_rotation_mode("anchor")
        tick.set_fontsize(9)
    for tick in ax.get_yticklabels():
        tick.set_fontsize(9)
    display.im_.colorbar.set_label(
        "count" if normalize is None else f"rate (normalised over {normalize})"
    )
    if title is None:
        title = "Confusion matrix" + (
            " (counts)" if normalize is None else f" (normalised over {normalize})"
        )
    ax.set_title(_wrapped(title, 90))
    return fig


def _barh(ax, names, values, *, annotations, xlabel, title, xmax=1.25):
    y = np.arange(len(names))
    ax.barh(y, values, color="tab:blue", height=0.7)
    ax.set_yticks(y, names)
    ax.invert_yaxis()  # first item on top
    ax.set_xlim(0, xmax)  # room for the annotations right of a full bar
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel(xlabel)
    ax.set_title(_wrapped(title))
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    for i, (value, note) in enumerate(zip(values, annotations)):
        shown = 0 if np.isnan(value) else value
        ax.text(
            shown + 0.01,
            i,
            note,
            va="center",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1, "alpha": 0.8},
        )


def _legend_below(ax):
    # Below the axes: a legend inside would cover bars or their labels.
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=2,
        fontsize=8,
        frameon=False,
    )


def plot_per_class_accuracy(
    y_true,
    y_pred,
    *,
    labels=None,
    ax=None,
    abbreviate=False,
    title=None,
):
    """Accuracy within each true class as horizontal bars (the poster's Figure 3).

    Each bar is annotated with its accuracy and the class's number of images;
    dashed and dotted lines mark the overall and balanced accuracy. Values come
    from :func:`artmedium.metrics.per_class_accuracy`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    labels : sequence, optional
        Classes and their order (top to bottom); default: sorted labels of
        ``y_true``.
    ax : matplotlib Axes, optional
    abbreviate : bool or callable, default=False
        Shorten the class names (see :func:`abbreviate_medium`).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_per_class_accuracy(["oil", "oil", "ink"], ["oil", "ink", "ink"])
    >>> len(fig.axes[0].patches)
    2
    """
    _matplotlib()
    report = per_class_accuracy(y_true, y_pred, labels=labels)
    per_class = report["per_class"]
    names = _tick_labels(list(per_class), abbreviate)
    values = np.array([r["accuracy"] for r in per_class.values()], dtype=float)
    notes = [f"{v:.2f}  (n={r['support']})" for v, r in zip(values, per_class.values())]
    fig, ax = _new_axes(ax, (8, 1.8 + 0.45 * len(names)))
    _barh(
        ax,
        names,
        values,
        annotations=notes,
        xlabel="accuracy within the class (recall)",
        title=title or "Per-class accuracy",
    )
    ax.axvline(
        report["accuracy"],
        color="k",
        linestyle="--",
        linewidth=1,
        label=f"overall accuracy {report['accuracy']:.3f}",
    )
    ax.axvline(
        report["balanced_accuracy"],
        color="tab:red",
        linestyle=":",
        linewidth=1.5,
        label=f"balanced accuracy {report['balanced_accuracy']:.3f}",
    )
    _legend_below(ax)
    return fig


def plot_per_tag_accuracy(Y_true, Y_pred, tag_names, *, ax=None, title=None):
    """Accuracy of each tag's binary classifier as bars (the poster's Figure 5).

    Most tags are absent from most images, so a tag that is never predicted is
    already accurate: a marker on each bar shows that majority baseline. Values
    come from :func:`artmedium.metrics.tag_report`.

    Parameters
    ----------
    Y_true, Y_pred : array-like of shape (n_samples, n_tags)
        0/1 tag matrices.
    tag_names : sequence of str
    ax : matplotlib Axes, optional
    title : str, optional
        Default: "Per-tag accuracy (exact match ...)".

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_per_tag_accuracy([[1, 0], [0, 1]], [[1, 0], [1, 1]],
    ...                             ["graphite", "watercolour"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['graphite', 'watercolour']
    """
    _matplotlib()
    report = tag_report(Y_true, Y_pred, tag_names)
    Y_true = np.asarray(Y_true)
    names = [str(t) for t in tag_names]
    values = np.array([report["per_tag"][t]["accuracy"] for t in names])
    share = Y_true.mean(axis=0)
    baseline = np.maximum(share, 1 - share)
    notes = [
        f"{v:.2f}  (present in {int(s)})" for v, s in zip(values, Y_true.sum(axis=0))
    ]
    fig, ax = _new_axes(ax, (8, 1.8 + 0.45 * len(names)))
    _barh(
        ax,
        names,
        values,
        annotations=notes,
        xlabel="accuracy of the tag's presence / absence",
        xmax=1.38,
        title=title or f"Per-tag accuracy (exact match {report['exact_match']:.3f})",
    )
    ax.plot(
        baseline,
        np.arange(len(names)),
        linestyle="none",
        marker="|",
        markersize=16,
        markeredgewidth=2.5,
        color="tab:orange",
        label="majority baseline (always absent / present)",
    )
    _legend_below(ax)
    return fig


def _as_rgb(image):
    from artmedium.io import read_image

    return np.asarray(read_image(image, as_array=True))


def _fit_map(saliency, image, index):
    """A map resized onto its image when their aspect ratios agree."""
    import torch

    saliency = np.asarray(saliency, dtype=np.float32)
    if saliency.ndim != 2:
        raise ValueError(f"maps[{index}] must be 2-D; got shape {saliency.shape}")
    h, w = image.shape[:2]
    if saliency.shape == (h, w):
        return saliency
    mh, mw = saliency.shape
    if abs((mw / mh) / (w / h) - 1) > 0.02:
        raise ValueError(
            f"maps[{index}] has shape {saliency.shape} but images[{index}] is "
            f"{h} x {w}: pass the network's input images (SaliencyMap.input_images) "
            "or maps placed on the originals (SaliencyMap.to_original)."
        )
    resized = torch.nn.functional.interpolate(
        torch.from_numpy(saliency)[None, None],
        size=(h, w),
        mode="bilinear",
        align_corners=False,
    )
    return resized[0, 0].numpy()


def _display_scale(heat, clip_percentile):
    if clip_percentile is None:
        return heat
    top = np.percentile(heat, clip_percentile)
    return np.clip(heat / top, 0, 1) if top > 0 else heat


def _grey(rgb):
    # Luminance, lightened: the heat map's colours never clash with the
    # artwork's own reds and yellows, and the composition stays readable.
    luminance = rgb[..., :3] @ np.array([0.299, 0.587, 0.114])
    return 0.35 + 0.5 * luminance / 255.0


def plot_saliency(
    images,
    maps,
    *,
    titles=None,
    ncols=4,
    alpha=0.8,
    cmap="jet",
    clip_percentile=99.0,
    grey_background=True,
    show_images=True,
    panel_size=2.8,
):
    """Saliency heat maps over their images, red where the map is large.

    The poster's Figure 6. Each map is drawn in ``cmap`` with an opacity that
    grows with its value, so low saliency leaves the image visible and high
    saliency shows red, over a lightened greyscale copy of the image whose
    colours cannot be mistaken for the heat map's. With ``show_images`` the
    image itself sits above its overlay.

    Parameters
    ----------
    images : sequence
        Images (paths, PIL images, bytes or uint8 arrays), each the same shape
        as its map, or of the same aspect ratio (the map is then resized):
        :meth:`SaliencyMap.input_images` for maps from ``transform``, the
        original images for maps from :meth:`SaliencyMap.to_original`.
    maps : sequence of 2-D arrays
        Values in [0, 1], e.g. from :meth:`SaliencyMap.transform`.
    titles : sequence of str, optional
        One per image, wrapped to fit its panel.
    ncols : int, default=4
        Images per row.
    alpha : float, default=0.8
        Opacity of the heat map where it is largest.
    cmap : str, default="jet"
    clip_percentile : float or None, default=99.0
        For display only, each map is divided by this percentile of its values
        and clipped at 1: a vanilla gradient is dominated by a handful of
        pixels, and scaled by its maximum alone it would be invisible (captum's
        ``outlier_perc`` does the same). None shows the maps as they are.
    grey_background : bool, default=True
        Draw the overlay on a lightened greyscale copy of the image.
    show_images : bool, default=True
        Add a row of plain images above each row of overlays.
    panel_size : float, default=2.8
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> images = np.zeros((2, 8, 8, 3), np.uint8)
    >>> fig = plot_saliency(images, np.random.rand(2, 8, 8), titles=["a", "b"])
    >>> len([ax for ax in fig.axes if ax.images])
    4
    """
    _matplotlib()
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    images = list(images)
    maps = list(maps)
    if len(images) != len(maps):
        raise ValueError(f"{len(images)} images but {len(maps)} maps")
    if not images:
        raise ValueError("no images to plot")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    n = len(images)
    ncols = max(1, min(int(ncols), n))
    groups = -(-n // ncols)
    rows_per_group = 2 if show_images else 1
    nrows = groups * rows_per_group
    fig = Figure(
        # Room for up to three title lines above each group of panels.
        figsize=(panel_size * ncols + 1.0, panel_size * nrows + 0.6 * groups + 0.3),
        layout="constrained",
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colormap = colormaps[cmap]
    title_width = max(12, int(panel_size * 12))
    for i, (image, saliency) in enumerate(zip(images, maps)):
        rgb = _as_rgb(image)
        heat = _display_scale(
            np.clip(_fit_map(saliency, rgb, i), 0, 1), clip_percentile
        )
        overlay = colormap(heat)
        overlay[..., 3] = alpha * heat
        group, col = divmod(i, ncols)
        row = group * rows_per_group
        if show_images:
            axes[row, col].imshow(rgb)
            row += 1
        if grey_background:
            axes[row, col].imshow(_grey(rgb), cmap="gray", vmin=0, vmax=1)
        else:
            axes[row, col].imshow(rgb)
        axes[row, col].imshow(overlay)
        if titles is not None:
            lines = str(titles[i]).split("\n")
            text = "\n".join(
                w for line in lines for w in textwrap.wrap(line, title_width)
            )
            axes[group * rows_per_group, col].set_title(text, fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    label = "saliency" + (
        f" (scaled to its {clip_percentile:g}th percentile)"
        if clip_percentile is not None
        else " (normalised)"
    )
    fig.colorbar(
        ScalarMappable(norm=Normalize(0, 1), cmap=colormap),
        ax=axes.ravel().tolist(),
        shrink=0.6,
        label=label,
    )
    return fig


def plot_top_losses(
    estimator,
    X,
    y,
    *,
    k=8,
    method="gradient",
    ncols=4,
    losses=None,
    saliency=None,
):
    """The images a classifier got most wrong, with the saliency of its mistake.

    Each panel shows the image as the network sees it with the saliency of the
    *predicted* class (what the network looked at), titled with the true and
    predicted labels, the probability of the true class and the loss.

    Parameters
    ----------
    estimator : MediumClassifier or classifier
        Fitted; saliency needs ``to_torch()`` (a classifier fitted on images).
    X : images
    y : array-like of shape (n_samples,)
        True labels.
    k : int, default=8
    method : str, default="gradient"
        A :class:`SaliencyMap` method.
    ncols : int, default=4
    losses : list of dict, optional
        :func:`top_losses` output, to avoid predicting again.
    saliency : bool or None, default=None
        Overlay saliency maps; None: when the estimator has ``to_torch``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from artmedium.explain._saliency import SaliencyMap

    _matplotlib()
    if losses is None:
        losses = top_losses(estimator, X, y, k=k)
    losses = list(losses)[:k]
    if not losses:
        raise ValueError("no images to plot")
    picked = _take(X, [r["index"] for r in losses])
    titles = [
        f"true: {_one_line(r['true'])}\npred: {_one_line(r['predicted'])}\n"
        f"p(true)={r['proba_true']:.2f}  loss={r['loss']:.2f}"
        for r in losses
    ]
    if saliency is None:
        saliency = hasattr(estimator, "to_torch")
    if saliency:
        explainer = SaliencyMap(estimator, method=method, random_state=0).fit()
        maps = explainer.transform(picked)
        images = explainer.input_images(picked)
    else:
        images = [_as_rgb(image) for image in picked]
        maps = [np.zeros(image.shape[:2], np.float32) for image in images]
    fig = plot_saliency(images, maps, titles=titles, ncols=ncols, show_images=False)
    fig.suptitle(
        f"Top {len(losses)} losses"
        + (f" ({method} saliency of the prediction)" if saliency else "")
    )
    return fig


def _one_line(label):
    return abbreviate_medium(label, width=40).replace("\n", " ")


def _take(X, indices):
    """Rows of X, whatever container it is."""
    if hasattr(X, "iloc"):
        return X.iloc[list(indices)]
    if isinstance(X, np.ndarray):
        return X[np.asarray(indices, dtype=np.int64)]
    return [X[i] for i in indices]
