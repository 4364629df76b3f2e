"""ONNX export and the ONNX Runtime backend: prediction without torch.

:func:`export_onnx` writes a fitted model's network (images in; logits and the
pooled features its honest answers use out) as an ONNX graph;
:func:`~artmedium.persistence.save_model` with ``onnx=True`` puts one in a
model folder, its SHA-256 in the sidecar (:func:`~artmedium.persistence.add_onnx`
adds one to a folder saved without). :func:`~artmedium.persistence.load_model`
with ``backend="onnx"`` loads such a folder into an :class:`OnnxClassifier` or
:class:`OnnxTagger`: the network runs
in ONNX Runtime, and everything else (calibration, conformal sets, novelty,
back-off to broader tags) is the numpy code the torch estimators use
(:mod:`artmedium._honest`), on the calibration arrays of the same folder. The
answers equal the torch model's within float rounding; the process imports
neither torch, torchvision, scikit-learn nor scipy, so one image takes well
under a second and a half from a cold start.

On this machine's two CPU cores ONNX Runtime ran the default model's depthwise
network 2.9 times as fast as torch (benchmarks/RESULTS.md, #17).

An ONNX file is data, never code: it is read only after its size and SHA-256
match the sidecar, handed to ONNX Runtime as bytes (so it cannot name
external data files), on the CPU provider, with no custom operator library.
"""

import io
import os
import uuid
import warnings
from pathlib import Path

import numpy as np

from artmedium._cpus import usable_cpus
from artmedium._honest import (
    MAX_CALIBRATION_IMAGES,
    Answers,
    Calibration,
    check_temperature,
    describe_rows,
    tagger_answers,
)
from artmedium._state import (
    ARRAY_DTYPES,
    MAX_FEATURES,
    MAX_LABELS,
    array_from_json,
    check_int,
    check_keys,
    check_strings,
    labels_from_json,
    preprocessing_from_json,
)
from artmedium._validation import check_fraction

__all__ = [
    "ONNX_OPSET",
    "OnnxClassifier",
    "OnnxTagger",
    "check_graph",
    "check_signature",
    "export_onnx",
    "onnxruntime_available",
]

#: Largest network file read (the default Lite0 graph is about 14 MB).
MAX_ONNX_BYTES = 1 << 30
#: ONNX operator set the export targets.
ONNX_OPSET = 17
#: The graph's input and outputs.
INPUT, OUTPUTS = "images", ("logits", "features")


def onnxruntime_available():
    """Whether ONNX Runtime can be imported (without importing it).

    Examples
    --------
    >>> from artmedium.onnx import onnxruntime_available
    >>> isinstance(onnxruntime_available(), bool)
    True
    """
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


# ------------------------------------------------------------------- export


def _network_of(estimator):
    """The image classifier whose network ``estimator`` runs, and its kind."""
    from sklearn.utils.validation import check_is_fitted

    from artmedium.estimators import MediumClassifier, MediumTagger

    if isinstance(estimator, MediumTagger):
        check_is_fitted(estimator)
        inner = getattr(estimator, "estimator_", None)
        if estimator.mode != "powerset" or not isinstance(inner, MediumClassifier):
            raise ValueError(
                "export_onnx exports a MediumTagger with mode='powerset' over a "
                f"MediumClassifier (the embedded tagger's recipe); this one has "
                f"mode={estimator.mode!r}: its per-tag classifiers run on "
                "embedded features, not in one image network"
            )
        estimator = inner
    if not isinstance(estimator, MediumClassifier):
        raise TypeError(
            "export_onnx exports a fitted MediumClassifier or a mode='powerset' "
            f"MediumTagger; got {type(estimator).__name__}"
        )
    check_is_fitted(estimator)
    if estimator.backbone_ is None:
        raise ValueError(
            "this MediumClassifier was fitted on 2-D features, not images: there "
            "is no image network to export"
        )
    return estimator


