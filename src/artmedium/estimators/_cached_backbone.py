"""A backbone that runs images in batches up to a stage, caching its frozen part.

Images -> tensors a trainable head consumes, computed once and cached per image.

When the first stages of a backbone are frozen, their output for a given image
never changes, so it is computed once per image (not once per epoch) and, with
``memory``, kept on disk keyed by the image's content, the backbone's weights,
the preprocessing and the stage it stops at. A grid search over ``lr`` then
re-trains only the head, and a second fit on overlapping folds reuses the work.
"""

import copy
import dataclasses
import hashlib
import json
import threading
from collections import OrderedDict

import numpy as np
import torch

from artmedium._seeded import seeded
from artmedium.estimators._feature_cache import FeatureCache, cache_location
from artmedium.io import (
    PREPROCESS_VERSION,
    READER_VERSION,
    ImageReadError,
    image_digest,
    iter_images,
)
from artmedium.nets import backbone_factory, get_backbone

POOLED = None  # ``stop`` value meaning "the pooled feature vector"

#: Most input pixels in one forward pass (64 images of 224 x 224): what bounds
#: the activations' memory when a model asks for large inputs or batches.
MAX_BATCH_PIXELS = 64 * 224 * 224


class _Memo:
    """A small thread-safe LRU dict of what one process worked out already."""

    def __init__(self, size):
        self.size = size
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


#: Untouched copies of backbones built with their ImageNet weights, by registry
#: name and factory: a fit copies one (~40 ms for EfficientNet-Lite0) instead
#: of building the network, initialising it and reading and loading the
#: checkpoint again (~150 ms); a grid search builds the same backbone once per
#: fit. A copy is the network the checkpoint gives, so the weights
#: fingerprint, and every cache key, are what they were. Weights files given by
#: path are always read (they may change between fits); so are the ImageNet
#: weights in a process's first fit of each backbone, which holds the copy
#: (one or two networks' weights, 14 MB for EfficientNet-Lite0) until the end.
_PRETRAINED = _Memo(2)

#: Output shape of one image by (network class and structure, weights
#: fingerprint, pooling, stop): what a cache entry must have, found by running
#: a blank image through the network once per process, not once per fit.
_SHAPES = _Memo(64)


def _build_network(name, weights, random_state):
    """``get_backbone(name, weights=weights)``, seeded; ImageNet ones copied
    from :data:`_PRETRAINED` once one was built."""
    key = None
    if isinstance(weights, str) and weights in ("auto", "imagenet"):
        key = (name, weights, backbone_factory(name))
        template = _PRETRAINED.get(key)
        if template is not None:
            return copy.deepcopy(template)
    if random_state is not None:
        # A randomly initialised backbone must be reproducible too.
        with seeded(random_state):
            network = get_backbone(name, weights=weights)
    else:
        network = get_backbone(name, weights=weights)
    if key is not None and network.weights == "imagenet":
        # Every parameter and buffer came from the checkpoint (a strict load):
        # the copy does not depend on the seed.
        _PRETRAINED.put(key, copy.deepcopy(network))
    return network


def cached_backbone(est, *, weights, seed):
    """The :class:`CachedBackbone` of an image estimator, from its parameters.

    The one place an estimator's ``backbone``, ``image_size``, ``pooling``,
    ``batch_size``, ``n_jobs``, ``memory`` and ``device`` become a network:
    ``fit`` passes the estimator's ``weights``, loading passes None (the saved
    tensors follow).
    """
    return CachedBackbone(
        est.backbone,
        weights,
        image_size=est.image_size,
        pooling=est.pooling,
        batch_size=est.batch_size,
        n_jobs=est.n_jobs,
        memory=est.memory,
        device=est.device,
        random_state=seed,
    )


