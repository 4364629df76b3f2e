"""Tests for artmedium.io.Preprocessing."""

import dataclasses
import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from artmedium.io import (
    DEFAULT_AUGMENT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
)


def noise(height, width, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def denormalise(x, pre):
    mean = torch.tensor(pre.mean)[:, None, None]
    std = torch.tensor(pre.std)[:, None, None]
    return (x * std + mean) * 255


def test_defaults_follow_the_poster_protocol():
    pre = Preprocessing()
    assert (pre.size, pre.resize, pre.interpolation) == (224, None, "bilinear")
    assert pre.mean == IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert pre.std == IMAGENET_STD == (0.229, 0.224, 0.225)
    assert pre.min_decode_size == 224
    assert Preprocessing(size=224, resize=256).min_decode_size == 256


def test_constant_image_shape_dtype_and_normalisation():
    pre = Preprocessing(size=32)
    x = pre.transform()(np.full((50, 70, 3), (0, 128, 255), np.uint8))
    assert type(x) is torch.Tensor
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    for channel, value in enumerate((0, 128, 255)):
        expected = (value / 255 - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]
        torch.testing.assert_close(
            x[channel], torch.full((32, 32), expected), atol=1e-5, rtol=0
        )


def test_eval_transform_is_deterministic_and_container_independent():
    pre = Preprocessing(size=24)
    arr = noise(40, 60)
    t = pre.transform()
    a, b = t(arr), t(arr)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(t(Image.fromarray(arr)), a, rtol=0, atol=0)
    torch.testing.assert_close(pre.transform()(arr), a, rtol=0, atol=0)


def test_non_rgb_inputs_are_normalised_like_read_image():
    pre = Preprocessing(size=8)
    t = pre.transform()
    grey = np.full((10, 10), 200, np.uint8)
    rgba = np.zeros((10, 10, 4), np.uint8)  # fully transparent: white paper
    torch.testing.assert_close(t(grey), t(np.full((10, 10, 3), 200, np.uint8)))
    torch.testing.assert_close(t(rgba), t(np.full((10, 10, 3), 255, np.uint8)))
    torch.testing.assert_close(t(Image.fromarray(grey)), t(grey))


def test_resize_then_center_crop_keeps_the_middle():
    # Left third red, middle green, right third blue: the crop of a 3:1 landscape
    # keeps only the green middle (the edge columns blend in their neighbours).
    arr = np.zeros((30, 90, 3), np.uint8)
    arr[:, :30, 0] = arr[:, 30:60, 1] = arr[:, 60:, 2] = 255
    pre = Preprocessing(size=10)
    rgb = denormalise(pre.transform()(arr), pre)[:, :, 1:-1]  # antialias bleeds
    assert rgb[1].min() > 250 and rgb[0].max() < 5 and rgb[2].max() < 5


def test_augment_varies_output():
    pre = Preprocessing(size=16)
    arr = noise(32, 48)
    t = pre.transform(augment=True)
    outs = [t(arr) for _ in range(4)]
    assert all(o.shape == (3, 16, 16) and o.dtype == torch.float32 for o in outs)
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_augment_overrides_reduce_to_a_flip():
    pre = Preprocessing(size=16)
    arr = noise(32, 32)  # square: a full-size crop is the eval resize
    no_randomness = {
        "scale": (1.0, 1.0),
        "ratio": (1.0, 1.0),
        "hflip": 1.0,
        "brightness": 0,
        "contrast": 0,
        "saturation": 0,
    }
    flipped = pre.transform(augment=no_randomness)(arr)
    torch.testing.assert_close(flipped, pre.transform()(arr).flip(-1))


def test_augment_keeps_hue_fixed_by_default():
    assert DEFAULT_AUGMENT["hue"] == 0
    assert DEFAULT_AUGMENT["saturation"] <= 0.1
    t = Preprocessing(size=8).transform(augment=True)
    jitter = [step for step in t.transforms if isinstance(step, v2.ColorJitter)]
    assert len(jitter) == 1 and jitter[0].hue is None


def test_augment_unknown_key_refused():
    with pytest.raises(ValueError, match="unknown augmentation keys.*'rotate'"):
        Preprocessing().transform(augment={"rotate": 10})


def test_transforms_pickle_for_dataloader_workers():
    pre = Preprocessing(size=8)
    arr = noise(12, 12)
    for augment in (False, True):
        t = pickle.loads(pickle.dumps(pre.transform(augment=augment)))
        assert t(arr).shape == (3, 8, 8)


def test_batch_is_channels_last_and_matches_transform():
    pre = Preprocessing(size=16)
    images = [noise(20, 30, seed=i) for i in range(3)] + [
        Image.fromarray(noise(40, 20))
    ]
    x = pre.batch(images)
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert not x.is_contiguous()
    t = pre.transform()
    torch.testing.assert_close(x, torch.stack([t(im) for im in images]))
    plain = pre.batch(iter(images), channels_last=False)
    assert plain.is_contiguous()
    torch.testing.assert_close(plain, x)


def test_empty_batch():
    assert Preprocessing(size=8).batch([]).shape == (0, 3, 8, 8)


# ------------------------------------------------- mapping back to the original


@pytest.mark.parametrize(
    ("width", "height", "resize"),
    [
        (240, 120, None),
        (120, 240, None),
        (200, 150, 40),
        (57, 201, None),
        # Beyond MAX_ASPECT_RATIO the image is first cut to its middle.
        (250, 20, None),
        (12, 250, 40),
    ],
)
def test_crop_box_matches_what_the_transform_keeps(width, height, resize):
    # Encode x in red and y in green, run the real transform and read back which
    # original coordinates the first and last output pixels came from.
    assert max(width, height) <= 256
    xs = np.broadcast_to(np.arange(width), (height, width))
    ys = np.broadcast_to(np.arange(height)[:, None], (height, width))
    arr = np.stack([xs, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)
    pre = Preprocessing(size=32, resize=resize)
    rgb = denormalise(pre.transform()(arr), pre)
    left, top, right, bottom = pre.crop_box(width, height)
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    step_x, step_y = (right - left) / pre.size, (bottom - top) / pre.size
    # Output pixel j samples around original coordinate left + (j + 0.5) * step.
    for j in (1, pre.size - 2):
        assert abs(rgb[0, :, j].mean() - (left + (j + 0.5) * step_x - 0.5)) < 1.5
        assert abs(rgb[1, j, :].mean() - (top + (j + 0.5) * step_y - 0.5)) < 1.5


def test_extreme_aspect_ratios_are_cut_before_resizing():
    """Issue #12 item 6: a 100000 x 1 strip would be resized to 19.7 GB."""
    from artmedium.io._preprocess import MAX_ASPECT_RATIO, _aspect_box

    pre = Preprocessing(size=224, resize=256, interpolation="bicubic")
    rng = np.random.default_rng(0)
    strip = rng.integers(0, 256, (1, 100_000, 3), dtype=np.uint8)
    out = pre.transform()(strip)
    assert tuple(out.shape) == (3, 224, 224)
    # The resize only ever sees the middle, at most MAX_ASPECT_RATIO long.
    left, top, right, bottom = _aspect_box(100_000, 1)
    assert (right - left, bottom - top) == (MAX_ASPECT_RATIO, 1)
    middle = strip[:, 50_000 - 2 : 50_000 + 2]
    torch.testing.assert_close(out, pre.transform()(middle))
    tall = rng.integers(0, 256, (100_000, 3, 3), dtype=np.uint8)
    assert tuple(pre.transform()(tall).shape) == (3, 224, 224)
    assert pre.crop_box(100_000, 1) == (50_000, 0, 50_001, 1)
    # Ordinary shapes are not touched.
    assert _aspect_box(400, 100) == (0, 0, 400, 100)


def test_crop_box_landscape_and_portrait_geometry():
    pre = Preprocessing(size=224)
    assert pre.crop_box(2000, 1000) == (500, 0, 1500, 1000)
    assert pre.crop_box(1000, 2000) == (0, 500, 1000, 1500)
    assert pre.crop_box(100, 100) == (0, 0, 100, 100)  # upscaled, not cropped
    with pytest.raises(ValueError):
        pre.crop_box(0, 10)


@pytest.mark.parametrize(("width", "height"), [(300, 120), (90, 250)])
def test_to_original_places_the_map_in_the_crop_box(width, height):
    pre = Preprocessing(size=16)
    left, top, right, bottom = pre.crop_box(width, height)
    full = pre.to_original(np.ones((16, 16)), width, height)
    assert full.shape == (height, width) and full.dtype == np.float32
    inside = np.zeros((height, width), bool)
    inside[top:bottom, left:right] = True
    assert np.all(full[inside] == 1.0) and np.all(full[~inside] == 0.0)


def test_to_original_round_trips_a_feature():
    # A bright square in the original should come back where it was after
    # transform -> (treat the network input as a "map") -> to_original.
    width, height = 160, 100
    arr = np.zeros((height, width, 3), np.uint8)
    arr[30:60, 70:110] = 255
    pre = Preprocessing(size=32)
    seen = denormalise(pre.transform()(arr), pre)[0].numpy() / 255
    back = pre.to_original(seen, width, height) > 0.5
    truth = arr[:, :, 0] > 0
    iou = (back & truth).sum() / (back | truth).sum()
    assert iou > 0.85


def test_to_original_accepts_tensors_and_refuses_non_2d():
    pre = Preprocessing(size=8)
    assert pre.to_original(torch.ones(8, 8), 10, 10).shape == (10, 10)
    with pytest.raises(ValueError, match="2-D"):
        pre.to_original(np.ones((1, 8, 8)), 10, 10)


# ------------------------------------------------------------------- dicts


def test_dict_round_trip_through_json():
    pre = Preprocessing(size=112, resize=128, mean=(0.5, 0.5, 0.5), std=(0.25,) * 3)
    d = json.loads(json.dumps(pre.to_dict()))
    again = Preprocessing.from_dict(d)
    assert again == pre and hash(again) == hash(pre)
    assert isinstance(again.mean, tuple)


def test_from_dict_refuses_unknown_keys():
    d = Preprocessing().to_dict()
    d["crop_pct"] = 0.875
    with pytest.raises(ValueError, match="unknown Preprocessing keys.*crop_pct"):
        Preprocessing.from_dict(d)
    with pytest.raises(TypeError):
        Preprocessing.from_dict([("size", 3)])


def test_from_dict_missing_keys_take_defaults():
    assert Preprocessing.from_dict({}) == Preprocessing()


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"),
    [
        ({"size": 0}, ValueError, "size"),
        ({"size": 2.5}, TypeError, "size"),
        ({"resize": 100}, ValueError, "resize"),
        ({"std": (1.0, 0.0, 1.0)}, ValueError, "std"),
        ({"mean": (0.5, 0.5)}, ValueError, "mean"),
        ({"mean": "abc"}, TypeError, "mean"),
        ({"interpolation": "lanczos"}, ValueError, "interpolation"),
    ],
)
def test_invalid_settings_refused(kwargs, exc, needle):
    with pytest.raises(exc, match=needle):
        Preprocessing(**kwargs)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Preprocessing().size = 10


def test_tensor_augmentation_matches_transform_augment():
    pre = Preprocessing(size=16)
    image = torch.rand(3, 16, 16)
    aug = pre.augmentation()
    outs = [aug(image) for _ in range(4)]
    assert all(o.shape == (3, 16, 16) and type(o) is torch.Tensor for o in outs)
    assert all(0 <= o.min() and o.max() <= 1 for o in outs)
    assert any(not torch.equal(outs[0], o) for o in outs[1:])
    flip_only = {"scale": (1.0, 1.0), "ratio": (1.0, 1.0), "hflip": 1.0}
    flip_only.update(brightness=0, contrast=0, saturation=0)
    torch.testing.assert_close(
        pre.augmentation(params=flip_only)(image), image.flip(-1)
    )
    pickle.loads(pickle.dumps(aug))
    with pytest.raises(ValueError, match="unknown augmentation keys"):
        pre.augmentation(params={"blur": 1})
