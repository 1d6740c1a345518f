"""Binary arithmetic and matrix multiplication, each forward beside its backward; PyTorch's
``mm``, ``bmm`` and ``dot`` are ``matmul`` restricted to exactly 2-d, 3-d and 1-d operands.

Inputs may have different shapes that broadcast; every backward sums its gradient
back to the input's own shape with ``sum_to``.
"""
from __future__ import annotations

from typing import Any

from ..core.autograd import Function, ShapeError
from ..core.dtypes import DEFAULT_FLOAT, is_floating
from ..core.tensor import Tensor
from .common import sum_to
from .convert import as_tensor, operands


class Add(Function):
    __slots__ = ('shapes',)  # no per-node __dict__: graphs of 10^5 nodes stay small

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, grad):
        # d(a+b)/da = d(a+b)/db = 1
        need_a, need_b = self.needs_input_grad
        return (sum_to(grad, self.shapes[0]) if need_a else None,
                sum_to(grad, self.shapes[1]) if need_b else None)


class Sub(Function):
    __slots__ = ('shapes',)

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, grad):
        # d(a-b)/da = 1, d(a-b)/db = -1
        need_a, need_b = self.needs_input_grad
        return (sum_to(grad, self.shapes[0]) if need_a else None,
                sum_to(-grad, self.shapes[1]) if need_b else None)


class Mul(Function):
    __slots__ = ('shapes',)

    def forward(self, a, b):
        # save only what a wanted gradient needs: an operand nobody differentiates may then
        # be changed in place afterwards without invalidating this node
        need_a, need_b = self.needs_input_grad
        self.save_for_backward(a if need_b else None, b if need_a else None)
        self.shapes = a.shape, b.shape
        return a * b

    def backward(self, grad):
        # d(a*b)/da = b, d(a*b)/db = a
        a, b = self.saved
        return (None if b is None else sum_to(grad * b, self.shapes[0]),
                None if a is None else sum_to(grad * a, self.shapes[1]))


class Div(Function):
    __slots__ = ('shapes',)

    def forward(self, a, b):
        self.save_for_backward(a if self.needs_input_grad[1] else None, b)
        self.shapes = a.shape, b.shape
        return a / b

    def backward(self, grad):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        a, b = self.saved
        need_a, need_b = self.needs_input_grad
        grad_over_b = grad / b
        return (sum_to(grad_over_b, self.shapes[0]) if need_a else None,
                sum_to(-grad_over_b * a / b, self.shapes[1]) if need_b else None)


class Pow(Function):
    __slots__ = ()

    def forward(self, a, b):
        out = a ** b
        self.save_for_backward(a, b, out if self.needs_input_grad[1] else None)
        return out

    def backward(self, grad):
        # d(a^b)/da = b * a^(b-1)  (0 where b == 0: a^0 is constant, even at a == 0)
        # d(a^b)/db = a^b * log(a)  (taken as 0 where a == 0)
        a, b, out = self.saved
        need_a, need_b = self.needs_input_grad
        xp = self.xp
        grad_a = grad_b = None
        if need_a:
            with self.backend.ignore_float_errors():  # 0^(b-1) may be inf where b == 0: masked
                slope = xp.where(b == 0, 0, b * a ** (b - 1))
            grad_a = sum_to(grad * slope, a.shape)
        if need_b:
            safe_a = xp.where(a > 0, a, 1)
            grad_b = sum_to(xp.where(a == 0, 0, grad * out * xp.log(safe_a)), b.shape)
        return grad_a, grad_b


class Neg(Function):
    __slots__ = ()

    def forward(self, a):
        return -a

    def backward(self, grad):
        # d(-a)/da = -1
        return -grad