def _onnx_bytes(classifier, opset):
    """The classifier's network as ONNX bytes, and a check batch's torch outputs."""
    import torch
    from torch import nn

    network = classifier.backbone_.network
    head = classifier.net_.module_.head
    pooling = classifier._novelty_pooling()

    class ImageToOutputs(nn.Module):
        # What MediumClassifier._features_and_logits computes from images.
        def __init__(self):
            super().__init__()
            self.network, self.head = network, head

        def forward(self, x):
            features = self.network.forward_from(x, 0, pooling=pooling)
            return self.head(features[:, : self.network.feature_dim]), features

    module = ImageToOutputs().eval()
    size = classifier.preprocessing_.size
    generator = torch.Generator().manual_seed(0)
    check = torch.randn((2, 3, size, size), generator=generator)
    buffer = io.BytesIO()
    was_training = [m.training for m in (network, head)]
    network.train(False)
    head.train(False)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The "same" padding of the Lite networks is traced as constants
            # for this input size, which is the only size the graph takes.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # The TorchScript exporter (dynamo=False) is deprecated in favour
            # of torch.export's, which needs onnxscript and took 19.5 s to this
            # one's 5 s for the default network, with the same graph outputs.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                module,
                (check,),
                buffer,
                input_names=[INPUT],
                output_names=list(OUTPUTS),
                dynamic_axes={name: {0: "n"} for name in (INPUT, *OUTPUTS)},
                opset_version=opset,
                dynamo=False,
            )
            expected = [t.numpy() for t in module(check)]
    finally:
        network.train(was_training[0])
        head.train(was_training[1])
    return buffer.getvalue(), check.numpy(), expected


