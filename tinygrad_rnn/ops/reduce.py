"""Reductions over axes (sum, mean, max, min) and the softmax family.

Axes follow NumPy (``axis``: int, tuple or None; ``keepdims``); PyTorch's ``dim`` and
``keepdim`` are accepted as aliases everywhere.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..core.autograd import Function
from ..core.dtypes import is_floating
from ..core.tensor import Tensor
from .arithmetic import mul
from .common import pick_axis, pick_keepdims
from .shape import gather, squeeze


def _restore_axes(xp: Any, grad: Any, axis: Any, keepdims: bool) -> Any:
    """Put back the reduced axes as size 1, so ``grad`` broadcasts against the input."""
    if keepdims or axis is None:
        return grad
    return xp.expand_dims(grad, axis)


class Sum(Function):
    __slots__ = ('input_shape', 'axis', 'keepdims')

    def forward(self, x, axis, keepdims):
        self.input_shape, self.axis, self.keepdims = x.shape, axis, keepdims
        if not is_floating(x.dtype):  # integers and bools add up as int64, as in PyTorch
            return x.sum(axis=axis, keepdims=keepdims, dtype="int64")
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(self, grad):
        # d sum(x)/dx_i = 1: every summed element receives the output's gradient
        grad = _restore_axes(self.xp, grad, self.axis, self.keepdims)
        return self.xp.broadcast_to(grad, self.input_shape)


class Amax(Function):
    __slots__ = ('axis', 'keepdims')
    reduction = "max"

    def forward(self, x, axis, keepdims):
        extreme = getattr(x, self.reduction)(axis=axis, keepdims=keepdims)
        self.save_for_backward(x, extreme)  # the output itself: changing it in place is caught
        self.axis, self.keepdims = axis, keepdims
        return extreme

    def backward(self, grad):
        # d max(x)/dx_i = 1 for the maximal element (ties share it equally), 0 elsewhere
        x, extreme = self.saved
        xp = self.xp
        hits = x == _restore_axes(xp, extreme, self.axis, self.keepdims)
        count = hits.sum(axis=self.axis, keepdims=True).astype(grad.dtype)
        grad = _restore_axes(xp, grad, self.axis, self.keepdims)
        return hits * (grad / count)


class Amin(Amax):
    """The minimum: the same rule as ``Amax`` for the smallest elements."""

    __slots__ = ()
    reduction = "min"


class ValuesIndices(NamedTuple):
    """What ``max(x, dim)``/``min(x, dim)`` return, as PyTorch's ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


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


def _need_floating(x: Tensor, op: str) -> None:
    if not is_floating(x.dtype):
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}; "
                        f"convert it first, e.g. x.float()")


def sum(x: Tensor, axis: Any = None, keepdims: bool = False, *,  # noqa: A001
        dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    return Sum.apply(x, axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim))


def mean(x: Tensor, axis: Any = None, keepdims: bool = False, *,
         dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Mean over ``axis``: the sum divided by the number of elements reduced."""
    _need_floating(x, "mean")
    axis = pick_axis(axis, dim)
    axes = range(x.ndim) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    count = math.prod(x.shape[a] for a in axes)
    total = Sum.apply(x, axis=axis, keepdims=pick_keepdims(keepdims, keepdim))
    return mul(total, 1.0 / count) if count else mul(total, float("nan"))


def amax(x: Tensor, axis: Any = None, keepdims: bool = False, *,
         dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Largest value over ``axis`` (an int, a tuple, or None for all); ties share the gradient."""
    return Amax.apply(x, axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim))


def amin(x: Tensor, axis: Any = None, keepdims: bool = False, *,
         dim: Any = None, keepdim: bool | None = None) -> Tensor:
    """Smallest value over ``axis`` (an int, a tuple, or None for all); ties share the gradient."""
    return Amin.apply(x, axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim))


def _extreme(x: Tensor, axis: Any, keepdims: bool, dim: Any, keepdim: bool | None, name: str) -> Any:
    axis, keepdims = pick_axis(axis, dim), pick_keepdims(keepdims, keepdim)
    if axis is None:  # over everything: one value, as PyTorch's x.max()
        return (amax if name == "max" else amin)(x)
    if not isinstance(axis, int):
        raise TypeError(f"{name}: dim must be one int (the result is values and indices along it), "
                        f"got {axis!r}; for several dims use {'amax' if name == 'max' else 'amin'}")
    picks = (argmax if name == "max" else argmin)(x, axis, keepdim=True)
    values = gather(x, axis, picks)  # the gradient goes to the picked element, as in PyTorch
    if not keepdims:
        values, picks = squeeze(values, axis), Tensor._wrap(picks.data.squeeze(axis), picks.backend)
    return ValuesIndices(values, picks)


def max(x: Tensor, axis: Any = None, keepdims: bool = False, *,  # noqa: A001
        dim: Any = None, keepdim: bool | None = None) -> Any:
    """The largest value (no ``dim``), or ``(values, indices)`` of the largest along ``dim``."""
    return _extreme(x, axis, keepdims, dim, keepdim, "max")


def min(x: Tensor, axis: Any = None, keepdims: bool = False, *,  # noqa: A001
        dim: Any = None, keepdim: bool | None = None) -> Any:
    """The smallest value (no ``dim``), or ``(values, indices)`` of the smallest along ``dim``."""
    return _extreme(x, axis, keepdims, dim, keepdim, "min")


def argmax(x: Tensor, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the (first) largest value over ``axis`` (flattened when None); not differentiable."""
    return Tensor._wrap(x.data.argmax(axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim)),
                        x.backend)


def argmin(x: Tensor, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the (first) smallest value over ``axis`` (flattened when None); not differentiable."""
    return Tensor._wrap(x.data.argmin(axis=pick_axis(axis, dim), keepdims=pick_keepdims(keepdims, keepdim)),
                        x.backend)


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) over ``axis``, computed without overflow."""
    _need_floating(x, "softmax")
    return Softmax.apply(x, axis=pick_axis(axis, dim, default=-1))


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """log(softmax(x)) over ``axis``, computed stably (no log of 0 for large logits)."""
    _need_floating(x, "log_softmax")
    return LogSoftmax.apply(x, axis=pick_axis(axis, dim, default=-1))
