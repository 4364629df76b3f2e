"""A model folder's ONNX network from a stranger: refused clearly, never run as code.

Each test plays the attacker who wrote the folder that
``load_model(..., backend="onnx")`` is given: a tampered or corrupt
``model.onnx``, a sidecar entry of the wrong type, a graph that names external
data files, custom operators or outputs the model does not have, calibration
arrays out of range, a tagger's state that contradicts itself. Loading must
refuse with a ValueError (FileNotFoundError for a missing file) naming the file
or the field, read no file outside the folder and write nothing.

Where the attacker gets past the hash check they rewrite the sidecar's SHA-256
and size too: the hash guards against corruption, not against whoever wrote the
folder. Most tests tamper with a tiny classifier's folder and hand-built graphs
of a few nodes, so each load takes a tenth of a second.

Every attack here is refused with a ValueError (or FileNotFoundError) naming
the file; the ONNX graph itself is checked before ONNX Runtime sees it
(artmedium.onnx.check_graph) and loaded from a private folder, so external data
is never read.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file as load_tensors
from safetensors.numpy import save as save_tensors

import artmedium.pretrained
from artmedium import MediumClassifier, MediumTagger
from artmedium.onnx import OnnxClassifier, OnnxTagger
from artmedium.persistence import add_onnx, load_model, save_model
from artmedium.vocabulary import Vocabulary
from conftest import run_in_thread

ONNX, SIDECAR, WEIGHTS = "model.onnx", "model.json", "weights.safetensors"
FLOAT = TensorProto.FLOAT
EMBEDDED = Path(artmedium.pretrained.__file__).parent

# ---------------------------------------------------------------- fixtures


def _images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory):
    """A tiny calibrated classifier saved with its ONNX network (do not modify)."""
    clf = MediumClassifier(
        backbone="simple_cnn",
        weights=None,
        image_size=32,
        max_epochs=1,
        random_state=0,
        calibration_size=0.5,
    ).fit(_images(), ["a", "b"] * 6)
    return save_model(clf, tmp_path_factory.mktemp("onnx_sec") / "clf", onnx=True)


@pytest.fixture(scope="module")
def tagger_folder(tmp_path_factory):
    """A tiny calibrated powerset tagger saved with its ONNX network."""
    vocab = Vocabulary(
        ["etching", "aquatint", "intaglio print", "paper"],
        supports=["paper"],
        broader={"etching": "intaglio print", "aquatint": "intaglio print"},
    )
    inner = MediumClassifier(
        backbone="simple_cnn", weights=None, image_size=32, max_epochs=1,
        random_state=0,
    )  # fmt: skip
    y = ["Etching on paper", "Aquatint on paper", "Etching and aquatint on paper"]
    tagger = MediumTagger(
        mode="powerset",
        embedder="passthrough",
        estimator=inner,
        tag_names=vocab,
        calibration_size=0.5,
        random_state=0,
    ).fit(_images(), y * 4)
    return save_model(tagger, tmp_path_factory.mktemp("onnx_sec") / "tags", onnx=True)


# ----------------------------------------------------------------- helpers


def copy_folder(src, tmp_path, name="model"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def read_sidecar(folder):
    return json.loads((folder / SIDECAR).read_text())


def edit_sidecar(folder, change):
    info = read_sidecar(folder)
    change(info)
    (folder / SIDECAR).write_text(json.dumps(info))


def install(folder, blob, name=ONNX, key="onnx"):
    """Write ``blob`` as ``name`` and record its true SHA-256 and size."""
    (folder / name).write_bytes(blob)

    def change(info):
        info[key].update(sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob))

    edit_sidecar(folder, change)


def rewrite_tensors(folder, change):
    """Change the weights file's tensors; the sidecar records the new file."""
    tensors = load_tensors(folder / WEIGHTS)
    change(tensors)
    install(folder, save_tensors(tensors), WEIGHTS, "weights")


def features_width(folder):
    state = read_sidecar(folder)["state"]
    return state.get("powerset", state)["calibration"]["n_features"]