class CachedBackbone:
    """A backbone network run on images in batches up to a stage, with a cache.

    What image estimators hold as ``backbone_``: the network (``network``), the
    preprocessing its input needs, and a per-image cache of what its frozen
    first stages produce (``memory``).

    Parameters
    ----------
    backbone : str
        Registered backbone name.
    weights : None, "imagenet" or path
        Passed to :func:`artmedium.nets.get_backbone`.
    image_size : int or None
        Overrides the backbone's preprocessing size (smaller is faster).
    pooling : {"avg", "texture"}
        How the backbone pools its features (:meth:`Backbone.set_pooling`).
    batch_size : int
        Images per forward pass.
    n_jobs : int or None
        Decoding threads (decoding overlaps with the forward passes).
    memory : None, path or joblib.Memory
        Where per-image results are cached (as ``.npy`` files, see
        :class:`~artmedium.estimators._feature_cache.FeatureCache`; a
        ``joblib.Memory`` only gives its folder).
    device : str
        Torch device for the forward passes.
    """

    def __init__(
        self,
        backbone,
        weights,
        *,
        image_size=None,
        pooling="avg",
        batch_size=32,
        n_jobs=None,
        memory=None,
        device="cpu",
        random_state=None,
    ):
        self.network = _build_network(backbone, weights, random_state)
        self.network.set_pooling(pooling)
        self.network.eval().requires_grad_(False)
        self.network.to(device=device, memory_format=torch.channels_last)
        preprocessing = self.network.preprocessing
        if image_size is not None:
            # Keep the backbone's resize-to-crop ratio (256/224 for ImageNet models).
            size = int(image_size)
            resize = preprocessing.resize
            if resize is not None:
                resize = max(size, round(size * resize / preprocessing.size))
            preprocessing = dataclasses.replace(preprocessing, size=size, resize=resize)
        self.preprocessing = preprocessing
        self.batch_size = int(batch_size)
        self.cache = None
        self.configure(memory=memory, n_jobs=n_jobs)
        self.device = torch.device(device)
        self._fingerprint = None
        self._shapes = {}

    def configure(self, *, memory, n_jobs):
        """Use this cache folder and this many decoding threads from now on.

        Estimators call it before every use with their current ``memory`` and
        ``n_jobs``, so ``set_params`` on a fitted (or loaded) estimator takes
        effect, as scikit-learn's runtime parameters do.
        """
        self.n_jobs = 1 if n_jobs is None else int(n_jobs)
        location = cache_location(memory)
        if location is None:
            self.cache = None
        elif self.cache is None or self.cache.location != location:
            self.cache = FeatureCache(location)

    @property
    def run_batch_size(self):
        """Images per forward pass: ``batch_size``, bounded so that a batch holds
        at most :data:`MAX_BATCH_PIXELS` input pixels (large inputs run in
        smaller batches; the results do not depend on it)."""
        per_image = self.preprocessing.size**2
        return max(1, min(self.batch_size, MAX_BATCH_PIXELS // per_image))

    @property
    def n_stages(self):
        return len(self.network.stages)

    @property
    def fingerprint(self):
        """SHA-256 of the backbone's weights and name, the preprocessing and the
        image reader's and the preprocessing's versions (the same bytes may
        decode, or be resized, differently)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            versions = f"reader={READER_VERSION}|preprocess={PREPROCESS_VERSION}|"
            digest.update(versions.encode())
            digest.update(self.network.name.encode())
            digest.update(
                json.dumps(self.preprocessing.to_dict(), sort_keys=True).encode()
            )
            for name, tensor in self.network.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def output_shape(self, stop, views):
        """Shape of one image's result for ``stop`` and ``views`` (cached).

        What a cache entry must have: computed once by running a blank image
        through the network, so a cached file is never trusted for its shape.
        Kept per process for networks of the same class, structure (``repr``),
        weights fingerprint (which covers the preprocessing) and pooling.
        """
        if views == 2:  # _forward stacks the image and its flip on axis 1
            return (2, *self.output_shape(stop, 1))
        if (stop, views) not in self._shapes:
            network = self.network
            key = (type(network), repr(network), self.fingerprint, network.pooling)
            shape = _SHAPES.get((*key, stop))
            if shape is None:
                size = self.preprocessing.size
                blank = torch.zeros((1, 3, size, size))
                with torch.inference_mode():
                    out = self._forward(blank, stop, views)
                shape = tuple(out.shape[1:])
                _SHAPES.put((*key, stop), shape)
            self._shapes[stop, views] = shape
        return self._shapes[stop, views]

    def _forward(self, batch, stop, views):
        batch = batch.to(self.device, memory_format=torch.channels_last)
        if views == 2:
            # Horizontal flips are the one augmentation that keeps a medium's
            # evidence intact and can be precomputed: each image yields two vectors.
            batch = torch.cat([batch, torch.flip(batch, dims=[-1])])
        if stop is POOLED:
            out = self.network(batch)
        elif stop == 0:
            out = batch
        else:
            out = self.network.forward_until(batch, stop)
        out = out.float().contiguous().cpu()
        if views == 2:
            n = len(out) // 2
            out = torch.stack([out[:n], out[n:]], dim=1)
        return out

    def _cache_tag(self, stop, views, dtype):
        """What a cache key holds besides the image's digest."""
        tag = f"{self.fingerprint}|stop={stop}|views={views}|{dtype}"
        if stop is POOLED and self.network.pooling != "avg":
            tag += f"|pooling={self.network.pooling}"
        return tag

    def activations(self, sources, *, stop=POOLED, views=1, dtype=torch.float32):
        """Run ``sources`` through the network into one tensor, up to ``stop``.

        Parameters
        ----------
        sources : list
            Image sources accepted by :func:`artmedium.io.read_image`.
        stop : int or None
            ``None``: pooled features ``(n, d)``; ``k``: the activation after the
            first ``k`` stages; ``0``: the preprocessed image tensor.
        views : {1, 2}
            2 adds a horizontally flipped view: the result gains a view axis 1.
        dtype : torch.dtype
            Storage dtype of the result (float16 halves the cache of maps).

        Returns
        -------
        out : torch.Tensor
        errors : dict
            Index -> :class:`~artmedium.io.ImageReadError` for unreadable sources;
            their rows in ``out`` are zeros.
        """
        n = len(sources)
        results = [None] * n
        errors = {}
        tag = self._cache_tag(stop, views, dtype)
        keys = [None] * n
        cache = self.cache
        if cache is not None:
            shape = self.output_shape(stop, views)
            np_dtype = torch.empty((), dtype=dtype).numpy().dtype
            # A fit with flips cached both views of its images; the first is the
            # one view asked for here (scoring a fold, predicting): no forward.
            both_tag = self._cache_tag(stop, 2, dtype) if views == 1 else None
            for i, src in enumerate(sources):
                try:
                    digest = image_digest(src)
                except ImageReadError as exc:
                    errors[i] = exc
                    continue
                keys[i] = f"{digest}|{tag}"
                hit = cache.get(keys[i], shape, np_dtype)
                if hit is None and both_tag is not None:
                    both = cache.get(f"{digest}|{both_tag}", (2, *shape), np_dtype)
                    hit = None if both is None else both[0]
                if hit is not None:
                    results[i] = torch.from_numpy(hit)
        todo = [i for i in range(n) if results[i] is None and i not in errors]
        batch_size = self.run_batch_size
        pending_idx, pending_img = [], []

        def flush():
            if not pending_img:
                return
            batch = self.preprocessing.batch(pending_img, channels_last=False)
            with torch.inference_mode():
                out = self._forward(batch, stop, views).to(dtype)
            for j, idx in enumerate(pending_idx):
                results[idx] = out[j].clone()
                if cache is not None:
                    cache.put(keys[idx], results[idx].numpy())
            pending_idx.clear()
            pending_img.clear()

        stream = iter_images(
            [sources[i] for i in todo],
            n_jobs=self.n_jobs,
            min_size=self.preprocessing.min_decode_size,
        )
        for j, item in stream:
            if isinstance(item, ImageReadError):
                errors[todo[j]] = item
                continue
            pending_idx.append(todo[j])
            pending_img.append(item)
            if len(pending_img) >= batch_size:
                flush()
        flush()

        good = next((r for r in results if r is not None), None)
        if good is None:
            return None, errors
        for i in errors:
            results[i] = torch.zeros_like(good)
        return torch.stack(results), errors


def features_to_numpy(tensor):
    """Float32 numpy view of an encoded tensor."""
    return np.ascontiguousarray(tensor.float().numpy())


def flat_rows_to_images(X, image_shape, size, mean, std):
    """Rows of a 2-D float array -> normalised ``(n, 3, size, size)`` image tensors.

    Each row is a flattened image of ``image_shape`` ``(H, W)`` or ``(H, W, C)``
    with intensities in [0, 1]; ``None`` reads a row of ``d`` values as a square
    greyscale image when ``d`` is a square number, else as a ``1 x d`` strip.
    """
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    n, d = X.shape
    if image_shape is None:
        side = int(round(d**0.5))
        image_shape = (side, side, 1) if side * side == d else (1, d, 1)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3 or shape[2] not in (1, 3) or int(np.prod(shape)) != d:
        raise ValueError(
            f"image_shape={image_shape} does not fit rows of {d} values: it must be "
            "(H, W) or (H, W, C) with C in (1, 3) and H * W * C == n_features."
        )
    images = X.view(n, *shape).permute(0, 3, 1, 2)
    if images.shape[1] == 1:
        images = images.expand(n, 3, *images.shape[2:])
    images = torch.nn.functional.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False
    )
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    return (images - mean_t) / std_t
