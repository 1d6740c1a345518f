"""Reductions over axes (sum, mean, max, min, var, std, norm, logsumexp) and the softmax family.

Axes follow NumPy (``axis``: int, tuple or None; ``keepdims``); PyTorch's ``dim`` and
``keepdim`` are accepted as aliases everywhere. The reductions PyTorch added later (var,
std, norm, logsumexp) take PyTorch's arguments only.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..core.autograd import Function, ShapeError
from ..core.dtypes import is_floating
from ..core.tensor import Tensor
from .arithmetic import div, mul, sub
from .common import pick_axis, pick_keepdims
from .convert import cast, floating
from .shape import gather, squeeze
from .unary import abs, maximum, minimum, sign, sqrt


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


class Logsumexp(Function):
    __slots__ = ('axis', 'keepdims')

    def forward(self, x, axis, keepdims):
        xp = self.xp
        peak = x.max(axis=axis, keepdims=True)
        peak = xp.where(xp.isfinite(peak), peak, 0)  # all -inf (or an inf) along the axis: no shift
        with self.backend.ignore_float_errors():  # log(0) = -inf is the right answer for all -inf
            y = xp.log(xp.exp(x - peak).sum(axis=axis, keepdims=True)) + peak
        if not keepdims:
            y = y.reshape(_reduced_shape(x.shape, axis))
        self.save_for_backward(x, y)
        self.axis, self.keepdims = axis, keepdims
        return y

    def backward(self, grad):
        # d logsumexp(x)/dx_i = exp(x_i) / sum_j exp(x_j) = exp(x_i - logsumexp(x)): softmax(x)_i
        x, y = self.saved
        xp = self.xp
        y = _restore_axes(xp, y, self.axis, self.keepdims)
        grad = _restore_axes(xp, grad, self.axis, self.keepdims)
        return grad * xp.exp(x - y)


class VectorNorm(Function):
    """The p-norm (sum |x|^p)^(1/p) for a finite p other than 0 and 1 (those are sums of
    sign(|x|) and |x|, composed in ``norm``)."""

    __slots__ = ('p', 'axis', 'keepdims')

    def forward(self, x, p, axis, keepdims):
        xp = self.xp
        norm = (xp.abs(x) ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)
        self.save_for_backward(x, norm)
        self.p, self.axis, self.keepdims = p, axis, keepdims
        return norm

    def backward(self, grad):
        # d ||x||_p/dx_i = sign(x_i) |x_i|^(p-1) / ||x||_p^(p-1); 0 where the norm is 0, as PyTorch
        x, norm = self.saved
        xp, p = self.xp, self.p
        norm = _restore_axes(xp, norm, self.axis, self.keepdims)
        grad = _restore_axes(xp, grad, self.axis, self.keepdims)
        scale = grad / xp.where(norm == 0, 1, norm) ** (p - 1)
        return xp.sign(x) * xp.abs(x) ** (p - 1) * scale


def _reduced_shape(shape: tuple, axis: Any) -> tuple:
    """``shape`` without the axes ``axis`` (an int or a tuple, negative allowed; None: all)."""
    if axis is None:
        return ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    gone = {a % len(shape) for a in axes}
    return tuple(n for d, n in enumerate(shape) if d not in gone)


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
    if isinstance(axis, Tensor):  # max(x, other): PyTorch's elementwise form
        return (maximum if name == "max" else minimum)(x, axis)
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
    """The largest value (no ``dim``), ``(values, indices)`` of the largest along ``dim``, or
    given a tensor in place of ``dim``, the elementwise ``maximum`` of the two (as ``torch.max``)."""
    return _extreme(x, axis, keepdims, dim, keepdim, "max")


def min(x: Tensor, axis: Any = None, keepdims: bool = False, *,  # noqa: A001
        dim: Any = None, keepdim: bool | None = None) -> Any:
    """The smallest value (no ``dim``), ``(values, indices)`` of the smallest along ``dim``, or
    given a tensor in place of ``dim``, the elementwise ``minimum`` of the two (as ``torch.min``)."""
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


def logsumexp(x: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim`` (an int or a tuple), without overflow: the largest value is
    taken out first. Its gradient is the softmax of ``x`` along ``dim``."""
    return Logsumexp.apply(floating(x), axis=pick_axis(dim, None), keepdims=bool(keepdim))


def var(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Variance over ``dim`` (all when None): sum((x - mean)^2) / (N - correction).

    PyTorch's signatures: ``var(dim=None, *, correction=1, keepdim=False)`` and the older
    ``var(dim, unbiased=True, keepdim=False)`` (``unbiased=False`` is ``correction=0``);
    ``var(False)`` means ``unbiased=False``. With N <= correction the result is inf or nan.
    """
    _need_floating(x, "var")
    if isinstance(dim, bool):  # var(unbiased)
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError("var: pass either unbiased or correction, not both")
    if correction is None:
        correction = 1 if unbiased is None else int(unbiased)
    axis = pick_axis(dim, None)
    axes = range(x.ndim) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    count = math.prod(x.shape[a] for a in axes)
    deviation = sub(x, mean(x, axis, keepdims=True))
    total = Sum.apply(mul(deviation, deviation), axis=axis, keepdims=bool(keepdim))
    with x.backend.ignore_float_errors():  # PyTorch divides by max(0, N - correction): 0 gives inf or nan
        return div(total, count - correction if count > correction else 0)


def std(x: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Standard deviation over ``dim``: the square root of ``var`` (same arguments)."""
    _need_floating(x, "std")
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction))


def norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """The p-norm of ``x`` over ``dim`` (all elements when None), as ``torch.norm``.

    ``p``: ``"fro"`` or 2 (the square root of the sum of squares), 1 (sum of |x|), ``inf``
    (largest |x|; ties share the gradient), ``-inf`` (smallest |x|), 0 (the count of nonzero
    elements; gradient 0) or any other number (``(sum |x|^p)^(1/p)``). Where the norm is 0 its
    gradient is 0, as in PyTorch. ``dtype`` casts ``x`` first.
    """
    if dtype is not None:
        x = cast(x, dtype)
    _need_floating(x, "norm")
    axis = pick_axis(dim, None)
    if isinstance(p, str):
        if p != "fro":
            raise ValueError(f"norm: p={p!r} is not supported; use 'fro' or a number (the nuclear norm "
                             "needs singular values, which this library does not compute)")
        if isinstance(axis, tuple) and len(axis) > 2:
            raise ShapeError(f"norm: p='fro' reduces one or two dims, got dim={dim}; use p=2 for the "
                             "norm of all the elements over more dims")
        p = 2
    keepdim = bool(keepdim)
    if p == math.inf:
        return amax(abs(x), axis, keepdim)
    if p == -math.inf:
        return amin(abs(x), axis, keepdim)
    if p == 0:
        return Sum.apply(sign(abs(x)), axis=axis, keepdims=keepdim)
    if p == 1:
        return Sum.apply(abs(x), axis=axis, keepdims=keepdim)
    return VectorNorm.apply(x, p=float(p), axis=axis, keepdims=keepdim)
