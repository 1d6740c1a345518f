"""The primitive ops. Each is a ``Function`` with its forward beside its backward:

- ``arithmetic``: + - * / ** neg, matmul
- ``unary``: exp log sqrt tanh sigmoid relu abs clip maximum minimum where, casts and copies
- ``reduce``: sum mean max min, softmax log_softmax
- ``shape``: reshape permute/transpose expand squeeze/unsqueeze, indexing, cat stack split unbind

Everything else in the library (losses, cells, layers) is composed from these.
"""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from .arithmetic import add, div, matmul, mul, neg, pow, sub
from .reduce import argmax, log_softmax, max, mean, min, softmax, sum
from .shape import (cat, chunk, expand, getitem, permute, reshape, split, squeeze, stack,
                    transpose, unbind, unsqueeze)
from .unary import (abs, cast, clip, clone, compare, exp, log, maximum, minimum, relu, sigmoid,
                    sqrt, tanh, to_device, where)


def one_hot(indices: Tensor, num_classes: int = -1, dtype: Any = "int64") -> Tensor:
    """``(..., num_classes)`` with a 1 at each index (int64 like PyTorch; pass ``dtype`` for floats).

    Not differentiable: indices are labels, not values.
    """
    data = indices.data
    if data.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got dtype {data.dtype}")
    if num_classes < 0:
        num_classes = int(data.max()) + 1 if data.size else 0
    if data.size and (data.min() < 0 or data.max() >= num_classes):
        raise ValueError(f"one_hot: indices must lie in [0, {num_classes}), got values from "
                         f"{int(data.min())} to {int(data.max())}")
    xp = indices.backend.xp
    return Tensor._wrap((data[..., None] == xp.arange(num_classes)).astype(dtype), indices.backend)


__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "matmul",
    "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "clip", "maximum", "minimum",
    "where", "cast", "to_device", "clone", "compare",
    "sum", "mean", "max", "min", "argmax", "softmax", "log_softmax",
    "reshape", "permute", "transpose", "expand", "squeeze", "unsqueeze", "getitem",
    "cat", "stack", "split", "chunk", "unbind", "one_hot",
]
