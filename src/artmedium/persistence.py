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
None. Any other parameter that is not JSON-safe is refused with an error naming
it.
"""

import datetime
import hashlib
import json
import os
import platform
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from artmedium._version import __version__

#: Identifies the sidecar; bumped ``FORMAT_VERSION`` means older code cannot read it.
FORMAT = "artmedium-model"
FORMAT_VERSION = 1
SIDECAR = "model.json"
WEIGHTS = "weights.safetensors"

# Parameters that only matter while fitting and may hold objects JSON cannot
# store: dropped (callbacks) or reset (memory, a cache path of one machine).
_DROPPED_WITH_WARNING = ("callbacks",)
_RESET_TO_NONE = ("memory",)


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


def _from_json(value):
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_from_json(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_from_json(k): _from_json(v) for k, v in value["__dict__"]}
    if "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
    if "__estimator__" in value:
        classes = _nested_classes()
        name = value["__estimator__"]
        if name not in classes:
            raise ValueError(
                f"the model names estimator {name!r} as a parameter; only "
                f"{sorted(classes)} can be loaded."
            )
        return classes[name](**_params_from_json(value["params"]))
    raise ValueError(f"unrecognised value in the model's parameters: {value!r}")


def _params_to_json(est, where=None):
    """``get_params(deep=False)`` as JSON, and the names of dropped parameters."""
    where = where or type(est).__name__
    out, dropped = {}, []
    for name, value in est.get_params(deep=False).items():
        if name in _RESET_TO_NONE:
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


def _params_from_json(params):
    return {name: _from_json(value) for name, value in params.items()}


def _labels_to_json(labels):
    """``classes_`` -> values and dtype, so str labels stay str and ints stay ints."""
    labels = np.asarray(labels)
    values = labels.tolist()
    for v in values:
        if not isinstance(v, (str, int, float, bool)):
            raise TypeError(
                f"class label {v!r} ({type(v).__name__}) cannot be saved as JSON; "
                "labels must be strings, ints, floats or bools."
            )
    return {"values": values, "dtype": labels.dtype.str}


def _labels_from_json(d):
    return np.asarray(d["values"], dtype=np.dtype(d["dtype"]))


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


def _slots(est):
    """Where the tensors of a fitted estimator live: modules and array attributes."""
    from artmedium.estimators import MediumClassifier, MediumTagger

    modules, arrays = {}, {}
    if isinstance(est, MediumClassifier):
        if est.encoder_ is not None:
            modules["backbone"] = est.encoder_.backbone
        modules["head"] = est.net_.module_.head
    elif isinstance(est, MediumTagger):
        if est.embedder_ is not None:
            modules["backbone"] = est.embedder_.encoder_.backbone
        if est.mode == "joint":
            modules["joint"] = est.estimator_.net_.module_
        else:
            for i, lr in enumerate(est.estimator_.estimators_):
                for attr in ("coef_", "intercept_", "classes_"):
                    arrays[f"tags.{i}.{attr.rstrip('_')}"] = (lr, attr)
    return modules, arrays


def _collect_tensors(est, half=False):
    modules, arrays = _slots(est)
    tensors = {}
    for prefix, module in modules.items():
        tensors.update(_module_tensors(prefix, module, half))
    for name, (obj, attr) in arrays.items():
        tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(obj, attr)))
    return tensors


def _check_supported(est):
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.validation import check_is_fitted

    from artmedium.estimators import ImageEmbedder, MediumClassifier, MediumTagger

    if type(est) not in (MediumClassifier, MediumTagger):
        raise TypeError(
            f"save_model saves MediumClassifier and MediumTagger; got "
            f"{type(est).__name__}. Use pickle/joblib for arbitrary estimators "
            "(trusted files only)."
        )
    check_is_fitted(est)
    if isinstance(est, MediumTagger):
        if est.embedder_ is not None and type(est.embedder_) is not ImageEmbedder:
            raise TypeError(
                f"save_model saves a MediumTagger whose embedder is an ImageEmbedder "
                f"or 'passthrough'; this one has {type(est.embedder_).__name__}. Use "
                "pickle/joblib for arbitrary estimators (trusted files only)."
            )
        if est.mode != "joint":
            for tag, lr in zip(
                (est.tag_names_[j] for j in est._learned), est.estimator_.estimators_
            ):
                if type(lr) is not LogisticRegression:
                    raise TypeError(
                        "save_model saves MediumTagger with LogisticRegression per-tag "
                        f"classifiers (or mode='joint'); tag {tag!r} has a "
                        f"{type(lr).__name__}. Use pickle/joblib for arbitrary "
                        "estimators (trusted files only)."
                    )


def _describe_classifier(est):
    from artmedium.datasets import POSTER_TAGS, medium_to_tags

    features = est.encoder_ is None
    state = {
        "classes": _labels_to_json(est.classes_),
        "input_mode": est.input_mode_,
        "start": est.start_,
        "seed": int(est._seed),
        "n_features_in": int(est.n_features_in_) if features else None,
        "feature_names_in": (
            [str(n) for n in est.feature_names_in_]
            if features and hasattr(est, "feature_names_in_")
            else None
        ),
    }
    # The tags a classifier predicts by marginalising over its medium classes.
    found = {
        t for c in est.classes_ if isinstance(c, str) for t in medium_to_tags(c).tags
    }
    tag_names = [t for t in POSTER_TAGS if t in found]
    prep = None if features else est.encoder_.preprocessing.to_dict()
    backbone = None if features else est.backbone
    return state, tag_names, prep, backbone


def _describe_tagger(est):
    embedder = None
    dropped = []
    prep = backbone = None
    if est.embedder_ is not None:
        params, dropped = _params_to_json(est.embedder_, "MediumTagger.embedder_")
        prep = est.embedder_.encoder_.preprocessing.to_dict()
        backbone = est.embedder_.backbone
        embedder = {
            "params": params,
            "preprocessing": prep,
            "n_features_in": (
                int(est.embedder_.n_features_in_)
                if hasattr(est.embedder_, "n_features_in_")
                else None
            ),
        }
    if est.mode == "joint":
        n_features = int(est.estimator_.net_.module_[-1].in_features)
        estimators, joint_seed = None, int(est.estimator_.seed)
    else:
        first = est.estimator_.estimators_[0]
        n_features = int(first.coef_.shape[1])
        estimators = []
        for lr in est.estimator_.estimators_:
            params, more = _params_to_json(lr, "MediumTagger.estimator_")
            dropped += more
            n_iter = getattr(lr, "n_iter_", None)
            estimators.append(
                {
                    "params": params,
                    "n_iter": None if n_iter is None else np.asarray(n_iter).tolist(),
                }
            )
        joint_seed = None
    state = {
        "tag_names": [str(t) for t in est.tag_names_],
        "combinations": np.asarray(est.combinations_).tolist(),
        "combination_counts": np.asarray(est.combination_counts_).tolist(),
        "constant_tags": [[int(j), int(v)] for j, v in est.constant_tags_.items()],
        "embedder": embedder,
        "estimators": estimators,
        "joint_seed": joint_seed,
        "n_features": n_features,
        "n_features_in": (
            int(est.n_features_in_) if hasattr(est, "n_features_in_") else None
        ),
        "feature_names_in": (
            [str(n) for n in est.feature_names_in_]
            if hasattr(est, "feature_names_in_")
            else None
        ),
    }
    return state, list(state["tag_names"]), prep, backbone, dropped


def _override_device(params, device):
    params = dict(params)
    if "device" in params:
        params["device"] = device
    return params


def _rebuild(sidecar, device):
    """A fitted estimator of the sidecar's structure; tensors not yet loaded."""
    from artmedium.estimators import ImageEmbedder, MediumClassifier, MediumTagger
    from artmedium.io import Preprocessing

    kind = sidecar["estimator"]
    state = sidecar["state"]
    params = _override_device(_params_from_json(sidecar["params"]), device)
    prep = sidecar.get("preprocessing")
    prep = None if prep is None else Preprocessing.from_dict(prep)
    if kind == "MediumClassifier":
        return MediumClassifier._rebuild(
            params,
            classes=_labels_from_json(state["classes"]),
            start=state["start"],
            seed=state["seed"],
            n_features_in=state["n_features_in"],
            feature_names_in=state["feature_names_in"],
            preprocessing=prep,
        )
    if kind != "MediumTagger":
        raise ValueError(f"unknown estimator type {kind!r} in the model's sidecar")
    embedder = None
    if state["embedder"] is not None:
        emb = state["embedder"]
        embedder = MediumTagger._rebuild_embedder(
            _override_device(_params_from_json(emb["params"]), device),
            preprocessing=Preprocessing.from_dict(emb["preprocessing"]),
            n_features_in=emb["n_features_in"],
        )
        if isinstance(params.get("embedder"), ImageEmbedder):
            params["embedder"].set_params(device=device)
    estimators = None
    if state["estimators"] is not None:
        from sklearn.linear_model import LogisticRegression

        estimators = []
        d = int(state["n_features"])
        for item in state["estimators"]:
            lr = LogisticRegression(**_params_from_json(item["params"]))
            # Placeholders of the saved shapes; the weights file fills them in.
            lr.coef_ = np.zeros((1, d))
            lr.intercept_ = np.zeros(1)
            lr.classes_ = np.array([0, 1])
            lr.n_features_in_ = d
            if item["n_iter"] is not None:
                lr.n_iter_ = np.asarray(item["n_iter"], dtype=np.int32)
            estimators.append(lr)
    return MediumTagger._rebuild(
        params,
        tag_names=state["tag_names"],
        combinations=state["combinations"],
        combination_counts=state["combination_counts"],
        constant_tags=dict(state["constant_tags"]),
        embedder=embedder,
        estimators=estimators,
        joint_seed=state["joint_seed"],
        n_features=state["n_features"],
        n_features_in=state["n_features_in"],
        feature_names_in=state["feature_names_in"],
    )


