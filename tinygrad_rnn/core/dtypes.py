"""Which dtype an op returns: PyTorch's type-promotion rules.

Dtypes fall into categories, bool < integer < floating. Operands take part in three
ranks: tensors with at least one dimension, 0-d tensors, and Python (or NumPy) scalars.
A lower rank changes the result only when it brings a *higher category*, and then
only as far as its category: ``float32 (n,) * float64 0-d`` stays float32, but
``int32 (n,) * 2.5`` is float32 (the default float) and ``bool (n,) * 2`` is int64.

    >>> result_type(tensor([1, 2], dtype="int32"), 2.5)
    dtype('float32')

NumPy arrays count as tensors (a 0-d array as a 0-d tensor); NumPy scalars
(``numpy.float64(2.0)``) count as Python scalars of their kind.
"""
from __future__ import annotations

from typing import Any

import numpy

DEFAULT_FLOAT = numpy.dtype("float32")  # what Python floats and int -> float ops become
_CATEGORIES = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}
_PYTHON_SCALAR_DTYPES = {bool: numpy.dtype("bool"), int: numpy.dtype("int64"), float: DEFAULT_FLOAT}


def category(dtype: Any) -> int:
    """0 for bool, 1 for integers, 2 for floating point, 3 for complex."""
    return _CATEGORIES[numpy.dtype(dtype).kind]


def is_floating(dtype: Any) -> bool:
    return numpy.dtype(dtype).kind in "fc"


def promote_types(a: Any, b: Any) -> numpy.dtype:
    """The smallest dtype both ``a`` and ``b`` convert to: the higher category wins outright
    (``int64`` with ``float16`` is ``float16``, as in PyTorch); within a category, NumPy's rule."""
    a, b = numpy.dtype(a), numpy.dtype(b)
    if category(a) != category(b):
        return a if category(a) > category(b) else b
    return numpy.promote_types(a, b)


def scalar_dtype(value: Any) -> numpy.dtype | None:
    """The dtype a Python or NumPy scalar stands for (``None`` for anything else)."""
    if isinstance(value, numpy.generic):
        kind = value.dtype.kind
        return _PYTHON_SCALAR_DTYPES[bool if kind == "b" else int if kind in "iu" else float]
    for python_type in (bool, int, float):  # bool first: True is also an int
        if isinstance(value, python_type):
            return _PYTHON_SCALAR_DTYPES[python_type]
    return None


def _combine(higher: numpy.dtype | None, lower: numpy.dtype | None) -> numpy.dtype | None:
    """A higher rank's dtype, changed by a lower rank only when that brings a higher category."""
    if higher is None or lower is None:
        return higher if lower is None else lower
    return promote_types(higher, lower) if category(lower) > category(higher) else higher


def result_type(*operands: Any) -> numpy.dtype:
    """The dtype of an op's result for these operands (tensors, arrays or scalars)."""
    ranks: list[numpy.dtype | None] = [None, None, None]  # dimensioned, 0-d, scalars
    for value in operands:
        dtype = scalar_dtype(value)
        if dtype is not None:
            rank = 2
        else:
            dtype = numpy.dtype(value.dtype)
            rank = 0 if len(value.shape) else 1
        ranks[rank] = dtype if ranks[rank] is None else promote_types(ranks[rank], dtype)
    result = _combine(ranks[0], _combine(ranks[1], ranks[2]))
    if result is None:
        raise TypeError("result_type: no operands")
    return result


def can_cast(source: Any, target: Any) -> bool:
    """Whether an in-place op may write ``source`` values into a ``target`` tensor (PyTorch's
    rule: never floating point into integers, nor numbers into bool)."""
    return category(source) <= category(target)
