"""Save fitted estimators as safetensors plus a JSON sidecar; load them without pickle.

A saved model is a directory::

    model/
      model.json            format version, estimator type and parameters,
                            classes, tags, preprocessing, versions, metadata,
                            and the SHA-256 of the weights file
      weights.safetensors   every tensor of the fitted state

Loading reads JSON and safetensors only, so a model file from an untrusted
source can at worst fail to load: nothing in it is ever executed. Pickle and
joblib of an estimator also work (the scikit-learn habit) but run code from the
file when loading: use them for trusted files only.

What can be saved:

* :class:`~artmedium.MediumClassifier`, fitted on images (any ``freeze``) or on
  2-D features;
* :class:`~artmedium.MediumTagger` whose embedder is an
  :class:`~artmedium.ImageEmbedder` (or ``"passthrough"``) and whose per-tag
  classifiers are :class:`~sklearn.linear_model.LogisticRegression` (the default),
  or with ``mode="joint"``.

Parameters that only act during ``fit`` and cannot be written as JSON are not
saved: ``callbacks`` is dropped (with a warning; the sidecar lists it under
``dropped_params``) and ``memory`` (a machine-local cache folder) is stored as
None, as is a ``weights`` file path (the fitted weights are in the weights file).
Any other parameter that is not JSON-safe is refused with an error naming it.

What a model folder can and cannot do (see SECURITY.md): loading reads
``model.json`` (at most :data:`MAX_SIDECAR_BYTES`) and the weights file (at most
the size its tensors need, checked before it is read), regular files only. Every
field of the sidecar is checked for type and range before anything is built
from it, and a loaded model never takes from the sidecar anything that touches
the file system, runs code or chooses devices or processes: ``memory``,
``callbacks`` and ``n_jobs`` are None, ``device`` is the caller's, and
``weights`` is kept only as a name (``"imagenet"`` or None, never a path), in
nested estimators too. Set those on the loaded estimator if you want them.
"""

import datetime
import hashlib
import json
import os
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np

from artmedium._files import NotRegularFileError, open_regular, read_limited
from artmedium._seeded import seeded
from artmedium._show_versions import versions
from artmedium._state import (
    ARRAY_DTYPES,
    MAX_IMAGE_SIZE,
    array_from_json,
    check_int,
    check_keys,
    check_strings,
    json_type,
    preprocessing_from_json,
)
from artmedium._version import __version__
from artmedium.vocabulary import Vocabulary

#: Largest ``model.json`` read (a tagger over a large vocabulary stays far below).
MAX_SIDECAR_BYTES = 8 << 20
#: Most images per forward pass a loaded model may ask for (the other bounds
#: live beside the estimators' saved state, in ``artmedium._state``).
MAX_BATCH_SIZE = 1024
# Deepest nesting of a parameter value (tuples in dicts in lists, estimators).
_MAX_DEPTH = 16

#: Identifies the sidecar; bumped ``FORMAT_VERSION`` means older code cannot read it.
#: Version 2 keeps each estimator's state as the estimator writes it (version 1
#: repeated nested estimators' parameters inside it); version 1 is still read.
FORMAT = "artmedium-model"
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
SIDECAR = "model.json"
WEIGHTS = "weights.safetensors"
#: The ONNX network of a folder saved with ``onnx=True`` (artmedium.onnx).
ONNX_FILE = "model.onnx"
#: Largest ONNX network read (the default Lite0 graph is about 14 MB).
MAX_ONNX_BYTES = 1 << 30

# Parameters that only matter while fitting and may hold objects JSON cannot
# store: dropped (callbacks) or reset (memory, a cache path of one machine).
_DROPPED_WITH_WARNING = ("callbacks",)
_RESET_TO_NONE = ("memory",)
# What a loaded model takes from its caller, never from the sidecar: a cache
# folder, code to call, processes and threads (and ``device``, the caller's).
_CALLER_SET = ("memory", "callbacks", "n_jobs")
# ``weights`` values kept on load: names. A path would be read on a refit.
_WEIGHT_NAMES = (None, "auto", "imagenet")


def _nested_classes():
    """Estimator classes a sidecar may name as a parameter value (an allowlist)."""
    from sklearn.linear_model import LogisticRegression

    from artmedium.estimators import ImageEmbedder, MediumClassifier

    return {
        "artmedium.ImageEmbedder": ImageEmbedder,
        "artmedium.MediumClassifier": MediumClassifier,
        "sklearn.linear_model.LogisticRegression": LogisticRegression,
    }


# ------------------------------------------------------------------ JSON values


