"""Reading images and turning them into network input.

:mod:`artmedium.io` is the only place in artmedium that opens image files.
:func:`read_image` turns a path, bytes, a file object, a PIL image or an array into
a fully decoded RGB image, refusing anything it cannot read with
:class:`ImageReadError`; :func:`read_images` and :func:`iter_images` do the same for
many inputs in a thread pool. :class:`Preprocessing` is the single definition of how
an RGB image becomes a normalised tensor, shared by training, prediction and
saliency.
"""

from artmedium.io._digest import image_digest
from artmedium.io._preprocess import (
    DEFAULT_AUGMENT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PREPROCESS_VERSION,
    Preprocessing,
)
from artmedium.io._read import (
    ALLOWED_FORMATS,
    READER_VERSION,
    ImageReadError,
    ReadResult,
    iter_images,
    read_image,
    read_images,
)

#: Default pixel limit of :func:`read_image` when ``max_pixels`` is None. None
#: means "``PIL.Image.MAX_IMAGE_PIXELS`` at call time". Set it (or pass
#: ``max_pixels=``) to read larger trusted images.
MAX_IMAGE_PIXELS = None

__all__ = [
    "ALLOWED_FORMATS",
    "DEFAULT_AUGMENT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_IMAGE_PIXELS",
    "PREPROCESS_VERSION",
    "READER_VERSION",
    "ImageReadError",
    "Preprocessing",
    "ReadResult",
    "image_digest",
    "iter_images",
    "read_image",
    "read_images",
]
