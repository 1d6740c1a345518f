"""The primitive ops. Each is a ``Function`` with its forward beside its backward:

- ``arithmetic``: + - * / ** neg, matmul
- ``unary``: exp log sqrt tanh sigmoid softplus relu abs clip maximum minimum where
- ``convert``: casts, device copies, clones, and operands brought to one dtype (promotion)
- ``reduce``: sum mean amax amin (max/min with indices), softmax log_softmax
- ``shape``: reshape permute/transpose expand squeeze/unsqueeze, indexing, gather, cat stack
  split unbind
- ``inplace``: copy_/fill_, writing through views, and the machinery of in-place methods

Everything else in the library (losses, cells, layers) is composed from these.
"""
from __future__ import annotations

from typing import Any

from ..core.tensor import Tensor
from .arithmetic import add, div, matmul, mul, neg, pow, sub
from .convert import cast, clone, to_device
from .reduce import (ValuesIndices, amax, amin, argmax, argmin, log_softmax, max, mean, min, softmax,
                     sum)
from .shape import (cat, chunk, expand, gather, getitem, permute, reshape, split, squeeze, stack,
                    transpose, unbind, unsqueeze)
from .unary import (abs, clip, compare, exp, log, maximum, minimum, relu, sigmoid, softplus, sqrt, tanh,
                    where)


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
    "exp", "log", "sqrt", "tanh", "sigmoid", "softplus", "relu", "abs", "clip", "maximum", "minimum",
    "where", "cast", "to_device", "clone", "compare",
    "sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "ValuesIndices", "softmax",
    "log_softmax", "reshape", "permute", "transpose", "expand", "squeeze", "unsqueeze", "getitem",
    "gather", "cat", "stack", "split", "chunk", "unbind", "one_hot",
]
