"""The primitive ops. Each is a ``Function`` with its forward beside its backward:

- ``arithmetic``: + - * / ** neg, matmul (and PyTorch's strict mm bmm dot)
- ``unary``: exp log log1p sqrt sin cos tanh sigmoid softplus relu abs sign clip maximum minimum
  where masked_fill
- ``convert``: casts, device copies, clones, contiguous, and operands brought to one dtype
- ``reduce``: sum mean amax amin (max/min with indices), var std norm logsumexp, softmax
  log_softmax
- ``shape``: reshape permute/transpose/t expand squeeze/unsqueeze, indexing, gather, cat stack
  split unbind
- ``rearrange``: flip roll repeat index_select (copies, unlike the views of ``shape``)
- ``einsum``: einsum, whose backward is an einsum
- ``inplace``: copy_/fill_, writing through views, and the machinery of in-place methods
- ``special``: erf, and binary cross-entropy on probabilities (PyTorch's clamped logs)

Everything else in the library (losses, cells, layers) is composed from these.
"""
from __future__ import annotations

from typing import Any

from ..core.tensor import Tensor
from .arithmetic import add, bmm, div, dot, matmul, mm, mul, neg, pow, sub
from .convert import cast, clone, contiguous, to_device
from .einsum import einsum
from .rearrange import flip, index_select, repeat, roll
from .reduce import (ValuesIndices, amax, amin, argmax, argmin, log_softmax, logsumexp, max, mean, min,
                     norm, softmax, std, sum, var)
from .special import erf
from .shape import (cat, chunk, expand, gather, getitem, permute, reshape, split, squeeze, stack, t,
                    transpose, unbind, unsqueeze)
from .unary import (abs, clip, compare, cos, exp, log, log1p, masked_fill, maximum, minimum, relu, sigmoid,
                    sign, sin, softplus, sqrt, tanh, where)


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
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "mm", "bmm", "dot",
    "exp", "log", "log1p", "sqrt", "sin", "cos", "tanh", "sigmoid", "softplus", "relu", "abs", "sign",
    "clip", "maximum", "minimum", "where", "masked_fill", "cast", "to_device", "clone", "contiguous",
    "compare", "sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "ValuesIndices", "var",
    "std", "norm", "logsumexp", "softmax", "log_softmax", "reshape", "permute", "transpose", "t",
    "expand", "squeeze", "unsqueeze", "getitem", "gather", "cat", "stack", "split", "chunk", "unbind",
    "flip", "roll", "repeat", "index_select", "einsum", "one_hot", "erf",
]