def value(name, shape, elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def constant(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def network(
    *,
    n_classes=2,
    n_features=640,
    size=32,
    nodes=None,
    initializers=(),
    inputs=None,
    outputs=None,
    opset=17,
    domains=(),
):
    """ONNX bytes of a tiny graph: ``images`` -> ``logits``, ``features``.

    By default it has the classifier's signature (``[n, 3, size, size]`` in,
    ``[n, n_classes]`` and ``[n, n_features]`` out) and loads cleanly; each
    test changes one thing.
    """
    if nodes is None:
        nodes = pooled() + [
            helper.make_node("MatMul", ["f", "W"], ["logits"]),
            helper.make_node("MatMul", ["f", "V"], ["features"]),
        ]
        initializers = [
            constant("W", np.ones((3, n_classes), np.float32)),
            constant("V", np.ones((3, n_features), np.float32)),
            *initializers,
        ]
    inputs = inputs or [value("images", ["n", 3, size, size])]
    outputs = outputs or [
        value("logits", ["n", n_classes]),
        value("features", ["n", n_features]),
    ]
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(domain, 1) for domain in domains]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model.SerializeToString()


def pooled(source="images"):
    """Nodes giving ``f``, the ``[n, 3]`` channel means of ``source``."""
    return [
        helper.make_node("GlobalAveragePool", [source], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
    ]


def external(name, shape, location, offset=0):
    """A float32 tensor whose data is in the file ``location`` (ONNX external data)."""
    tensor = constant(name, np.ones(shape, np.float32))
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    length = 4 * int(np.prod(shape))
    for key, val in (("location", location), ("offset", offset), ("length", length)):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, str(val)
    return tensor


def with_external_features(location, *, as_constant_node=False, n_features=640):
    """A graph whose features add a ``[1, n_features]`` tensor read from
    ``location``: loaded, its outputs would hold that file's bytes."""
    data = external("E", (1, n_features), location)
    nodes = pooled() + [
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("MatMul", ["f", "V"], ["q"]),
        helper.make_node("Add", ["q", "E"], ["features"]),
    ]
    initializers = [
        constant("W", np.ones((3, 2), np.float32)),
        constant("V", np.ones((3, n_features), np.float32)),
    ]
    if as_constant_node:
        nodes.insert(0, helper.make_node("Constant", [], ["E"], value=data))
    else:
        initializers.append(data)
    return network(nodes=nodes, initializers=initializers)


def load_onnx(folder, **kwargs):
    """The ONNX backend's loader, the one under attack."""
    return load_model(folder, backend="onnx", **kwargs)


def refused(folder, exc, match, **kwargs):
    with pytest.raises(exc, match=match):
        load_onnx(folder, **kwargs)


# ------------------------------------------------------------ the baseline


def test_a_handmade_graph_of_the_right_signature_loads_and_writes_nothing(
    classifier_folder, tmp_path
):
    """The control for every attack below: the tiny graph itself is accepted,
    so each refusal is the one change the test makes."""
    folder = copy_folder(classifier_folder, tmp_path)
    install(folder, network(n_features=features_width(folder)))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())
    model = load_onnx(folder)
    assert isinstance(model, OnnxClassifier)
    assert model.predict(_images()[:2]).tolist() == ["a", "a"]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) == before


# ------------------------------------------------ the file: size and hash


#: Over MAX_ONNX_BYTES (1 GiB): refused before a byte is read.
HUGE_ONNX = r"2147483648-byte model\.onnx|model\.onnx\.bytes = 2147483648"


def _flip_last_byte(folder):
    blob = bytearray((folder / ONNX).read_bytes())
    blob[-1] ^= 1
    (folder / ONNX).write_bytes(bytes(blob))


def _truncate(folder):
    (folder / ONNX).write_bytes((folder / ONNX).read_bytes()[:1000])


def _replace(make):
    def change(folder):
        (folder / ONNX).unlink()
        make(folder / ONNX)

    return change


@pytest.mark.parametrize(
    ("tamper", "exc", "match"),
    [
        (_flip_last_byte, ValueError, r"model\.onnx does not match"),
        (_truncate, ValueError, r"model\.onnx has 1000 bytes, .*records \d+"),
        (
            lambda f: install(f, (f / ONNX).read_bytes()[:1000]),
            ValueError,
            r"model\.onnx: not an ONNX model|ONNX Runtime cannot load .*model\.onnx",
        ),
        (
            lambda f: install(f, b"\x08\x07not a protobuf" * 10),
            ValueError,
            r"model\.onnx: not an ONNX model|ONNX Runtime cannot load .*model\.onnx",
        ),
        (lambda f: (f / ONNX).unlink(), FileNotFoundError, r"model\.onnx .*missing"),
        (_replace(Path.mkdir), ValueError, r"model\.onnx is a directory"),
        (_replace(os.mkfifo), ValueError, r"model\.onnx is a named pipe \(FIFO\)"),
        (
            _replace(lambda p: os.symlink("/dev/zero", p)),
            ValueError,
            r"model\.onnx is a device, not a regular file",
        ),
    ],
    ids=[
        "modified",
        "truncated",
        "truncated-hash-updated",
        "not-protobuf",
        "missing",
        "directory",
        "fifo",
        "symlink-to-dev-zero",
    ],
)
def test_a_corrupt_or_odd_model_onnx_is_refused(
    classifier_folder, tmp_path, tamper, exc, match
):
    folder = copy_folder(classifier_folder, tmp_path)
    tamper(folder)
    with pytest.raises(exc, match=match):
        run_in_thread(lambda: load_onnx(folder))


