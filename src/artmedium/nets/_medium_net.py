"""The full classifier network: a backbone, dropout and a linear head."""

import numbers

from torch import nn

from artmedium.nets._base import Backbone


class MediumNet(nn.Module):
    """A :class:`Backbone` followed by dropout and a linear layer to logits.

    Parameters
    ----------
    backbone : Backbone
        Feature extractor; see :func:`get_backbone`.
    n_outputs : int
        Number of logits (classes, or tags for multi-label).
    dropout : float, default=0.0
        Dropout probability on the pooled features (training only).

    Attributes
    ----------
    backbone : Backbone
    dropout : torch.nn.Dropout
    head : torch.nn.Linear
        ``backbone.feature_dim -> n_outputs``.

    Examples
    --------
    >>> import torch
    >>> from artmedium.nets import MediumNet, get_backbone, freeze_stages
    >>> net = MediumNet(get_backbone("simple_cnn"), 3, dropout=0.2)
    >>> net = freeze_stages(net, 1)
    >>> net(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 3])
    """

    def __init__(self, backbone, n_outputs, dropout=0.0):
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(
                f"backbone must be a Backbone (see get_backbone); got "
                f"{type(backbone).__name__}."
            )
        if (
            isinstance(n_outputs, bool)
            or not isinstance(n_outputs, numbers.Integral)
            or n_outputs < 1
        ):
            raise ValueError(f"n_outputs must be a positive int; got {n_outputs!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {dropout!r}.")
        self.backbone = backbone
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Linear(backbone.feature_dim, int(n_outputs))

    def forward(self, x):
        """Logits ``(n, n_outputs)`` of preprocessed images ``x``."""
        return self.forward_from(x, 0)

    def forward_from(self, h, start):
        """Logits from the output ``h`` of the backbone's first ``start`` stages.

        Parameters
        ----------
        h : torch.Tensor
            ``backbone.forward_until(x, start)``, e.g. read from a cache.
        start : int
            In ``[0, backbone.n_stages]``.

        Returns
        -------
        logits : torch.Tensor of shape (n, n_outputs)
        """
        return self.head(self.dropout(self.backbone.forward_from(h, start)))