def _to_json(value, where):
    """A parameter value -> JSON, keeping tuples, dict keys and array dtypes."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Vocabulary):
        # Its tag names; a fitted tagger saves the whole vocabulary in its state.
        return list(value)
    if isinstance(value, tuple):
        return {
            "__tuple__": [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
        }
    if isinstance(value, list):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_to_json(k, f"{where} key"), _to_json(v, f"{where}[{k!r}]")]
                for k, v in value.items()
            ]
        }
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufU":
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    for name, cls in _nested_classes().items():
        if type(value) is cls:
            params, _ = _params_to_json(value, where)
            return {"__estimator__": name, "params": params}
    raise TypeError(
        f"parameter {where} = {value!r} ({type(value).__name__}) cannot be saved as "
        "JSON; set it to a plain value (a name, number or list) before saving, or use "
        "pickle/joblib for arbitrary estimators (trusted files only)."
    )


def _from_json(value, where, device, depth=0):
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where} is nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, list):
        return [
            _from_json(v, f"{where}[{i}]", device, depth + 1)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__tuple__"} and isinstance(value["__tuple__"], list):
        return tuple(_from_json(value["__tuple__"], where, device, depth))
    if set(value) == {"__dict__"} and isinstance(value["__dict__"], list):
        out = {}
        for i, pair in enumerate(value["__dict__"]):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError(f"{where}: item {i} is not a [key, value] pair")
            key = _from_json(pair[0], f"{where} key", device, depth + 1)
            if isinstance(key, (list, dict)):
                raise ValueError(f"{where}: key {i} is a {type(key).__name__}")
            out[key] = _from_json(pair[1], f"{where}[{key!r}]", device, depth + 1)
        return out
    if set(value) == {"__ndarray__", "dtype"}:
        return array_from_json(value["__ndarray__"], value["dtype"], where)
    if set(value) == {"__estimator__", "params"}:
        classes = _nested_classes()
        name = value["__estimator__"]
        if not isinstance(name, str) or name not in classes:
            raise ValueError(
                f"the model names estimator {name!r} as a parameter; only "
                f"{sorted(classes)} can be loaded."
            )
        cls = classes[name]
        return cls(**_restore_params(cls, value["params"], where, device, depth + 1))
    raise ValueError(f"{where}: unrecognised value {value!r:.200}")


def _params_to_json(est, where=None):
    """``get_params(deep=False)`` as JSON, and the names of dropped parameters."""
    where = where or type(est).__name__
    out, dropped = {}, []
    for name, value in est.get_params(deep=False).items():
        if name in _RESET_TO_NONE or (name == "weights" and value not in _WEIGHT_NAMES):
            # A path of this machine: meaningless elsewhere, and never read back.
            if value is not None:
                dropped.append(f"{where}.{name}")
            value = None
        elif name in _DROPPED_WITH_WARNING and value is not None:
            warnings.warn(
                f"{where}.{name} is not saved (it only acts during fit and cannot be "
                "written as JSON); the loaded model has "
                f"{name}=None.",
                UserWarning,
                stacklevel=4,
            )
            dropped.append(f"{where}.{name}")
            value = None
        out[name] = _to_json(value, f"{where}.{name}")
    return out, dropped


def _restore_params(cls, raw, where, device, depth=0):
    """Constructor parameters of ``cls`` from the sidecar, checked and made safe.

    Unknown names are refused; ``memory``, ``callbacks`` and ``n_jobs`` are None
    whatever the sidecar says and ``device`` is the caller's; a ``weights`` path
    becomes None; every value must satisfy the estimator's
    ``_parameter_constraints``, and the resources a prediction uses are bounded.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object, not {json_type(raw)}")
    names = cls._get_param_names()
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ValueError(
            f"{where} has parameters unknown to {cls.__name__} in this artmedium "
            f"{__version__}: {unknown}; was it saved by a newer version?"
        )
    params = {
        name: _from_json(value, f"{where}.{name}", device, depth)
        for name, value in raw.items()
        if name not in _CALLER_SET and name != "device"
    }
    for name in _CALLER_SET:
        if name in names:
            params[name] = None
    if "device" in names:
        params["device"] = device
    if "weights" in params and params["weights"] not in _WEIGHT_NAMES:
        params["weights"] = None
    from sklearn.utils._param_validation import validate_parameter_constraints

    try:
        validate_parameter_constraints(
            getattr(cls, "_parameter_constraints", {}), params, caller_name=where
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    bounds = {"batch_size": MAX_BATCH_SIZE, "image_size": MAX_IMAGE_SIZE}
    for name, bound in bounds.items():
        value = params.get(name)
        if isinstance(value, int) and value > bound:
            raise ValueError(
                f"{where}.{name} = {value} exceeds the {bound} a loaded model may use"
            )
    return params


def _json_safe_metadata(metadata):
    def default(obj):
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, os.PathLike):
            return os.fspath(obj)
        raise TypeError(
            f"metadata holds {obj!r} ({type(obj).__name__}), which is not JSON-safe"
        )

    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict; got {type(metadata).__name__}.")
    return json.loads(json.dumps(metadata, default=default))


# ---------------------------------------------------------- estimator <-> state


def _module_tensors(prefix, module, half):
    """State-dict tensors of ``module`` under ``prefix``; parameters halved on demand.

    Only parameters go to float16: buffers hold statistics (BatchNorm running
    variances, feature standardisation) whose small values float16 loses.
    """
    parameters = {name for name, _ in module.named_parameters()}
    out = {}
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        if half and name in parameters and t.is_floating_point():
            t = t.half()
        out[f"{prefix}.{name}"] = t
    return out