def test_the_embedded_models_refuse_a_modified_network(tmp_path):
    for name in ("default", "tags"):
        folder = copy_folder(EMBEDDED / name, tmp_path, name)
        _flip_last_byte(folder)
        refused(folder, ValueError, r"model\.onnx does not match")


def test_a_huge_sparse_model_onnx_is_refused_before_it_is_read(
    classifier_folder, tmp_path
):
    """2 GiB declared and present (sparse: no disk): over MAX_ONNX_BYTES (1 GiB),
    so it is refused at once; reading it would take seconds and 4 GiB."""
    folder = copy_folder(classifier_folder, tmp_path)
    with open(folder / ONNX, "r+b") as fh:
        fh.truncate(2 << 30)
    edit_sidecar(folder, lambda info: info["onnx"].update(bytes=2 << 30))
    refused(folder, ValueError, HUGE_ONNX)


def test_a_model_onnx_linking_elsewhere_is_read_like_the_folder_s_other_files(
    classifier_folder, tmp_path
):
    """A model folder may link its files elsewhere (model.json and
    weights.safetensors are opened the same way): the sidecar's hash decides,
    so a link to any other content is refused."""
    folder = copy_folder(classifier_folder, tmp_path)
    outside = tmp_path / "elsewhere" / "net.onnx"
    outside.parent.mkdir()
    outside.write_bytes((folder / ONNX).read_bytes())
    (folder / ONNX).unlink()
    os.symlink(outside, folder / ONNX)
    assert load_onnx(folder).predict(np.zeros((1, 32, 32, 3), np.uint8)).shape == (1,)
    outside.write_bytes(b"\x00" * outside.stat().st_size)
    refused(folder, ValueError, r"model\.onnx does not match")


# ----------------------------------------------------- the sidecar entry


def _set(**fields):
    return lambda info: info["onnx"].update(fields)


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        (_set(bytes="1560602"), ValueError, r"model\.onnx\.bytes must be int, not str"),
        (_set(bytes=-1), ValueError, r"model\.onnx\.bytes = -1 is outside"),
        (_set(bytes=0), ValueError, r"model\.onnx\.bytes = 0 is outside"),
        (_set(bytes=True), ValueError, r"model\.onnx\.bytes must be int, not bool"),
        (_set(bytes=12.0), ValueError, r"model\.onnx\.bytes must be int, not float"),
        (_set(bytes=1 << 41), ValueError, r"model\.onnx\.bytes = 2199023255552 is"),
        (_set(bytes=1 << 31), ValueError, HUGE_ONNX),
        (_set(sha256="z" * 64), ValueError, r"model\.onnx\.sha256 is not a SHA-256"),
        (_set(sha256="AB" * 32), ValueError, r"model\.onnx\.sha256 is not a SHA-256"),
        (_set(sha256="ab"), ValueError, r"model\.onnx\.sha256 is not a SHA-256"),
        (_set(sha256=5), ValueError, r"model\.onnx\.sha256 must be str, not int"),
        (_set(sha256="0" * 64), ValueError, r"model\.onnx does not match"),
        (
            _set(file="../x.onnx"),
            ValueError,
            r"model\.onnx\.file must be 'model\.onnx'",
        ),
        (_set(file="/etc/passwd"), ValueError, r"model\.onnx\.file must be 'model"),
        (_set(file=WEIGHTS), ValueError, r"model\.onnx\.file must be 'model\.onnx'"),
        (_set(file=None), ValueError, r"model\.onnx\.file must be str, not null"),
        (lambda i: i["onnx"].pop("file"), ValueError, r"model\.onnx\.file is missing"),
        (lambda i: i["onnx"].pop("sha256"), ValueError, r"onnx\.sha256 is missing"),
        (lambda i: i.update(onnx=[1]), ValueError, r"model\.onnx must be dict, not"),
        (lambda i: i.update(onnx=ONNX), ValueError, r"model\.onnx must be dict, not"),
        (lambda i: i.update(onnx=False), ValueError, r"model\.onnx must be dict, not"),
        (lambda i: i.update(onnx=None), FileNotFoundError, "add_onnx"),
        (lambda i: i.pop("onnx"), FileNotFoundError, "has no ONNX network"),
    ],
)
def test_a_wrong_sidecar_onnx_entry_is_named(
    classifier_folder, tmp_path, change, exc, match
):
    folder = copy_folder(classifier_folder, tmp_path)
    edit_sidecar(folder, change)
    refused(folder, exc, match)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda i: i.update(preprocessing=None), "has no image preprocessing"),
        (
            lambda i: i["preprocessing"].update(size=40000),
            r"model\.preprocessing: size 40000",
        ),
        (lambda i: i.update(estimator="Pickle"), "unknown estimator type"),
        (lambda i: i.update(estimator="MediumTagger"), r"state\.tag_names is missing"),
        (
            lambda i: i["state"].update(input_mode="features"),
            r"model\.state: this model was fitted on 2-D features",
        ),
        (
            lambda i: i["state"].update(classes={"values": ["a"], "dtype": "<U1"}),
            r"model\.state\.classes must hold at least 2 classes",
        ),
        (
            lambda i: i["state"]["classes"].update(dtype="<U100000000"),
            r"model\.state\.classes\.values: dtype '<U100000000' is not allowed",
        ),
    ],
)
def test_a_wrong_classifier_state_is_named(classifier_folder, tmp_path, change, match):
    folder = copy_folder(classifier_folder, tmp_path)
    edit_sidecar(folder, change)
    refused(folder, ValueError, match)


