"""Parameter checks shared across packages, worded as scikit-learn's.

Estimators declare ``_parameter_constraints`` (scikit-learn's declarative
validation); plain functions check their counts here, with the messages of
:func:`sklearn.utils.check_scalar`, so every "must be a positive int" in
artmedium reads the same. This module imports no scikit-learn: the prediction
path of an ONNX model (:mod:`artmedium.onnx`) uses it and must start in well
under a second, and importing scikit-learn alone takes over one.
"""

import math
from numbers import Integral, Real


def check_count(value, name, *, minimum=1, allow_none=False):
    """``value`` as an int ``>= minimum`` (a bool is not a count), or None.

    Parameters
    ----------
    value : object
        What the caller passed.
    name : str
        The parameter's name, for the error.
    minimum : int, default=1
        Smallest value accepted.
    allow_none : bool, default=False
        Whether None is accepted (and returned).

    Returns
    -------
    int or None

    Raises
    ------
    TypeError
        Not an int (or None where allowed); a bool.
    ValueError
        Smaller than ``minimum``.

    Examples
    --------
    >>> from artmedium._validation import check_count
    >>> check_count(3, "batch_size")
    3
    >>> check_count(0, "batch_size")
    Traceback (most recent call last):
    ...
    ValueError: batch_size == 0, must be >= 1.
    >>> check_count(True, "batch_size")
    Traceback (most recent call last):
    ...
    TypeError: batch_size must be an int, not a bool.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not a bool.")
    if not isinstance(value, Integral):
        raise TypeError(
            f"{name} must be an instance of int, not {type(value).__qualname__}."
        )
    if value < minimum:
        raise ValueError(f"{name} == {value}, must be >= {minimum}.")
    return int(value)


def check_fraction(value, name, *, low_open, high_open):
    """``value`` as a float in the interval from 0 to 1, ends open or closed as
    told, with the messages of :func:`sklearn.utils.check_scalar` (what the
    estimators' own checks say).

    Examples
    --------
    >>> from artmedium._validation import check_fraction
    >>> check_fraction(0.9, "confidence", low_open=True, high_open=True)
    0.9
    >>> check_fraction(1, "confidence", low_open=True, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: confidence == 1.0, must be in (0, 1).
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{name} must be an instance of float, not {type(value).__name__}."
        )
    value = float(value)
    below = value <= 0 if low_open else value < 0
    above = value >= 1 if high_open else value > 1
    if not math.isfinite(value) or below or above:
        low, high = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} == {value}, must be in {low}0, 1{high}.")
    return value