# The estimators ``save_model`` saves and ``model.json`` may name (names only, so
# that reading a sidecar imports no torch).
_ESTIMATORS = ("MediumClassifier", "MediumTagger")


def _estimator_classes():
    """The classes of :data:`_ESTIMATORS`, by name."""
    import artmedium.estimators

    return {name: getattr(artmedium.estimators, name) for name in _ESTIMATORS}


def _state_tensors(state, half=False):
    """Every tensor of a :class:`~artmedium._state.State`, by saved name."""
    import torch

    tensors = {}
    for prefix, module in state.modules.items():
        tensors.update(_module_tensors(prefix, module, half))
    for name, (obj, attr) in state.arrays.items():
        tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(obj, attr)))
    return tensors


# ------------------------------------------------------------ sidecar checks


def _check_sidecar(sidecar):
    """The fields every loader reads, with their types (raises ValueError)."""
    check_keys(
        sidecar,
        "model",
        {
            "estimator": str,
            "params": dict,
            "state": dict,
            "preprocessing": (dict, type(None)),
            "tag_names": list,
            "weights": dict,
        },
    )
    if sidecar["estimator"] not in _ESTIMATORS:
        raise ValueError(
            f"unknown estimator type {sidecar['estimator']!r:.100} (this artmedium "
            f"loads {' and '.join(_ESTIMATORS)})"
        )
    check_strings(sidecar["tag_names"], "model.tag_names")
    if sidecar["preprocessing"] is not None:
        preprocessing_from_json(sidecar["preprocessing"], "model.preprocessing")
    for key, types in (("metadata", dict), ("classes", (list, type(None)))):
        if key in sidecar:
            check_keys(sidecar, "model", {key: types})
    weights = sidecar["weights"]
    check_keys(weights, "model.weights", {"sha256": str, "bytes": int})
    digest = weights["sha256"]
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("model.weights.sha256 is not a SHA-256 in hexadecimal")
    check_int(weights["bytes"], "model.weights.bytes", 0, 1 << 40)
    if weights.get("file", WEIGHTS) != WEIGHTS:
        raise ValueError(f"model.weights.file must be {WEIGHTS!r}")
    if sidecar.get("onnx") is not None:
        network = sidecar["onnx"]
        check_keys(sidecar, "model", {"onnx": dict})
        check_keys(network, "model.onnx", {"file": str, "sha256": str, "bytes": int})
        if network["file"] != ONNX_FILE:
            raise ValueError(f"model.onnx.file must be {ONNX_FILE!r}")
        digest = network["sha256"]
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("model.onnx.sha256 is not a SHA-256 in hexadecimal")
        check_int(network["bytes"], "model.onnx.bytes", 1, 1 << 40)


# ---------------------------------------------------------------- rebuilding


def _upgrade(sidecar):
    """The estimator state of a sidecar in today's layout (version 1 -> 2).

    Version 1 kept a classifier's preprocessing at the top level only and
    repeated the tagger's embedder and per-tag classifier parameters inside its
    state; they are rebuilt from the (checked) constructor parameters now, so
    those copies are dropped unread.
    """
    state = sidecar["state"]
    if sidecar["format_version"] != 1 or not isinstance(state, dict):
        return state
    state = dict(state)
    if sidecar["estimator"] == "MediumClassifier":
        state.setdefault("preprocessing", sidecar["preprocessing"])
    else:
        if isinstance(state.get("embedder"), dict):
            state["embedder"] = {
                k: v for k, v in state["embedder"].items() if k != "params"
            }
        if isinstance(state.get("estimators"), list):
            state["estimators"] = [
                {k: v for k, v in item.items() if k != "params"}
                if isinstance(item, dict)
                else item
                for item in state["estimators"]
            ]
    return state


def _rebuild(sidecar, device):
    """A fitted estimator of the sidecar's structure; tensors not yet loaded.

    Persistence restores the constructor parameters (checked, nothing path-like
    or executable); the estimator class rebuilds itself from its saved state
    (checked there). ValueError names the field.
    """
    cls = _estimator_classes()[sidecar["estimator"]]
    params = _restore_params(cls, sidecar["params"], "model.params", device)
    return cls._from_state(
        params, _upgrade(sidecar), device=device, where="model.state"
    )


def _dtype_name(dtype):
    """``"float16"`` for torch.float16 and for numpy's float16 alike."""
    return str(dtype).removeprefix("torch.")


def _check_tensors(path, expected, found, arrays=()):
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [
        f"{k} (file {tuple(found[k].shape)}, model {tuple(expected[k].shape)})"
        for k in sorted(set(expected) & set(found))
        if tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    wrong += [
        f"{k} (file {found[k].dtype}, model {expected[k].dtype})"
        for k in sorted(set(arrays) & set(found) & set(expected))
        if _dtype_name(found[k].dtype)
        not in ARRAY_DTYPES.get(expected[k].numpy().dtype.kind.replace("u", "i"), ())
    ]
    problems = [
        f"{label}: {', '.join(keys[:5])}"
        + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
        for label, keys in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("wrong shapes or types", wrong),
        )
        if keys
    ]
    if problems:
        raise ValueError(
            f"weights in {path} do not match the model described by its {SIDECAR}: "
            + "; ".join(problems)
        )