# ------------------------------------------------ external data in the graph


@pytest.mark.parametrize(
    "location",
    [
        "../../../../../../../../etc/passwd",
        "/etc/passwd",
        WEIGHTS,  # the folder's own weights: not in the working directory
        "no-such-file.bin",
    ],
)
@pytest.mark.parametrize("as_constant_node", [False, True], ids=["init", "const"])
def test_external_data_outside_the_working_directory_is_refused(
    classifier_folder, tmp_path, monkeypatch, location, as_constant_node
):
    folder = copy_folder(classifier_folder, tmp_path)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    blob = with_external_features(
        location, as_constant_node=as_constant_node, n_features=features_width(folder)
    )
    install(folder, blob)
    refused(
        folder, ValueError, r"model\.onnx: the ONNX network's .* names external data"
    )


@pytest.mark.parametrize("as_constant_node", [False, True], ids=["init", "const"])
@pytest.mark.parametrize("cwd", ["elsewhere", "the-model-folder"])
def test_external_data_in_the_working_directory_is_never_read(
    classifier_folder, tmp_path, monkeypatch, as_constant_node, cwd
):
    folder = copy_folder(classifier_folder, tmp_path)
    n_features = features_width(folder)
    if cwd == "elsewhere":
        workdir, location = tmp_path / "home", "secret.txt"
        workdir.mkdir()
        secret = np.arange(n_features, dtype=np.float32)
        (workdir / location).write_bytes(secret.tobytes())
    else:
        workdir, location = folder, WEIGHTS
    monkeypatch.chdir(workdir)
    install(
        folder,
        with_external_features(
            location, as_constant_node=as_constant_node, n_features=n_features
        ),
    )
    refused(folder, ValueError, "external")


# ------------------------------------------------ operators the runtime lacks


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (
            network(
                nodes=pooled()
                + [
                    helper.make_node("MatMul", ["f", "W"], ["logits"]),
                    helper.make_node("Evil", ["f"], ["features"], domain="com.x"),
                ],
                initializers=[constant("W", np.ones((3, 2), np.float32))],
                domains=["com.x"],
            ),
            r"the ONNX network uses operator 'com\.x':'Evil'",
        ),
        (
            network(
                nodes=pooled()
                + [
                    helper.make_node("MatMul", ["f", "W"], ["logits"]),
                    helper.make_node("NoSuchOp", ["f"], ["features"]),
                ],
                initializers=[constant("W", np.ones((3, 2), np.float32))],
            ),
            "No Op registered for NoSuchOp",
        ),
        (network(opset=99), "opset"),
    ],
    ids=["custom-domain", "unknown-op", "opset-99"],
)
def test_custom_and_unknown_operators_are_a_value_error(
    classifier_folder, tmp_path, blob, match
):
    folder = copy_folder(classifier_folder, tmp_path)
    install(folder, blob)
    refused(folder, ValueError, rf"model\.onnx.*{match}")


# -------------------------------------- a network the sidecar does not describe

NEEDS = re.escape("the model needs images float [n, 3, 32, 32] -> logits float [n, 2]")


def _two_inputs():
    inputs = [value("images", ["n", 3, 32, 32]), value("extra", ["n", 1])]
    nodes = pooled() + [
        helper.make_node("MatMul", ["f", "W"], ["l0"]),
        helper.make_node("Add", ["l0", "extra"], ["logits"]),
        helper.make_node("MatMul", ["f", "V"], ["features"]),
    ]
    initializers = [
        constant("W", np.ones((3, 2), np.float32)),
        constant("V", np.ones((3, 640), np.float32)),
    ]
    return network(nodes=nodes, initializers=initializers, inputs=inputs)


