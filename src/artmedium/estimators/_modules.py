"""The torch modules skorch trains (the part of a network after its cached
prefix), and the skorch nets that train them with per-sample weights."""

import numpy as np
import torch
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from torch import nn


class BatchDataset(Dataset):
    """skorch's Dataset that also takes a list of rows and returns the batch.

    Indexing the tensors with the batch's rows at once replaces a ``__getitem__``
    and a collate per sample (a fifth of a head's training time on cached
    features). The batch is what the per-sample path collates: the same rows,
    values and dtypes; anything else falls back to skorch's indexing.
    """

    def __getitem__(self, i):
        if not isinstance(i, list):
            return super().__getitem__(i)
        rows = torch.as_tensor(i, dtype=torch.int64)
        X, y = self.X, self.y
        # index_select gathers rows several times faster than X[rows] on the CPU.
        if isinstance(X, torch.Tensor):
            Xi = X.index_select(0, rows)
        elif isinstance(X, dict) and all(
            isinstance(v, torch.Tensor) for v in X.values()
        ):
            Xi = {k: v.index_select(0, rows) for k, v in X.items()}
        else:
            return super().__getitem__(i)
        if y is None:  # skorch's placeholder, one per row
            yi = torch.zeros((len(i), 1))
        elif isinstance(y, torch.Tensor):
            yi = y.index_select(0, rows)
        elif isinstance(y, np.ndarray) and y.dtype.kind in "biuf":
            yi = torch.from_numpy(y[rows.numpy()])
        else:
            return super().__getitem__(i)
        return Xi, yi


class BatchLoader:
    """skorch's ``iterator_train`` and ``iterator_valid``: one ``dataset[rows]``
    per batch, for a :class:`BatchDataset` (or a ``Subset`` of one).

    The batches of ``DataLoader(dataset, batch_size, shuffle)``, from the same
    two draws of torch's global generator per pass that its iterator and its
    ``RandomSampler`` make (the workers' base seed, then the seed of the
    shuffling generator; only the first without ``shuffle``): the same rows in
    the same order, and the same random numbers after them, so ``random_state``
    gives the losses it gave with skorch's default loader. Without the
    DataLoader's machinery, sampler and collate per batch.
    """

    def __init__(self, dataset, batch_size, shuffle=False):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)

    def __len__(self):
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        torch.empty((), dtype=torch.int64).random_()  # DataLoader's base seed
        if self.shuffle:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            generator = torch.Generator().manual_seed(seed)
            rows = torch.randperm(n, generator=generator).tolist()
        else:
            rows = list(range(n))
        for start in range(0, n, self.batch_size):
            yield self.dataset[rows[start : start + self.batch_size]]


def _weighted_mean(losses, X, extra=None):
    """``sum(w * loss) / sum(w)``: a weight of k is the sample repeated k times."""
    weight = torch.as_tensor(X["sample_weight"], device=losses.device)
    if extra is not None:
        weight = weight * extra
    return (weight * losses).sum() / weight.sum().clamp_min(1e-12)


def _weighted(X):
    return isinstance(X, dict) and "sample_weight" in X


class LeanStepsMixin:
    """Less of skorch's bookkeeping per batch, the same training.

    * ``notify`` does not call the callbacks' inherited no-op methods (most
      callbacks act once per epoch, and three notifications go out per batch);
    * ``_set_training(True)`` walks the modules once per epoch, not before
      every batch: skorch sets every submodule's mode (all of a backbone's for
      a fine-tune, whose ``train`` then looks for frozen stages) though nothing
      changed it since the last batch. Any other call walks as skorch does: a
      switch to evaluation, the first training batch of an epoch (callbacks
      such as ``Freezer`` act at an epoch's start). A callback that changes
      modes *between batches* of an epoch is not undone before the next batch.
    """

    _training_set = False

    def on_epoch_begin(self, net, **kwargs):
        self._training_set = False
        super().on_epoch_begin(net, **kwargs)

    def _set_training(self, training=True):
        if training and self._training_set:
            return
        super()._set_training(training)
        self._training_set = bool(training)

    def notify(self, method_name, **cb_kwargs):
        getattr(self, method_name)(self, **cb_kwargs)
        noop = getattr(Callback, method_name, None)
        for _, cb in self.callbacks_:
            method = getattr(cb, method_name)
            if noop is None or getattr(method, "__func__", None) is not noop:
                method(self, **cb_kwargs)


