"""Changing how values are stored, not what they are: dtype casts, device copies, clones,
contiguous copies, and turning an op's mixed operands (tensors, Python and NumPy numbers,
NumPy arrays) into tensors of one dtype by PyTorch's promotion rules (see ``dtypes.py``)."""
from __future__ import annotations

from typing import Any

from ..core.autograd import Function
from ..backends import get_backend
from ..core.dtypes import DEFAULT_FLOAT, is_floating, result_type, scalar_dtype
from ..core.tensor import Tensor


class Cast(Function):
    __slots__ = ('input_dtype',)

    def forward(self, x, dtype):
        self.input_dtype = x.dtype
        return x.astype(dtype)

    def backward(self, grad):
        # a change of dtype is the identity on values: cast the gradient back
        return grad.astype(self.input_dtype)


class ToDevice(Function):
    __slots__ = ('source',)

    def forward(self, x, target):
        self.source = self.backend
        self.backend = target  # the output lives on the target device
        return target.asarray(x)

    def backward(self, grad):
        # a copy between devices is the identity on values: copy the gradient back
        return to_device(grad, self.source.device) if isinstance(grad, Tensor) else self.source.asarray(grad)


class Clone(Function):
    __slots__ = ()

    def forward(self, x):
        return x.copy()

    def backward(self, grad):
        return grad


def cast(x: Tensor, dtype: Any) -> Tensor:
    """``x`` with another dtype (``x`` itself when the dtype is already right)."""
    dtype = x.backend.xp.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    return Cast.apply(x, dtype=dtype)


def to_device(x: Tensor, device: str) -> Tensor:
    """``x`` copied to ``device`` (``x`` itself when it is already there)."""
    target = get_backend(device)
    if target is x.backend:
        return x
    return ToDevice.apply(x, target=target)


def clone(x: Tensor) -> Tensor:
    """A copy with its own memory; gradients flow through it."""
    return Clone.apply(x)


def contiguous(x: Tensor) -> Tensor:
    """``x`` itself when its values lie in memory row after row (C order), else such a copy,
    in the graph as ``clone`` (a transposed or strided view is not contiguous)."""
    return x if x.data.flags.c_contiguous else Clone.apply(x)


def as_tensor(value: Any, like: Tensor) -> Tensor:
    """``value`` as a tensor on ``like``'s device, keeping its own dtype (lists and Python
    floats become float32, Python ints int64)."""
    if isinstance(value, Tensor):
        return value
    return Tensor._wrap(like.backend.tensor_data(value), like.backend)


def operands(*values: Any, dtype: Any = None) -> list[Tensor]:
    """An op's operands as tensors of one dtype, on the device of the first tensor among them.

    ``dtype`` defaults to PyTorch's promotion of the operands (``dtypes.result_type``).
    Python and NumPy scalars become 0-d tensors of that dtype; NumPy arrays (and lists)
    become tensors; tensors of another dtype are cast, differentiably, so a float64 0-d
    tensor used with float32 tensors still receives its gradient.
    """
    if dtype is None and len(values) == 2 and isinstance(values[0], Tensor) and isinstance(values[1], Tensor) \
            and values[0].data.dtype == values[1].data.dtype:
        return list(values)  # the most common case: two tensors of one dtype
    like = next(v for v in values if isinstance(v, Tensor))
    if dtype is None:
        dtype = _unpromoted_dtype(values, like.data.dtype)
        if dtype is not None:  # the common case: only scalars to wrap, nothing to cast
            return [v if isinstance(v, Tensor) else Tensor._wrap(like.backend.asarray(v, dtype), like.backend)
                    for v in values]
        values = tuple(v if scalar_dtype(v) is not None else as_tensor(v, like) for v in values)
        dtype = result_type(*values)
    converted = []
    for value in values:
        if not isinstance(value, Tensor):  # a scalar: straight to the result's dtype
            value = Tensor._wrap(like.backend.asarray(value, dtype=dtype), like.backend)
        converted.append(cast(value, dtype))
    return converted


def _unpromoted_dtype(values: tuple, dtype: Any) -> Any:
    """The common case, decided quickly: tensors of one ``dtype``, and Python numbers of a
    kind that dtype already holds (``x32 * 0.5``). None when promotion rules are needed."""
    for value in values:
        kind = type(value)
        if kind is float:
            if dtype.kind not in "fc":
                return None
        elif kind is int:
            if dtype.kind == "b":
                return None
        elif kind is not bool and not (isinstance(value, Tensor) and value.data.dtype == dtype):
            return None
    return dtype


def floating(x: Tensor) -> Tensor:
    """``x`` itself if it holds floating-point numbers, else ``x`` as the default float dtype
    (``exp`` of an integer tensor is float32, as in PyTorch)."""
    return x if is_floating(x.data.dtype) else cast(x, DEFAULT_FLOAT)