def _three_outputs():
    nodes = pooled() + [
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("MatMul", ["f", "V"], ["features"]),
        helper.make_node("Identity", ["f"], ["more"]),
    ]
    initializers = [
        constant("W", np.ones((3, 2), np.float32)),
        constant("V", np.ones((3, 640), np.float32)),
    ]
    outputs = [
        value("logits", ["n", 2]),
        value("features", ["n", 640]),
        value("more", ["n", 3]),
    ]
    return network(nodes=nodes, initializers=initializers, outputs=outputs)


def _renamed_input():
    nodes = pooled("x") + [
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("MatMul", ["f", "V"], ["features"]),
    ]
    initializers = [
        constant("W", np.ones((3, 2), np.float32)),
        constant("V", np.ones((3, 640), np.float32)),
    ]
    inputs = [value("x", ["n", 3, 32, 32])]
    return network(nodes=nodes, initializers=initializers, inputs=inputs)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: network(n_classes=3), NEEDS),
        (lambda: network(size=64), NEEDS),
        (lambda: network(inputs=[value("images", ["n", 3, "h", "w"])]), NEEDS),
        (_renamed_input, NEEDS),
        (_two_inputs, NEEDS),
        (_three_outputs, NEEDS),
        (
            lambda: network(n_features=64),
            r"model\.state\.calibration has 640 features, the ONNX network gives 64",
        ),
    ],
    ids=[
        "3-classes",
        "64-pixels",
        "any-size",
        "input-named-x",
        "two-inputs",
        "three-outputs",
        "64-features",
    ],
)
def test_a_network_of_another_signature_is_refused(
    classifier_folder, tmp_path, make, match
):
    folder = copy_folder(classifier_folder, tmp_path)
    assert features_width(folder) == 640
    install(folder, make())
    refused(folder, ValueError, match)


def test_outputs_are_read_by_name_not_position(classifier_folder, tmp_path):
    """A graph listing features before logits is the same network."""
    folder = copy_folder(classifier_folder, tmp_path)
    install(
        folder,
        network(outputs=[value("features", ["n", 640]), value("logits", ["n", 2])]),
    )
    model = load_onnx(folder)
    assert model.predict_proba(np.zeros((3, 32, 32, 3), np.uint8)).shape == (3, 2)
    assert model.predict_proba(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 2)


def _logits_only():
    nodes = pooled() + [helper.make_node("MatMul", ["f", "W"], ["logits"])]
    return network(
        nodes=nodes,
        initializers=[constant("W", np.ones((3, 2), np.float32))],
        outputs=[value("logits", ["n", 2])],
    )


def _rank_one_features():
    nodes = pooled() + [
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("ReduceSum", ["f"], ["features"], keepdims=0),
    ]
    return network(
        nodes=nodes,
        initializers=[constant("W", np.ones((3, 2), np.float32))],
        outputs=[value("logits", ["n", 2]), value("features", ["n"])],
    )


def _double_images():
    nodes = [helper.make_node("Cast", ["images"], ["i32"], to=FLOAT)] + pooled("i32")
    nodes += [
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("MatMul", ["f", "V"], ["features"]),
    ]
    initializers = [
        constant("W", np.ones((3, 2), np.float32)),
        constant("V", np.ones((3, 640), np.float32)),
    ]
    inputs = [value("images", ["n", 3, 32, 32], TensorProto.DOUBLE)]
    return network(nodes=nodes, initializers=initializers, inputs=inputs)


def _integer_logits():
    nodes = pooled() + [
        helper.make_node("MatMul", ["f", "W"], ["l0"]),
        helper.make_node("Cast", ["l0"], ["logits"], to=TensorProto.INT64),
        helper.make_node("MatMul", ["f", "V"], ["features"]),
    ]
    initializers = [
        constant("W", np.ones((3, 2), np.float32)),
        constant("V", np.ones((3, 640), np.float32)),
    ]
    outputs = [
        value("logits", ["n", 2], TensorProto.INT64),
        value("features", ["n", 640]),
    ]
    return network(nodes=nodes, initializers=initializers, outputs=outputs)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            _logits_only,
            id="logits-only",
        ),
        pytest.param(
            _rank_one_features,
            id="rank-1-features",
        ),
        pytest.param(
            _double_images,
            id="float64-input",
        ),
        pytest.param(
            lambda: network(inputs=[value("images", [1, 3, 32, 32])]),
            id="batch-of-one",
        ),
        pytest.param(
            _integer_logits,
            id="int64-logits",
        ),
    ],
)
def test_a_network_whose_outputs_do_not_fit_is_a_value_error(
    classifier_folder, tmp_path, make
):
    folder = copy_folder(classifier_folder, tmp_path)
    install(folder, make())
    refused(folder, ValueError, r"ONNX network|model\.onnx")