class WeightedNeuralNetClassifier(LeanStepsMixin, NeuralNetClassifier):
    """skorch's classifier; given ``{"x": ..., "sample_weight": ...}``, its
    cross-entropy weighs each sample (and still its class, as
    ``CrossEntropyLoss(weight=...)`` does). See :class:`LeanStepsMixin`."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not _weighted(X):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        losses = nn.functional.cross_entropy(y_pred, y_true, reduction="none")
        class_weight = self.criterion_.weight
        extra = None if class_weight is None else class_weight[y_true]
        return _weighted_mean(losses, X, extra)


class WeightedBCENet(NeuralNet):
    """skorch's net with a BCE loss (one sigmoid per tag); given a dict with
    ``sample_weight``, the mean over tags, then the weighted mean over samples."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not _weighted(X):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        losses = nn.functional.binary_cross_entropy_with_logits(
            y_pred, y_true, reduction="none"
        ).mean(dim=1)
        return _weighted_mean(losses, X)


class Standardize(nn.Module):
    """Fixed affine ``(x - mean) / scale`` fitted on the training features.

    Frozen-backbone features have very different scales per dimension; a linear
    head trained with SGD converges in a few epochs once they are standardised
    (what ``StandardScaler`` does before a ``LogisticRegression``).
    """

    def __init__(self, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x):
        return (x - self.mean) / self.scale

    @classmethod
    def fit(cls, features, sample_weight=None):
        """Mean and standard deviation per feature; zero variance maps to 1.

        With ``sample_weight``, the weighted mean and standard deviation (a
        weight of k counts a row k times).
        """
        features = torch.as_tensor(features, dtype=torch.float32)
        if sample_weight is None:
            mean = features.mean(dim=0)
            scale = features.std(dim=0, unbiased=False)
        else:
            w = torch.as_tensor(sample_weight, dtype=torch.float32)[:, None]
            w = w / w.sum().clamp_min(1e-12)
            mean = (w * features).sum(dim=0)
            scale = (w * (features - mean) ** 2).sum(dim=0).sqrt()
        scale = torch.where(scale > 1e-8, scale, torch.ones_like(scale))
        return cls(mean, scale)


class Head(nn.Sequential):
    """A sequential head; a weighted fit hands it ``sample_weight``, which only
    the loss uses (skorch passes every entry of a dict ``X`` to ``forward``)."""

    def forward(self, x, sample_weight=None):
        return super().forward(x)


def make_head(in_features, n_outputs, *, dropout=0.0, standardize=None):
    """``[Standardize] -> Dropout -> Linear``: the classifier on pooled features."""
    layers = [] if standardize is None else [standardize]
    if dropout:
        layers.append(nn.Dropout(float(dropout)))
    layers.append(nn.Linear(int(in_features), int(n_outputs)))
    return Head(*layers)


class TrainableNet(nn.Module):
    """A head, optionally behind the trainable last stages of a backbone.

    Parameters
    ----------
    head : nn.Module
        Maps pooled features ``(n, d)`` to logits.
    backbone : Backbone or None
        Needed when ``start`` is an int: ``backbone.forward_from(x, start)``
        runs its stages ``start:`` and pools.
    start : int or None
        ``None``: inputs are pooled features ``(n, d)`` or ``(n, views, d)``;
        ``k``: inputs are the activations after the first ``k`` stages (``0``:
        normalised images).
    augment : bool
        Training-time augmentation, active only in ``train()`` mode, so skorch's
        validation passes and every prediction see the images as they are.
    augmentation : callable or None
        Image augmentation for ``start == 0``, applied to one ``(3, H, W)`` float
        image in [0, 1] (see :meth:`artmedium.io.Preprocessing.augmentation`).
    mean, std : sequence of float or None
        The normalisation undone before and redone after ``augmentation``.
    """

    def __init__(
        self,
        head,
        backbone=None,
        start=None,
        *,
        augment=False,
        augmentation=None,
        mean=None,
        std=None,
    ):
        super().__init__()
        self.head = head
        self.backbone = backbone
        self.start = start
        self.augment = bool(augment)
        self.augmentation = augmentation
        if mean is not None:
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))
        else:
            self.mean = self.std = None

    def forward(self, x, sample_weight=None):
        # sample_weight arrives with x when fit is weighted; only the loss uses it.
        x = x.float()
        if self.start is None:
            if x.ndim == 3:  # (n, views, d): a precomputed flip per image
                if self.training and self.augment:
                    pick = torch.randint(x.shape[1], (len(x),), device=x.device)
                    x = x[torch.arange(len(x), device=x.device), pick]
                else:
                    x = x[:, 0]
            return self.head(x)
        if self.training and self.augment:
            x = self._augment(x)
        x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.backbone.forward_from(x, self.start))

    def _augment(self, x):
        if self.start == 0 and self.augmentation is not None:
            images = (x * self.std + self.mean).clamp(0, 1)
            images = torch.stack([self.augmentation(img) for img in images])
            return (images - self.mean) / self.std
        # Cached activation maps: a horizontal flip of the map approximates the
        # map of the flipped image, the augmentation that survives caching.
        flip = torch.rand(len(x), device=x.device) < 0.5
        return torch.where(flip.view(-1, 1, 1, 1), torch.flip(x, dims=[-1]), x)