def _assign_tensors(state, tensors):
    for prefix, module in state.modules.items():
        cut = len(prefix) + 1
        sub = {k[cut:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        # load_state_dict copies into the module's own dtype and device: float16
        # weights come back as float32, CPU tensors go to the model's device.
        module.load_state_dict(sub, strict=True)
    for name, (obj, attr) in state.arrays.items():
        # Of the placeholder's kind (checked); the saved precision is kept.
        setattr(obj, attr, tensors[name].numpy().copy())


# --------------------------------------------------------------------- public


def _is_model_dir(path):
    return path.is_dir() and (path / SIDECAR).is_file()


def save_model(
    estimator, path, *, metadata=None, half=False, overwrite=False, onnx=False
):
    """Save a fitted estimator as a folder of safetensors weights and JSON.

    The folder is written under a temporary name beside ``path`` and renamed
    into place when complete, so ``path`` never holds a half-written model.

    Parameters
    ----------
    estimator : MediumClassifier or MediumTagger
        A fitted estimator; see the module docstring for what is supported.
    path : str or os.PathLike
        The model folder to create. Missing parent folders are created.
    metadata : dict or None, default=None
        JSON-safe information stored in the sidecar under ``"metadata"``:
        training data summary, held-out metrics, a name, a licence...
    half : bool, default=False
        Store the network parameters as float16 (half the size). Buffers such as
        BatchNorm statistics and the per-tag logistic regressions stay in full
        precision; loaded weights are float32 again, so predictions differ from
        the saved model's by float16 rounding of the weights only.
    overwrite : bool, default=False
        Replace an existing saved model at ``path``. A folder that is not a saved
        model (no ``model.json``) is never replaced.
    onnx : bool, default=False
        Also write the image network as ONNX (``model.onnx``, its SHA-256 in
        the sidecar), so that :func:`load_model` with ``backend="onnx"`` runs it
        in ONNX Runtime without torch (see :mod:`artmedium.onnx`). For a
        :class:`~artmedium.MediumClassifier` fitted on images or a
        ``mode="powerset"`` :class:`~artmedium.MediumTagger`; the network is
        exported from the saved weights (float16 ones with ``half=True``), so
        both backends compute with the same numbers.

    Returns
    -------
    pathlib.Path
        The model folder.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False, or it is not a saved model.
    TypeError
        The estimator type, its per-tag classifiers or a parameter cannot be
        saved (the message names which).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from artmedium import MediumClassifier
    >>> from artmedium.persistence import load_model, save_model
    >>> X = np.r_[np.zeros((10, 3)), np.ones((10, 3))]
    >>> y = np.array(["graphite"] * 10 + ["oil"] * 10)
    >>> clf = MediumClassifier(lr=0.1, max_epochs=3, random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = save_model(clf, tmp + "/model")
    ...     loaded = load_model(tmp + "/model")
    >>> np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    True
    >>> loaded.classes_.tolist()
    ['graphite', 'oil']
    """
    if type(estimator) not in _estimator_classes().values():
        raise TypeError(
            f"save_model saves MediumClassifier and MediumTagger; got "
            f"{type(estimator).__name__}. Use pickle/joblib for arbitrary estimators "
            "(trusted files only)."
        )
    state = estimator._get_state()  # NotFittedError, or TypeError if unsavable
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(
                f"{path} already exists; pass overwrite=True to replace the model "
                "saved there."
            )
        if not _is_model_dir(path):
            raise FileExistsError(
                f"{path} exists and is not a saved model (no {SIDECAR} in it); "
                "refusing to replace it."
            )
    params, dropped = _params_to_json(estimator)
    metadata = _json_safe_metadata(metadata)

    from safetensors.torch import save as safetensors_bytes

    tensors = _state_tensors(state, half=bool(half))
    blob = safetensors_bytes(tensors, metadata={"format": FORMAT})
    files = [(WEIGHTS, blob)]
    onnx_entry = None
    if onnx:
        network, diff = _onnx_of_saved(estimator, tensors, half)
        files.append((ONNX_FILE, network))
        onnx_entry = _onnx_entry(network, diff)
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": params,
        "dropped_params": sorted(set(dropped)),
        "backbone": state.info.get("backbone"),
        "classes": state.info.get("classes"),
        "tag_names": state.info.get("tag_names", []),
        "preprocessing": state.info.get("preprocessing"),
        "state": state.fields,
        "weights": {
            "file": WEIGHTS,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob),
            "dtype": "float16" if half else "float32",
        },
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "metadata": metadata,
    }
    if onnx_entry is not None:
        sidecar["onnx"] = onnx_entry
    text = json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n"

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    os.mkdir(tmp)
    try:
        for name, data in (*files, (SIDECAR, text.encode("utf-8"))):
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if path.exists():
            # Two renames: the old model moves aside, the new one moves in; the
            # final name never holds a mixture of the two.
            old = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.old"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _onnx_entry(network, diff):
    """The sidecar's record of an ONNX network's bytes."""
    from artmedium.onnx import ONNX_OPSET

    return {
        "file": ONNX_FILE,
        "sha256": hashlib.sha256(network).hexdigest(),
        "bytes": len(network),
        "opset": ONNX_OPSET,
        "max_abs_diff": diff,
    }