def test_a_network_that_never_finishes_is_refused(classifier_folder, tmp_path):
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
        ],
        "body",
        [
            value("i", [], TensorProto.INT64),
            value("cond_in", [], TensorProto.BOOL),
            value("acc_in", []),
        ],
        [value("cond_out", [], TensorProto.BOOL), value("acc_out", [])],
        initializer=[constant("one", np.float32(1.0))],
    )
    nodes = pooled() + [
        helper.make_node("MatMul", ["f", "W"], ["logits"]),
        helper.make_node("Loop", ["M", "C", "Z"], ["acc"], body=body),
        helper.make_node("MatMul", ["f", "V"], ["q"]),
        helper.make_node("Add", ["q", "acc"], ["features"]),
    ]
    initializers = [
        constant("W", np.ones((3, 2), np.float32)),
        constant("V", np.ones((3, 640), np.float32)),
        constant("M", np.int64(1 << 40)),
        constant("C", np.bool_(True)),
        constant("Z", np.float32(0.0)),
    ]
    folder = copy_folder(classifier_folder, tmp_path)
    install(folder, network(nodes=nodes, initializers=initializers))
    refused(folder, ValueError, "subgraph|Loop")  # never predict: it would not return


# ------------------------------------------- calibration arrays and the weights


def _put(name, array):
    return lambda t: t.__setitem__(name, array)


def _poke(name, index, val):
    return lambda t: t[name].__setitem__(index, val)


LABELS, LOGITS, FEATURES = (
    "calibration.labels",
    "calibration.logits",
    "calibration.features",
)
SHAPES = r"model\.state\.calibration: the calibration arrays' shapes do not match"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (_put(LABELS, np.array([0, 1, 0, 1, 0, 2])), r"labels must be class indices"),
        (_put(LABELS, np.array([0, 1, 0, 1, 0, -1])), r"labels must be class indices"),
        (_put(LABELS, np.zeros(6, np.float32)), r"calibration\.labels has dtype float"),
        (_put(LABELS, np.zeros(6, bool)), r"calibration\.labels has dtype bool"),
        (_put(LABELS, np.zeros(5, np.int64)), SHAPES),
        (_put(LABELS, np.zeros((6, 1), np.int64)), SHAPES),
        (
            _poke(LOGITS, (0, 0), np.nan),
            "calibration logits and features must be finite",
        ),
        (
            _poke(LOGITS, (0, 0), np.inf),
            "calibration logits and features must be finite",
        ),
        (
            _put(LOGITS, np.zeros((6, 2), np.int32)),
            r"calibration\.logits has dtype int32",
        ),
        (_put(LOGITS, np.zeros((6, 3), np.float32)), SHAPES),
        (
            _poke(FEATURES, (0, 0), np.nan),
            "calibration logits and features must be finite",
        ),
        (_put(FEATURES, np.zeros((6, 64), np.float16)), SHAPES),
        (lambda t: t.pop(FEATURES), r"weights\.safetensors has no tensor 'calibration"),
    ],
)
def test_calibration_arrays_out_of_range_are_refused(
    classifier_folder, tmp_path, change, match
):
    folder = copy_folder(classifier_folder, tmp_path)
    assert load_tensors(folder / WEIGHTS)[LABELS].shape == (6,)
    rewrite_tensors(folder, change)
    refused(folder, ValueError, match)


