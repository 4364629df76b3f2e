"""Images that are not artworks, made here: what "unknown" must catch.

Solid colours, noise, rendered text, gradients, geometric patterns and
scikit-image's sample photographs (when scikit-image is installed), as
``(name, uint8 RGB array)`` pairs. Deterministic for a given seed.
"""

import numpy as np
from PIL import Image, ImageDraw

_COLOURS = {
    "red": (255, 0, 0),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "grey": (128, 128, 128),
    "cream": (240, 230, 200),
    "brown": (90, 60, 30),
}
_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "cat",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "colorwheel",
    "logo",
)


def _rgb(array):
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    array = array[..., :3]
    if array.dtype != np.uint8:
        scale = 255 if array.max() <= 1 else 1
        array = np.clip(array * scale, 0, 255).astype(np.uint8)
    return array


def nonartworks(size=256, seed=0):
    """The list of ``(kind/name, image)`` pairs (about 45 images)."""
    rng = np.random.default_rng(seed)
    out = []
    for name, colour in _COLOURS.items():
        out.append((f"solid/{name}", np.full((size, size, 3), colour, np.uint8)))
    for i in range(4):
        out.append(
            (f"noise/uniform{i}", rng.integers(0, 256, (size, size, 3), np.uint8))
        )
        gauss = rng.normal(128, 40, (size, size, 3))
        out.append((f"noise/gaussian{i}", np.clip(gauss, 0, 255).astype(np.uint8)))
    for i in range(8):
        image = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(image)
        for line in range(12):
            draw.text(
                (5, 5 + 20 * line), f"Invoice {i}-{line}: 12 x 3.50 GBP", fill="black"
            )
        out.append((f"text/{i}", np.asarray(image)))
    ramp = np.linspace(0, 255, size).astype(np.uint8)
    for i, channels in enumerate([(0,), (1,), (2,), (0, 1, 2)]):
        image = np.zeros((size, size, 3), np.uint8)
        for c in channels:
            image[..., c] = ramp[None, :] if i % 2 else ramp[:, None]
        out.append((f"gradient/{i}", image))
    for i, period in enumerate((8, 32)):
        yy, xx = np.mgrid[:size, :size]
        board = (((yy // period) + (xx // period)) % 2 * 255).astype(np.uint8)
        out.append((f"pattern/checker{period}", _rgb(board)))
        stripes = ((xx // period) % 2 * 255).astype(np.uint8)
        out.append((f"pattern/stripes{period}", _rgb(stripes)))
    try:
        from skimage import data
    except ImportError:
        return out
    for name in _PHOTOS:
        try:
            photo = _rgb(getattr(data, name)())
        except Exception:  # a sample that needs a download (pooch) is skipped
            continue
        photo = np.asarray(Image.fromarray(photo).resize((size, size)))
        out.append((f"photo/{name}", photo))
    return out