def _onnx_of_saved(estimator, tensors, half):
    """ONNX bytes of the network as saved: with ``half``, of a copy whose
    parameters went through float16 as the weights file's did."""
    from artmedium.onnx import _export_checked

    if half:
        import copy

        estimator = copy.deepcopy(estimator)
        _assign_tensors(estimator._get_state(), tensors)
    return _export_checked(estimator)


def _resolve(path):
    """The folder of ``path``; ``"default"`` and ``"tags"`` name the embedded
    classifier and tagger (their folders read at call time, so that a test can
    point them at stand-ins)."""
    if isinstance(path, str) and path in ("default", "tags"):
        if path == "default":
            folder, name = default_model_dir(), "the embedded default model"
        else:
            folder, name = default_tagger_dir(), "the embedded tagger"
        if not (folder / SIDECAR).is_file():
            raise FileNotFoundError(
                f"{name} is not installed in this copy of artmedium (no "
                f"{folder / SIDECAR}); pass the folder of a model saved with "
                "save_model or 'artmedium train'."
            )
        return folder
    return Path(path)


def _read_sidecar(folder):
    sidecar_path = folder / SIDECAR
    try:
        with open_regular(sidecar_path) as fp:
            data = read_limited(fp, MAX_SIDECAR_BYTES, name=str(sidecar_path))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no saved model at {folder}: {SIDECAR} is missing (a model folder is "
            "written by save_model or 'artmedium train')"
        ) from None
    except (IsADirectoryError, NotRegularFileError) as exc:
        raise ValueError(str(exc)) from None
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:  # bad UTF-8 or JSON, integers over 4300 digits
        raise ValueError(f"{sidecar_path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{sidecar_path} is nested too deeply to be a model") from None