def _session(blob, threads=None):
    """An ONNX Runtime session of ``blob`` on the CPU, ``threads`` intra-op.

    The graph is checked first (:func:`check_graph`), then loaded from a file
    in a new private folder: ONNX Runtime looks for a graph's external data
    beside its file, or, for a graph given as bytes, in the working directory;
    there it finds nothing.
    """
    import shutil
    import tempfile

    import onnxruntime as ort

    check_graph(blob)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: no warnings on stderr
    # No memory arena: with it a batch of 32 held about 800 MB after the run
    # (peak 950 MB); without, memory goes back after each run (peak about
    # 580 MB, 160 MB between runs) at the same speed (#17, bench_predict.py).
    options.enable_cpu_mem_arena = False
    options.intra_op_num_threads = _threads(threads)
    # Threads that spin after a run keep the cores from the decoding threads
    # and the numpy work between runs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    folder = tempfile.mkdtemp(prefix="artmedium-onnx-")
    try:
        path = os.path.join(folder, "model.onnx")
        with open(path, "wb") as fh:
            fh.write(blob)
        return ort.InferenceSession(
            path, sess_options=options, providers=["CPUExecutionProvider"]
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Operators a network of artmedium's never has: control flow runs subgraphs
# (a Loop of 2**40 iterations never returns), and other domains are custom
# operator libraries.
_REFUSED_OPS = frozenset({"Loop", "If", "Scan", "SequenceMap"})
_ONNX_DOMAINS = ("", "ai.onnx")


def _varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("not an ONNX model: a truncated or overlong varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _fields(buf):
    """``(field number, wire type, value)`` of a protobuf message's fields:
    ints for varints, memoryviews for the rest (nothing is copied)."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i : i + size], i + size
        else:
            raise ValueError(f"not an ONNX model: protobuf wire type {wire}")
        if i > n:
            raise ValueError("not an ONNX model: a field runs past the end")
        yield field, wire, value


def _check_tensor(buf, where):
    # TensorProto: external_data = 13, data_location = 14 (1: EXTERNAL).
    for field, wire, value in _fields(buf):
        if field == 13 or (field == 14 and wire == 0 and value == 1):
            raise ValueError(f"the ONNX network's {where} names external data")


def _check_sparse(buf, where):
    # SparseTensorProto: values = 1, indices = 2 (TensorProtos).
    for field, wire, value in _fields(buf):
        if field in (1, 2) and wire == 2:
            _check_tensor(value, where)


def check_graph(blob):
    """Refuse an ONNX model artmedium never writes, before ONNX Runtime sees it.

    Read from the protobuf wire format (the ``onnx`` package takes 1.7 s to
    import): no tensor with external data, no model-local functions, no
    operator outside the standard domains, no control flow (``Loop``,
    ``If``, ``Scan``: subgraphs that may never finish), no subgraph
    attribute.

    Parameters
    ----------
    blob : bytes
        A serialised ``ModelProto``.

    Raises
    ------
    ValueError
        Naming what is refused.

    Examples
    --------
    >>> from artmedium.onnx import check_graph
    >>> check_graph(b"\\x12\\x07pytorch")  # producer_name only: nothing refused
    >>> check_graph(b"\\xca\\x01\\x00")  # an empty model-local function (25)
    Traceback (most recent call last):
    ...
    ValueError: the ONNX network defines its own functions
    """
    model = memoryview(blob)
    for field, wire, value in _fields(model):
        if field == 25:  # ModelProto.functions
            raise ValueError("the ONNX network defines its own functions")
        if field == 8 and wire == 2:  # opset_import: domain = 1
            for f, w, v in _fields(value):
                if (
                    f == 1
                    and w == 2
                    and bytes(v).decode("utf-8", "replace") not in (_ONNX_DOMAINS)
                ):
                    domain = bytes(v).decode("utf-8", "replace")
                    raise ValueError(
                        f"the ONNX network imports operator domain {domain!r:.60}"
                    )
        if field == 7 and wire == 2:  # the graph
            _check_graph_proto(value)


def _check_graph_proto(graph):
    for field, wire, value in _fields(graph):
        if wire != 2:
            continue
        if field == 5:  # initializer
            _check_tensor(value, "initializer")
        elif field == 15:  # sparse_initializer
            _check_sparse(value, "sparse initializer")
        elif field == 1:  # node
            op_type, domain = "", ""
            for f, w, v in _fields(value):
                if f == 4 and w == 2:
                    op_type = bytes(v).decode("utf-8", "replace")
                elif f == 7 and w == 2:
                    domain = bytes(v).decode("utf-8", "replace")
                elif f == 5 and w == 2:
                    _check_attribute(v)
            if domain not in _ONNX_DOMAINS:
                raise ValueError(
                    f"the ONNX network uses operator {domain!r:.60}:{op_type!r:.60}"
                )
            if op_type in _REFUSED_OPS:
                raise ValueError(
                    f"the ONNX network uses {op_type}: control flow, which "
                    "artmedium's networks never have"
                )


def _check_attribute(attribute):
    # AttributeProto: t = 5, g = 6, tensors = 10, graphs = 11,
    # sparse_tensor = 22, sparse_tensors = 23.
    for field, wire, value in _fields(attribute):
        if field in (6, 11):
            raise ValueError("the ONNX network has a subgraph")
        if field in (5, 10) and wire == 2:
            _check_tensor(value, "constant")
        elif field in (22, 23) and wire == 2:
            _check_sparse(value, "sparse constant")


def _threads(threads):
    """Intra-op threads: ``threads``, else ``OMP_NUM_THREADS``, else the CPUs
    this process may use (ONNX Runtime's own default counts every core of the
    machine, which oversubscribes a container limited to fewer)."""
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        return threads
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) >= 1:
        return int(env)
    return usable_cpus()


def export_onnx(estimator, path, *, opset=ONNX_OPSET, atol=1e-4):
    """Write a fitted model's image network as an ONNX graph.

    The graph takes ``images``, a float32 batch ``(n, 3, size, size)``
    prepared by the model's :class:`~artmedium.io.Preprocessing`
    (:meth:`~artmedium.io.Preprocessing.batch_array`), and gives ``logits``
    ``(n, n_classes)`` and ``features`` ``(n, n_features)``, the pooled
    features the novelty score compares (texture statistics where the model
    uses them). For a ``mode="powerset"`` :class:`~artmedium.MediumTagger`
    the classes are its tag combinations. Everything else a prediction needs
    (classes, calibration, vocabulary) is in the model folder: save with
    :func:`~artmedium.persistence.save_model` and ``onnx=True`` to get both.

    The export is checked: ONNX Runtime, when installed, must give the
    torch network's outputs within ``atol`` on a random batch.

    Parameters
    ----------
    estimator : MediumClassifier or MediumTagger
        Fitted on images; a tagger with ``mode="powerset"``.
    path : str or os.PathLike
        The file to write (replaced atomically if it exists).
    opset : int, default=17
        ONNX operator set.
    atol : float, default=1e-4
        Largest difference allowed between ONNX Runtime's and torch's outputs.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    TypeError, ValueError
        The estimator has no image network to export (fitted on features, or
        a tagger of per-tag classifiers), or ONNX Runtime disagrees with torch.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from artmedium import MediumClassifier
    >>> from artmedium.onnx import export_onnx
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    >>> clf = MediumClassifier(backbone="simple_cnn", weights=None, image_size=32,
    ...                        max_epochs=1, random_state=0).fit(X, [0, 1] * 4)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = export_onnx(clf, tmp + "/clf.onnx")
    ...     path.stat().st_size > 0
    True
    """
    blob, _ = _export_checked(estimator, opset=opset, atol=atol)
    path = Path(path)
    _write_atomic(path, blob)
    return path


def _export_checked(estimator, *, opset=ONNX_OPSET, atol=1e-4):
    """ONNX bytes of ``estimator``'s network, and the largest difference
    between ONNX Runtime's outputs and torch's on a check batch (None when
    ONNX Runtime is not installed)."""
    classifier = _network_of(estimator)
    check_int(opset, "opset", 13, 30)
    blob, check, expected = _onnx_bytes(classifier, opset)
    if not onnxruntime_available():
        return blob, None
    got = _session(blob).run(list(OUTPUTS), {INPUT: check})
    diff = max(float(np.max(np.abs(g - e))) for g, e in zip(got, expected))
    if not diff <= atol:
        raise ValueError(
            f"ONNX Runtime's outputs differ from torch's by {diff:.3g} (> atol="
            f"{atol}) on the check batch: this network does not export faithfully"
        )
    return blob, diff


def _write_atomic(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------ loading


def _calibration(fields, tensors, folder, prefix, n_classes, where):
    """The numpy :class:`~artmedium._honest.Calibration` of a saved classifier."""
    check_keys(
        fields,
        where,
        {"n_samples": int, "n_features": int, "temperature": (float, int)},
    )
    n = check_int(fields["n_samples"], f"{where}.n_samples", 2, MAX_CALIBRATION_IMAGES)
    n_features = check_int(fields["n_features"], f"{where}.n_features", 1, MAX_FEATURES)
    temperature = check_temperature(fields["temperature"], f"{where}.temperature")
    logits = _tensor(tensors, f"{prefix}calibration.logits", "f", folder)
    labels = _tensor(tensors, f"{prefix}calibration.labels", "i", folder)
    features = _tensor(tensors, f"{prefix}calibration.features", "f", folder)
    if (
        logits.shape != (n, n_classes)
        or labels.shape != (n,)
        or features.shape != (n, n_features)
    ):
        raise ValueError(
            f"{where}: the calibration arrays' shapes do not match {n} images, "
            f"{n_classes} classes and {n_features} features"
        )
    # As the torch loader assigns them: the saved arrays as they are (the
    # features are unit rows already; normalising again would round again).
    calibration = Calibration.empty(n, n_classes, n_features, temperature)
    calibration.logits, calibration.labels = logits, labels
    calibration.features = features
    calibration._check()
    return calibration


def _classifier_parts(fields, where):
    """Classes and the saved-state checks common to a classifier's fields."""
    check_keys(fields, where, {"classes": dict, "input_mode": str})
    if fields["input_mode"] != "images":
        raise ValueError(
            f"{where}: this model was fitted on 2-D features, not images; it has "
            "no image network to run"
        )
    classes = labels_from_json(fields["classes"], f"{where}.classes")
    if len(classes) < 2:
        raise ValueError(f"{where}.classes must hold at least 2 classes")
    return classes


def _runtime_model(folder, sidecar, blob, tensors, threads=None):
    """The ONNX Runtime model of a checked sidecar, its network's bytes (size
    and SHA-256 checked) and its weights file's tensors (numpy)."""
    threads = _threads(threads)  # the caller's argument: its own error
    sidecar_path, network_path = folder / "model.json", folder / "model.onnx"
    if sidecar["preprocessing"] is None:
        raise ValueError(f"{sidecar_path}: the model has no image preprocessing")
    try:
        preprocessing = preprocessing_from_json(
            sidecar["preprocessing"], "model.preprocessing"
        )
    except ValueError as exc:
        raise ValueError(f"{sidecar_path}: {exc}") from None
    try:
        session = _session(blob, threads)
    except ValueError as exc:
        raise ValueError(f"{network_path}: {exc}") from None
    except Exception as exc:  # onnxruntime raises its own error types
        raise ValueError(f"ONNX Runtime cannot load {network_path}: {exc}") from None
    tagger = sidecar["estimator"] == "MediumTagger"
    kind = OnnxTagger if tagger else OnnxClassifier
    try:
        model = kind._from_sidecar(
            folder, tensors, sidecar["state"], session, preprocessing
        )
    except ValueError as exc:
        raise ValueError(f"{sidecar_path}: {exc}") from None
    model.path = folder
    return model


def _tensor(tensors, name, kind, folder):
    """A weights-file array of the right kind (float "f" or integer "i")."""
    if name not in tensors:
        raise ValueError(f"{folder}/weights.safetensors has no tensor {name!r}")
    value = tensors[name]
    if str(value.dtype) not in ARRAY_DTYPES[kind]:
        raise ValueError(
            f"{folder}/weights.safetensors: {name} has dtype {value.dtype}, not "
            f"one of {ARRAY_DTYPES[kind]}"
        )
    return value


# ------------------------------------------------------------------ runtime


class _OnnxModel:
    """What both runtime models share: the session and the forward pass."""

    #: Images per ONNX Runtime call when a caller passes more.
    batch_size = 32
    #: ``predict`` and friends also take images already prepared by
    #: ``preprocessing_.array`` (float32 ``(3, size, size)`` each), which a
    #: batch predictor has its decoding threads make.
    takes_prepared_images = True

    def __init__(self, session, preprocessing, n_classes, n_features):
        self.session = session
        self.preprocessing_ = preprocessing
        self._check_session(n_classes, n_features)

    def _check_session(self, n_classes, n_features):
        check_signature(self.session, self.preprocessing_.size, n_classes, n_features)

    def _images(self, X):
        """Images as the model's float32 input batch."""
        from artmedium.io import read_image

        size = self.preprocessing_.size
        prepared = (3, size, size)
        if (
            isinstance(X, list)
            and X
            and all(
                isinstance(x, np.ndarray)
                and x.dtype == np.float32
                and x.shape == prepared
                for x in X
            )
        ):
            X = np.stack(X)
        if isinstance(X, np.ndarray) and X.ndim == 4 and X.dtype == np.float32:
            if X.shape[1:] != prepared:
                raise ValueError(
                    f"a float32 batch must be prepared images of shape "
                    f"(n, 3, {size}, {size}), got {X.shape}"
                )
            return X
        if isinstance(X, (str, os.PathLike, bytes)):
            raise TypeError(
                f"X must be a list of images or image paths, not one {type(X).__name__}"
            )
        min_size = self.preprocessing_.min_decode_size
        images = [
            read_image(x, min_size=min_size) if isinstance(x, (str, os.PathLike)) else x
            for x in X
        ]
        return self.preprocessing_.batch_array(images)

    def _features_and_logits(self, X):
        batch = self._images(X)
        features, logits = [], []
        for start in range(0, len(batch), self.batch_size):
            part = np.ascontiguousarray(batch[start : start + self.batch_size])
            lo, fe = self.session.run(list(OUTPUTS), {INPUT: part})
            logits.append(lo)
            features.append(fe)
        if not logits:
            width = {o.name: o.shape[1] for o in self.session.get_outputs()}
            return (
                np.empty((0, width["features"]), np.float32),
                np.empty((0, width["logits"]), np.float32),
            )
        return np.concatenate(features), np.concatenate(logits)


def check_signature(session, size, n_classes=None, n_features=None):
    """The network takes ``images`` float32 ``[n, 3, size, size]`` and gives
    float32 ``logits`` ``[n, n_classes]`` and ``features`` ``[n, n_features]``
    (None: any fixed width), ``n`` free; ValueError naming what it has."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shapes = {o.name: list(o.shape) for o in outputs}
    types = {o.name: o.type for o in [*inputs, *outputs]}

    def fits(shape, width):
        return (
            len(shape) == 2
            and not isinstance(shape[0], int)  # the batch is free
            and isinstance(shape[1], int)
            and (width is None or shape[1] == width)
        )

    ok = (
        len(inputs) == 1
        and inputs[0].name == INPUT
        and len(inputs[0].shape) == 4
        and not isinstance(inputs[0].shape[0], int)
        and list(inputs[0].shape[1:]) == [3, size, size]
        and len(outputs) == 2
        and set(shapes) == set(OUTPUTS)
        and fits(shapes["logits"], n_classes)
        and fits(shapes["features"], n_features)
        and all(t == "tensor(float)" for t in types.values())
    )
    if not ok:
        raise ValueError(
            "the ONNX network takes "
            f"{[(i.name, i.type, i.shape) for i in inputs]} and gives "
            f"{[(o.name, o.type, o.shape) for o in outputs]}; the model needs "
            f"{INPUT} float [n, 3, {size}, {size}] -> logits float "
            f"[n, {n_classes or 'classes'}], features float "
            f"[n, {n_features or 'features'}]"
        )
    return shapes["logits"][1], shapes["features"][1]


class OnnxClassifier(_OnnxModel):
    """A saved :class:`~artmedium.MediumClassifier` run by ONNX Runtime.

    Made by :func:`~artmedium.persistence.load_model` with
    ``backend="onnx"``; predicts, calibrates and assesses as the torch
    classifier of the same folder does (the same probabilities within float
    rounding, the same sets, novelty and status).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    calibration_ : artmedium._honest.Calibration or None
    preprocessing_ : artmedium.io.Preprocessing
    session : onnxruntime.InferenceSession
    path : pathlib.Path
        The folder it was loaded from.
    """

    def __init__(self, session, preprocessing, classes, calibration, n_features):
        self.classes_ = classes
        self.calibration_ = calibration
        super().__init__(session, preprocessing, len(classes), n_features)

    @classmethod
    def _from_sidecar(cls, folder, tensors, state, session, preprocessing, prefix=""):
        where = "model.state" if not prefix else "model.state.powerset"
        classes = _classifier_parts(state, where)
        _, n_features = check_signature(session, preprocessing.size, len(classes))
        calibration = None
        if state.get("calibration") is not None:
            calibration = _calibration(
                state["calibration"],
                tensors,
                folder,
                prefix,
                len(classes),
                f"{where}.calibration",
            )
            if calibration.features.shape[1] != n_features:
                raise ValueError(
                    f"{where}.calibration has {calibration.features.shape[1]} "
                    f"features, the ONNX network gives {n_features}"
                )
        return cls(session, preprocessing, classes, calibration, n_features)

    def _check_calibrated(self):
        if self.calibration_ is None:
            raise ValueError(
                "This model is not calibrated: fit a MediumClassifier with "
                "calibration_size (e.g. 0.2), save it with onnx=True and load it again"
            )

    def decision_function(self, X):
        """Logits, ``(n_samples, n_classes)`` (a difference for two classes)."""
        logits = self._features_and_logits(X)[1]
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_proba(self, X):
        """Class probabilities (temperature-scaled when calibrated), float32."""
        logits = self._features_and_logits(X)[1]
        temperature = (
            1.0 if self.calibration_ is None else self.calibration_.temperature
        )
        from artmedium._honest import softmax

        return softmax(logits, temperature).astype(np.float32)

    def predict(self, X):
        """The most probable class of each image."""
        logits = self._features_and_logits(X)[1]
        return self.classes_[np.argmax(logits, axis=1)]

    def predict_set(self, X, confidence=0.9):
        """Conformal prediction sets, as :meth:`MediumClassifier.predict_set
        <artmedium.MediumClassifier.predict_set>`."""
        self._check_calibrated()
        confidence = check_fraction(
            confidence, "confidence", low_open=True, high_open=True
        )
        cal = self.calibration_
        return cal.sets(cal.proba(self._features_and_logits(X)[1]), confidence)

    def novelty_score(self, X):
        """How unlike the calibration images each image is (higher: stranger),
        as :meth:`MediumClassifier.novelty_score
        <artmedium.MediumClassifier.novelty_score>`."""
        self._check_calibrated()
        return self.calibration_.novelty_scores(self._features_and_logits(X)[0])

    def assess(self, X, *, confidence=0.9, accept_accuracy=None, unknown_rate=0.05):
        """Predictions with how far to trust each, as :meth:`MediumClassifier.assess
        <artmedium.MediumClassifier.assess>` (same keys, same values).

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium.persistence import load_model
        >>> model = load_model("default", backend="onnx")
        >>> red = np.zeros((300, 300, 3), np.uint8); red[..., 0] = 255
        >>> model.assess([red]).status.tolist()
        ['unknown']
        """
        self._check_calibrated()
        confidence = check_fraction(
            confidence, "confidence", low_open=True, high_open=True
        )
        if accept_accuracy is not None:
            accept_accuracy = check_fraction(
                accept_accuracy, "accept_accuracy", low_open=True, high_open=False
            )
        unknown_rate = check_fraction(
            unknown_rate, "unknown_rate", low_open=False, high_open=True
        )
        features, logits = self._features_and_logits(X)
        answers = self.calibration_.assess(
            features,
            logits,
            confidence=confidence,
            accept_accuracy=accept_accuracy,
            unknown_rate=unknown_rate,
        )
        return Answers(
            labels=self.classes_[np.argmax(answers.proba, axis=1)], **answers
        )


class OnnxTagger(_OnnxModel):
    """A saved label-powerset :class:`~artmedium.MediumTagger` run by ONNX Runtime.

    Made by :func:`~artmedium.persistence.load_model` with
    ``backend="onnx"``; its combination model's network runs in ONNX
    Runtime and everything else is the torch tagger's numpy code, so its
    descriptions, back-off, candidates and status are the torch tagger's.

    Attributes
    ----------
    mode : str
        ``"powerset"``.
    tag_names_ : ndarray of str
    combinations_ : ndarray of shape (n_combinations, n_tags)
    vocabulary_ : artmedium.vocabulary.Vocabulary
    tag_temperatures_ : ndarray or None
        Not None when the tagger is calibrated.
    classifier_ : OnnxClassifier
        The combination model (its classes index ``combinations_``).
    """

    mode = "powerset"

    def __init__(self, classifier, tag_names, combinations, vocabulary, calibrated):
        self.classifier_ = classifier
        self.session = classifier.session
        self.preprocessing_ = classifier.preprocessing_
        self.tag_names_ = np.asarray(tag_names, dtype=object)
        self.combinations_ = combinations
        self.vocabulary_ = vocabulary
        self.tag_temperatures_ = np.ones(len(tag_names)) if calibrated else None

    @classmethod
    def _from_sidecar(cls, folder, tensors, state, session, preprocessing):
        from artmedium.vocabulary import Vocabulary, as_vocabulary

        where = "model.state"
        check_keys(
            state,
            where,
            {"tag_names": list, "combinations": list, "powerset": (dict, type(None))},
        )
        if state["powerset"] is None:
            raise ValueError(
                "the ONNX backend runs a mode='powerset' MediumTagger; this one has "
                "per-tag classifiers (use backend='torch')"
            )
        tag_names = check_strings(state["tag_names"], f"{where}.tag_names")
        if not 1 <= len(tag_names) <= MAX_LABELS:
            raise ValueError(f"{where}.tag_names must hold 1 to {MAX_LABELS} tags")
        rows = state["combinations"]
        if (
            not rows
            or len(rows) > MAX_LABELS
            or not all(isinstance(r, list) and len(r) == len(tag_names) for r in rows)
        ):
            raise ValueError(
                f"{where}.combinations must be rows of {len(tag_names)} zeros and ones"
            )
        if not all(type(v) is int and v in (0, 1) for row in rows for v in row):
            raise ValueError(f"{where}.combinations must be rows of zeros and ones")
        combinations = array_from_json(rows, "int64", f"{where}.combinations")
        vocab = state.get("vocabulary")
        vocabulary = (
            as_vocabulary(tag_names)
            if vocab is None
            else Vocabulary.from_dict(vocab, f"{where}.vocabulary")
        )
        if list(vocabulary.tags) != list(tag_names):
            raise ValueError(f"{where}.vocabulary does not hold the tagger's tags")
        classifier = OnnxClassifier._from_sidecar(
            folder,
            tensors,
            state["powerset"],
            session,
            preprocessing,
            prefix="powerset.",
        )
        classes = classifier.classes_
        if (
            classes.dtype.kind not in "iu"
            or classes.min() < 0
            or classes.max() >= len(combinations)
            or (np.diff(classes) <= 0).any()
        ):
            raise ValueError(
                f"{where}.powerset.classes must be distinct indices of the "
                f"{len(combinations)} combinations, in increasing order"
            )
        calibrated = state.get("calibrated", False)
        if type(calibrated) is not bool:
            raise ValueError(f"{where}.calibrated must be true or false")
        calibrated = calibrated and classifier.calibration_ is not None
        return cls(classifier, tag_names, combinations, vocabulary, calibrated)

    def _rows(self):
        """Tag row of each class of the combination model, in its class order."""
        return self.combinations_[np.asarray(self.classifier_.classes_, dtype=int)]

    def _aligned(self, proba):
        out = np.zeros((len(proba), len(self.combinations_)))
        out[:, np.asarray(self.classifier_.classes_, dtype=int)] = proba
        return out

    def describe(self, Y):
        """Descriptions of 0/1 tag rows, as :meth:`MediumTagger.describe
        <artmedium.MediumTagger.describe>`."""
        return describe_rows(self.vocabulary_, Y)

    def combination_proba(self, X):
        """Probability of each combination of ``combinations_``."""
        return self._aligned(self.classifier_.predict_proba(X))

    def predict_proba(self, X):
        """Each tag's probability: the total of the combinations that have it."""
        return self.classifier_.predict_proba(X).astype(np.float64) @ self._rows()

    def predict(self, X):
        """The most probable tag combination of each image, as 0/1 rows."""
        proba = self.classifier_.predict_proba(X)
        return self._rows()[np.argmax(proba, axis=1)].astype(np.int64)

    def predict_medium(self, X):
        """The description of :meth:`predict`'s tags."""
        return self.describe(self.predict(X))

    def assess(self, X, confidence=0.9, unknown_rate=0.05):
        """Descriptions with a status, as :meth:`MediumTagger.assess
        <artmedium.MediumTagger.assess>` (same keys, same values).

        Examples
        --------
        >>> import numpy as np
        >>> from artmedium.persistence import load_model
        >>> tagger = load_model("tags", backend="onnx")
        >>> grey = np.full((300, 300, 3), 128, np.uint8)
        >>> answers = tagger.assess([grey])
        >>> sorted(answers)[:4]
        ['backed_off', 'candidates', 'combination_proba', 'confidence']
        """
        if self.tag_temperatures_ is None:
            raise ValueError(
                "assess needs calibrated probabilities: fit with calibration_size, "
                "save with onnx=True and load again"
            )
        confidence = check_fraction(
            confidence, "confidence", low_open=True, high_open=True
        )
        if unknown_rate is not None:
            unknown_rate = check_fraction(
                unknown_rate, "unknown_rate", low_open=True, high_open=True
            )
        inner = self.classifier_.assess(
            X,
            confidence=confidence,
            unknown_rate=0.05 if unknown_rate is None else unknown_rate,
        )
        combination_proba = np.asarray(inner.proba)
        rows = self._rows()
        decoded = rows[np.argmax(combination_proba, axis=1)].astype(np.int64)
        novelty, threshold = None, None
        if unknown_rate is not None:
            novelty, threshold = inner.novelty, inner.novelty_threshold
        return tagger_answers(
            self.vocabulary_,
            self.describe,
            decoded=decoded,
            proba=combination_proba @ rows,
            combination_proba=self._aligned(combination_proba),
            confidence=confidence,
            novelty=novelty,
            novelty_threshold=threshold,
            sets=np.asarray(inner.sets, dtype=bool),
            set_proba=combination_proba,
            set_rows=rows,
        )
