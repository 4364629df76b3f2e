"""One definition of how an RGB image becomes a normalised tensor.

Training, prediction and saliency all build their transforms from the same
:class:`Preprocessing`, and persistence stores it with the model, so an image is
never resized one way for training and another way for prediction.

The evaluation transform (resize, center crop, normalise) is Pillow and numpy
(:meth:`Preprocessing.array`), so the ONNX Runtime backend prepares images
exactly as the torch models do without importing torch; training augmentation
is torchvision's ``transforms.v2``. torch and torchvision are imported only by
the methods that return tensors.
"""

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

import numpy as np
from PIL import Image

from artmedium._validation import check_count
from artmedium.io._read import read_image

#: Bumped whenever the evaluation transform gives other numbers for the same
#: pixels (2: resized by Pillow, not torchvision's tensor resize, so the ONNX
#: backend needs no torch), so caches of features know to recompute.
PREPROCESS_VERSION = 2

#: ImageNet channel means, the statistics every pretrained backbone expects.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
#: ImageNet channel standard deviations.
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Training augmentation defaults. Colour is evidence of the medium (sepia ink,
#: graphite grey, watercolour washes), so hue never moves and saturation barely.
DEFAULT_AUGMENT = MappingProxyType(
    {
        "scale": (0.5, 1.0),
        "ratio": (3 / 4, 4 / 3),
        "hflip": 0.5,
        "brightness": 0.2,
        "contrast": 0.2,
        "saturation": 0.1,
        "hue": 0.0,
    }
)

_INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic")

#: Longest side / shortest side beyond which the evaluation transform first cuts
#: the image to its central part. A 100000 x 1 strip resized to a shorter side
#: of 256 would otherwise be 256 x 25,600,000 pixels (19.7 GB); the center crop
#: only ever keeps the middle of the longer side, so cutting it to 4 x the
#: shorter side first changes nothing the network sees.
MAX_ASPECT_RATIO = 4


class _AsRGBImage:
    """First step of every transform: any accepted image to a uint8 CHW tensor.

    RGB PIL images and (H, W, 3) uint8 arrays go straight through; anything else
    (other PIL modes, greyscale or RGBA arrays) is normalised by ``read_image`` so
    that the transform sees the same pixels the readers produce. PIL images and
    arrays then share one resize path (tensor resize), so the same pixels give the
    same tensor whichever container they came in.
    """

    def __call__(self, image):
        import torch
        from torchvision.transforms import v2

        if isinstance(image, torch.Tensor):
            return image
        rgb_pil = isinstance(image, Image.Image) and image.mode == "RGB"
        rgb_array = (
            isinstance(image, np.ndarray)
            and image.dtype == np.uint8
            and image.ndim == 3
            and image.shape[2] == 3
        )
        if not (rgb_pil or rgb_array):
            image = read_image(image)
        return v2.functional.to_image(image)

    def __repr__(self):
        return f"{type(self).__name__}()"


class _PlainTensor:
    """Last step: drop the tv_tensors.Image wrapper so callers get a torch.Tensor."""

    def __call__(self, tensor):
        import torch

        return tensor.as_subclass(torch.Tensor)

    def __repr__(self):
        return f"{type(self).__name__}()"


def _aspect_box(width, height):
    """``(left, top, right, bottom)``: the image cut to at most MAX_ASPECT_RATIO."""
    if width > MAX_ASPECT_RATIO * height:
        keep = MAX_ASPECT_RATIO * height
        left = (width - keep) // 2
        return left, 0, left + keep, height
    if height > MAX_ASPECT_RATIO * width:
        keep = MAX_ASPECT_RATIO * width
        top = (height - keep) // 2
        return 0, top, width, top + keep
    return 0, 0, width, height


def _resized_size(width, height, shorter):
    # torchvision's rule for Resize(int): the shorter side becomes `shorter`, the
    # longer one int(shorter * long / short) (truncated, not rounded).
    if width <= height:
        return shorter, int(shorter * height / width)
    return int(shorter * width / height), shorter


_PIL_RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest-exact": Image.Resampling.NEAREST,
}


