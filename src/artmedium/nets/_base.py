"""The Backbone contract: ordered stages, pooled features, freezing, strict weights."""

import numbers
import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# BatchNorm flavours whose running statistics a frozen stage must not update.
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)

# How many offending keys an error message lists per kind (missing, unexpected, ...).
_KEYS_SHOWN = 5

#: How a backbone turns its last activation into one vector (see Backbone.pooling).
POOLINGS = ("avg", "texture")


def _mean_sd(h):
    """Per-channel mean and standard deviation over positions, ``(n, 2c)``."""
    h = h.float()
    var, mean = torch.var_mean(h, dim=(2, 3), unbiased=False)
    # The epsilon keeps the gradient finite where a channel is constant.
    return torch.cat([mean, torch.sqrt(var + 1e-6)], dim=1)


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be obtained (download failed, no network).

    The message names what was tried and how to pass a local file instead.

    Examples
    --------
    >>> from artmedium.nets import WeightsUnavailableError
    >>> issubclass(WeightsUnavailableError, RuntimeError)
    True
    """


class Backbone(nn.Module):
    """A CNN feature extractor made of ordered stages, pooled to one vector.

    Subclasses build ``stages`` (an :class:`torch.nn.ModuleList`, the stem first)
    and set ``name``, ``feature_dim`` and ``preprocessing``. The pooled features
    are ``pool(stages[-1](... stages[0](x)))`` with a global average pool, so a
    network can be cut after any stage: :meth:`forward_until` gives the
    activation that can be cached while the first stages are frozen, and
    :meth:`forward_from` finishes the job.

    Stages are also the unit of freezing (an estimator's ``freeze``). In
    :meth:`train` mode a stage whose parameters are all frozen stays in eval mode
    (BatchNorm keeps its running statistics, dropout and stochastic depth are
    off), and so does any BatchNorm layer whose own parameters are frozen: a
    frozen prefix then computes exactly what was cached from it.

    Attributes
    ----------
    name : str
        Registry name (:func:`get_backbone`).
    feature_dim : int
        Length of the pooled feature vector (it depends on ``pooling``).
    pooling : {"avg", "texture"}
        ``"avg"``: the global average of the last stage. ``"texture"``: that,
        followed by the mean and the standard deviation over positions of each
        channel of the two stages before it (orderless first- and second-order
        statistics of mid-level features, what texture and material descriptors
        pool). Set with :meth:`set_pooling`.
    preprocessing : artmedium.io.Preprocessing
        How images must be prepared for this backbone (size, mean, std).
    stages : torch.nn.ModuleList
        The network's blocks in order; ``stages[0]`` is the stem.

    Examples
    --------
    >>> import torch
    >>> from artmedium.nets import get_backbone
    >>> net = get_backbone("simple_cnn").eval()
    >>> x = torch.rand(2, 3, 64, 64)
    >>> net(x).shape == (2, net.feature_dim)
    True
    >>> h = net.forward_until(x, 2)
    >>> torch.allclose(net.forward_from(h, 2), net(x), atol=1e-6)
    True
    """

    name = None
    feature_dim = None
    preprocessing = None
    pooling = "avg"
    # Checkpoint keys of the original model that a backbone has no place for
    # (an ImageNet classifier); accepted and dropped by name when loading.
    _ignored_checkpoint_keys = ()

    @property
    def n_stages(self):
        """Number of stages (``len(self.stages)``)."""
        return len(self.stages)

    @staticmethod
    def pool(h):
        """Global average pool and flatten: ``(n, c, h, w)`` -> ``(n, c)``."""
        return torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)

    def _check_cut(self, k, what):
        if (
            isinstance(k, bool)
            or not isinstance(k, numbers.Integral)
            or not 0 <= k <= self.n_stages
        ):
            raise ValueError(
                f"{what}={k!r} is not a stage boundary of backbone {self.name!r}: "
                f"expected an int in [0, {self.n_stages}]."
            )
        return int(k)

    def forward_until(self, x, stop):
        """Run ``stages[:stop]``: the activation after the first ``stop`` stages.

        Parameters
        ----------
        x : torch.Tensor of shape (n, 3, H, W)
            Preprocessed images.
        stop : int
            Number of stages to run, in ``[0, n_stages]``; 0 returns ``x``.

        Returns
        -------
        h : torch.Tensor
            The output of ``stages[stop - 1]`` (not pooled).

        Examples
        --------
        >>> import torch
        >>> from artmedium.nets import get_backbone
        >>> net = get_backbone("simple_cnn")
        >>> net.forward_until(torch.rand(1, 3, 32, 32), 1).shape
        torch.Size([1, 32, 16, 16])
        """
        stop = self._check_cut(stop, "stop")
        for stage in self.stages[:stop]:
            x = stage(x)
        return x

    def forward_from(self, h, start, *, pooling=None):
        """Run ``stages[start:]`` on an intermediate activation, then pool.

        Parameters
        ----------
        h : torch.Tensor
            The output of ``stages[start - 1]`` (the images when ``start=0``).
        start : int
            First stage to run, in ``[0, n_stages]``; ``n_stages`` only pools.
            With ``pooling="texture"`` the statistics need the outputs of
            ``stages[-3]`` and ``stages[-2]``, so ``start`` is at most
            ``n_stages - 2``.
        pooling : {"avg", "texture"} or None, default=None
            Pool this way instead of :attr:`pooling` (texture features start
            with the average-pooled ones, so one pass can give both).

        Returns
        -------
        features : torch.Tensor of shape (n, feature_dim)
            Of :meth:`pooled_dim` columns when ``pooling`` is given.

        Examples
        --------
        >>> import torch
        >>> from artmedium.nets import get_backbone
        >>> net = get_backbone("simple_cnn")
        >>> net.forward_from(torch.rand(1, 64, 8, 8), 2).shape
        torch.Size([1, 256])
        """
        start = self._check_cut(start, "start")
        pooling = self.pooling if pooling is None else pooling
        if pooling == "avg":
            for stage in self.stages[start:]:
                h = stage(h)
            return self.pool(h)
        first = self.n_stages - 3
        if start > first + 1:
            raise ValueError(
                f"pooling='texture' pools the outputs of stages {first} and "
                f"{first + 1} of backbone {self.name!r}, so at least the last 2 "
                f"stages must run (start <= {first + 1}); got start={start}."
            )
        stats = [_mean_sd(h)] if start == first + 1 else []
        for k in range(start, self.n_stages):
            h = self.stages[k](h)
            if first <= k < self.n_stages - 1:
                stats.append(_mean_sd(h))
        return torch.cat([self.pool(h), *stats], dim=1)

    def set_pooling(self, pooling):
        """Choose how features are pooled (:data:`POOLINGS`); sets ``feature_dim``.

        Parameters
        ----------
        pooling : {"avg", "texture"}
            See the class docstring.

        Returns
        -------
        self : Backbone

        Examples
        --------
        >>> from artmedium.nets import get_backbone
        >>> net = get_backbone("simple_cnn")
        >>> net.feature_dim, net.set_pooling("texture").feature_dim
        (256, 640)
        """
        if pooling not in POOLINGS:
            raise ValueError(
                f"pooling must be one of {', '.join(map(repr, POOLINGS))}; "
                f"got {pooling!r}."
            )
        if self.n_stages < 3 and pooling != "avg":
            raise ValueError(
                f"pooling={pooling!r} needs a backbone of at least 3 stages; "
                f"{self.name!r} has {self.n_stages}."
            )
        self.feature_dim = self.pooled_dim(pooling)
        self.pooling = pooling
        return self

    def pooled_dim(self, pooling):
        """Length of the features :meth:`forward_from` gives with ``pooling``.

        Examples
        --------
        >>> from artmedium.nets import get_backbone
        >>> get_backbone("simple_cnn").pooled_dim("texture")
        640
        """
        if self.pooling == "avg":
            self._avg_feature_dim = self.feature_dim
        base = self._avg_feature_dim
        if pooling == "avg":
            return base
        if self.n_stages < 3:
            raise ValueError(
                f"pooling={pooling!r} needs a backbone of at least 3 stages; "
                f"{self.name!r} has {self.n_stages}."
            )
        if getattr(self, "_texture_channels", None) is None:
            x = torch.zeros(1, 3, 64, 64)
            was_training = self.training
            self.eval()
            with torch.no_grad():
                channels = 0
                for k, stage in enumerate(self.stages[:-1]):
                    x = stage(x)
                    if k >= self.n_stages - 3:
                        channels += x.shape[1]
            self.train(was_training)
            self._texture_channels = channels
        return base + 2 * self._texture_channels

    def forward(self, x):
        """Pooled features ``(n, feature_dim)`` of preprocessed images ``x``."""
        return self.forward_from(x, 0)

    def train(self, mode=True):
        """Set training mode, keeping frozen stages and frozen BatchNorm in eval.

        A stage whose parameters all have ``requires_grad=False`` and every
        BatchNorm layer whose affine parameters do are put back in eval mode, so
        their running statistics do not move while the rest trains.

        Parameters
        ----------
        mode : bool, default=True
            Training (True) or evaluation (False) mode.

        Returns
        -------
        self : Backbone
        """
        super().train(mode)
        if mode:
            for stage in self.stages:
                if _all_frozen(stage):
                    stage.eval()
            for module in self.modules():
                if isinstance(module, _BATCH_NORMS) and _all_frozen(module):
                    module.eval()
        return self

    # ------------------------------------------------------------------ weights
    #: What :meth:`load_weights` loaded last: None (random), "imagenet" or a path.
    weights = None

    @classmethod
    def has_imagenet_weights(cls):
        """Whether this backbone has ImageNet weights (what ``"auto"`` loads).

        Examples
        --------
        >>> from artmedium.nets import get_backbone
        >>> type(get_backbone("simple_cnn")).has_imagenet_weights()
        False
        """
        return cls._imagenet_state_dict is not Backbone._imagenet_state_dict

    def _imagenet_state_dict(self):
        """The original ImageNet checkpoint (in its own key names) and its source."""
        raise ValueError(
            f"No ImageNet weights exist for backbone {self.name!r}: use weights=None "
            "(random initialisation) or the path of a weights file."
        )

    def _checkpoint_key(self, key):
        """Name of this module's state-dict ``key`` in the original checkpoint."""
        return key

    def load_weights(self, weights):
        """Load ``"imagenet"`` weights or a weights file, with a strict key check.

        Parameters
        ----------
        weights : None, "auto", "imagenet", str or os.PathLike
            ``None`` keeps the current (random) weights. ``"auto"`` means
            ``"imagenet"`` for a backbone that has ImageNet weights
            (:meth:`has_imagenet_weights`) and None otherwise; the choice is
            recorded in ``weights``. A path names a
            ``torch.save``-d state dict (read with ``weights_only=True``) or a
            ``.safetensors`` file, in the backbone's own key names
            (``backbone.state_dict()``) or in those of the original model
            (e.g. torchvision's ``resnet18().state_dict()``). Every parameter
            must be present with the right shape and nothing else may be; only
            the original ImageNet classifier's keys are dropped, by name.

        Returns
        -------
        self : Backbone

        Raises
        ------
        ValueError
            The file does not match the backbone (names the file and the first
            offending keys), cannot be read, or ImageNet weights do not exist.
        FileNotFoundError
            ``weights`` is a path that does not exist.
        WeightsUnavailableError, ImportError
            ``"imagenet"`` weights could not be downloaded, or their optional
            package is not installed (see :func:`get_backbone`).

        Examples
        --------
        >>> import os, tempfile, torch
        >>> from artmedium.nets import get_backbone
        >>> net = get_backbone("simple_cnn")
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "cnn.pt")
        ...     torch.save(net.state_dict(), path)
        ...     twin = get_backbone("simple_cnn", weights=path)
        >>> all(torch.equal(a, b) for a, b in
        ...     zip(net.state_dict().values(), twin.state_dict().values()))
        True
        """
        if isinstance(weights, str) and weights == "auto":
            weights = "imagenet" if self.has_imagenet_weights() else None
        if weights is None:
            self.weights = None
            return self
        if isinstance(weights, str) and weights == "imagenet":
            state, source = self._imagenet_state_dict()
        elif isinstance(weights, (str, os.PathLike)):
            path = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(
                    f"weights file {str(weights)!r} not found; weights must be None, "
                    "'imagenet' or the path of a weights file."
                )
            state, source = read_state_dict(path), str(path)
        else:
            raise TypeError(
                "weights must be None, 'imagenet' or the path of a weights file; "
                f"got {type(weights).__name__}: {weights!r}."
            )
        self._load_checked(state, source=source)
        self.weights = weights if isinstance(weights, str) else os.fspath(weights)
        return self

    def _load_checked(self, state, *, source):
        own = self.state_dict()
        # A file saved from this backbone uses its own names; anything else is
        # read as the original model's checkpoint.
        native = any(key.startswith("stages.") for key in state)
        to_file = {key: (key if native else self._checkpoint_key(key)) for key in own}
        ignored = set() if native else set(self._ignored_checkpoint_keys)
        expected = {file_key: key for key, file_key in to_file.items()}
        missing = [
            k
            for k in expected
            if k not in state and not k.endswith(".num_batches_tracked")
        ]
        unexpected = [k for k in state if k not in expected and k not in ignored]
        wrong_shape = [
            f"{k} (file {tuple(state[k].shape)}, model {tuple(own[expected[k]].shape)})"
            for k in expected
            if k in state and tuple(state[k].shape) != tuple(own[expected[k]].shape)
        ]
        problems = [
            f"{label}: {_first_few(keys)}"
            for label, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("wrong shapes", wrong_shape),
            )
            if keys
        ]
        if problems:
            raise ValueError(
                f"weights {source} do not match backbone {self.name!r}: "
                + "; ".join(problems)
            )
        # Checkpoints from before BatchNorm counted its batches lack these
        # counters; torch itself fills them with zeros, and so do we.
        new_state = {
            key: state.get(file_key, own[key]) for key, file_key in to_file.items()
        }
        self.load_state_dict(new_state, strict=True)


def _all_frozen(module):
    params = list(module.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def _first_few(keys):
    shown = ", ".join(keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return shown + (f" (+{more} more)" if more > 0 else "")


def read_state_dict(path):
    """Read a state dict from a ``torch.save`` file or a ``.safetensors`` file.

    ``torch.load`` runs with ``weights_only=True`` (no arbitrary unpickling) and
    ``map_location="cpu"``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    state : dict of str to torch.Tensor

    Raises
    ------
    ValueError
        The file cannot be read or does not hold a mapping of names to tensors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as err:
            raise ImportError(
                f"reading {path} needs the safetensors package: pip install safetensors"
            ) from err
        try:
            state = load_file(path, device="cpu")
        except Exception as err:  # safetensors raises its own untyped errors
            raise ValueError(f"could not read weights file {path}: {err}") from err
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
            raise ValueError(
                f"could not read weights file {path} as a state dict "
                f"(torch.load with weights_only=True): {err}"
            ) from err
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"weights file {path} does not hold a state dict (a mapping of "
            f"parameter names to tensors); got {type(state).__name__}."
        )
    return dict(state)
