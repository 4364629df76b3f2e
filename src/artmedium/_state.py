"""The saved-state protocol of artmedium's estimators, and checks for its fields.

Each estimator that :func:`artmedium.persistence.save_model` can save owns what it
saves and how it comes back (skorch's habit: ``save_params`` belongs to the net):

* ``est._get_state()`` returns a :class:`State`: JSON-safe ``fields`` (the
  fitted attributes that are not tensors), ``modules`` (``prefix -> nn.Module``,
  whose state dicts are saved under ``prefix.``) and ``arrays`` (``name ->
  (object, attribute)`` for numpy attributes saved as tensors), plus what
  ``model.json`` shows about the model (``info``: backbone, classes, tags,
  preprocessing).
* ``cls._from_state(params, fields, *, device)`` builds a fitted estimator of
  the saved structure from checked constructor parameters and ``fields``; its
  ``_get_state()`` then names modules and arrays of the saved shapes, into which
  persistence loads the tensors.

Persistence keeps only the file format (sidecar, safetensors, hashes, atomic
writes) and the rule that nothing executable or path-like comes from a file.
``fields`` come from a file a stranger may have written: ``_from_state`` checks
each one it reads with the helpers below, which raise :class:`ValueError` naming
the field. Adding a fitted attribute to an estimator means adding it to its
``_get_state`` and ``_from_state``, in its own module.
"""

from dataclasses import dataclass, field

import numpy as np

#: Bounds on what a saved model may ask of the machine: network input side,
#: resize side, feature width, classes and tags.
MAX_IMAGE_SIZE = 1024
MAX_RESIZE = 2048
MAX_FEATURES = 1 << 16
MAX_LABELS = 100_000
#: Most weights one layer of a saved model may have (64 MiB of float32): each
#: bound above is sane alone, but their product (classes x features) is not.
MAX_LAYER_PARAMS = 1 << 24
#: Largest array a saved model's JSON may describe (labels, parameters).
MAX_ARRAY_BYTES = 16 << 20


@dataclass
class State:
    """What an estimator saves (see the module docstring).

    Attributes
    ----------
    fields : dict
        JSON-safe fitted state.
    modules : dict of str to torch.nn.Module
        Saved with their state dicts under ``"<prefix>."``.
    arrays : dict of str to (object, str)
        Numpy attributes saved as tensors: ``name -> (owner, attribute)``.
    info : dict
        What ``model.json`` shows at its top level: ``backbone``, ``classes``,
        ``tag_names``, ``preprocessing`` (None where they do not apply).
    """

    fields: dict
    modules: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


# Dtypes an estimator's numpy attributes may be read from, by the kind of the
# attribute (a float array from any float, labels from integers): anything
# else (bfloat16, complex, bool, float labels) is refused at load.
ARRAY_DTYPES = {
    "f": ("float16", "float32", "float64"),
    "i": ("int8", "uint8", "int16", "int32", "int64"),
}


def json_type(value):
    """The JSON name of a value's type, for error messages."""
    return "null" if value is None else type(value).__name__


def check_keys(mapping, where, spec):
    """Every key of ``spec`` is in ``mapping``, its value of the given type(s).

    Examples
    --------
    >>> from artmedium._state import check_keys
    >>> check_keys({"seed": "x"}, "state", {"seed": int})
    Traceback (most recent call last):
    ...
    ValueError: state.seed must be int, not str
    """
    if not isinstance(mapping, dict):
        raise ValueError(f"{where} must be an object, not {json_type(mapping)}")
    for key, types in spec.items():
        if key not in mapping:
            raise ValueError(f"{where}.{key} is missing")
        value = mapping[key]
        types = types if isinstance(types, tuple) else (types,)
        if not isinstance(value, types) or (
            isinstance(value, bool) and bool not in types
        ):
            names = " or ".join(
                "null" if t is type(None) else t.__name__ for t in types
            )
            raise ValueError(f"{where}.{key} must be {names}, not {json_type(value)}")


def check_int(value, where, low, high):
    """``value`` if it is None or an int in ``[low, high]``, else ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be an integer, not {json_type(value)}")
    if not low <= value <= high:
        raise ValueError(f"{where} = {value} is outside [{low}, {high}]")
    return value


def check_strings(values, where, length=None):
    """``values`` if it is None or a list of strings (of ``length``)."""
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where} must be a list of strings")
    if length is not None and len(values) != length:
        raise ValueError(f"{where} has {len(values)} names for {length} columns")
    return values


def array_dtype(text, where):
    """A dtype a saved model may name: numbers, bounded unicode, or objects.

    Values always come from JSON (strings, numbers, lists), so an object array
    holds nothing but those; the itemsize bound keeps a tiny file from asking
    for a huge allocation (``"<U1000000000"``).
    """
    try:
        dtype = np.dtype(text) if isinstance(text, str) else None
    except TypeError:
        dtype = None
    if dtype is None or not (
        (dtype.kind in "biufO" and dtype.itemsize <= 8)
        or (dtype.kind == "U" and dtype.itemsize <= 4 * 4096)
    ):
        raise ValueError(
            f"{where}: dtype {text!r} is not allowed (numbers, objects, or strings "
            "of at most 4096 characters)"
        )
    return dtype


def _count_leaves(values):
    stack, count = [values], 0
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        else:
            count += 1
    return count


def check_layer_size(rows, columns, where):
    """Refuse a layer of ``rows x columns`` weights above MAX_LAYER_PARAMS."""
    if rows * columns > MAX_LAYER_PARAMS:
        raise ValueError(
            f"{where}: a layer of {rows} x {columns} weights exceeds the "
            f"{MAX_LAYER_PARAMS} a loaded model may have"
        )


def array_from_json(values, dtype_text, where):
    """``np.asarray(values, dtype)`` when every value fits the dtype exactly.

    The size the array would take is checked before it is allocated (a short
    list of empty strings with dtype ``<U4096`` would take 16 KiB per item).
    """
    dtype = array_dtype(dtype_text, where)
    n_bytes = _count_leaves(values) * max(dtype.itemsize, 1)
    if n_bytes > MAX_ARRAY_BYTES:
        raise ValueError(
            f"{where}: an array of {n_bytes} bytes exceeds the {MAX_ARRAY_BYTES} "
            "a loaded model may describe"
        )
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{where}: not an array of {dtype} ({exc})") from None
    if array.tolist() != values:  # a narrower dtype would silently cut values
        raise ValueError(f"{where}: its values do not fit dtype {dtype}")
    return array


def labels_to_json(labels):
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


def labels_from_json(d, where):
    """The labels :func:`labels_to_json` wrote, checked."""
    check_keys(d, where, {"values": list, "dtype": str})
    values = d["values"]
    if not 1 <= len(values) <= MAX_LABELS:
        raise ValueError(f"{where}.values must hold 1 to {MAX_LABELS} labels")
    if not all(isinstance(v, (str, int, float)) for v in values):
        raise ValueError(f"{where}.values must be strings or numbers")
    return array_from_json(values, d["dtype"], f"{where}.values")


def preprocessing_from_json(d, where):
    """A :class:`~artmedium.io.Preprocessing` from saved settings, within bounds."""
    from artmedium.io import Preprocessing

    try:
        prep = Preprocessing.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if prep.size > MAX_IMAGE_SIZE or prep.min_decode_size > MAX_RESIZE:
        raise ValueError(
            f"{where}: size {prep.size} / resize {prep.min_decode_size} exceed the "
            f"{MAX_IMAGE_SIZE} / {MAX_RESIZE} pixels a loaded model may use"
        )
    return prep
