"""torchvision's ResNet18 cut into stem + four residual layers."""

from collections import OrderedDict

import torchvision
from torch import nn

from artmedium.io import Preprocessing
from artmedium.nets._base import Backbone, WeightsUnavailableError
from artmedium.nets._registry import register_backbone


class ResNet18(Backbone):
    """ResNet18 (torchvision) without its classifier: 5 stages, 512 features.

    Stages: ``stem`` (conv1, bn1, relu, maxpool), then ``layer1`` ... ``layer4``.
    Weight files may use torchvision's key names (``conv1.weight``,
    ``layer1.0.conv1.weight``, ...); the ImageNet classifier ``fc.*`` is dropped.
    """

    name = "resnet18"
    feature_dim = 512
    _ignored_checkpoint_keys = ("fc.weight", "fc.bias")

    def __init__(self):
        super().__init__()
        net = torchvision.models.resnet18(weights=None)
        stem = nn.Sequential(
            OrderedDict(
                conv1=net.conv1, bn1=net.bn1, relu=net.relu, maxpool=net.maxpool
            )
        )
        self.stages = nn.ModuleList(
            [stem, net.layer1, net.layer2, net.layer3, net.layer4]
        )
        # torchvision's evaluation protocol for these weights: shorter side to
        # 256, centre crop 224, bilinear, ImageNet statistics.
        self.preprocessing = Preprocessing(size=224, resize=256)

    def _checkpoint_key(self, key):
        # "stages.0.conv1.weight" -> "conv1.weight"; "stages.2.0.bn1.bias" ->
        # "layer2.0.bn1.bias".
        _, index, rest = key.split(".", 2)
        return rest if index == "0" else f"layer{index}.{rest}"

    def _imagenet_state_dict(self):
        weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
        try:
            state = weights.get_state_dict(
                progress=False, check_hash=True, map_location="cpu", weights_only=True
            )
        except (OSError, RuntimeError) as err:
            # URLError and socket errors are OSErrors; a bad hash is a RuntimeError.
            filename = weights.url.rsplit("/", 1)[-1]
            raise WeightsUnavailableError(
                f"could not download the ImageNet weights of resnet18 from "
                f"{weights.url} ({type(err).__name__}: {err}). Download that file "
                f'elsewhere and pass its path: weights="/path/to/{filename}", or '
                "place it in torch's hub cache (torch.hub.get_dir()/checkpoints)."
            ) from err
        return state, weights.url


@register_backbone("resnet18")
def _resnet18(*, weights=None):
    return ResNet18().load_weights(weights)
