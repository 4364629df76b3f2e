"""ImageEmbedder: images -> feature vectors from a frozen backbone (a transformer)."""

import os
from numbers import Integral

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from artmedium._inputs import FEATURES, parse_X, raise_read_errors
from artmedium._seeded import seeded
from artmedium._state import (
    MAX_FEATURES,
    State,
    check_int,
    check_keys,
    preprocessing_from_json,
)
from artmedium.estimators._cached_backbone import (
    POOLED,
    cached_backbone,
    features_to_numpy,
    flat_rows_to_images,
)


class ImageEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Turn images into ``(n, d)`` feature vectors with a frozen CNN backbone.

    Any scikit-learn estimator then works on images:
    ``make_pipeline(ImageEmbedder(), LogisticRegression())``.

    Parameters
    ----------
    backbone : str, default="efficientnet_lite0"
        A registered backbone (:func:`artmedium.nets.list_backbones`).
    weights : "auto", None, "imagenet" or path, default="auto"
        Backbone weights: ``"auto"`` is ImageNet weights where the backbone has
        them and a seeded random initialisation otherwise; ``weights_`` says
        which was used. See :func:`artmedium.nets.get_backbone`.
    image_size : int or None, default=None
        Input size; ``None`` uses the backbone's (224).
    pooling : {"avg", "texture"}, default="avg"
        ``"avg"``: the backbone's global-average features. ``"texture"``: those,
        followed by the per-channel mean and standard deviation over positions
        of the two stages before the last (orderless mid-level statistics, as
        texture and material descriptors pool; 2,304 features for
        EfficientNet-Lite0 instead of 1,280). See
        :meth:`artmedium.nets.Backbone.set_pooling`.
    image_shape : tuple or None, default=None
        How a row of a 2-D float ``X`` is read as an image with intensities in
        [0, 1]: ``(H, W)`` or ``(H, W, C)``. ``None``: a square greyscale image
        when the row length is a square number, else a ``1 x d`` strip.
    batch_size : int, default=32
        Images per forward pass.
    memory : None, str or joblib.Memory, default=None
        Disk cache of per-image features keyed by image content, weights and
        preprocessing; ``.npy`` arrays read without pickle, safe to share
        (a ``joblib.Memory`` gives its folder only).
    n_jobs : int or None, default=None
        Image decoding threads.
    device : str, default="cpu"
        Torch device.
    random_state : int, RandomState or None, default=None
        Seeds the initialisation when ``weights=None``.

    Attributes
    ----------
    backbone_ : CachedBackbone
        The backbone network, its preprocessing and its cache.
    preprocessing_ : artmedium.io.Preprocessing
        How images become the network's input.
    weights_ : None, "imagenet" or str
        The backbone weights in use: ``"imagenet"``, a weights file, or None
        for a random initialisation.
    n_features_out_ : int
        Length of the feature vectors.

    Examples
    --------
    >>> import numpy as np
    >>> from artmedium import ImageEmbedder
    >>> images = np.random.RandomState(0).randint(0, 256, (2, 40, 40, 3), np.uint8)
    >>> emb = ImageEmbedder(backbone="simple_cnn", weights=None, image_size=32,
    ...                     random_state=0)
    >>> emb.fit_transform(images).shape[0]
    2
    """

    _parameter_constraints = {
        "backbone": [str],
        "weights": [None, str, os.PathLike],
        "image_size": [None, Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"avg", "texture"})],
        "image_shape": [None, tuple, list],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "n_jobs": [None, Integral],
        "device": [str, torch.device],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        backbone="efficientnet_lite0",
        weights="auto",
        image_size=None,
        pooling="avg",
        image_shape=None,
        batch_size=32,
        memory=None,
        n_jobs=None,
        device="cpu",
        random_state=None,
    ):
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.pooling = pooling
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.memory = memory
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.string = True
        tags.requires_fit = True
        return tags

    def fit(self, X, y=None):
        """Load the backbone; ``X`` only fixes the input mode and its width.

        Returns
        -------
        self : ImageEmbedder
        """
        self._validate_params()
        inp = parse_X(X)
        for attr in ("n_features_in_", "feature_names_in_"):
            self.__dict__.pop(attr, None)
        if inp.kind == FEATURES:
            validate_data(self, inp.data, reset=True, dtype=np.float32)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self.backbone_ = cached_backbone(self, weights=self.weights, seed=seed)
        self.weights_ = self.backbone_.network.weights
        if inp.kind == FEATURES:  # fail at fit, not transform, on a bad image_shape
            prep = self.backbone_.preprocessing
            flat_rows_to_images(inp.data[:1], self.image_shape, 8, prep.mean, prep.std)
        self._set_width()
        return self

    def _set_width(self):
        self.n_features_out_ = self.backbone_.network.feature_dim
        self._n_features_out = self.n_features_out_

    @property
    def preprocessing_(self):
        """The :class:`~artmedium.io.Preprocessing` images go through."""
        check_is_fitted(self)
        return self.backbone_.preprocessing

    # ---------------------------------------------------------- saved state
    def _get_state(self):
        """What :func:`~artmedium.persistence.save_model` stores (artmedium._state)."""
        check_is_fitted(self)
        fields = {
            "preprocessing": self.preprocessing_.to_dict(),
            "n_features_in": (
                int(self.n_features_in_) if hasattr(self, "n_features_in_") else None
            ),
            "weights": self.weights_ if self.weights_ in (None, "imagenet") else "file",
        }
        info = {"backbone": self.backbone, "preprocessing": fields["preprocessing"]}
        return State(fields, modules={"backbone": self.backbone_.network}, info=info)

    @classmethod
    def _from_state(cls, params, fields, *, device="cpu", where="state"):
        """A fitted embedder of a saved structure, backbone weights random until
        loaded (``weights=None``: loading never needs pretrained weights).

        Returns
        -------
        ImageEmbedder
        """
        check_keys(
            fields,
            where,
            {"preprocessing": dict, "n_features_in": (int, type(None))},
        )
        prep = preprocessing_from_json(
            fields["preprocessing"], f"{where}.preprocessing"
        )
        weights = fields.get("weights")  # absent from models saved before it
        if weights not in (None, "imagenet", "file"):
            raise ValueError(f"{where}.weights must be null, 'imagenet' or 'file'")
        emb = cls(**{**params, "device": device})
        emb.weights_ = weights
        n_features_in = check_int(
            fields["n_features_in"], f"{where}.n_features_in", 1, MAX_FEATURES
        )
        if n_features_in is not None:
            emb.n_features_in_ = n_features_in
        with seeded():
            emb.backbone_ = cached_backbone(emb, weights=None, seed=0)
        emb.backbone_.preprocessing = prep
        emb._set_width()
        return emb

    def transform(self, X):
        """Feature vectors of the images in ``X``.

        Returns
        -------
        ndarray of shape (n_samples, n_features_out_), float32
        """
        check_is_fitted(self)
        inp = parse_X(X)
        if inp.kind == FEATURES:
            if not hasattr(self, "n_features_in_"):
                raise ValueError(
                    "This embedder was fitted on images; transform images, not a 2-D "
                    "numeric array."
                )
            Xf = validate_data(self, inp.data, reset=False, dtype=np.float32)
            return self._embed_rows(Xf)
        features, errors = self._transform_images(inp.data)
        raise_read_errors(errors)
        return features

    def _transform_images(self, sources):
        """Features of image ``sources``, and why those that cannot be read cannot.

        What :meth:`transform` raises on, returned instead: batch jobs
        (:func:`artmedium.dask.embed`) keep the other images' rows.

        Parameters
        ----------
        sources : list
            Image sources accepted by :func:`artmedium.io.read_image`.

        Returns
        -------
        features : ndarray of shape (len(sources), n_features_out_), float32
            The rows of unreadable images are NaN (zeros would pass for features).
        errors : dict
            Index -> :class:`~artmedium.io.ImageReadError`.
        """
        self.backbone_.configure(memory=self.memory, n_jobs=self.n_jobs)
        out, errors = self.backbone_.activations(sources, stop=POOLED)
        if out is None:  # nothing could be read
            shape = (len(sources), self.n_features_out_)
            return np.full(shape, np.nan, dtype=np.float32), errors
        features = features_to_numpy(out)
        features[sorted(errors)] = np.nan
        return features, errors

    def _embed_rows(self, Xf):
        runner = self.backbone_
        prep = runner.preprocessing
        chunks = []
        step = runner.run_batch_size
        for start in range(0, len(Xf), step):
            batch = flat_rows_to_images(
                Xf[start : start + step],
                self.image_shape,
                prep.size,
                prep.mean,
                prep.std,
            )
            with torch.inference_mode():
                batch = batch.to(runner.device)
                chunks.append(runner.network(batch).float().cpu())
        return features_to_numpy(torch.cat(chunks))