def _header(fields, data=b""):
    text = json.dumps(fields).encode()
    return len(text).to_bytes(8, "little") + text + data


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        ((1 << 60).to_bytes(8, "little") + b"{}", "header too large"),
        ((5).to_bytes(8, "little") + b"nope!", "invalid JSON in header"),
        (b"\0", "header too small"),
        (
            _header(
                {
                    LOGITS: {"dtype": "F32", "shape": [6, 2], "data_offsets": [0, 48]},
                    LABELS: {"dtype": "I64", "shape": [6], "data_offsets": [0, 48]},
                },
                b"\0" * 48,
            ),
            "invalid offset",
        ),
        (
            _header(
                {
                    LOGITS: {
                        "dtype": "F32",
                        "shape": [1 << 40, 1 << 40],
                        "data_offsets": [0, 48],
                    }
                },
                b"\0" * 48,
            ),
            "overflow",
        ),
        (
            _header(
                {LOGITS: {"dtype": "BF16", "shape": [6, 2], "data_offsets": [0, 24]}},
                b"\0" * 24,
            ),
            "BF16",
        ),
    ],
    ids=["header-length", "header-json", "empty", "overlap", "huge-shape", "bf16"],
)
def test_a_malformed_weights_file_is_refused(classifier_folder, tmp_path, blob, match):
    folder = copy_folder(classifier_folder, tmp_path)
    install(folder, blob, WEIGHTS, "weights")
    refused(folder, ValueError, rf"could not read .*weights\.safetensors: .*{match}")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda i: i["weights"].update(sha256="0" * 64),
            r"weights\.safetensors does not match",
        ),
        (
            lambda i: i["weights"].update(bytes=i["weights"]["bytes"] + 1),
            r"weights\.safetensors has \d+ bytes, .*records \d+",
        ),
        (
            lambda i: i["weights"].update(bytes=1 << 39),
            r"549755813888-byte weights\.safetensors|weights\.bytes = 549755813888",
        ),
        (lambda i: i["weights"].update(file="../w"), r"model\.weights\.file must be"),
        (lambda i: i["state"]["calibration"].update(n_samples=7), SHAPES),
        (lambda i: i["state"]["calibration"].update(n_samples=10**9), "n_samples"),
        (lambda i: i["state"]["calibration"].update(n_features=64), SHAPES),
        (
            lambda i: i["state"]["calibration"].update(temperature=float("nan")),
            r"calibration\.temperature = nan is outside",
        ),
        (
            lambda i: i["state"]["calibration"].update(temperature=0),
            r"calibration\.temperature = 0\.0 is outside",
        ),
        (
            lambda i: i["state"]["calibration"].update(temperature="1"),
            r"calibration\.temperature must be float or int, not str",
        ),
        (
            lambda i: i["state"].update(calibration=[1]),
            r"model\.state\.calibration must be an object, not list",
        ),
    ],
)
def test_calibration_fields_and_weights_entry_are_checked(
    classifier_folder, tmp_path, change, match
):
    folder = copy_folder(classifier_folder, tmp_path)
    edit_sidecar(folder, change)
    refused(folder, ValueError, match)


