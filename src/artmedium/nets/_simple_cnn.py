"""The poster's baseline: a plain stack of conv -> BatchNorm -> ReLU -> max-pool."""

from torch import nn

from artmedium.io import Preprocessing
from artmedium.nets._base import Backbone
from artmedium.nets._registry import register_backbone


class SimpleCNN(Backbone):
    """Stacked ``conv3x3 -> BatchNorm -> ReLU -> max-pool`` blocks, one per stage.

    Trained from scratch (no ImageNet weights exist for it). Each block halves
    the resolution; the pooled features have the last block's width.

    Parameters
    ----------
    channels : sequence of int, default=(32, 64, 128, 256)
        Output channels of each block.
    """

    name = "simple_cnn"

    def __init__(self, channels=(32, 64, 128, 256)):
        super().__init__()
        widths = [3, *channels]
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )
            for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.feature_dim = widths[-1]
        self.preprocessing = Preprocessing(size=224)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(
                    module.weight, mode="fan_out", nonlinearity="relu"
                )


@register_backbone("simple_cnn")
def _simple_cnn(*, weights=None):
    return SimpleCNN().load_weights(weights)
