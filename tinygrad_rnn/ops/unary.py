"""Elementwise functions of one tensor (and the two-input ``maximum``/``minimum``/``where``,
with ``masked_fill`` built on ``where``).

Ops whose derivative is easiest in terms of their output (exp, tanh, sigmoid, sqrt)
save the output; the others save the input.
"""
from __future__ import annotations

from typing import Any

from ..core.autograd import Function, ShapeError
from ..core.tensor import Tensor
from .common import broadcast_shapes, check_same_device, sum_to
from .convert import as_tensor, cast, floating, operands, to_device


class Exp(Function):
    __slots__ = ()

    def forward(self, x):
        y = self.xp.exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        # d exp(x)/dx = exp(x)
        (y,) = self.saved
        return grad * y


class Log(Function):
    __slots__ = ()

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.log(x)

    def backward(self, grad):
        # d log(x)/dx = 1/x
        (x,) = self.saved
        return grad / x


class Log1p(Function):
    __slots__ = ()

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.log1p(x)  # exact for tiny x, where log(1 + x) would round 1 + x first

    def backward(self, grad):
        # d log(1 + x)/dx = 1 / (1 + x)
        (x,) = self.saved
        return grad / (1 + x)


class Sin(Function):
    __slots__ = ()

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.sin(x)

    def backward(self, grad):
        # d sin(x)/dx = cos(x)
        (x,) = self.saved
        return grad * self.xp.cos(x)


class Cos(Function):
    __slots__ = ()

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.cos(x)

    def backward(self, grad):
        # d cos(x)/dx = -sin(x)
        (x,) = self.saved
        return -grad * self.xp.sin(x)


class Sqrt(Function):
    __slots__ = ()

    def forward(self, x):
        y = self.xp.sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        # d sqrt(x)/dx = 1 / (2 sqrt(x))
        (y,) = self.saved
        return grad / (y + y)


class Tanh(Function):
    __slots__ = ()

    def forward(self, x):
        y = self.xp.tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        # d tanh(x)/dx = 1 - tanh(x)^2
        (y,) = self.saved
        return grad * (1 - y * y)