def model_info(path):
    """Read and check a saved model's sidecar, without loading its weights.

    Parameters
    ----------
    path : str or os.PathLike
        A folder written by :func:`save_model`, ``"default"`` for the
        classifier embedded in the package, or ``"tags"`` for its embedded
        tagger.

    Returns
    -------
    dict
        The sidecar: ``estimator``, ``params``, ``classes``, ``tag_names``,
        ``preprocessing``, ``weights`` (file, SHA-256, size), ``versions``,
        ``metadata``, ...

    Raises
    ------
    FileNotFoundError
        No such folder, or no ``model.json`` in it.
    ValueError
        The sidecar is not a regular file, is larger than
        :data:`MAX_SIDECAR_BYTES`, is not JSON, not an artmedium model, of an
        unknown format version, or has a field of the wrong type (the message
        names the file and the field).

    Examples
    --------
    >>> from artmedium.persistence import model_info
    >>> info = model_info("default")
    >>> info["estimator"], len(info["classes"])
    ('MediumClassifier', 10)
    """
    folder = _resolve(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no saved model at {folder}: no such folder")
    sidecar_path = folder / SIDECAR
    sidecar = _read_sidecar(folder)
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise ValueError(f"{sidecar_path} does not describe an artmedium model")
    version = sidecar.get("format_version")
    if version not in _READABLE_VERSIONS or isinstance(version, bool):
        raise ValueError(
            f"{sidecar_path} has format version {version!r:.50}; this artmedium "
            f"{__version__} reads versions up to {FORMAT_VERSION} (upgrade "
            "artmedium to load newer models)."
        )
    try:
        _check_sidecar(sidecar)
    except ValueError as exc:
        raise ValueError(f"{sidecar_path}: {exc}") from None
    return sidecar


def resolve_backend(info, backend="auto"):
    """The backend that runs a saved model: ``backend``, with ``"auto"`` decided.

    Parameters
    ----------
    info : dict
        The model's sidecar, from :func:`model_info`.
    backend : {"auto", "onnx", "torch"}, default="auto"
        ``"auto"``: ``"onnx"`` when the folder has an ONNX network and
        onnxruntime is installed, else ``"torch"``. The others are returned
        as they are.

    Returns
    -------
    str
        ``"onnx"`` or ``"torch"``, what to pass to :func:`load_model`.

    Raises
    ------
    ValueError
        ``backend`` is none of the three.

    Examples
    --------
    >>> from artmedium.persistence import model_info, resolve_backend
    >>> resolve_backend(model_info("default"), "torch")
    'torch'
    >>> resolve_backend(model_info("default")) in ("onnx", "torch")
    True
    """
    if backend not in ("auto", "onnx", "torch"):
        raise ValueError(
            f"backend must be 'auto', 'onnx' or 'torch', got {backend!r:.50}"
        )
    if backend != "auto":
        return backend
    from artmedium.onnx import onnxruntime_available

    has_onnx = info.get("onnx") is not None
    return "onnx" if has_onnx and onnxruntime_available() else "torch"


def _weights_limit(tensors):
    """Largest weights file these tensors can make: float32 data and a header."""
    data = sum(t.numel() * t.element_size() for t in tensors.values())
    return data + 8 + (1 << 16) + 512 * len(tensors)


def load_model(
    path, *, device="cpu", memory=None, n_jobs=None, backend="torch", threads=None
):
    """Load a model saved by :func:`save_model`: JSON and safetensors, no pickle.

    Nothing in the folder can run code: every sidecar field is checked before
    use, the weights file's size is checked against what the model's tensors
    need before it is read, and ``memory``, ``callbacks``, ``n_jobs``,
    ``device`` and path-like ``weights`` are never taken from the file (see the
    module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The model folder, ``"default"`` for the classifier embedded in the
        package (the poster's ten media), or ``"tags"`` for the embedded
        calibrated tagger of Tate's media tags, when installed (a local folder
        named ``default`` or ``tags`` is ``"./default"``, ``"./tags"``).
    device : str, default="cpu"
        Torch device of the loaded model (and of nested estimators); a model
        trained on a GPU loads on the CPU unless asked otherwise.
    memory : None, str, os.PathLike or joblib.Memory, default=None
        Feature cache folder of the loaded model (and of its embedder); the
        saved model never chooses one. ``set_params(memory=...)`` later works too.
    n_jobs : int or None, default=None
        Image decoding threads of the loaded model (and nested estimators).
    backend : {"torch", "onnx"}, default="torch"
        ``"torch"``: the estimator itself (it can be refitted, explained,
        cloned). ``"onnx"``: an :class:`~artmedium.onnx.OnnxClassifier` or
        :class:`~artmedium.onnx.OnnxTagger` that predicts and assesses as the
        estimator does, running the folder's ONNX network in ONNX Runtime
        without importing torch or scikit-learn (a folder saved with
        ``onnx=True``, or given one by :func:`add_onnx`, as the embedded models
        are). ``device``, ``memory`` and ``n_jobs`` apply to ``"torch"`` only.
    threads : int or None, default=None
        ``backend="onnx"`` only: ONNX Runtime's intra-op threads. None:
        ``OMP_NUM_THREADS`` when set, else the CPUs this process may use.

    Returns
    -------
    MediumClassifier, MediumTagger, OnnxClassifier or OnnxTagger
        Fitted; predicts as the saved estimator did (exactly, or within float16
        rounding for a model saved with ``half=True``).

    Raises
    ------
    FileNotFoundError
        The folder, its ``model.json`` or its weights file is missing, or the
        embedded model named is not installed in this copy of artmedium; with
        ``backend="onnx"``, the folder has no ONNX network.
    ImportError
        ``backend="onnx"`` without onnxruntime installed.
    ValueError
        Anything wrong with the folder: a sidecar field of the wrong type or out
        of range, unknown parameters, an unknown format version, weights of the
        wrong size or whose SHA-256 differs from the sidecar's (a corrupt or
        modified file), or tensors missing, unexpected or of the wrong shape;
        the message names the file and the field.

    Examples
    --------
    >>> from artmedium.persistence import load_model
    >>> load_model("no/such/model")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no saved model at no/such/model: no such folder
    >>> type(load_model("default", backend="onnx")).__name__
    'OnnxClassifier'
    """
    if backend == "onnx":
        if device != "cpu" or memory is not None or n_jobs is not None:
            raise ValueError(
                "device, memory and n_jobs apply to backend='torch'; the ONNX "
                "backend runs on the CPU, in threads threads"
            )
        return _load_onnx(path, threads)
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
    if threads is not None:
        raise ValueError(
            "threads applies to backend='onnx'; torch's threads are set for the "
            "whole process with torch.set_num_threads"
        )
    return _load_torch(path, model_info(path), device, memory, n_jobs)


def _load_described(path, sidecar, *, backend, threads=None):
    """``load_model(path, backend=backend)`` with the sidecar the caller read
    (and keys a cache by): the files are checked against it, never against a
    second reading, so a folder swapped in between fails its hashes instead
    of loading as another model."""
    if backend == "onnx":
        return _load_onnx(path, threads, sidecar)
    return _load_torch(path, sidecar, "cpu", None, None)


def _load_torch(path, sidecar, device, memory, n_jobs):
    folder = _resolve(path)
    try:
        # Building the skeleton initialises modules: keep the caller's RNG as it
        # was, and keep off it while another thread's fit uses it.
        with seeded():
            est = _rebuild(sidecar, device)
    except ValueError as exc:
        raise ValueError(f"{folder / SIDECAR}: {exc}") from None
    except (TypeError, KeyError, RecursionError, RuntimeError, MemoryError) as exc:
        raise ValueError(
            f"{folder / SIDECAR} describes a model this artmedium {__version__} "
            f"cannot rebuild ({type(exc).__name__}: {exc}); was it saved by a newer "
            "version?"
        ) from None
    state = est._get_state()
    expected = _state_tensors(state)
    weights = folder / WEIGHTS
    blob = _read_recorded(folder, sidecar["weights"], WEIGHTS, _weights_limit(expected))
    from safetensors.torch import load as safetensors_load

    try:
        tensors = safetensors_load(blob)
    except Exception as exc:  # safetensors raises its own untyped errors
        raise ValueError(f"could not read {weights}: {exc}") from exc
    _check_tensors(weights, expected, tensors, arrays=state.arrays)
    _assign_tensors(state, tensors)
    _set_caller_params(est, memory=memory, n_jobs=n_jobs)
    return est


def _read_recorded(folder, entry, name, limit):
    """A file of the model folder whose size and SHA-256 the sidecar records
    (``entry``, already type-checked), read only after its size matches."""
    path = folder / name
    declared = entry["bytes"]
    if declared > limit:
        raise ValueError(
            f"the sidecar declares a {declared}-byte {name}, but this model's "
            f"tensors take at most {limit} bytes"
        )
    try:
        fp = open_regular(path)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the {path.name} file of the model at {folder} is missing: {path}"
        ) from None
    except (IsADirectoryError, NotRegularFileError) as exc:
        raise ValueError(str(exc)) from None
    with fp:
        size = os.fstat(fp.fileno()).st_size
        if size != declared:
            raise ValueError(
                f"{path} has {size} bytes, {SIDECAR} records {declared}: the file "
                "is corrupt or was modified."
            )
        blob = read_limited(fp, declared, name=str(path))
    digest = hashlib.sha256(blob).hexdigest()
    if digest != entry["sha256"]:
        raise ValueError(
            f"{path} does not match {SIDECAR}: its SHA-256 is {digest}, the "
            f"sidecar records {entry['sha256']}. The file is corrupt or was modified."
        )
    return blob


