"""What image estimators accept as ``X`` and ``y``: shared by estimators and explain.

``X``: how an image estimator tells its two input modes apart.

Two modes, decided from the container alone (never from file contents):

* **images**: a 1-D array or list of paths / bytes / PIL images, a stack of uint8
  arrays ``(n, H, W)`` or ``(n, H, W, C)``, or a one-column DataFrame / Series of
  paths. sklearn slices a 1-D object array, so GridSearchCV works on it directly.
* **features**: a 2-D numeric array ``(n, d)``: vectors that a backbone already
  produced (for example by :class:`~artmedium.ImageEmbedder`), or any numeric data.
  This is also the mode that scikit-learn's common estimator checks exercise.
"""

import os
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from artmedium.vocabulary import tag_matrix

IMAGES = "images"
FEATURES = "features"


@dataclass(frozen=True)
class ParsedX:
    """``X`` sorted into a mode: ``kind`` is ``"images"`` or ``"features"``."""

    kind: str
    data: object  # list of image sources, or a 2-D float array

    def __len__(self):
        return len(self.data)


def _is_image_source(obj):
    from PIL import Image

    if isinstance(obj, (str, os.PathLike, bytes, bytearray, memoryview, Image.Image)):
        return True
    if isinstance(obj, np.ndarray) and obj.ndim in (2, 3):
        return True
    return hasattr(obj, "read")


def parse_X(X, *, name="X"):
    """Sort ``X`` into images or features, refusing what is neither.

    Parameters
    ----------
    X : array-like, list, DataFrame or Series
        See the module docstring for what is accepted.
    name : str, default="X"
        How the input is named in error messages.

    Returns
    -------
    ParsedX

    Raises
    ------
    TypeError
        For sparse matrices and containers of unknown objects.
    ValueError
        For empty input, 1-D numeric arrays and float image stacks.

    Examples
    --------
    >>> import numpy as np
    >>> parse_X(np.array(["a.jpg", "b.png"], dtype=object)).kind
    'images'
    >>> parse_X(np.zeros((2, 5))).kind
    'features'
    >>> parse_X(np.zeros((2, 8, 8, 3), dtype=np.uint8)).kind
    'images'
    """
    if sparse.issparse(X):
        raise TypeError(
            f"{name} is a sparse matrix; artmedium estimators take images or dense "
            "2-D feature arrays. Convert it with X.toarray()."
        )
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # DataFrame
        if X.shape[1] == 1 and X.dtypes.iloc[0].kind in "OSU":
            X = X.iloc[:, 0]
        else:
            return _features(X, name)
    if hasattr(X, "iloc"):  # Series: a column of paths
        X = X.to_numpy(dtype=object)

    if isinstance(X, np.ndarray):
        if len(X) == 0:
            raise ValueError(f"{name} is empty: found 0 samples (shape={X.shape}).")
        if X.dtype == object or X.dtype.kind in "US":
            if X.ndim == 2 and X.shape[1] == 1:
                X = X[:, 0]
            if X.ndim == 1 and all(_is_image_source(x) for x in X):
                return ParsedX(IMAGES, list(X))
            if X.ndim == 2:
                return _features(X, name)
            raise ValueError(
                f"{name} of dtype {X.dtype} and shape {X.shape} is not a 1-D array "
                "of image paths, bytes or PIL images."
            )
        if X.ndim in (3, 4):
            if X.dtype != np.uint8:
                raise ValueError(
                    f"{name} is a stack of {X.dtype} images of shape {X.shape}; "
                    "images must be uint8 (0-255) so that their scale is known. "
                    "Convert with (X * 255).round().astype(np.uint8) if they are "
                    "floats in [0, 1]."
                )
            return ParsedX(IMAGES, list(X))
        if X.ndim == 1:
            raise ValueError(
                f"Expected 2D array, got 1D array instead: {name} has shape "
                f"{X.shape} and numeric dtype. Pass image paths as an object array. "
                "Reshape your data either using array.reshape(-1, 1) if your data "
                "has a single feature or array.reshape(1, -1) if it contains a "
                "single sample."
            )
        if X.ndim == 2:
            return _features(X, name)
        raise ValueError(f"{name} has {X.ndim} dimensions; expected 1 to 4.")

    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(f"{name} is empty: found 0 samples.")
        if all(_is_image_source(x) for x in X):
            return ParsedX(IMAGES, list(X))
        try:
            arr = np.asarray(X)
        except ValueError as exc:
            raise TypeError(f"{name} holds objects that are not images: {exc}") from exc
        if arr.dtype == object:
            bad = next(x for x in X if not _is_image_source(x))
            raise TypeError(
                f"{name} holds an object of type {type(bad).__name__} that is not an "
                "image path, bytes, file object, PIL image or uint8 array."
            )
        return parse_X(arr, name=name)
    if _is_image_source(X):
        raise TypeError(
            f"{name} is a single image ({type(X).__name__}); wrap it in a list."
        )
    try:
        arr = np.asarray(X)
    except Exception as exc:  # noqa: BLE001 - report any conversion failure uniformly
        raise TypeError(f"{name} of type {type(X).__name__} is not array-like") from exc
    if arr.dtype == object and arr.ndim == 0:
        raise TypeError(f"{name} of type {type(X).__name__} is not array-like.")
    return parse_X(arr, name=name)


