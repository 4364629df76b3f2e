"""Image perturbations shared by the benchmarks: re-encodings and augmentations.

``PERTURBATIONS`` are the four capture changes of issue #14's stability target
(the medium does not change, so neither should the top class).
"""

import io

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

PERTURBATIONS = ("jpeg50", "webp75", "half", "rot2")


def reencode(image, fmt, quality):
    """``image`` saved as ``fmt`` at ``quality`` and decoded again (RGB)."""
    buf = io.BytesIO()
    image.save(buf, format=fmt, quality=quality)
    buf.seek(0)
    with Image.open(buf) as decoded:
        return decoded.convert("RGB")


def perturb(image, name):
    """One of :data:`PERTURBATIONS` applied to a PIL RGB image."""
    if name == "jpeg50":
        return reencode(image, "JPEG", 50)
    if name == "webp75":
        return reencode(image, "WEBP", 75)
    if name == "half":
        w, h = image.size
        return image.resize((max(1, w // 2), max(1, h // 2)), Image.BICUBIC)
    if name == "rot2":
        return image.rotate(2, resample=Image.BICUBIC, fillcolor="white")
    raise ValueError(f"unknown perturbation {name!r}; one of {PERTURBATIONS}")


def augment(image, rng):
    """A random capture change that keeps the medium: mirror, scale, slight
    rotation, colour and tone, sometimes greyscale or blur, then JPEG or WebP."""
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    w, h = image.size
    s = rng.uniform(0.5, 1.0)
    image = image.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
    image = image.rotate(rng.uniform(-4, 4), resample=Image.BICUBIC, fillcolor="white")
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))
    if rng.random() < 0.2:
        image = ImageOps.grayscale(image).convert("RGB")
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    fmt = "JPEG" if rng.random() < 0.7 else "WEBP"
    return reencode(image, fmt, int(rng.integers(35, 95)))
