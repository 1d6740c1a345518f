"""Reductions over axes (sum, mean, max, min) and the softmax family.

Axes follow NumPy (``axis``: int, tuple or None; ``keepdims``); PyTorch's ``dim`` and
``keepdim`` are accepted as aliases everywhere.
"""
from __future__ import annotations

import math
from typing import Any

from ..autograd import Function
from ..tensor import Tensor
from .arithmetic import mul
from .common import pick_axis, pick_keepdims


def _restore_axes(xp: Any, grad: Any, axis: Any, keepdims: bool) -> Any:
    """Put back the reduced axes as size 1, so ``grad`` broadcasts against the input."""
    if keepdims or axis is None:
        return grad
    return xp.expand_dims(grad, axis)


class Sum(Function):
    __slots__ = ('input_shape', 'axis', 'keepdims')

    def forward(self, x, axis, keepdims):
        self.input_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, grad):
        # d sum(x)/dx_i = 1: every summed element receives the output's gradient
        grad = _restore_axes(self.xp, grad, self.axis, self.keepdims)
        return self.xp.broadcast_to(grad, self.input_shape)


class Max(Function):
    __slots__ = ('axis', 'keepdims')
    reduction = "max"

    def forward(self, x, axis, keepdims):
        extreme = getattr(x, self.reduction)(axis=axis, keepdims=True)
        self.save_for_backward(x, extreme)
        self.axis, self.keepdims = axis, keepdims
        return extreme if keepdims else extreme.squeeze(axis)

    def backward(self, grad):
        # d max(x)/dx_i = 1 for the maximal element (ties share it equally), 0 elsewhere
        x, extreme = self.saved
        hits = x == extreme
        count = hits.sum(axis=self.axis, keepdims=True).astype(grad.dtype)
        grad = _restore_axes(self.xp, grad, self.axis, self.keepdims)
        return hits * (grad / count)


class Min(Max):
    """The minimum: the same rule as ``Max`` for the smallest elements."""

    __slots__ = ()
    reduction = "min"


class Softmax(Function):
    __slots__ = ('axis',)

    def forward(self, x, axis):
        xp = self.xp
        e = xp.exp(x - x.max(axis=axis, keepdims=True))  # shifting by the max avoids overflow
        y = e / e.sum(axis=axis, keepdims=True)
        self.save_for_backward(y)
        self.axis = axis
        return y

    def backward(self, grad):
        # d y_i/dx_j = y_i (delta_ij - y_j)  =>  dL/dx = y * (g - sum(g * y))
        (y,) = self.saved
        return y * (grad - (grad * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    __slots__ = ('axis',)

    def forward(self, x, axis):
        xp = self.xp
        shifted = x - x.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.save_for_backward(y)
        self.axis = axis
        return y

    def backward(self, grad):
        # d y_i/dx_j = delta_ij - softmax(x)_j  =>  dL/dx = g - exp(y) * sum(g)
        (y,) = self.saved
        return grad - self.xp.exp(y) * grad.sum(axis=self.axis, keepdims=True)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False, *,  # noqa: A001
        dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    return Sum.apply(x, axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim))


def mean(x: Tensor, axis: Any = None, keepdims: bool = False, *,
         dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Mean over ``axis``: the sum divided by the number of elements reduced."""
    axis = pick_axis(axis, dim)
    axes = range(x.ndim) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    count = math.prod(x.shape[a] for a in axes)
    total = Sum.apply(x, axis=axis, keepdims=pick_keepdims(keepdims, keepdim))
    return mul(total, 1.0 / count) if count else mul(total, float("nan"))


def max(x: Tensor, axis: Any = None, keepdims: bool = False, *,  # noqa: A001
        dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Largest value over ``axis`` (the values only; see ``argmax`` for positions)."""
    return Max.apply(x, axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim))


def min(x: Tensor, axis: Any = None, keepdims: bool = False, *,  # noqa: A001
        dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Smallest value over ``axis``."""
    return Min.apply(x, axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim))


def argmax(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Index of the largest value over ``axis`` (flattened when None); not differentiable."""
    return Tensor._wrap(x.data.argmax(axis=pick_axis(axis, dim)), x.backend)


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) over ``axis``, computed without overflow."""
    return Softmax.apply(x, axis=pick_axis(axis, dim, default=-1))


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """log(softmax(x)) over ``axis``, computed stably (no log of 0 for large logits)."""
    return LogSoftmax.apply(x, axis=pick_axis(axis, dim, default=-1))