def _check_tensors(path, expected, found):
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [
        f"{k} (file {tuple(found[k].shape)}, model {tuple(expected[k].shape)})"
        for k in sorted(set(expected) & set(found))
        if tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    problems = [
        f"{label}: {', '.join(keys[:5])}"
        + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
        for label, keys in (
            ("missing tensors", missing),
            ("unexpected tensors", unexpected),
            ("wrong shapes", wrong),
        )
        if keys
    ]
    if problems:
        raise ValueError(
            f"weights in {path} do not match the model described by its {SIDECAR}: "
            + "; ".join(problems)
        )


def _assign_tensors(est, tensors):
    modules, arrays = _slots(est)
    for prefix, module in modules.items():
        cut = len(prefix) + 1
        sub = {k[cut:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        # load_state_dict copies into the module's own dtype and device: float16
        # weights come back as float32, CPU tensors go to the model's device.
        module.load_state_dict(sub, strict=True)
    for name, (obj, attr) in arrays.items():
        setattr(obj, attr, tensors[name].numpy().copy())


# --------------------------------------------------------------------- public


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {"artmedium": __version__, "python": platform.python_version()}
    for dist in ("torch", "safetensors", "scikit-learn", "skorch", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _is_model_dir(path):
    return path.is_dir() and (path / SIDECAR).is_file()


def save_model(estimator, path, *, metadata=None, half=False, overwrite=False):
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
    from artmedium.estimators import MediumClassifier

    _check_supported(estimator)
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
    if isinstance(estimator, MediumClassifier):
        state, tag_names, prep, backbone = _describe_classifier(estimator)
        classes = _labels_to_json(estimator.classes_)["values"]
    else:
        state, tag_names, prep, backbone, more = _describe_tagger(estimator)
        dropped += more
        classes = None
    metadata = _json_safe_metadata(metadata)

    from safetensors.torch import save as safetensors_bytes

    tensors = _collect_tensors(estimator, half=bool(half))
    blob = safetensors_bytes(tensors, metadata={"format": FORMAT})
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": params,
        "dropped_params": sorted(set(dropped)),
        "backbone": backbone,
        "classes": classes,
        "tag_names": tag_names,
        "preprocessing": prep,
        "state": state,
        "weights": {
            "file": WEIGHTS,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob),
            "dtype": "float16" if half else "float32",
        },
        "versions": _versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "metadata": metadata,
    }
    text = json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n"

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    os.mkdir(tmp)
    try:
        for name, data in ((WEIGHTS, blob), (SIDECAR, text.encode("utf-8"))):
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


def _resolve(path):
    if isinstance(path, str) and path == "default":
        from artmedium.pretrained import default_model_dir

        folder = default_model_dir()
        if not (folder / SIDECAR).is_file():
            raise FileNotFoundError(
                f"the embedded default model is not installed in this copy of "
                f"artmedium (no {folder / SIDECAR}); pass the folder of a model saved "
                "with save_model or 'artmedium train'."
            )
        return folder
    return Path(path)


def model_info(path):
    """Read and check a saved model's sidecar, without loading its weights.

    Parameters
    ----------
    path : str or os.PathLike
        A folder written by :func:`save_model`, or ``"default"`` for the model
        embedded in the package.

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
        The sidecar is not JSON, not an artmedium model, or of an unknown format
        version.
    """
    folder = _resolve(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no saved model at {folder}: no such folder")
    sidecar_path = folder / SIDECAR
    if not sidecar_path.is_file():
        raise FileNotFoundError(
            f"no saved model at {folder}: {SIDECAR} is missing (a model folder is "
            "written by save_model or 'artmedium train')"
        )
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{sidecar_path} is not valid JSON: {exc}") from exc
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise ValueError(f"{sidecar_path} does not describe an artmedium model")
    version = sidecar.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{sidecar_path} has format version {version!r}; this artmedium "
            f"{__version__} reads version {FORMAT_VERSION} only (upgrade artmedium "
            "to load newer models)."
        )
    return sidecar


def load_model(path, *, device="cpu"):
    """Load a model saved by :func:`save_model`: JSON and safetensors, no pickle.

    Parameters
    ----------
    path : str or os.PathLike
        The model folder, or ``"default"`` for the model embedded in the package
        (a local folder named ``default`` is ``"./default"``).
    device : str, default="cpu"
        Torch device of the loaded model; a model trained on a GPU loads on the
        CPU unless asked otherwise.

    Returns
    -------
    MediumClassifier or MediumTagger
        Fitted; predicts as the saved estimator did (exactly, or within float16
        rounding for a model saved with ``half=True``).

    Raises
    ------
    FileNotFoundError
        The folder, its ``model.json`` or its weights file is missing.
    ValueError
        Unknown format version, weights whose SHA-256 differs from the sidecar's
        (a corrupt or modified file), or tensors missing, unexpected or of the
        wrong shape; the message says which.

    Examples
    --------
    >>> from artmedium.persistence import load_model
    >>> load_model("no/such/model")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no saved model at no/such/model: no such folder
    """
    sidecar = model_info(path)
    folder = _resolve(path)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(
            f"the weights file of the model at {folder} is missing: {weights}"
        )
    blob = weights.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    expected = sidecar.get("weights", {}).get("sha256")
    if digest != expected:
        raise ValueError(
            f"{weights} does not match {SIDECAR}: its SHA-256 is {digest}, the "
            f"sidecar records {expected}. The file is corrupt or was modified."
        )
    from safetensors.torch import load as safetensors_load

    try:
        tensors = safetensors_load(blob)
    except Exception as exc:  # safetensors raises its own untyped errors
        raise ValueError(f"could not read {weights}: {exc}") from exc
    try:
        # Building the skeleton initialises modules: keep the caller's RNG as it was.
        with torch.random.fork_rng(devices=[]):
            est = _rebuild(sidecar, device)
    except (TypeError, KeyError) as exc:
        raise ValueError(
            f"{folder / SIDECAR} describes a model this artmedium {__version__} "
            f"cannot rebuild ({type(exc).__name__}: {exc}); was it saved by a newer "
            "version?"
        ) from exc
    _check_tensors(weights, _collect_tensors(est), tensors)
    _assign_tensors(est, tensors)
    return est
