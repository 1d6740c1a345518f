"""Helpers shared by the ops: scalars as tensors, broadcasting gradients, axis arguments."""
from __future__ import annotations

from typing import Any

from ..backends import device_mismatch
from ..core.autograd import ShapeError
from ..core.tensor import Tensor


def as_tensor(value: Any, like: Tensor) -> Tensor:
    """``value`` as a tensor on ``like``'s device; Python scalars take ``like``'s dtype.

    Wrapping scalars in the tensor's own dtype keeps float32 maths in float32 (NumPy
    would otherwise promote with float64 scalars), and gives ``int_tensor * 0.5`` a float.
    """
    if isinstance(value, Tensor):
        return value
    backend = like.backend
    if isinstance(value, (bool, int, float)):
        dtype = like.data.dtype
        if dtype.kind not in "fc" and isinstance(value, float):
            dtype = "float32"
        return Tensor._wrap(backend.xp.asarray(value, dtype=dtype), backend)
    return Tensor._wrap(backend.tensor_data(value), backend)


def tensors(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors (at least one of them already is).

    PyTorch's rule for mixed kinds: an integer or bool operand takes the float operand's
    dtype (``int_tensor * float32_tensor`` is float32, not NumPy's float64). Two floats
    follow NumPy/PyTorch promotion: float32 with float64 gives float64.
    """
    a, b = (a, as_tensor(b, a)) if isinstance(a, Tensor) else (as_tensor(a, b), b)
    a_float, b_float = a.data.dtype.kind in "fc", b.data.dtype.kind in "fc"
    if a_float and not b_float:
        b = Tensor._wrap(b.data.astype(a.data.dtype), b.backend)
    elif b_float and not a_float:
        a = Tensor._wrap(a.data.astype(b.data.dtype), a.backend)
    return a, b


def check_same_device(op: str, *tensors: Tensor) -> None:
    """For ops that take non-differentiable tensors (targets, ids, indices) beside their inputs."""
    if any(t.backend is not tensors[0].backend for t in tensors):
        raise device_mismatch(op, tensors)


def broadcast_shapes(op: str, *shapes: tuple) -> tuple:
    """The shape that ``shapes`` broadcast to (aligned at the right, sizes equal or 1), or a
    ``ShapeError`` naming ``op``."""
    ndim = max(len(s) for s in shapes)
    result = []
    for d in range(ndim):
        sizes = {s[d - ndim + len(s)] for s in shapes if d - ndim + len(s) >= 0} - {1}
        if len(sizes) > 1:
            raise ShapeError(f"{op}: shapes {', '.join(str(tuple(s)) for s in shapes)} do not broadcast "
                             f"(sizes {sorted(sizes)} meet at dimension {d - ndim})")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def sum_to(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` down to ``shape``: the backward of broadcasting.

    Broadcasting copies an input along new leading axes and along its size-1 axes, so
    each copy's gradient must be added back into the one element it came from.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def pick_axis(axis: Any, dim: Any, default: Any = None) -> Any:
    """Accept NumPy's ``axis`` or PyTorch's ``dim`` (lists become tuples)."""
    if dim is not None:
        if axis is not None and axis != default:
            raise TypeError("pass either axis= or dim=, not both")
        axis = dim
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis


def pick_keepdims(keepdims: bool, keepdim: bool | None) -> bool:
    """Accept NumPy's ``keepdims`` or PyTorch's ``keepdim``."""
    return bool(keepdim) if keepdim is not None else bool(keepdims)


def shape_arg(shape: tuple) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)