def _features(X, name):
    # Validation proper (finite values, dtype, n_features_in_) is done by the
    # estimator through sklearn's validate_data; here we only fix the mode.
    return ParsedX(FEATURES, X)


def check_labels(y, name="y"):
    """Refuse missing labels (None, NaN) and labels of mixed kinds, by position.

    scikit-learn's encoders sort the labels, so ``None`` among strings fails
    with ``'<' not supported``, and a NaN inside a list of strings silently
    becomes the class ``"nan"``; both are refused here with the position.

    Parameters
    ----------
    y : array-like
        The labels, as given to ``fit``.
    name : str, default="y"
        How the labels are named in the error.

    Raises
    ------
    ValueError
        A label is None or NaN, or strings and numbers are mixed.

    Examples
    --------
    >>> from artmedium._inputs import check_labels
    >>> check_labels(["Graphite on paper", None])
    Traceback (most recent call last):
    ...
    ValueError: y[1] is None: every image needs a label (None and NaN are not labels).
    """
    values = np.asarray(y, dtype=object).ravel()
    kinds = {}
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float | np.floating) and value != value):
            raise ValueError(
                f"{name}[{i}] is {value!r}: every image needs a label (None and NaN "
                "are not labels)."
            )
        kind = "string" if isinstance(value, str | np.str_ | bytes) else "number"
        kinds.setdefault(kind, i)
    if len(kinds) > 1:
        s, n = kinds["string"], kinds["number"]
        raise ValueError(
            f"{name} mixes strings and numbers ({name}[{s}] is {values[s]!r}, "
            f"{name}[{n}] is {values[n]!r}); use one kind of label."
        )


def raise_read_errors(errors, name="X"):
    """Raise one ValueError naming every unreadable image and its index."""
    if not errors:
        return
    lines = [f"  {name}[{i}]: {exc}" for i, exc in sorted(errors.items())[:10]]
    more = len(errors) - len(lines)
    if more > 0:
        lines.append(f"  ... and {more} more")
    raise ValueError(
        f"{len(errors)} image(s) in {name} could not be read:\n" + "\n".join(lines)
    )


def as_tag_matrix(y, tag_names):
    """Y as an (n, n_tags) 0/1 int array, from a matrix or medium strings."""
    if isinstance(y, (list, tuple)) and y and isinstance(y[0], str):
        y = np.asarray(y, dtype=object)
    arr = np.asarray(y)
    if arr.ndim == 1 and arr.dtype.kind in "OUS":
        check_labels(y)
        return tag_matrix([str(m) for m in arr], vocabulary=tag_names).astype(np.int64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(
            "y must be an (n_samples, n_tags) 0/1 array or a 1-D array of medium "
            f"descriptions; got shape {arr.shape}."
        )
    if arr.shape[1] != len(tag_names):
        raise ValueError(
            f"y has {arr.shape[1]} tag columns but there are {len(tag_names)} tag "
            f"names ({list(tag_names)}); pass tag_names to match."
        )
    if arr.dtype.kind == "c" or not np.isin(arr, (0, 1)).all():
        raise ValueError(
            "y must contain only 0 and 1 (tag absent / present); a multiclass or "
            "continuous target is not a tag matrix. Only binary classification is "
            "supported, per tag."
        )
    return arr.astype(np.int64)