class Matmul(Function):
    """``a @ b`` with NumPy's rules: 1-D vectors, 2-D matrices, and stacks of matrices."""

    __slots__ = ()

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: {tuple(a.shape)} @ {tuple(b.shape)}: both operands need "
                             "at least one dimension (use * to scale by a scalar)")
        inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if a.shape[-1] != inner_b:
            raise ShapeError(f"matmul: {tuple(a.shape)} @ {tuple(b.shape)}: inner dimensions "
                             f"{a.shape[-1]} and {inner_b} differ")
        self.save_for_backward(a, b)
        if a.ndim > 2 and b.ndim == 2:  # a stack of rows times one matrix (a Linear layer over (T, B, H))
            return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[1],))
        return a @ b

    def backward(self, grad):
        # for C = A @ B:  dL/dA = dL/dC @ B^T,  dL/dB = A^T @ dL/dC
        a, b = self.saved
        need_a, need_b = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, without reshaping
            return (grad @ b.T if need_a else None), (a.T @ grad if need_b else None)
        if a.ndim > 2 and b.ndim == 2:  # all rows of the stack at once: two matrix products
            rows, grad_rows = a.reshape(-1, a.shape[-1]), grad.reshape(-1, grad.shape[-1])
            return ((grad_rows @ b.T).reshape(a.shape) if need_a else None), (rows.T @ grad_rows if need_b else None)
        if a.ndim == 1 and b.ndim == 1:  # dot product
            return (grad * b if need_a else None), (grad * a if need_b else None)
        xp = self.xp
        # view vectors as a row (1, k) and a column (k, 1), then undo it on the gradients
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = xp.expand_dims(grad, -2) if a.ndim == 1 else grad
        g2 = xp.expand_dims(g2, -1) if b.ndim == 1 else g2
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to(g2 @ xp.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            grad_b = sum_to(xp.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return grad_a, grad_b


def _no_bool(op: str, symbol: str, *values: Any) -> None:
    """PyTorch refuses - on bool tensors: for masks, ``~``/``^`` say what is meant."""
    for value in values:
        dtype = value.data.dtype if isinstance(value, Tensor) else getattr(value, "dtype", None)
        if dtype is not None and dtype.kind == "b":
            raise TypeError(f"{op}: the {symbol} operator is not supported on bool tensors; to invert "
                            "a mask use ~mask or mask.logical_not(), to compare two masks use a ^ b")


def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    return Add.apply(*operands(a, b))


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    _no_bool("sub", "-", a, b)
    return Sub.apply(*operands(a, b))


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    return Mul.apply(*operands(a, b))


def div(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b`` with broadcasting (true division: integers give float32)."""
    a, b = operands(a, b)
    if not is_floating(a.dtype):
        a, b = operands(a, b, dtype=DEFAULT_FLOAT)
    return Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 (the operator's name)
    """Elementwise ``a ** b``; the exponent may be a scalar or a tensor."""
    a, b = operands(a, b)
    if not is_floating(a.dtype) and bool((b.data < 0).any()):
        raise ValueError(f"pow: integers to negative integer powers are not allowed (dtype {a.dtype}); "
                         "use a float base, e.g. x.float() ** -1")
    return Pow.apply(a, b)


def neg(a: Tensor) -> Tensor:
    """``-a``."""
    if a.dtype == bool:
        raise TypeError("neg: the - operator is not supported on bool tensors; to invert a mask "
                        "use ~mask or mask.logical_not()")
    return Neg.apply(a)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b`` (vectors, matrices and batches of matrices) of one dtype."""
    like = a if isinstance(a, Tensor) else b
    a, b = as_tensor(a, like), as_tensor(b, like)
    if a.dtype != b.dtype:
        raise TypeError(f"matmul: {a.shape} @ {b.shape}: expected both operands to have the same dtype, "
                        f"got {a.dtype} and {b.dtype}; convert one first, e.g. b.to({str(a.dtype)!r})")
    return Matmul.apply(a, b)


def _check_operands(op: str, a: Any, b: Any, ndim: int, what: str) -> None:
    """mm, bmm and dot take two tensors of exactly ``ndim`` dimensions (no broadcasting)."""
    for name, x in (("first", a), ("second", b)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{op}: expected two tensors, got {type(x).__name__} as the {name} operand")
        if x.ndim != ndim:
            raise ShapeError(f"{op}: expected {what} ({ndim}-d tensors), got shapes {a.shape} and {b.shape}; "
                             "matmul (@) broadcasts over other shapes")


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of an (n, m) and an (m, p) matrix: (n, p)."""
    _check_operands("mm", a, b, 2, "two matrices")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"mm: shapes {a.shape} and {b.shape} cannot be multiplied ({a.shape[1]} columns "
                         f"against {b.shape[0]} rows)")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product: (B, n, m) with (B, m, p) gives (B, n, p); B must match."""
    _check_operands("bmm", a, b, 3, "two batches of matrices")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ShapeError(f"bmm: shapes {a.shape} and {b.shape} cannot be multiplied: expected the second "
                         f"of shape ({a.shape[0]}, {a.shape[2]}, p)")
    return matmul(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two vectors of one length: a 0-d tensor."""
    _check_operands("dot", a, b, 1, "two vectors")
    if a.shape != b.shape:
        raise ShapeError(f"dot: vectors of different lengths {a.shape[0]} and {b.shape[0]}")
    return matmul(a, b)
