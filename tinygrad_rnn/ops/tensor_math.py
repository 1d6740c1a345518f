"""The library's own ops under NumPy's names: what ``self.xp`` is inside a recorded backward.

Each op writes its backward formula once, with operators, array methods (``.sum(axis=,
keepdims=)``, ``.reshape``, ``.astype``, ``.T``) and ``self.xp.<function>``. Normally
backward runs on arrays and ``self.xp`` is NumPy (or CuPy). With ``create_graph=True``
the engine runs the very same formula on tensors, with ``self.xp`` set to this module,
so every step of the gradient computation is recorded and can be differentiated again.
That is why each function here takes NumPy's arguments and returns a tensor.
"""
from __future__ import annotations

from typing import Any, Sequence

from ..core.tensor import Tensor
from . import shape as shapes
from . import unary
from .einsum import einsum as _einsum

ndarray = Tensor  # isinstance(value, xp.ndarray) holds for tensors here
exp, log, sqrt, tanh, sin, cos, sign, abs, maximum, minimum, where = (
    unary.exp, unary.log, unary.sqrt, unary.tanh, unary.sin, unary.cos, unary.sign, unary.abs, unary.maximum,
    unary.minimum, unary.where)


def zeros_like(x: Tensor, shape: Sequence[int] | None = None) -> Tensor:
    """Zeros with ``x``'s dtype and device, and its shape unless ``shape`` is given (NumPy's)."""
    from ..core.factories import zeros  # the factories import the ops: imported on first use

    return zeros(tuple(x.shape if shape is None else shape), dtype=x.dtype, device=x.device)


def broadcast_to(x: Tensor, target: Sequence[int]) -> Tensor:
    return shapes.expand(x, tuple(target))


def expand_dims(x: Tensor, axis: int | tuple) -> Tensor:
    axes = axis if isinstance(axis, tuple) else (axis,)
    for a in sorted(a % (x.ndim + len(axes)) for a in axes):  # positions in the result
        x = shapes.unsqueeze(x, a)
    return x


def transpose(x: Tensor, axes: Sequence[int]) -> Tensor:
    return shapes.permute(x, tuple(axes))


def swapaxes(x: Tensor, axis0: int, axis1: int) -> Tensor:
    return shapes.transpose(x, axis0, axis1)


def moveaxis(x: Tensor, source: int, destination: int) -> Tensor:
    order = [d for d in range(x.ndim) if d != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return shapes.permute(x, tuple(order))


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    return shapes.cat(list(tensors), axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    return shapes.stack(list(tensors), axis)


def einsum(subscripts: str, *operands: Any, optimize: Any = False) -> Tensor:
    """NumPy's einsum (``optimize`` is NumPy's speed hint, not needed here); arrays among the
    operands are constants (the ones and identity matrices of einsum's own backward)."""
    like = next(x for x in operands if isinstance(x, Tensor))
    return _einsum(subscripts, *[x if isinstance(x, Tensor) else Tensor._wrap(x, like.backend) for x in operands])


def split(x: Tensor, bounds: Sequence[int], axis: int = 0) -> list[Tensor]:
    """NumPy's split at the positions ``bounds`` along ``axis``."""
    edges = [0, *bounds, x.shape[axis]]
    return list(shapes.split(x, [b - a for a, b in zip(edges, edges[1:])], axis))


__all__ = ["ndarray", "exp", "log", "sqrt", "tanh", "sin", "cos", "sign", "abs", "maximum", "minimum", "where",
           "zeros_like", "broadcast_to", "expand_dims", "transpose", "swapaxes", "moveaxis", "concatenate",
           "stack", "split", "einsum"]
