"""Saliency overlays written to a folder, one PNG per image file."""

import os
from pathlib import Path
from typing import NamedTuple

from artmedium.explain._plots import _matplotlib, plot_saliency
from artmedium.explain._report import save_figure
from artmedium.io import read_image


class SavedOverlay(NamedTuple):
    """What :func:`save_saliency_overlays` did with one image.

    Attributes
    ----------
    source : str
        The image file, as given.
    path : pathlib.Path or None
        The PNG written, or None when the image could not be read.
    error : str or None
        Why the image could not be read, or None.
    """

    source: str
    path: Path | None
    error: str | None


def _overlay_name(source, used):
    """``<stem>_saliency.png``, numbered ``<stem>-2_...`` for a repeated stem."""
    stem = Path(source).stem
    name, n = f"{stem}_saliency.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}_saliency.png"
    used.add(name)
    return name


def save_saliency_overlays(explainer, images, out_dir, *, dpi=100):
    """Write a saliency overlay PNG per image file into ``out_dir``, one at a time.

    Each PNG, named ``<image stem>_saliency.png`` (``<stem>-2_saliency.png``,
    ... when two images share a stem), shows the image as the network sees it
    and the map over it (:func:`plot_saliency`), titled with the file name and
    what the map explains. Files are written atomically, replacing any of the
    same name; an image that cannot be read is reported and the rest go on.

    Parameters
    ----------
    explainer : SaliencyMap
        A fitted :class:`SaliencyMap`.
    images : iterable of str or os.PathLike
        Image files.
    out_dir : str or os.PathLike
        Folder for the PNGs, created if needed.
    dpi : int, default=100
        Resolution of the PNGs.

    Yields
    ------
    SavedOverlay
        ``(source, path, error)`` per image, in order, as soon as it is written.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    OSError
        ``out_dir`` or a PNG cannot be written (nothing half-written is left).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from artmedium import MediumClassifier
    >>> from artmedium.explain import SaliencyMap, save_saliency_overlays
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    >>> clf = MediumClassifier(backbone="simple_cnn", weights=None, image_size=32,
    ...                        max_epochs=1, random_state=0).fit(X, ["a", "b"] * 2)
    >>> folder = tempfile.mkdtemp()
    >>> Image.fromarray(X[0]).save(os.path.join(folder, "scan.png"))
    >>> sources = [os.path.join(folder, "scan.png"), os.path.join(folder, "gone.png")]
    >>> explainer = SaliencyMap(clf).fit()
    >>> for saved in save_saliency_overlays(explainer, sources, folder):
    ...     print(os.path.basename(saved.source),
    ...           saved.path and saved.path.name, saved.error is not None)
    scan.png scan_saliency.png False
    gone.png None True
    """
    _matplotlib()  # before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    used = set()
    for source in images:
        source = os.fspath(source)
        try:
            image = read_image(source)
        except ValueError as exc:
            yield SavedOverlay(source, None, str(exc))
            continue
        maps, explained = explainer.explain([image])
        shown = explainer.input_images([image])
        fig = plot_saliency(
            shown, maps, titles=[f"{Path(source).name}: {explained[0]}"], ncols=1
        )
        path = out / _overlay_name(source, used)
        save_figure(fig, path, dpi=dpi)
        yield SavedOverlay(source, path, None)