def _as_rgb_pil(image):
    """An RGB PIL image of what :meth:`Preprocessing.array` accepts."""
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return image
    if (
        isinstance(image, np.ndarray)
        and image.dtype == np.uint8
        and image.ndim == 3
        and image.shape[2] == 3
    ):
        return Image.fromarray(image)
    if type(image).__module__.startswith("torch") and getattr(image, "ndim", 0) == 3:
        # A uint8 (3, H, W) tensor, as torchvision's readers give.
        import torch

        if image.dtype == torch.uint8 and image.shape[0] == 3:
            return Image.fromarray(image.permute(1, 2, 0).contiguous().numpy())
    rgb = read_image(image)
    return rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)


class _EvalArray:
    """The evaluation transform as a torchvision step: :meth:`Preprocessing.array`."""

    def __init__(self, preprocessing):
        self.preprocessing = preprocessing

    def __call__(self, image):
        import torch

        return torch.from_numpy(self.preprocessing.array(image))

    def __repr__(self):
        return f"{type(self).__name__}({self.preprocessing!r})"


@dataclass(frozen=True)
class Preprocessing:
    """How an RGB image becomes a normalised (3, size, size) float tensor.

    The evaluation protocol resizes the shorter side to ``resize`` (default:
    ``size``), center-crops ``size`` x ``size``, scales to [0, 1] and normalises.

    Parameters
    ----------
    size : int, default=224
        Side of the square network input.
    resize : int, optional
        Shorter side after resizing, before the center crop; None means ``size``
        (the whole shorter side is kept). Must be >= ``size``.
    mean, std : tuple of 3 float, default=IMAGENET_MEAN, IMAGENET_STD
        Per-channel normalisation.
    interpolation : {"bilinear", "bicubic", "nearest", "nearest-exact"}, \
default="bilinear"
        Resampling used when resizing (antialiased for downscaling).

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium.io import Preprocessing
    >>> pre = Preprocessing(size=32)
    >>> x = pre.transform()(np.zeros((40, 60, 3), np.uint8))
    >>> tuple(x.shape), x.dtype
    ((3, 32, 32), torch.float32)
    >>> pre.crop_box(60, 40)
    (10, 0, 50, 40)
    >>> Preprocessing.from_dict(pre.to_dict()) == pre
    True
    """

    size: int = 224
    resize: int | None = None
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"

    def __post_init__(self):
        size = check_count(self.size, "Preprocessing.size")
        object.__setattr__(self, "size", size)
        if self.resize is not None:
            resize = check_count(self.resize, "Preprocessing.resize")
            if resize < self.size:
                raise ValueError(
                    f"Preprocessing.resize ({resize}) must be >= size ({self.size}): "
                    "the center crop has to fit inside the resized image"
                )
            object.__setattr__(self, "resize", resize)
        for name in ("mean", "std"):
            value = getattr(self, name)
            try:
                value = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"Preprocessing.{name} must be 3 numbers, got {value!r}"
                ) from None
            if len(value) != 3 or not all(math.isfinite(v) for v in value):
                raise ValueError(
                    f"Preprocessing.{name} must be 3 finite numbers, got {value!r}"
                )
            object.__setattr__(self, name, value)
        if any(s <= 0 for s in self.std):
            raise ValueError(f"Preprocessing.std must be > 0, got {self.std!r}")
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"Preprocessing.interpolation must be one of {_INTERPOLATIONS}, "
                f"got {self.interpolation!r}"
            )

    # ------------------------------------------------------------------ transforms

    @property
    def min_decode_size(self):
        """int: The ``min_size`` to pass to :func:`read_image` (the resize target).

        A JPEG drafted to this shorter side still has every pixel the resize needs.
        """
        return self.resize if self.resize is not None else self.size

    def _augment_params(self, augment):
        params = dict(DEFAULT_AUGMENT)
        if isinstance(augment, Mapping):
            unknown = sorted(set(augment) - set(DEFAULT_AUGMENT))
            if unknown:
                raise ValueError(
                    f"unknown augmentation keys {unknown}; expected a subset of "
                    f"{sorted(DEFAULT_AUGMENT)}"
                )
            params.update(augment)
        return params

    def transform(self, *, augment=False):
        """Build the torchvision v2 transform for one image.

        Parameters
        ----------
        augment : bool or mapping, default=False
            False: the deterministic evaluation transform (resize, center crop).
            True: training augmentation (RandomResizedCrop, horizontal flip, mild
            ColorJitter with hue fixed). A mapping turns augmentation on and
            overrides keys of ``artmedium.io.DEFAULT_AUGMENT`` (``scale``,
            ``ratio``, ``hflip``, ``brightness``, ``contrast``, ``saturation``,
            ``hue``).

        Returns
        -------
        torchvision.transforms.v2.Compose
            Takes an RGB PIL image or uint8 (H, W, 3) array (other modes and
            shapes are normalised by :func:`read_image`) and returns a float32
            (3, size, size) tensor.

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium.io import Preprocessing
        >>> t = Preprocessing(size=16).transform(augment={"hflip": 1.0})
        >>> tuple(t(np.zeros((20, 30, 3), np.uint8)).shape)
        (3, 16, 16)
        """
        import torch
        from torchvision.transforms import v2

        if augment is False or augment is None:
            # The evaluation transform: Pillow and numpy (see array()).
            return v2.Compose([_EvalArray(self), _PlainTensor()])
        return v2.Compose(
            [
                _AsRGBImage(),
                *self._augment_steps(augment),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean=list(self.mean), std=list(self.std)),
                _PlainTensor(),
            ]
        )

    def _augment_steps(self, augment):
        from torchvision.transforms import InterpolationMode, v2

        p = self._augment_params(augment)
        return [
            v2.RandomResizedCrop(
                self.size,
                scale=tuple(p["scale"]),
                ratio=tuple(p["ratio"]),
                interpolation=InterpolationMode(self.interpolation),
                antialias=True,
            ),
            v2.RandomHorizontalFlip(p["hflip"]),
            v2.ColorJitter(
                brightness=p["brightness"],
                contrast=p["contrast"],
                saturation=p["saturation"],
                hue=p["hue"],
            ),
        ]

    def augmentation(self, *, params=None):
        """Training augmentation for images that are already tensors.

        The same random crop, flip and colour jitter as ``transform(augment=True)``,
        for a float (3, H, W) image in [0, 1], e.g. a preprocessed batch with the
        normalisation undone. It returns a (3, size, size) image in [0, 1] and does
        not normalise.

        Parameters
        ----------
        params : mapping, optional
            Overrides of ``artmedium.io.DEFAULT_AUGMENT``.

        Returns
        -------
        torchvision.transforms.v2.Compose

        Examples
        --------
        >>> import torch
        >>> from artmedium.io import Preprocessing
        >>> aug = Preprocessing(size=16).augmentation()
        >>> out = aug(torch.rand(3, 16, 16))
        >>> tuple(out.shape), bool(out.min() >= 0), bool(out.max() <= 1)
        ((3, 16, 16), True, True)
        """
        from torchvision.transforms import v2

        return v2.Compose([*self._augment_steps(params or True), _PlainTensor()])

    def batch(self, images, *, channels_last=True):
        """Stack images into one evaluation batch.

        Parameters
        ----------
        images : iterable of PIL.Image.Image or numpy.ndarray
            RGB images (other modes are converted as :func:`read_image` does).
        channels_last : bool, default=True
            Return the batch in ``torch.channels_last`` memory format, which
            convolutions on CPU and recent GPUs run faster on.

        Returns
        -------
        torch.Tensor
            Float32, shape (n, 3, size, size).

        Examples
        --------
        >>> import numpy as np, torch
        >>> from artmedium.io import Preprocessing
        >>> x = Preprocessing(size=8).batch([np.zeros((9, 9, 3), np.uint8)] * 2)
        >>> tuple(x.shape), x.is_contiguous(memory_format=torch.channels_last)
        ((2, 3, 8, 8), True)
        """
        import torch

        out = torch.from_numpy(self.batch_array(images))
        if channels_last:
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def array(self, image):
        """The evaluation transform of one image, as a numpy array.

        Long images are first cut to their central part (at most
        :data:`MAX_ASPECT_RATIO` to 1), the shorter side is resized to
        :attr:`min_decode_size` with Pillow (antialiased when shrinking), the
        center ``size`` x ``size`` is cropped (torchvision's offsets), scaled to
        [0, 1] and normalised. No torch: the ONNX Runtime backend uses it as is,
        and :meth:`transform` and :meth:`batch` wrap it, so both backends see
        the same numbers.

        Parameters
        ----------
        image : PIL.Image.Image or numpy.ndarray
            An RGB image (other modes and shapes are normalised by
            :func:`read_image`).

        Returns
        -------
        numpy.ndarray
            Float32, shape (3, size, size).

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium.io import Preprocessing
        >>> x = Preprocessing(size=8).array(np.full((10, 20, 3), 255, np.uint8))
        >>> x.shape, x.dtype, round(float(x[0, 0, 0]), 4)
        ((3, 8, 8), dtype('float32'), 2.2489)
        """
        pil = _as_rgb_pil(image)
        left, top, right, bottom = _aspect_box(*pil.size)
        if (left, top, right, bottom) != (0, 0, *pil.size):
            pil = pil.crop((left, top, right, bottom))
        width, height = _resized_size(*pil.size, self.min_decode_size)
        if self.interpolation == "nearest":
            # torch's legacy "nearest": source index floor(dst * in / out).
            pixels = np.asarray(pil)
            rows = np.minimum(
                (np.arange(height) * (pil.size[1] / height)).astype(np.int64),
                pil.size[1] - 1,
            )
            cols = np.minimum(
                (np.arange(width) * (pil.size[0] / width)).astype(np.int64),
                pil.size[0] - 1,
            )
            pixels = pixels[rows][:, cols]
        else:
            if (width, height) != pil.size:
                pil = pil.resize((width, height), _PIL_RESAMPLING[self.interpolation])
            pixels = np.asarray(pil)
        # torchvision's CenterCrop offsets (the image is never smaller than size)
        top = int(round((height - self.size) / 2.0))
        left = int(round((width - self.size) / 2.0))
        crop = pixels[top : top + self.size, left : left + self.size]
        # (x / 255 - mean) / std as one multiply and one subtract per channel,
        # written straight into the (3, size, size) result: a fifth of the
        # time of scaling, normalising and transposing in turn (#17).
        std = np.asarray(self.std, dtype=np.float64)
        scale = (1.0 / (255.0 * std)).astype(np.float32)
        offset = (np.asarray(self.mean, dtype=np.float64) / std).astype(np.float32)
        out = np.empty((3, self.size, self.size), dtype=np.float32)
        for k in range(3):
            np.multiply(crop[:, :, k], scale[k], out=out[k], dtype=np.float32)
            out[k] -= offset[k]
        return out

    def batch_array(self, images):
        """Stack the evaluation transforms of images into one numpy batch.

        Parameters
        ----------
        images : iterable of PIL.Image.Image or numpy.ndarray

        Returns
        -------
        numpy.ndarray
            Float32, shape (n, 3, size, size), C-contiguous.

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium.io import Preprocessing
        >>> Preprocessing(size=8).batch_array([np.zeros((9, 9, 3), np.uint8)] * 2).shape
        (2, 3, 8, 8)
        """
        arrays = [self.array(image) for image in images]
        if not arrays:
            return np.empty((0, 3, self.size, self.size), dtype=np.float32)
        return np.stack(arrays)

    # ------------------------------------------------------ back to the original

    def crop_box(self, width, height):
        """Where the evaluation crop lies in the original image.

        Parameters
        ----------
        width, height : int
            Size of the original image (after EXIF orientation).

        Returns
        -------
        tuple of int
            ``(left, top, right, bottom)`` in original pixel coordinates, rounded
            to whole pixels; what ``image.crop(box)`` would cut out.

        Examples
        --------
        >>> from artmedium.io import Preprocessing
        >>> Preprocessing(size=224).crop_box(448, 896)
        (0, 224, 448, 672)
        """
        if width < 1 or height < 1:
            raise ValueError(f"image size must be positive, got {width} x {height}")
        # Extremely long images are first cut to their central part (see array()).
        cut_left, cut_top, cut_right, cut_bottom = _aspect_box(width, height)
        box = self._crop_box(cut_right - cut_left, cut_bottom - cut_top)
        return (
            box[0] + cut_left,
            box[1] + cut_top,
            box[2] + cut_left,
            box[3] + cut_top,
        )

    def _crop_box(self, width, height):
        new_w, new_h = _resized_size(width, height, self.min_decode_size)
        # v2.CenterCrop's offsets
        top = int(round((new_h - self.size) / 2.0))
        left = int(round((new_w - self.size) / 2.0))
        sx, sy = width / new_w, height / new_h
        box = (
            round(left * sx),
            round(top * sy),
            round((left + self.size) * sx),
            round((top + self.size) * sy),
        )
        return (
            max(0, box[0]),
            max(0, box[1]),
            min(width, max(box[2], box[0] + 1)),
            min(height, max(box[3], box[1] + 1)),
        )

    def to_original(self, map2d, width, height):
        """Place a map computed on the network input onto the original image.

        Parameters
        ----------
        map2d : array-like of shape (h, w)
            A map over the network input, normally (size, size), e.g. saliency.
        width, height : int
            Size of the original image.

        Returns
        -------
        numpy.ndarray
            Float32 of shape (height, width): the map resized bilinearly into
            :meth:`crop_box`, 0 outside it.

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium.io import Preprocessing
        >>> full = Preprocessing(size=4).to_original(np.ones((4, 4)), 8, 4)
        >>> full.shape, float(full[:, 2:6].min()), float(full[:, :2].max())
        ((4, 8), 1.0, 0.0)
        """
        import torch

        values = torch.as_tensor(np.asarray(map2d, dtype=np.float32))
        if values.ndim != 2:
            raise ValueError(f"map2d must be 2-D, got shape {tuple(values.shape)}")
        left, top, right, bottom = self.crop_box(width, height)
        resized = torch.nn.functional.interpolate(
            values[None, None],
            size=(bottom - top, right - left),
            mode="bilinear",
            align_corners=False,
        )[0, 0]
        out = np.zeros((height, width), dtype=np.float32)
        out[top:bottom, left:right] = resized.numpy()
        return out

    # ------------------------------------------------------------- persistence

    def to_dict(self):
        """Return the settings as a JSON-safe dict.

        Examples
        --------
        >>> from artmedium.io import Preprocessing
        >>> Preprocessing(size=32, resize=36).to_dict()["resize"]
        36
        """
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d):
        """Rebuild from :meth:`to_dict` output; unknown keys are refused.

        Parameters
        ----------
        d : mapping
            Keys among ``size``, ``resize``, ``mean``, ``std``, ``interpolation``;
            missing ones take their defaults.

        Returns
        -------
        Preprocessing

        Examples
        --------
        >>> from artmedium.io import Preprocessing
        >>> Preprocessing.from_dict({"size": 32}).min_decode_size
        32
        """
        if not isinstance(d, Mapping):
            raise TypeError(f"Preprocessing.from_dict needs a mapping, got {d!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown Preprocessing keys {unknown}; expected a subset of "
                f"{sorted(known)}"
            )
        return cls(**d)
