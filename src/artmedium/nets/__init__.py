"""CNN backbones by name.

A :class:`Backbone` is an ``nn.Module`` made of ordered ``stages`` whose output
is globally average-pooled to ``feature_dim`` features; it declares the
:class:`artmedium.io.Preprocessing` its weights expect. Stages are the unit of
freezing (an estimator's ``freeze``: frozen stages keep their BatchNorm
statistics, see :meth:`Backbone.train`) and of caching
(:meth:`Backbone.forward_until`, :meth:`Backbone.forward_from`). Three are
registered:

- ``simple_cnn``: conv -> BatchNorm -> ReLU -> max-pool blocks, trained from
  scratch (the poster's baseline), 4 stages, 256 features;
- ``resnet18``: torchvision's ResNet18, 5 stages, 512 features, ImageNet
  weights downloaded by torchvision;
- ``efficientnet_lite0``: EfficientNet-Lite0, 9 stages, 1280 features, ImageNet
  weights from the ``artmedium[pretrained]`` extra (no download).
"""

# Imported for their side effect: each registers its backbone.
from artmedium.nets import _efficientnet_lite, _resnet, _simple_cnn  # noqa: F401
from artmedium.nets._base import Backbone, WeightsUnavailableError
from artmedium.nets._registry import (
    backbone_factory,
    get_backbone,
    list_backbones,
    register_backbone,
)

__all__ = [
    "Backbone",
    "WeightsUnavailableError",
    "backbone_factory",
    "get_backbone",
    "list_backbones",
    "register_backbone",
]