def _calibration_bytes(state):
    """Most bytes a saved model's calibration arrays take (float64 logits and
    features, int64 labels), from the sidecar's declared sizes (0 where a
    field is not a count: the loader refuses it later)."""
    if isinstance(state.get("powerset"), dict):
        state = state["powerset"]
    calibration = state.get("calibration")
    classes = state.get("classes")
    if not isinstance(calibration, dict) or not isinstance(classes, dict):
        return 0

    def count(value, high):
        ok = type(value) is int and 0 <= value <= high
        return value if ok else 0

    n = count(calibration.get("n_samples"), 1 << 20)
    width = count(calibration.get("n_features"), 1 << 20)
    values = classes.get("values")
    k = len(values) if isinstance(values, list) else 0
    return n * (8 * (k + width) + 8)


def _load_onnx(path, threads, sidecar=None):
    """``load_model(path, backend="onnx")``: no torch, no scikit-learn."""
    from artmedium.onnx import _runtime_model, onnxruntime_available

    if sidecar is None:
        sidecar = model_info(path)
    folder = _resolve(path)
    entry = sidecar.get("onnx")
    if entry is None:
        raise FileNotFoundError(
            f"the model at {folder} has no ONNX network; add one with "
            "artmedium.persistence.add_onnx(folder), or use backend='torch'"
        )
    if not onnxruntime_available():
        raise ImportError(
            "the ONNX backend needs onnxruntime: pip install onnxruntime "
            "(or use backend='torch')"
        )
    network = _read_recorded(folder, entry, ONNX_FILE, MAX_ONNX_BYTES)
    # The weights file holds the network's parameters (at most float32: about
    # the ONNX file's size) and the calibration arrays: bound it by those
    # before reading, as the torch loader bounds it by the model's tensors.
    limit = 2 * len(network) + _calibration_bytes(sidecar["state"]) + (16 << 20)
    weights = _read_recorded(folder, sidecar["weights"], WEIGHTS, limit)
    from safetensors.numpy import load as safetensors_load

    try:
        tensors = safetensors_load(weights)
    except Exception as exc:  # safetensors raises its own untyped errors
        raise ValueError(f"could not read {folder / WEIGHTS}: {exc}") from exc
    return _runtime_model(folder, sidecar, network, tensors, threads)