class Sigmoid(Function):
    __slots__ = ()

    def forward(self, x):
        # 1 / (1 + e^-x): for very negative x, e^-x overflows to inf and the result is the
        # correct limit 0 (the overflow is expected, so it is not warned about)
        with self.backend.ignore_float_errors():
            y = 1 / (1 + self.xp.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        # d sigmoid(x)/dx = sigmoid(x) * (1 - sigmoid(x))
        (y,) = self.saved
        return grad * (y - y * y)


class Softplus(Function):
    __slots__ = ()

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.logaddexp(0, x)  # log(1 + e^x) without overflow

    def backward(self, grad):
        # d softplus(x)/dx = sigmoid(x) = (1 + tanh(x/2)) / 2, stable for any x
        (x,) = self.saved
        return grad * (0.5 + 0.5 * self.xp.tanh(0.5 * x))


class Relu(Function):
    __slots__ = ()

    def forward(self, x):
        y = self.xp.maximum(x, 0)
        self.save_for_backward(y)
        return y

    def backward(self, grad):
        # d relu(x)/dx = 1 where x > 0, else 0
        (y,) = self.saved
        return grad * (y > 0)


class Abs(Function):
    __slots__ = ()

    def forward(self, x):
        self.save_for_backward(x)
        return self.xp.abs(x)

    def backward(self, grad):
        # d |x|/dx = sign(x)  (0 at 0, as in PyTorch)
        (x,) = self.saved
        return grad * self.xp.sign(x)


class Sign(Function):
    __slots__ = ()

    def forward(self, x):
        return self.xp.sign(x)

    def backward(self, grad):
        # sign is flat wherever it is differentiable: d sign(x)/dx = 0
        return self.xp.zeros_like(grad)


class Clip(Function):
    __slots__ = ('low', 'high')

    def forward(self, x, low, high):
        self.save_for_backward(x)
        self.low, self.high = low, high
        return self.xp.clip(x, low, high)

    def backward(self, grad):
        # d clip(x)/dx = 1 inside [low, high], 0 where x was clipped
        (x,) = self.saved
        if self.low is not None:
            grad = grad * (x >= self.low)
        if self.high is not None:
            grad = grad * (x <= self.high)
        return grad


def _share(xp: Any, grad: Any, a_wins: Any, tie: Any, shapes: tuple) -> tuple:
    """Route ``grad`` to ``a`` where it won and to ``b`` elsewhere; ties split it in half."""
    weight_a = xp.where(tie, 0.5, a_wins).astype(grad.dtype)
    return sum_to(grad * weight_a, shapes[0]), sum_to(grad * (1 - weight_a), shapes[1])


class Maximum(Function):
    __slots__ = ()

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.maximum(a, b)

    def backward(self, grad):
        # d max(a, b)/da = 1 where a > b (1/2 at ties), d/db likewise
        a, b = self.saved
        return _share(self.xp, grad, a > b, a == b, (a.shape, b.shape))


class Minimum(Function):
    __slots__ = ()

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return self.xp.minimum(a, b)

    def backward(self, grad):
        # d min(a, b)/da = 1 where a < b (1/2 at ties), d/db likewise
        a, b = self.saved
        return _share(self.xp, grad, a < b, a == b, (a.shape, b.shape))


class Where(Function):
    __slots__ = ('condition', 'shapes')

    def forward(self, a, b, condition):
        self.condition = condition
        self.shapes = a.shape, b.shape
        return self.xp.where(condition, a, b)

    def backward(self, grad):
        # the gradient flows to a where the condition holds, to b elsewhere
        xp, condition = self.xp, self.condition
        need_a, need_b = self.needs_input_grad
        return (sum_to(xp.where(condition, grad, 0), self.shapes[0]) if need_a else None,
                sum_to(xp.where(condition, 0, grad), self.shapes[1]) if need_b else None)


def exp(x: Tensor) -> Tensor:
    """Elementwise e^x."""
    return Exp.apply(floating(x))


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return Log.apply(floating(x))


def log1p(x: Tensor) -> Tensor:
    """Elementwise log(1 + x), accurate for x near 0."""
    return Log1p.apply(floating(x))


def sin(x: Tensor) -> Tensor:
    """Elementwise sine (radians)."""
    return Sin.apply(floating(x))


def cos(x: Tensor) -> Tensor:
    """Elementwise cosine (radians)."""
    return Cos.apply(floating(x))


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root."""
    return Sqrt.apply(floating(x))


def tanh(x: Tensor) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return Tanh.apply(floating(x))


def sigmoid(x: Tensor) -> Tensor:
    """Elementwise logistic function 1 / (1 + e^-x), stable for any finite x."""
    return Sigmoid.apply(floating(x))


def softplus(x: Tensor) -> Tensor:
    """Elementwise log(1 + e^x), a smooth relu whose slope is sigmoid(x)."""
    return Softplus.apply(floating(x))


def relu(x: Tensor) -> Tensor:
    """Elementwise max(x, 0)."""
    return Relu.apply(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 (the function's name)
    """Elementwise |x|."""
    if x.dtype == bool:
        raise TypeError("abs: not defined for bool tensors")
    return Abs.apply(x)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of each element (its gradient is 0)."""
    return Sign.apply(x)


def clip(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (PyTorch's names)
    """Limit values to [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip.apply(x, low=min, high=max)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise larger of ``a`` and ``b`` (broadcasting)."""
    return Maximum.apply(*operands(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise smaller of ``a`` and ``b`` (broadcasting)."""
    return Minimum.apply(*operands(a, b))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (differentiable in ``a`` and ``b``)."""
    a, b = operands(a, b)
    condition = as_tensor(condition, a)
    check_same_device("where", a, condition)
    return Where.apply(a, b, condition=condition.data.astype(bool))


def masked_fill(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``value`` where the bool ``mask`` holds, ``x`` elsewhere (PyTorch's out-of-place masked_fill).

    The result has ``x``'s dtype and the broadcast shape of ``x`` and ``mask``. The gradient
    reaches ``x`` where the mask is False, and a 0-d tensor ``value`` from every filled place.
    """
    if not isinstance(mask, Tensor) or mask.dtype != bool:
        raise TypeError(f"masked_fill: the mask must be a bool tensor, got "
                        f"{f'dtype {mask.dtype}' if isinstance(mask, Tensor) else type(mask).__name__}; "
                        "make one with a comparison, e.g. x > 0")
    check_same_device("masked_fill", x, mask)
    broadcast_shapes("masked_fill", x.shape, mask.shape)
    if isinstance(value, Tensor):
        if value.ndim:
            raise ShapeError(f"masked_fill: the value must be a number or a 0-d tensor, got shape {value.shape}")
        value = cast(to_device(value, x.device), x.dtype)
    else:
        value = Tensor._wrap(x.backend.xp.asarray(value, dtype=x.dtype), x.backend)
    return where(mask, value, x)


def compare(a: Any, b: Any, name: str) -> Tensor:
    """``a < b`` and friends (``name`` is the NumPy function): a bool tensor outside the graph."""
    a, b = operands(a, b)
    check_same_device(name, a, b)
    try:
        return Tensor._wrap(getattr(a.backend.xp, name)(a.data, b.data), a.backend)
    except ValueError as error:
        raise ShapeError(f"{name}: cannot apply to shapes {a.shape}, {b.shape}: {error}") from None