def test_a_huge_sparse_weights_file_does_not_exhaust_memory(
    classifier_folder, tmp_path
):
    folder = copy_folder(classifier_folder, tmp_path)
    with open(folder / WEIGHTS, "r+b") as fh:
        fh.truncate(1 << 30)  # 1 GiB, sparse
    edit_sidecar(folder, lambda info: info["weights"].update(bytes=1 << 30))
    # In a process without torch, whose address space (0.75 GiB) is plenty for
    # this model: a ValueError, not a MemoryError.
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 << 28, 3 << 28))
        from artmedium.persistence import load_model
        try:
            load_model(sys.argv[1], backend="onnx")
        except BaseException as exc:
            print(type(exc).__name__)
        """
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.stdout.split() == ["ValueError"], out.stdout + out.stderr[-2000:]


# ------------------------------------------------------------- the tagger


def _state(**fields):
    return lambda info: info["state"].update(fields)


def _classes(values, dtype="<i8"):
    return lambda info: info["state"]["powerset"]["classes"].update(
        values=values, dtype=dtype
    )


def _vocab(**fields):
    return lambda info: info["state"]["vocabulary"].update(fields)


def _cell(val):
    return lambda info: info["state"]["combinations"][0].__setitem__(0, val)


TAGS = ["etching", "aquatint", "intaglio print", "paper"]
DISTINCT = r"model\.state\.powerset\.classes must be distinct indices of the 3"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (_cell(2), r"model\.state\.combinations must be rows of zeros and ones"),
        (_cell(-1), r"model\.state\.combinations must be rows of zeros and ones"),
        (_cell(0.5), r"model\.state\.combinations must be rows of zeros and ones"),
        (_cell("1"), r"model\.state\.combinations must be rows of zeros and ones"),
        (_cell([1]), r"model\.state\.combinations must be rows of zeros and ones"),
        (_cell(1 << 70), r"model\.state\.combinations must be rows of zeros and ones"),
        (
            lambda i: i["state"]["combinations"][0].pop(),
            r"model\.state\.combinations must be rows of 4 zeros and ones",
        ),
        (_state(combinations=[]), r"combinations must be rows of 4 zeros and ones"),
        (_state(combinations={}), r"model\.state\.combinations must be list, not"),
        (_classes([2, 1, 0]), DISTINCT),
        (_classes([0, 0, 1]), DISTINCT),
        (_classes([0, 1, 3]), DISTINCT),
        (_classes([-1, 0, 1]), DISTINCT),
        (_classes([0.0, 1.0, 2.0], "<f8"), DISTINCT),
        (_classes(["0", "1", "2"], "<U1"), DISTINCT),
        (_classes([0, 1, 2], "|O"), DISTINCT),
        (
            _vocab(tags=["etching", "aquatint", "intaglio print", "canvas"]),
            r"model\.state\.vocabulary: supports \['paper'\] are not tags",
        ),
        (
            _vocab(tags=["aquatint", "etching", "intaglio print", "paper"]),
            r"model\.state\.vocabulary does not hold the tagger's tags",
        ),
        (
            _state(tag_names=["etching", "etching", "intaglio print", "paper"]),
            r"model\.state\.vocabulary does not hold the tagger's tags",
        ),
        (
            _state(tag_names=["etching", "etching", "x", "paper"], vocabulary=None),
            r"duplicated tag\(s\) in vocabulary",
        ),
        (_vocab(evil=1), r"model\.state\.vocabulary must be an object with keys"),
        (_state(vocabulary=[1]), r"model\.state\.vocabulary must be an object"),
        (
            _vocab(broader=[["etching", "aquatint"], ["aquatint", "etching"]]),
            r"broader terms form a cycle",
        ),
        (
            _state(powerset=None),
            "the ONNX backend runs a mode='powerset' MediumTagger",
        ),
        (_state(powerset=[]), r"model\.state\.powerset must be dict or null, not list"),
        (_state(tag_names=[1, 2, 3, 4]), r"model\.state\.tag_names must be a list of"),
        (_state(tag_names=[]), r"model\.state\.tag_names must hold 1 to"),
        (
            lambda i: i["state"]["powerset"].update(input_mode="features"),
            r"model\.state\.powerset: this model was fitted on 2-D features",
        ),
        (
            lambda i: i["state"]["powerset"]["calibration"].update(n_samples=5),
            r"model\.state\.powerset\.calibration: the calibration arrays' shapes",
        ),
        (
            lambda i: i.update(estimator="MediumClassifier"),
            r"state\.classes is missing",
        ),
    ],
)
def test_a_tagger_state_that_contradicts_itself_is_refused(
    tagger_folder, tmp_path, change, match
):
    folder = copy_folder(tagger_folder, tmp_path)
    assert read_sidecar(folder)["state"]["tag_names"] == TAGS
    edit_sidecar(folder, change)
    refused(folder, ValueError, match)


def test_the_tagger_loads_untampered_and_refuses_a_wrong_label(tagger_folder, tmp_path):
    folder = copy_folder(tagger_folder, tmp_path)
    assert isinstance(load_onnx(folder), OnnxTagger)
    rewrite_tensors(
        folder, _put("powerset.calibration.labels", np.array([0, 1, 2, 0, 1, 3]))
    )
    refused(folder, ValueError, r"labels must be class indices in \[0, 3\)")


def test_the_embedded_tagger_refuses_a_vocabulary_of_other_tags(tmp_path):
    folder = copy_folder(EMBEDDED / "tags", tmp_path, "tags")
    edit_sidecar(
        folder,
        lambda i: i["state"]["vocabulary"].update(
            tags=list(reversed(i["state"]["vocabulary"]["tags"]))
        ),
    )
    refused(folder, ValueError, r"model\.state\.vocabulary")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            _state(calibrated="yes"),
            id="calibrated-yes",
        ),
        pytest.param(
            _state(calibrated=1),
            id="calibrated-1",
        ),
        pytest.param(
            _cell(True),
            id="combination-true",
        ),
    ],
)
def test_tagger_fields_the_torch_loader_refuses_are_refused(
    tagger_folder, tmp_path, change
):
    folder = copy_folder(tagger_folder, tmp_path)
    edit_sidecar(folder, change)
    with pytest.raises(ValueError, match="model.state"):
        load_model(folder)  # the torch loader: refused
    refused(folder, ValueError, "model.state")


def test_add_onnx_to_a_tampered_folder_writes_nothing(classifier_folder, tmp_path):
    folder = copy_folder(classifier_folder, tmp_path)
    blob = bytearray((folder / WEIGHTS).read_bytes())
    blob[-1] ^= 1
    (folder / WEIGHTS).write_bytes(bytes(blob))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match=r"weights\.safetensors does not match"):
        add_onnx(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


# --------------------------------------------------------------- arguments


@pytest.mark.parametrize("threads", [True, 0, -1, "2", 1.5])
def test_bad_threads_are_a_value_error(classifier_folder, threads):
    refused(
        classifier_folder, ValueError, "threads must be a positive int", threads=threads
    )


def test_a_bad_threads_argument_does_not_blame_the_model_file(classifier_folder):
    with pytest.raises(ValueError, match="threads") as info:
        load_onnx(classifier_folder, threads=0)
    assert "cannot load" not in str(info.value)