def add_onnx(path):
    """Add the ONNX network to a model folder saved without one.

    The folder's model is loaded (torch), its network exported and checked as
    by :func:`artmedium.onnx.export_onnx`, written to ``model.onnx`` and
    recorded (SHA-256, size) in its sidecar; nothing else in the folder
    changes. Each file is replaced whole (written under a temporary name, then
    renamed), the network first: a folder whose sidecar records a network
    always has it.

    Parameters
    ----------
    path : str or os.PathLike
        A folder saved by :func:`save_model`.

    Returns
    -------
    dict
        The sidecar's new ``onnx`` entry.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from artmedium import MediumClassifier
    >>> from artmedium.persistence import add_onnx, load_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    >>> clf = MediumClassifier(backbone="simple_cnn", weights=None, image_size=32,
    ...                        max_epochs=1, random_state=0).fit(X, [0, 1] * 4)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = save_model(clf, tmp + "/model")
    ...     entry = add_onnx(folder)
    ...     onnx_model = load_model(folder, backend="onnx")
    ...     bool((onnx_model.predict(X) == clf.predict(X)).all())
    True
    """
    from artmedium.onnx import _export_checked, _write_atomic

    folder = _resolve(path)
    sidecar = model_info(path)
    blob, diff = _export_checked(load_model(path))
    entry = _onnx_entry(blob, diff)
    sidecar["onnx"] = entry
    _write_atomic(folder / ONNX_FILE, blob)
    text = json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n"
    _write_atomic(folder / SIDECAR, text.encode("utf-8"))
    return entry


def _set_caller_params(est, **values):
    """The caller's runtime parameters on a loaded estimator and its nested ones."""
    nested = [getattr(est, "embedder", None), getattr(est, "embedder_", None)]
    if getattr(est, "mode", None) == "powerset":
        # A powerset tagger's combination model reads the images itself.
        nested += [getattr(est, "estimator", None), getattr(est, "estimator_", None)]
    for obj in [est, *nested]:
        if hasattr(obj, "get_params"):
            names = obj.get_params(deep=False)
            obj.set_params(**{k: v for k, v in values.items() if k in names})


# ------------------------------------------------------- the embedded model


def default_model_dir():
    """Folder of the embedded default model (it may not exist).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from artmedium.persistence import default_model_dir
    >>> default_model_dir().name
    'default'
    """
    import artmedium.pretrained

    # Read at call time, so that a test pointing it at a stand-in takes effect.
    return Path(artmedium.pretrained.DEFAULT_MODEL_DIR)


def is_default_model_installed():
    """Whether this copy of artmedium holds the embedded default model.

    Returns
    -------
    bool

    Examples
    --------
    >>> from artmedium.persistence import is_default_model_installed
    >>> isinstance(is_default_model_installed(), bool)
    True
    """
    return (default_model_dir() / SIDECAR).is_file()


def default_tagger_dir():
    """Folder of the embedded tagger (it may not exist).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from artmedium.persistence import default_tagger_dir
    >>> default_tagger_dir().name
    'tags'
    """
    import artmedium.pretrained

    # Read at call time, so that a test pointing it at a stand-in takes effect.
    return Path(artmedium.pretrained.DEFAULT_TAGGER_DIR)


def is_default_tagger_installed():
    """Whether this copy of artmedium holds the embedded tagger (``"tags"``).

    Returns
    -------
    bool

    Examples
    --------
    >>> from artmedium.persistence import is_default_tagger_installed
    >>> isinstance(is_default_tagger_installed(), bool)
    True
    """
    return (default_tagger_dir() / SIDECAR).is_file()


def load_default_model(*, device="cpu"):
    """Load the embedded default model (``load_model("default")``).

    Parameters
    ----------
    device : str, default="cpu"
        Torch device.

    Returns
    -------
    MediumClassifier

    Raises
    ------
    FileNotFoundError
        This copy of artmedium has no embedded model.
    """
    return load_model("default", device=device)


def default_model_summary():
    """Name, classes and held-out scores of the embedded model, or None.

    Read from the model's sidecar without loading its weights.

    Returns
    -------
    dict or None
        ``name``, ``estimator``, ``backbone``, ``classes``, ``tag_names``,
        ``accuracy``, ``balanced_accuracy`` and ``artist_accuracy`` (None
        where not recorded), ``weights_bytes``, and ``calibration_images``
        (how many held-out images calibrated its answers; None when it is not
        calibrated); None when no model is installed.

    Examples
    --------
    >>> from artmedium.persistence import default_model_summary
    >>> summary = default_model_summary()
    >>> summary is None or len(summary["classes"]) > 1
    True
    """
    if not is_default_model_installed():
        return None
    info = model_info(default_model_dir())
    meta = info.get("metadata") or {}
    metrics = meta.get("metrics") or {}
    held_out = metrics.get("random") or {}
    artist = metrics.get("artist") or {}
    return {
        "name": meta.get("name", "default"),
        "estimator": info["estimator"],
        "backbone": info.get("backbone"),
        "classes": info.get("classes") or [],
        "tag_names": info.get("tag_names") or [],
        "accuracy": held_out.get("accuracy"),
        "balanced_accuracy": held_out.get("balanced_accuracy"),
        "artist_accuracy": artist.get("accuracy"),
        "weights_bytes": info["weights"].get("bytes"),
        "calibration_images": _calibration_images(info),
    }


def _calibration_images(info):
    """Held-out images behind a classifier's calibration, from its sidecar."""
    calibration = (info.get("state") or {}).get("calibration")
    if isinstance(calibration, dict) and isinstance(calibration.get("n_samples"), int):
        return calibration["n_samples"]
    return None
