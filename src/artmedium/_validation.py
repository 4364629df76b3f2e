"""Parameter checks shared across packages, worded as scikit-learn's.

Estimators declare ``_parameter_constraints`` (scikit-learn's declarative
validation); plain functions check their counts here, with the messages of
:func:`sklearn.utils.check_scalar`, so every "must be a positive int" in
artmedium reads the same. This module imports no scikit-learn: the prediction
path of an ONNX model (:mod:`artmedium.onnx`) uses it and must start in well
under a second, and importing scikit-learn alone takes over one.
"""

from numbers import Integral


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
